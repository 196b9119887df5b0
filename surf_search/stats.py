"""Statistics for confirming triggers: rates, intervals, exact tests, multiple testing.

- ``wilson``: the Wilson score interval of one proportion.
- ``newcombe``: the interval of a difference of two independent proportions from
  their Wilson intervals (Newcombe 1998, method 10).
- ``fisher_greater``: one-sided Fisher exact test that the second group's rate is
  higher (counts of pooled samples).
- ``mcnemar_greater``: one-sided exact McNemar test for paired yes/no outcomes
  (discordant pairs, binomial with p = 1/2).
- ``benjamini_hochberg``: q-values controlling the false discovery rate.
- ``mean_interval``: the mean of a few measurements (rates of retrained models) and
  its 95% Student t interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


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
    """An A/B comparison of one behaviour's rate: unmutated seeds versus mutated prompts."""

    n_base: int
    n_mutated: int
    hits_base: int
    hits_mutated: int
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


def compare(pairs: Sequence[tuple[bool, bool]]) -> Comparison:
    """Compare paired outcomes ``(base shows it, mutated shows it)``.

    The p-value is the exact McNemar test on the discordant pairs (pairs share a
    seed, so they are not independent); the interval is Newcombe's for the
    difference of the two rates.
    """
    n = len(pairs)
    hits_base = sum(b for b, _ in pairs)
    hits_mutated = sum(m for _, m in pairs)
    only_mutated = sum(m and not b for b, m in pairs)
    only_base = sum(b and not m for b, m in pairs)
    low, high = newcombe(hits_base, n, hits_mutated, n)
    return Comparison(
        n_base=n,
        n_mutated=n,
        hits_base=hits_base,
        hits_mutated=hits_mutated,
        effect=(hits_mutated - hits_base) / n if n else 0.0,
        ci_low=low,
        ci_high=high,
        p_value=mcnemar_greater(only_mutated, only_base),
        test="mcnemar-exact",
    )
