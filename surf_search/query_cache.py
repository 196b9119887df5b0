"""Every target call goes through the ``queries`` table, which is also the cache.

The cache key is (target fingerprint, prompt, params, sample): a rerun, or a
run resumed after a crash, asks the target only for what no earlier run got.
Successful responses are stored with the behaviour mode the classifier gave them
then (``queries.mode``, for reading); a cached answer is labelled again with the
current classifier when it is read back, so a rules change never leaves old labels
on one arm of an A/B and new ones on the other. (A/Bs label both answers against the
seed prompt anyway: ``surf_search.pairing``.) Failed calls are stored too (status ``failed``, with the error and the number
of attempts) and are retried by the next run; they never get a mode.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from behaviour_modes.modes import classify_batch
from duckdb_store.store import Store
from surf_search.targets import FAILED, OK, Completion, GenerationParams, Target


@dataclass(frozen=True)
class Labelled:
    """A stored response and its behaviour mode."""

    response: str
    mode: str


@dataclass
class CallStats:
    """What one cached handle did: calls sent, answers from the cache, calls that failed."""

    calls: int = 0  # requests sent to the target by this run
    cached: int = 0  # answered from the table without a call
    failed: int = 0  # calls that failed after their retries
    errors: list[str] = field(default_factory=list)


class CachedTarget:
    """A target whose answers are read from, and written to, the ``queries`` table."""

    def __init__(self, target: Target, store: Store, run_id: str, params: GenerationParams) -> None:
        self.target = target
        self.store = store
        self.run_id = run_id
        self.params = params
        self.fingerprint = target.fingerprint()
        self.params_key = params.key()
        self.stats = CallStats()
        self._cache: dict[tuple[str, int], Labelled] = {}
        self.requested: set[tuple[str, int]] = set()  # every answer asked of this handle
        cached = list(store.cached_answers(self.fingerprint, self.params_key))
        current = classify_batch([a.prompt for a in cached], [a.response for a in cached])
        for answer, label in zip(cached, current, strict=True):  # relabelled: see above
            self._cache[(answer.prompt, answer.sample)] = Labelled(answer.response, label.mode)

    def new_keys(self, prompts: Sequence[str], samples: int) -> int:
        """How many (prompt, sample) answers this handle has not been asked for yet."""
        return sum(
            1
            for p in dict.fromkeys(prompts)
            for s in range(samples)
            if (p, s) not in self.requested
        )

    def cached(self, prompt: str, sample: int) -> Labelled | None:
        """The stored answer of ``prompt``'s ``sample``, or None."""
        return self._cache.get((prompt, sample))

    def missing(self, prompts: Sequence[str], samples: int) -> int:
        """How many calls answering ``prompts`` x ``samples`` would cost."""
        return sum(
            1 for p in dict.fromkeys(prompts) for s in range(samples) if (p, s) not in self._cache
        )

    def get(self, prompts: Sequence[str], samples: int) -> dict[tuple[str, int], Labelled]:
        """Responses for every (prompt, sample < samples); failed calls are absent."""
        need: dict[str, list[int]] = defaultdict(list)
        for prompt in dict.fromkeys(prompts):
            for sample in range(samples):
                self.requested.add((prompt, sample))
                if (prompt, sample) in self._cache:
                    self.stats.cached += 1
                else:
                    need[prompt].append(sample)
        by_samples: dict[tuple[int, ...], list[str]] = defaultdict(list)
        for prompt, wanted in need.items():
            by_samples[tuple(wanted)].append(prompt)
        for wanted, group in by_samples.items():
            completions = self.target.generate(group, self.params, len(wanted), samples=wanted)
            self._store(group, [need[p] for p in group], completions)
        return {
            (p, s): self._cache[(p, s)]
            for p in dict.fromkeys(prompts)
            for s in range(samples)
            if (p, s) in self._cache
        }

    def _store(
        self, prompts: list[str], samples: list[list[int]], completions: list[list[Completion]]
    ) -> None:
        rows = []
        now = datetime.now(UTC).replace(tzinfo=None)
        for prompt, wanted, answers in zip(prompts, samples, completions, strict=True):
            for sample, completion in zip(wanted, answers, strict=True):
                rows.append((prompt, sample, completion))
        good = [(p, s, c) for p, s, c in rows if c.ok]
        modes = classify_batch([p for p, _, _ in good], [c.text for _, _, c in good])
        mode_of = {(p, s): m.mode for (p, s, _), m in zip(good, modes, strict=True)}
        frame = pl.DataFrame(
            {
                "target": [self.fingerprint] * len(rows),
                "prompt": [p for p, _, _ in rows],
                "params": [self.params_key] * len(rows),
                "sample": [s for _, s, _ in rows],
                "response": [c.text for _, _, c in rows],
                "mode": [mode_of.get((p, s)) for p, s, _ in rows],
                "status": [OK if c.ok else FAILED for _, _, c in rows],
                "latency_ms": [float(c.latency_ms) for _, _, c in rows],
                "created_at": [now] * len(rows),
                "attempts": [c.attempts for _, _, c in rows],
                "error": [c.error for _, _, c in rows],
            },
            schema_overrides={"response": pl.String, "mode": pl.String, "error": pl.String},
        )
        self.store.write("queries", frame, self.run_id)
        self.stats.calls += len(rows)
        for prompt, sample, completion in rows:
            if completion.ok:
                self._cache[(prompt, sample)] = Labelled(
                    completion.text or "", mode_of[(prompt, sample)]
                )
            else:
                self.stats.failed += 1
                if len(self.stats.errors) < 5:
                    self.stats.errors.append(completion.error or "unknown error")
