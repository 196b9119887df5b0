"""Verification: re-run each confirmed finding's A/B on a model before and after a fix.

For every confirmed finding the attribute is applied to seeds the search never asked
with that attribute (held out: the before-model's answers that selected the finding
would otherwise be re-used, and the drop would include regression to the mean), up to
``max_seeds``, taken in turn from each kind of seed. Each model answers every seed twice,
as it is (the **base arm**) and with the attribute; both answers are labelled against
the seed prompt, identical answers never differ and a requested mode is never counted
(``surf_search.pairing``). ``rate_*`` is the share of mutated prompts showing the
finding's behaviour, ``rate_base_*`` the share of the seeds as they are. The test is
one-sided and paired by seed: the exact sign test (McNemar with one sample per seed)
that the attribute's per-seed effect (mutated minus base) is smaller after the fix than
before; ``q_value`` adjusts it across the findings (Benjamini-Hochberg).
``clean_answer_*`` is the share of *every* seed, untouched, that the model answers with
a plain ``answer`` (a fix must not break ordinary prompts of any kind), measured once
per model.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from behaviour_modes.modes import TERSE_MAX_WORDS, Mode, behaviour
from surf_search.judges.panel import JudgePanel
from surf_search.mutations import get_mutation
from surf_search.query_cache import CachedTarget
from surf_search.search import (
    answer_pairs,
    is_judged,
    judge_pairs,
    label_answers,
    mutated_pairs,
    seed_rates,
)
from surf_search.seeds import Seed
from surf_search.stats import benjamini_hochberg, sign_greater


@dataclass(frozen=True)
class FindingToVerify:
    """A confirmed finding to re-test: its id, attribute and behaviour mode."""

    finding_id: str
    attribute: str
    mode: str


PAIRED_TEST = "sign-test-seeds"  # per-seed effect before vs after; McNemar at one sample


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
    rate_base_before: float = 0.0  # the seeds as they are, showing the behaviour
    rate_base_after: float = 0.0
    q_value: float = 1.0  # p_value adjusted across the findings (Benjamini-Hochberg)
    n_held_out: int = 0  # seeds the search never asked with this attribute
    test: str = PAIRED_TEST

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


def seed_effects(
    target: CachedTarget,
    pairs: list[tuple[Seed, str]],
    samples: int,
    mode: str,
    terse_max_words: int,
    judges: JudgePanel | None = None,
) -> dict[str, tuple[float, float]]:
    """Per seed answered, the (base, mutated) rate of ``mode`` over its samples, both
    answers labelled against the seed (``surf_search.pairing``); for a judged outcome the
    mean score, both answers judged against the seed (a failed judgement, or an uncertain
    behaviour label, left out)."""
    answered = answer_pairs(target, pairs, samples)
    labels = label_answers(answered, terse_max_words)
    outcomes: dict[str, list[tuple[float, float]]] = {}
    if is_judged(mode):
        if judges is None:
            raise ValueError(f"{mode} is a judged outcome: verifying it needs its judge")
        for (seed, *_), scores in zip(answered, judge_pairs(judges, answered, labels), strict=True):
            if mode in scores:
                outcomes.setdefault(seed.seed_id, []).append(scores[mode])
        return {seed_id: seed_rates(o) for seed_id, o in outcomes.items()}
    for (seed, *_), label in zip(answered, labels, strict=True):
        if label.uncertain:
            continue  # an uncertain label is left out, like a failed judgement
        outcomes.setdefault(seed.seed_id, []).append(
            (float(label.base_shows(mode)), float(label.variant_shows(mode)))
        )
    return {seed_id: seed_rates(o) for seed_id, o in outcomes.items()}


def mean_rate(rates: Mapping[str, tuple[float, float]], keys: Sequence[str], side: int) -> float:
    """The mean of one side (0: base, 1: mutated) of ``rates`` over ``keys``."""
    return sum(rates[k][side] for k in keys) / len(keys) if keys else 0.0


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
    searched: Mapping[str, set[str]] | None = None,
    on_done: Callable[[int], None] | None = None,
    judges: JudgePanel | None = None,
) -> list[Verification]:
    """The A/B of every finding on both models, on the same held-out mutated prompts.

    ``searched`` maps an attribute to the seed prompts the search asked with it; those are
    held out. A judged finding is re-judged by ``judges`` (the search's). ``on_done(n)`` is called after each finding with the number verified so far.
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
        used = (searched or {}).get(finding.attribute, set())
        held_out = [s for s in spread if s.prompt not in used]
        rng = random.Random(f"{seed}:verify:{finding.attribute}")
        pairs = mutated_pairs(held_out, mutation.apply, rng, max_seeds)
        rates_before = seed_effects(before, pairs, samples, finding.mode, terse_max_words, judges)
        rates_after = seed_effects(after, pairs, samples, finding.mode, terse_max_words, judges)
        common = sorted(rates_before.keys() & rates_after.keys())  # answered by both models
        n = len(common)
        # the per-seed effect (mutated minus base) fell: before's minus after's > 0
        change = [
            (rates_before[k][1] - rates_before[k][0]) - (rates_after[k][1] - rates_after[k][0])
            for k in common
        ]
        out.append(
            Verification(
                finding_id=finding.finding_id,
                attribute=finding.attribute,
                mode=finding.mode,
                n=n,
                rate_before=mean_rate(rates_before, common, 1),
                rate_after=mean_rate(rates_after, common, 1),
                clean_answer_before=clean_before,
                clean_answer_after=clean_after,
                p_value=sign_greater(sum(c > 0 for c in change), sum(c < 0 for c in change)),
                n_clean=n_clean,
                rate_base_before=mean_rate(rates_before, common, 0),
                rate_base_after=mean_rate(rates_after, common, 0),
                n_held_out=len(held_out),
            )
        )
        if on_done is not None:
            on_done(len(out))
    q_values = benjamini_hochberg([v.p_value for v in out])
    return [dataclasses.replace(v, q_value=q) for v, q in zip(out, q_values, strict=True)]
