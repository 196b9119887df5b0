"""The judges a search runs, behind the ``judgements`` table (their cache and record).

Each judgement is keyed by the judge, its version, its settings and the item fields it
reads (``Judge.reads``): an identical answer is judged once, a rerun or a run resumed
after a crash reads what an earlier run judged and calls no judge for it (judgements are
written ``RECORD_EVERY`` at a time, so a crash loses at most that many). Failed or
unreadable judgements are written too (status ``failed``, with the error), never count
as a score and are tried again by the next run (not again within this one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from duckdb_store.store import Store
from surf_search.judges.registry import Judge, JudgeItem, Judgement

OK, FAILED = "ok", "failed"
#: judgements are made and written this many at a time, so a run killed mid-batch loses
#: at most this many answered judgements (asked again when it resumes), not the batch
RECORD_EVERY = 16
JUDGEMENT_SCHEMA = {
    "judge": pl.String,
    "version": pl.String,
    "settings": pl.String,
    "key": pl.String,
    "prompt": pl.String,
    "response": pl.String,
    "scores": pl.String,
    "explanation": pl.String,
    "status": pl.String,
    "error": pl.String,
    "attempts": pl.Int32,
    "created_at": pl.Datetime("us"),
}


@dataclass
class JudgeStats:
    """What the panel did: judgements made, read from the cache, failed (first errors)."""

    judged: int = 0
    cached: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def cache_key(judge: Judge, item: JudgeItem) -> str:
    """The judgement's key: judge, version, settings and the item fields the judge reads."""
    parts = [judge.name, judge.version, judge.settings(), *(getattr(item, f) for f in judge.reads)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class JudgePanel:
    """Judges scoring answers through the ``judgements`` table."""

    def __init__(self, judges: Sequence[Judge], store: Store | None, run_id: str | None) -> None:
        self.judges = list(judges)
        self.store = store
        self.run_id = run_id
        self.stats = JudgeStats()
        self._cache: dict[str, Judgement] = {}
        self._failed: dict[str, Judgement] = {}  # failed in this run: not asked again here
        if store is not None:
            for judge in self.judges:
                rows = store.con.execute(
                    "SELECT key, scores, explanation FROM judgements WHERE status = 'ok' "
                    "AND judge = ? AND version = ? AND settings = ?",
                    [judge.name, judge.version, judge.settings()],
                ).fetchall()
                for key, scores, explanation in rows:
                    self._cache[key] = Judgement(json.loads(scores), explanation or "")

    def outcome_keys(self) -> tuple[str, ...]:
        """Every judged outcome, ``<judge>:<outcome>``."""
        return tuple(k for j in self.judges for k in j.outcome_keys())

    def version_of(self, outcome_key: str) -> tuple[str, str] | None:
        """(judge, version) of an outcome key; None for a behaviour mode."""
        for judge in self.judges:
            if outcome_key in judge.outcome_keys():
                return judge.name, judge.version
        return None

    def judgements(self, judge: Judge, items: Sequence[JudgeItem]) -> list[Judgement]:
        """``judge``'s judgement of every item: cached ones read, the rest judged and stored."""
        keys = [cache_key(judge, item) for item in items]
        todo: dict[str, JudgeItem] = {}
        for key, item in zip(keys, items, strict=True):
            if key in self._cache or key in self._failed:
                self.stats.cached += 1
            else:
                todo.setdefault(key, item)
        pending = list(todo.items())
        for start in range(0, len(pending), RECORD_EVERY):
            chunk = pending[start : start + RECORD_EVERY]
            chunk_items = [item for _, item in chunk]
            self._record(judge, [key for key, _ in chunk], chunk_items, judge.judge(chunk_items))
        return [self._cache.get(key) or self._failed[key] for key in keys]

    def score(self, items: Sequence[JudgeItem]) -> list[dict[str, float]]:
        """Every judged outcome's score of each item (``<judge>:<outcome>`` -> [0, 1]); an
        outcome whose judgement failed is absent."""
        out: list[dict[str, float]] = [{} for _ in items]
        for judge in self.judges:
            for scores, judgement in zip(out, self.judgements(judge, items), strict=True):
                if judgement.ok:
                    scores.update({f"{judge.name}:{k}": v for k, v in judgement.scores.items()})
        return out

    def explanations(self, item: JudgeItem) -> dict[str, str]:
        """Each judge's explanation (or error) of an item it judged."""
        out = {}
        for judge in self.judges:
            key = cache_key(judge, item)
            judgement = self._cache.get(key) or self._failed.get(key)
            if judgement is not None:
                out[judge.name] = judgement.explanation or judgement.error or ""
        return out

    def _record(
        self, judge: Judge, keys: list[str], items: list[JudgeItem], results: list[Judgement]
    ) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        for key, result in zip(keys, results, strict=True):
            self.stats.judged += 1
            if result.ok:
                self._cache[key] = result
            else:
                self._failed[key] = result
                self.stats.failed += 1
                if len(self.stats.errors) < 5:
                    self.stats.errors.append(f"{judge.name}: {result.error}")
        if self.store is None or self.run_id is None:
            return
        frame = pl.DataFrame(
            {
                "judge": [judge.name] * len(keys),
                "version": [judge.version] * len(keys),
                "settings": [judge.settings()] * len(keys),
                "key": keys,
                "prompt": [i.prompt for i in items],
                "response": [i.response for i in items],
                "scores": [json.dumps(r.scores) if r.ok else None for r in results],
                "explanation": [r.explanation or None for r in results],
                "status": [OK if r.ok else FAILED for r in results],
                "error": [r.error for r in results],
                "attempts": [r.attempts for r in results],
                "created_at": [now] * len(keys),
            },
            schema=JUDGEMENT_SCHEMA,
        )
        self.store.write("judgements", frame, self.run_id)
