"""SURF-style search: find attributes that flip a model's behaviour, then confirm them.

1. **Discover** (a thresholding bandit): each attribute operator (and, once the
   best single attributes are known, their pairwise combinations) is an arm. A
   pull applies the arm to an unused discovery seed and compares the target's
   response to the mutated prompt with its response to the seed itself; a
   *flip* is a mutated response whose behaviour differs from the seed's and is
   not a plain ``answer``. The goal is every attribute whose flip rate exceeds
   ``min_effect / 2``, not only the best one (a thresholding bandit): every arm
   gets ``min_pulls``, then the arm whose side of the threshold is least certain
   under its Beta posterior is pulled, until each arm is settled or at
   ``max_pulls``. Arms clearly above or below stop costing calls. (A Thompson
   sampler, tried first, spent nearly all pulls on the three strongest arms and
   never looked at weaker real triggers; the APT index, tried next, kept pulling
   arms just under the threshold and never revisited arms with one flip in one
   pull.)
2. **Confirm**: the most promising arms get a fresh paired A/B on seeds never
   used to find them (``samples`` responses each), for the behaviour they flipped
   to most: rates, effect, Newcombe interval, exact McNemar p-value, and
   Benjamini-Hochberg q-values across the arms. Confirmed: q < alpha and effect
   >= ``min_effect``.
   A scan term (``term:<word>``) also gets a placebo arm: the same insertion with a
   neutral word of its class and frequency (``datasets_registry.placebo``), on the same seeds
   at the same positions; the term is confirmed only if it also beats the placebo
   (McNemar p < alpha, effect >= ``min_effect``): an unnatural frame flips behaviour
   whatever word it carries. A term whose own A/B cannot be confirmed (p >= alpha or a
   small effect: its q-value can only be larger) skips the placebo. The answers kept for
   step 3 are ``robust_seeds`` for each arm that could be confirmed so far and each arm
   still to test, up to ``robust_share`` of the budget: a candidate's share of seeds is
   what the old fixed reserve gave, and what hopeless arms leave is spent on the last
   candidates instead of being held back for re-tests that will not happen.
3. **Robustness**: each confirmed trigger is re-tested with a second, different
   insertion of the attribute (``Mutation.alternate``); the result is recorded.

Everything the target says goes through ``CachedTarget`` (the ``queries`` table),
and the search is deterministic for a seed given the responses, so a rerun after
a crash replays the cached calls and repeats none of them.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from behaviour_modes.modes import TERSE_MAX_WORDS, Mode, behaviour
from surf_search.mutations import Mutation, combine
from surf_search.query_cache import CachedTarget, Labelled
from surf_search.seeds import Seed
from surf_search.stats import Comparison, benjamini_hochberg, compare

DISCOVER, CONFIRM, ROBUST = "discover", "confirm", "robust"
PLACEBO = "placebo"  # a scan term's placebo word, on the term's confirmation seeds
MIN_AB_SEEDS = 10  # an A/B on fewer seeds cannot reach significance for moderate effects


@dataclass(frozen=True)
class SearchPlan:
    """How the search spends its budget and decides (the algorithm's settings)."""

    budget: int = 900  # answers used (from the cache or a call), so a rerun replays the run
    samples: int = 1  # responses per prompt in confirmation (1 under greedy decoding)
    discovery_share: float = 0.4  # of the budget spent finding candidates
    #: The budget kept for the robustness re-tests at most: while confirming, the search
    #: keeps ``robust_seeds`` answers per arm that could be confirmed so far and per arm
    #: still to test, within this share (a fixed fifth left weak triggers untested).
    robust_share: float = 0.2
    robust_seeds: int = 20  # seeds per robustness re-test (at most)
    min_effect: float = 0.2  # smallest rate difference that counts as a trigger
    alpha: float = 0.05  # false discovery rate (Benjamini-Hochberg q-value threshold)
    confirm_seeds: int = 40  # confirmation seeds per candidate (at most)
    max_candidates: int = 10
    min_pulls: int = 3  # discovery pulls every arm gets before any gets more
    max_pulls: int = 30  # discovery pulls of one arm at most
    decided: float = 0.05  # an arm is settled when it is this sure of its side of min_effect/2
    round_size: int = 16  # pulls per discovery round (one batched target call)
    combine_top: int = 3  # the best single arms combined pairwise
    seed: int = 0  # the random stream of seed order, arm choice and insertions
    terse_max_words: int = TERSE_MAX_WORDS


@dataclass
class Trial:
    """One mutated prompt compared with its own seed."""

    phase: str
    step: int
    attribute: str
    seed: Seed
    prompt: str
    sample: int
    response: str
    base_behaviour: str
    behaviour: str

    @property
    def flipped(self) -> bool:
        """The mutated answer's behaviour differs from the seed's and is not a plain answer."""
        return self.behaviour != self.base_behaviour and self.behaviour != Mode.ANSWER.value


@dataclass
class Arm:
    """One attribute operator (or combination) as a bandit arm: pulls, flips, seeds used."""

    mutation: Mutation
    pulls: int = 0
    flips: int = 0
    flipped_to: Counter[str] = field(default_factory=Counter)
    used: set[str] = field(default_factory=set)
    exhausted: bool = False
    pending: int = 0  # chosen for the current round, not yet answered

    @property
    def mean(self) -> float:
        """The posterior mean flip rate (uniform prior)."""
        return (self.flips + 1) / (self.pulls + 2)

    @property
    def components(self) -> list[str]:
        """The single operators this arm combines (itself when it is a single one)."""
        return self.mutation.name.split("+")


@dataclass
class Finding:
    """A tested candidate: its A/B comparison, q-value, verdict and robustness re-test."""

    attribute: str
    description: str
    mode: str
    comparison: Comparison
    q_value: float = 1.0
    confirmed: bool = False
    robust: bool | None = None
    robust_comparison: Comparison | None = None
    example_prompt: str = ""
    example_response: str = ""
    placebo: str | None = None  # the placebo operator (scan terms), None for the others
    #: placebo (base side) against the attribute (mutated side) on the same seeds
    placebo_comparison: Comparison | None = None


@dataclass
class SearchOutcome:
    """What one search found: findings (confirmed first), its trials and the answers it used."""

    findings: list[Finding]
    trials: list[Trial]
    calls: int
    exhaustive_calls: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SearchProgress:
    """Where a search stands: its phase, answers used of the budget, confirmed findings."""

    phase: str
    calls: int
    budget: int
    findings: int


ProgressCallback = Callable[[SearchProgress], None]


class Search:
    """One search run over ``seeds`` with ``mutations`` against a cached target."""

    def __init__(
        self,
        target: CachedTarget,
        seeds: Sequence[Seed],
        mutations: Sequence[Mutation],
        config: SearchPlan,
        progress: ProgressCallback | None = None,
        on_trials: Callable[[list[Trial]], None] | None = None,
    ) -> None:
        if not seeds:
            raise ValueError("the search needs at least one seed prompt")
        if not mutations:
            raise ValueError("the search needs at least one attribute operator")
        self.target = target
        self.config = config
        self.rng = random.Random(config.seed)
        shuffled = list(dict.fromkeys(seeds))
        self.rng.shuffle(shuffled)
        half = max(1, len(shuffled) // 2)
        self.discovery, self.confirmation = shuffled[:half], shuffled[half:] or shuffled[:half]
        self.singles = list(mutations)
        self.arms = {m.name: Arm(m) for m in mutations}
        self.progress = progress or (lambda p: None)
        self.on_trials = on_trials or (lambda t: None)
        self.trials: list[Trial] = []
        self.notes: list[str] = []
        self.step = 0
        self.start_used = len(target.requested)
        self.n_confirmed = 0
        self.promising = 0  # confirmation A/Bs so far that could be confirmed (p, effect)

    # -- budget ---------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Answers this search has used, whether a call or the cache gave them."""
        return len(self.target.requested) - self.start_used

    def _report(self, phase: str) -> None:
        self.progress(SearchProgress(phase, self.calls, self.config.budget, self.n_confirmed))

    def _behaviour(self, labelled: Labelled) -> str:
        return behaviour(labelled.mode, labelled.response, self.config.terse_max_words)

    def _record(self, trials: list[Trial]) -> None:
        self.trials.extend(trials)
        self.on_trials(trials)

    # -- 1. discovery ---------------------------------------------------------------------
    def _uncertainty(self, arm: Arm) -> float:
        """Posterior probability that the arm is on the other side of the threshold."""
        from scipy.stats import beta as beta_distribution  # slow to import: only when used

        above = 1 - beta_distribution.cdf(
            self.config.min_effect / 2, arm.flips + 1, arm.pulls - arm.flips + 1
        )
        return min(above, 1 - above)

    def _choose(self, live: list[Arm]) -> Arm | None:
        """Every arm gets ``min_pulls`` first; then the arm whose side of the threshold is
        least certain, until each is decided (uncertainty < ``decided``) or at ``max_pulls``."""
        fresh = [a for a in live if a.pulls + a.pending < self.config.min_pulls]
        if fresh:
            return min(fresh, key=lambda a: (a.pulls + a.pending, self.rng.random()))
        open_arms = [
            (self._uncertainty(a) / (1 + a.pending), self.rng.random(), a)
            for a in live
            if a.pulls + a.pending < self.config.max_pulls
        ]
        open_arms = [t for t in open_arms if t[0] >= self.config.decided]
        return max(open_arms, key=lambda t: t[:2])[2] if open_arms else None

    def _pick(self) -> tuple[Arm, Seed, str] | None:
        while True:
            live = [a for a in self.arms.values() if not a.exhausted]
            arm = self._choose(live)
            if arm is None:
                return None
            candidates = [s for s in self.discovery if s.seed_id not in arm.used]
            self.rng.shuffle(candidates)
            for seed in candidates:
                arm.used.add(seed.seed_id)
                prompt = arm.mutation.apply(seed.prompt, self.rng)
                if prompt is not None and prompt != seed.prompt:
                    arm.pending += 1
                    return arm, seed, prompt
            arm.exhausted = True

    def _add_combinations(self) -> None:
        ranked = sorted(
            (a for a in self.arms.values() if "+" not in a.mutation.name and a.pulls),
            key=lambda a: -a.mean,
        )[: self.config.combine_top]
        for i, first in enumerate(ranked):
            for second in ranked[i + 1 :]:
                combo = combine(first.mutation, second.mutation)
                self.arms.setdefault(combo.name, Arm(combo))

    def discover(self) -> None:
        """Pull arms in batched rounds until the discovery share of the budget is used."""
        limit = int(self.config.budget * self.config.discovery_share)
        combined = False
        while self.calls < limit:
            if not combined and self.calls >= limit // 2:
                self._add_combinations()
                combined = True
            pulls = []
            for _ in range(self.config.round_size):
                picked = self._pick()
                if picked is None:
                    break
                pulls.append(picked)
            if not pulls and not combined:
                self._add_combinations()
                combined = True
                continue
            if not pulls:
                self.notes.append(
                    f"discovery settled every arm after {self.calls:,} calls (limit {limit:,})"
                )
                break
            for arm in self.arms.values():
                arm.pending = 0
            prompts = [s.prompt for _, s, _ in pulls] + [p for _, _, p in pulls]
            answers = self.target.get(prompts, 1)
            trials = []
            for arm, seed, prompt in pulls:
                base, mutated = answers.get((seed.prompt, 0)), answers.get((prompt, 0))
                if base is None or mutated is None:
                    continue  # a failed call: recorded in `queries`, never a behaviour
                self.step += 1
                trial = Trial(
                    DISCOVER,
                    self.step,
                    arm.mutation.name,
                    seed,
                    prompt,
                    0,
                    mutated.response,
                    self._behaviour(base),
                    self._behaviour(mutated),
                )
                arm.pulls += 1
                if trial.flipped:
                    arm.flips += 1
                    arm.flipped_to[trial.behaviour] += 1
                trials.append(trial)
            self._record(trials)
            self._report(DISCOVER)

    # -- 2. confirmation ------------------------------------------------------------------
    def _reserve(self, phase: str, arms_ahead: int = 1) -> int:
        """Answers kept for the robustness re-tests while ``phase`` spends: ``robust_seeds``
        for every arm that could be confirmed so far and for ``arms_ahead`` more, within
        ``robust_share`` of the budget; none once the re-tests run."""
        if phase == ROBUST:
            return 0
        arms = self.promising + arms_ahead
        wanted = self.config.robust_seeds * self.config.samples * arms
        return min(int(self.config.budget * self.config.robust_share), wanted)

    def _share(self, tests_left: int, phase: str = CONFIRM) -> int:
        """Seeds for the next A/B: an even share of what the phase may still spend, keeping
        re-test answers for every candidate still to test (any of them may be confirmed)."""
        room = max(0, self.config.budget - self._reserve(phase, tests_left) - self.calls)
        most = self.config.robust_seeds if phase == ROBUST else self.config.confirm_seeds
        even = room // max(1, tests_left * self.config.samples)
        return max(MIN_AB_SEEDS, min(most, even))

    def candidates(self) -> list[Arm]:
        """The arms worth an A/B: singles first, a combination only when its parts do not
        already explain its mode; at most ``max_candidates``."""
        ranked = sorted(
            (a for a in self.arms.values() if a.pulls >= self.config.min_pulls and a.flips),
            key=lambda a: ("+" in a.mutation.name, -a.mean),  # singles before combinations
        )
        chosen: list[Arm] = []
        for arm in ranked:
            if arm.mean < self.config.min_effect / 2:
                continue
            mode = arm.flipped_to.most_common(1)[0][0]
            explained = any(
                c.mutation.name in arm.components and c.flipped_to.most_common(1)[0][0] == mode
                for c in chosen
            )
            if not explained:
                chosen.append(arm)
            if len(chosen) == self.config.max_candidates:
                break
        return chosen

    def _ab(
        self,
        arm: Arm,
        phase: str,
        apply: Callable[[str, random.Random], str | None],
        limit: int,
        attribute: str | None = None,
    ) -> list[Trial] | None:
        """Answer an arm's paired A/B (seeds and their mutated prompts); record the trials
        under ``attribute`` (the arm's name by default). A placebo draws the insertion
        positions of the arm's confirmation (the same random stream)."""
        stream = CONFIRM if phase == PLACEBO else phase
        rng = random.Random(f"{self.config.seed}:{stream}:{arm.mutation.name}")
        pairs = mutated_pairs(self.confirmation, apply, rng, limit)
        if not pairs:
            return None
        samples = self.config.samples
        remaining = self.config.budget - self._reserve(phase) - self.calls
        if self.target.new_keys(pair_prompts(pairs), samples) > remaining:
            affordable = max(0, remaining) // max(1, 2 * samples)
            if affordable < 5:
                self.notes.append(f"budget exhausted before testing {arm.mutation.name} ({phase})")
                return None
            pairs = pairs[:affordable]
            self.notes.append(f"{arm.mutation.name} ({phase}): {len(pairs)} seeds (budget)")
        trials = []
        for seed, prompt, sample, base, mutated in answer_pairs(self.target, pairs, samples):
            self.step += 1
            trials.append(
                Trial(
                    phase,
                    self.step,
                    attribute or arm.mutation.name,
                    seed,
                    prompt,
                    sample,
                    mutated.response,
                    self._behaviour(base),
                    self._behaviour(mutated),
                )
            )
        self._record(trials)
        self._report(phase)
        return trials or None

    @staticmethod
    def _compare(trials: list[Trial], mode: str) -> tuple[Comparison, Trial | None]:
        """The A/B of ``mode`` over paired trials, and an example of a flip into it."""
        example = next(
            (t for t in trials if t.behaviour == mode and t.base_behaviour != mode), None
        )
        return compare([(t.base_behaviour == mode, t.behaviour == mode) for t in trials]), example

    def confirm(self) -> list[Finding]:
        """A fresh paired A/B of every candidate; q-values across them decide confirmation.

        An arm's mode comes from its discovery flips, which may be few (an arm that turns a
        quarter of its prompts into code can show one tool call and no code in six pulls).
        So every mode the arm's confirmation prompts flip into is compared too and the one
        with the smallest adjusted p-value is kept: a weighted Bonferroni correction gives the
        planned mode half the level and shares the other half among the rest (p / 0.5, or
        p / (0.5 / others)), which keeps the test valid after the choice.
        """
        findings = []
        candidates = self.candidates()
        for index, arm in enumerate(candidates):
            planned = arm.flipped_to.most_common(1)[0][0]
            limit = self._share(len(candidates) - index)
            trials = self._ab(arm, CONFIRM, arm.mutation.apply, limit)
            if trials is None:
                continue
            comparison, example = self._compare(trials, planned)
            mode = planned
            others = sorted({t.behaviour for t in trials if t.flipped} - {planned})
            if others:
                options = {m: self._compare(trials, m) for m in [planned, *others]}
                # weighted Bonferroni: half the level for the planned mode, half shared by
                # the others, so a choice among them stays a valid test
                weight = {m: 0.5 if m == planned else 0.5 / len(others) for m in options}
                adjusted = {m: min(1.0, options[m][0].p_value / weight[m]) for m in options}
                mode = min(options, key=lambda m: (adjusted[m], m != planned))
                comparison, example = options[mode]
                comparison = dataclasses.replace(comparison, p_value=adjusted[mode])
            findings.append(
                Finding(
                    attribute=arm.mutation.name,
                    description=arm.mutation.description,
                    mode=mode,
                    comparison=comparison,
                    example_prompt=example.prompt if example else "",
                    example_response=example.response if example else "",
                    placebo=placebo.name if (placebo := arm.mutation.placebo()) else None,
                )
            )
            possible = comparison.p_value < self.config.alpha and (
                comparison.effect >= self.config.min_effect
            )  # a q-value is never below its p-value: otherwise it cannot be confirmed
            self.promising += possible
            if placebo is not None and possible:
                findings[-1].placebo_comparison = self._against_placebo(arm, trials, mode, limit)
            elif placebo is not None:
                self.notes.append(
                    f"{arm.mutation.name}: placebo {placebo.name} not needed (its own A/B "
                    "cannot confirm it)"
                )
        q_values = benjamini_hochberg([f.comparison.p_value for f in findings])
        for finding, q in zip(findings, q_values, strict=True):
            finding.q_value = q
            finding.confirmed = (
                q < self.config.alpha
                and finding.comparison.effect >= self.config.min_effect
                and self._beats_placebo(finding)
            )
        self.n_confirmed = sum(f.confirmed for f in findings)
        return findings

    def _against_placebo(
        self, arm: Arm, trials: list[Trial], mode: str, limit: int
    ) -> Comparison | None:
        """The placebo's A/B on the arm's confirmation seeds (same insertion positions),
        compared pair by pair with the arm's own: placebo as the base side."""
        placebo = arm.mutation.placebo()
        assert placebo is not None
        control = self._ab(arm, PLACEBO, placebo.apply, limit, attribute=placebo.name)
        if control is None:
            self.notes.append(f"{arm.mutation.name}: placebo {placebo.name} not tested")
            return None
        by_pair = {(t.seed.seed_id, t.sample): t for t in control}
        paired = [
            (by_pair[key].behaviour == mode, t.behaviour == mode)
            for t in trials
            if (key := (t.seed.seed_id, t.sample)) in by_pair
        ]
        return compare(paired) if paired else None

    def _beats_placebo(self, finding: Finding) -> bool:
        """True without a placebo; with one, the attribute's rate beats the placebo's by
        ``min_effect`` at level ``alpha`` (exact McNemar on the same seeds). Both this and
        the seed test must pass (an intersection-union test: no further correction)."""
        if finding.placebo is None:
            return True
        c = finding.placebo_comparison
        return (
            c is not None and c.p_value < self.config.alpha and c.effect >= self.config.min_effect
        )

    # -- 3. robustness --------------------------------------------------------------------
    def check_robustness(self, findings: list[Finding]) -> None:
        """Re-test each confirmed finding with the attribute's second insertion."""
        for finding in findings:
            if not finding.confirmed:
                continue
            arm = self.arms[finding.attribute]
            left = sum(1 for f in findings[findings.index(finding) :] if f.confirmed)
            limit = self._share(left, phase=ROBUST)
            trials = self._ab(arm, ROBUST, arm.mutation.robust_apply, limit)
            if trials is None:
                continue
            comparison, _ = self._compare(trials, finding.mode)
            finding.robust_comparison = comparison
            finding.robust = (
                comparison.p_value < self.config.alpha
                and comparison.effect >= self.config.min_effect
            )

    def run(self) -> SearchOutcome:
        """Discover, confirm and re-test; findings sorted confirmed first, then by q-value."""
        self.discover()
        findings = self.confirm()
        self.check_robustness(findings)
        findings.sort(key=lambda f: (not f.confirmed, f.q_value, -f.comparison.effect))
        return SearchOutcome(
            findings=findings,
            trials=self.trials,
            calls=self.calls,
            exhaustive_calls=exhaustive_calls(
                [*self.discovery, *self.confirmation], self.singles, self.config.samples
            ),
            notes=self.notes,
        )


def mutated_pairs(
    seeds: Sequence[Seed],
    apply: Callable[[str, random.Random], str | None],
    rng: random.Random,
    limit: int,
) -> list[tuple[Seed, str]]:
    """(seed, mutated prompt) for the first ``limit`` seeds the attribute fits."""
    pairs = []
    for seed in seeds:
        prompt = apply(seed.prompt, rng)
        if prompt is not None and prompt != seed.prompt:
            pairs.append((seed, prompt))
            if len(pairs) == limit:
                break
    return pairs


def pair_prompts(pairs: Sequence[tuple[Seed, str]]) -> list[str]:
    """Every seed prompt, then every mutated prompt."""
    return [s.prompt for s, _ in pairs] + [p for _, p in pairs]


def answer_pairs(
    target: CachedTarget, pairs: Sequence[tuple[Seed, str]], samples: int
) -> list[tuple[Seed, str, int, Labelled, Labelled]]:
    """Both answers of every (seed, mutated) pair and sample; pairs with a failed call are left out."""
    answers = target.get(pair_prompts(pairs), samples)
    out = []
    for seed, prompt in pairs:
        for sample in range(samples):
            base, mutated = answers.get((seed.prompt, sample)), answers.get((prompt, sample))
            if base is not None and mutated is not None:
                out.append((seed, prompt, sample, base, mutated))
    return out


def exhaustive_calls(seeds: Sequence[Seed], mutations: Sequence[Mutation], samples: int) -> int:
    """Calls of the exhaustive sweep: every attribute x every seed it fits x samples, plus seeds."""
    rng = random.Random(0)
    fits = sum(
        1 for m in mutations for s in seeds if m.apply(s.prompt, rng) not in (None, s.prompt)
    )
    return (fits + len(seeds)) * samples
