"""Statistics for confirming triggers: rates, intervals, exact tests, multiple testing.

- ``wilson``: the Wilson score interval of one proportion.
- ``newcombe``: the interval of a difference of two independent proportions from
  their Wilson intervals (Newcombe 1998a, method 10).
- ``newcombe_paired``: the interval of a difference of two *paired* proportions (the
  same seeds asked both ways), Newcombe 1998b method 10: Wilson intervals combined
  with the pairs' correlation.
- ``fisher_greater``: one-sided Fisher exact test that the second group's rate is
  higher (counts of pooled samples).
- ``mcnemar_greater``: one-sided exact McNemar test for paired yes/no outcomes
  (discordant pairs, binomial with p = 1/2); ``sign_greater`` is the same test on
  per-seed rates (seeds whose rate rose against seeds whose rate fell).
- ``benjamini_hochberg``: q-values controlling the false discovery rate.
- ``mean_interval``: the mean of a few measurements (rates of retrained models) and
  its 95% Student t interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054
#: The z of a one-sided 95% bound: a two-sided 90% interval's lower end is the one-sided
#: 95% lower confidence bound, which matches a one-sided test at alpha = 0.05.
Z90 = 1.6448536269514722


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``successes / n`` (``(0, 1)`` when ``n == 0``)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float]) -> tuple[float, float | None, float | None]:
    """(mean, low, high): the 95% Student t interval of the mean of ``values``, clipped
    to [0, 1] (they are rates); no interval for fewer than two values."""
    from scipy.stats import t

    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """Interval for ``x2/n2 - x1/n1`` (Newcombe's hybrid score method 10)."""
    p1 = x1 / n1 if n1 else 0.0
    p2 = x2 / n2 if n2 else 0.0
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    diff = p2 - p1
    low = diff - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = diff + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return max(-1.0, low), min(1.0, high)


def newcombe_paired(
    both: int, only_base: int, only_mutated: int, neither: int, z: float = Z95
) -> tuple[float, float]:
    """Interval for the paired difference ``rate(mutated) - rate(base)`` from the 2x2
    table of pairs (Newcombe 1998b, method 10: Wilson intervals of both rates combined
    with the continuity-corrected correlation of the pairs)."""
    n = both + only_base + only_mutated + neither
    if n == 0:
        return -1.0, 1.0
    base, mutated = both + only_base, both + only_mutated
    p1, p2 = base / n, mutated / n
    l1, u1 = wilson(base, n, z)
    l2, u2 = wilson(mutated, n, z)
    margins = base * (n - base) * mutated * (n - mutated)
    phi = 0.0
    if margins > 0:
        cross = both * neither - only_base * only_mutated
        corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
        phi = corrected / math.sqrt(margins)
    diff = p2 - p1
    low = diff - math.sqrt(
        max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    )
    high = diff + math.sqrt(
        max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    )
    return max(-1.0, low), min(1.0, high)


def fisher_greater(x1: int, n1: int, x2: int, n2: int) -> float:
    """One-sided Fisher exact p-value that group 2's rate exceeds group 1's."""
    from scipy import stats as _scipy  # scipy.stats takes seconds to import: only when used

    table = [[x2, n2 - x2], [x1, n1 - x1]]
    return float(_scipy.fisher_exact(table, alternative="greater").pvalue)


def mcnemar_greater(only_mutated: int, only_base: int) -> float:
    """One-sided exact McNemar p-value from discordant pairs.

    ``only_mutated``: pairs where only the mutated prompt showed the behaviour;
    ``only_base``: pairs where only the unmutated seed did.
    """
    n = only_mutated + only_base
    if n == 0:
        return 1.0
    from scipy import stats as _scipy

    return float(_scipy.binomtest(only_mutated, n, 0.5, alternative="greater").pvalue)


def sign_greater(rose: int, fell: int) -> float:
    """One-sided exact sign test that per-seed rates rose (ties left out): with one sample
    per seed it is the exact McNemar test."""
    return mcnemar_greater(rose, fell)


def mean_difference_interval(
    differences: Sequence[float], z_level: float = 0.90
) -> tuple[float, float]:
    """The Student t interval (two-sided ``z_level``) of the mean per-seed difference."""
    from scipy.stats import t

    n = len(differences)
    if n < 2:
        return -1.0, 1.0
    mean = math.fsum(differences) / n
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in differences) / (n - 1))
    half = float(t.ppf(0.5 + z_level / 2, n - 1)) * sd / math.sqrt(n)
    return max(-1.0, mean - half), min(1.0, mean + half)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        q[i] = running
    return q


