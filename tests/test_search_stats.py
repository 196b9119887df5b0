"""Search statistics against published and hand-computed values."""

from __future__ import annotations

import pytest

from surf_search.stats import (
    benjamini_hochberg,
    compare,
    fisher_greater,
    mcnemar_greater,
    newcombe,
    wilson,
)


def test_wilson_matches_newcombe_1998() -> None:
    low, high = wilson(81, 263)  # Newcombe (1998a), example: 0.2553 to 0.3662
    assert low == pytest.approx(0.2553, abs=1e-4) and high == pytest.approx(0.3662, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "low", "high"),
    [
        (48, 80, 56, 70, 0.0524, 0.3339),  # Newcombe (1998b), method 10, example (a)
        (3, 10, 9, 10, 0.1705, 0.8090),  # example (e)
    ],
)
def test_newcombe_difference_interval(x1, n1, x2, n2, low, high) -> None:
    got_low, got_high = newcombe(x1, n1, x2, n2)
    assert got_low == pytest.approx(low, abs=1e-4) and got_high == pytest.approx(high, abs=1e-4)


def test_fisher_lady_tasting_tea() -> None:
    assert fisher_greater(1, 4, 3, 4) == pytest.approx(17 / 70)  # Fisher's 3-of-4 cups


def test_mcnemar_exact_binomial() -> None:
    assert mcnemar_greater(10, 2) == pytest.approx(79 / 4096)
    assert mcnemar_greater(0, 0) == 1.0


def test_benjamini_hochberg_by_hand() -> None:
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.5, 0.9]) == pytest.approx([0.9, 0.9])


def test_a_q_value_is_never_below_its_p_value() -> None:
    """What lets the search skip a placebo: a p-value >= alpha cannot give q < alpha."""
    import random

    rng = random.Random(0)
    for _ in range(200):
        p_values = [rng.random() ** rng.choice((1, 3)) for _ in range(rng.randint(1, 12))]
        q_values = benjamini_hochberg(p_values)
        assert all(q >= p - 1e-12 for p, q in zip(p_values, q_values, strict=True))


def test_compare_paired_outcomes() -> None:
    pairs = [(False, True)] * 8 + [(False, False)] * 10 + [(True, True)] * 2
    result = compare(pairs)
    assert (result.n_base, result.hits_base, result.hits_mutated) == (20, 2, 10)
    assert result.effect == pytest.approx(0.4)
    assert result.p_value == pytest.approx(1 / 256)
    assert result.ci_low < 0.4 < result.ci_high and result.test == "mcnemar-exact"


def test_paired_interval_uses_the_pairing() -> None:
    """Newcombe (1998b) method 10: with concordant pairs the paired interval is narrower
    than the independent one on the same margins; swapping arms negates it; it holds the
    point estimate; with no discordant pair it is centred on 0."""
    from surf_search.stats import newcombe_paired

    low, high = newcombe_paired(both=12, only_base=2, only_mutated=9, neither=17)
    ind_low, ind_high = newcombe(14, 40, 21, 40)
    assert low < 7 / 40 < high and high - low < ind_high - ind_low
    assert newcombe_paired(12, 9, 2, 17) == pytest.approx((-high, -low))
    zero_low, zero_high = newcombe_paired(10, 0, 0, 10)
    assert zero_low < 0 < zero_high and zero_low == pytest.approx(-zero_high)


def test_compare_reports_the_one_sided_bound_that_matches_its_test() -> None:
    """The interval is two-sided 90%: its lower end is the one-sided 95% bound."""
    from surf_search.stats import CI_LEVEL, Z90, newcombe_paired

    pairs = [(False, True)] * 8 + [(False, False)] * 10 + [(True, True)] * 2
    result = compare(pairs)
    assert CI_LEVEL == 0.90
    assert (result.ci_low, result.ci_high) == pytest.approx(newcombe_paired(2, 0, 8, 10, Z90))


def test_seeds_not_samples_are_the_unit() -> None:
    """Three samples of one seed are one seed: per-seed rates, a sign test over seeds."""
    from surf_search.stats import compare_seeds

    binary = [(0.0, 1.0)] * 8 + [(0.0, 0.0)] * 10 + [(1.0, 1.0)] * 2
    assert compare_seeds(binary) == compare([(b == 1, m == 1) for b, m in binary])
    rates = [(0.0, 2 / 3)] * 6 + [(1 / 3, 1 / 3)] * 4
    result = compare_seeds(rates)
    assert result.n_base == 10 and result.test == "sign-test-seeds"
    assert result.effect == pytest.approx(0.4) and result.p_value == pytest.approx(1 / 64)
    assert result.ci_low < 0.4 < result.ci_high
