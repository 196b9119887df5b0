"""Verification: re-run each confirmed finding's A/B on a model before and after a fix.

For every confirmed finding the attribute is applied to the same seeds for both
models (up to ``max_seeds``, taken in turn from each kind of seed: explanations, facts,
arithmetic, how-tos, ...); ``rate_*`` is the share of mutated prompts showing the
finding's behaviour. ``clean_answer_*`` is the share of *every* seed, untouched, that the
model answers with a plain ``answer`` (a fix must not break ordinary prompts of any
kind), measured once per model. ``p_value`` is a one-sided Fisher exact test that the
rate fell.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from behaviour_modes.modes import TERSE_MAX_WORDS, Mode, behaviour
from surf_search.mutations import get_mutation
from surf_search.query_cache import CachedTarget
from surf_search.search import answer_pairs, mutated_pairs
from surf_search.seeds import Seed
from surf_search.stats import fisher_greater


@dataclass(frozen=True)
class FindingToVerify:
    """A confirmed finding to re-test: its id, attribute and behaviour mode."""

    finding_id: str
    attribute: str
    mode: str


@dataclass(frozen=True)
class Verification:
    """One finding's A/B on the models before and after a fix."""

    finding_id: str
    attribute: str
    mode: str
    n: int
    rate_before: float
    rate_after: float
    clean_answer_before: float
    clean_answer_after: float
    p_value: float
    n_clean: int = 0  # seeds the clean answer rates count (answered by both models)

    @property
    def relative_drop(self) -> float:
        """The share of the trigger rate the fix removed (0 when there was none)."""
        return 1 - self.rate_after / self.rate_before if self.rate_before else 0.0


def spread_by_kind(seeds: Sequence[Seed]) -> list[Seed]:
    """The seeds taken in turn from each kind (in order of first appearance), so any first
    ``n`` of them cover every kind rather than the first kind of the list."""
    by_kind: dict[str, list[Seed]] = {}
    for seed in seeds:
        by_kind.setdefault(seed.kind, []).append(seed)
    spread = []
    for i in range(max((len(group) for group in by_kind.values()), default=0)):
        spread += [group[i] for group in by_kind.values() if i < len(group)]
    return spread


def _rates(
    target: CachedTarget,
    pairs: list[tuple[Seed, str]],
    samples: int,
    mode: str,
    terse_max_words: int,
) -> tuple[int, int]:
    """(pairs answered, mutated showing ``mode``)."""
    answered = answer_pairs(target, pairs, samples)
    shows = sum(behaviour(m.mode, m.response, terse_max_words) == mode for *_, m in answered)
    return len(answered), shows


def plain_answers(
    target: CachedTarget, seeds: Sequence[Seed], samples: int, terse_max_words: int
) -> dict[tuple[str, int], bool]:
    """Per (seed prompt, sample) answered, whether the answer is a plain ``answer``."""
    answers = target.get([s.prompt for s in seeds], samples)
    return {
        key: behaviour(a.mode, a.response, terse_max_words) == Mode.ANSWER.value
        for key, a in answers.items()
    }


def verify_findings(
    findings: Sequence[FindingToVerify],
    before: CachedTarget,
    after: CachedTarget,
    seeds: Sequence[Seed],
    *,
    samples: int = 1,
    max_seeds: int = 60,
    seed: int = 0,
    terse_max_words: int = TERSE_MAX_WORDS,
    surface_forms: dict[str, str] | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[Verification]:
    """The A/B of every finding on both models, on the same mutated prompts.

    ``on_done(n)`` is called after each finding with the number verified so far.
    """
    out = []
    plain_before = plain_answers(before, seeds, samples, terse_max_words)
    plain_after = plain_answers(after, seeds, samples, terse_max_words)
    both = plain_before.keys() & plain_after.keys()  # failed calls count for neither model
    n_clean = len(both)
    clean_before = sum(plain_before[k] for k in both) / n_clean if n_clean else 0.0
    clean_after = sum(plain_after[k] for k in both) / n_clean if n_clean else 0.0
    spread = spread_by_kind(seeds)
    for finding in findings:
        mutation = get_mutation(finding.attribute, surface_forms)
        rng = random.Random(f"{seed}:verify:{finding.attribute}")
        pairs = mutated_pairs(spread, mutation.apply, rng, max_seeds)
        n_before, hits_before = _rates(before, pairs, samples, finding.mode, terse_max_words)
        n_after, hits_after = _rates(after, pairs, samples, finding.mode, terse_max_words)
        out.append(
            Verification(
                finding_id=finding.finding_id,
                attribute=finding.attribute,
                mode=finding.mode,
                n=min(n_before, n_after),
                rate_before=hits_before / n_before if n_before else 0.0,
                rate_after=hits_after / n_after if n_after else 0.0,
                clean_answer_before=clean_before,
                clean_answer_after=clean_after,
                p_value=fisher_greater(hits_after, n_after, hits_before, n_before),
                n_clean=n_clean,
            )
        )
        if on_done is not None:
            on_done(len(out))
    return out