@dataclass(frozen=True)
class Comparison:
    """A paired A/B comparison of one behaviour's rate: seeds asked as they are (base) and
    with the attribute (mutated). The unit is the seed: ``n_base == n_mutated`` seeds,
    ``hits_*`` the summed per-seed rates (counts with one sample per seed). The interval
    is two-sided at ``CI_LEVEL`` (90%), so ``ci_low`` is the one-sided 95% lower bound
    that matches the one-sided p-value."""

    n_base: int
    n_mutated: int
    hits_base: float
    hits_mutated: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str

    @property
    def rate_base(self) -> float:
        """The behaviour rate on the unmutated seeds."""
        return self.hits_base / self.n_base if self.n_base else 0.0

    @property
    def rate_mutated(self) -> float:
        """The behaviour rate on the mutated prompts."""
        return self.hits_mutated / self.n_mutated if self.n_mutated else 0.0


CI_LEVEL = 0.90  # two-sided; its lower end is the one-sided 95% bound


def compare(pairs: Sequence[tuple[bool, bool]]) -> Comparison:
    """Compare paired outcomes ``(base shows it, mutated shows it)``, one pair per seed.

    The p-value is the one-sided exact McNemar test on the discordant pairs; the
    interval is Newcombe's paired interval (method 10) at ``CI_LEVEL``.
    """
    n = len(pairs)
    both = sum(b and m for b, m in pairs)
    only_mutated = sum(m and not b for b, m in pairs)
    only_base = sum(b and not m for b, m in pairs)
    low, high = newcombe_paired(
        both, only_base, only_mutated, n - both - only_base - only_mutated, Z90
    )
    p_value = mcnemar_greater(only_mutated, only_base)
    return paired(n, both + only_base, both + only_mutated, (low, high), p_value, "mcnemar-exact")


def paired(
    n: int,
    hits_base: float,
    hits_mutated: float,
    interval: tuple[float, float],
    p: float,
    test: str,
) -> Comparison:
    """A paired comparison over ``n`` seeds (both arms count the same seeds)."""
    return Comparison(
        n_base=n,
        n_mutated=n,
        hits_base=hits_base,
        hits_mutated=hits_mutated,
        effect=(hits_mutated - hits_base) / n if n else 0.0,
        ci_low=interval[0],
        ci_high=interval[1],
        p_value=p,
        test=test,
    )


def compare_seeds(rates: Sequence[tuple[float, float]]) -> Comparison:
    """Compare per-seed rates ``(base rate, mutated rate)`` (several samples per seed).

    The seed is the unit: samples of one seed are not independent pairs. With every rate
    0 or 1 this is ``compare``; otherwise the one-sided exact sign test over seeds whose
    rate rose or fell, and the Student t interval of the mean per-seed difference.
    """
    if all(b in (0, 1) and m in (0, 1) for b, m in rates):
        return compare([(b == 1, m == 1) for b, m in rates])
    n = len(rates)
    differences = [m - b for b, m in rates]
    p_value = sign_greater(sum(d > 0 for d in differences), sum(d < 0 for d in differences))
    return paired(
        n,
        math.fsum(b for b, _ in rates),
        math.fsum(m for _, m in rates),
        mean_difference_interval(differences, CI_LEVEL),
        p_value,
        "sign-test-seeds",
    )
