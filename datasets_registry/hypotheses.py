"""Trigger hypotheses: prompt feature F -> response mode M, concentrated in source S.

For every candidate F (catalog/user prompt features, and ``term:<word>`` for the
characteristic words of each source) and every non-``answer`` mode M, the 2x2
table of rows with/without F against mode M/not M gives:

- ``p_mode_given_feature`` = P(M | F), ``p_mode_without`` = P(M | not F), ``lift``;
- ``p_value``: one-sided Fisher exact test (hypergeometric upper tail);
- ``score`` (the rank): Wilson 95% lower bound of P(M | F) minus P(M | not F).
  A feature seen twice with mode M twice scores ~0.34 - p0, not 1 - p0, so tiny
  supports cannot top the list;
- ``source``: where most rows with both F and M come from, with that source's
  ``share_of_hits`` of all rows carrying F.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from behaviour_modes.modes import Mode

Z95 = 1.959963984540054


def wilson_lower(successes: np.ndarray, trials: np.ndarray, z: float = Z95) -> np.ndarray:
    """Lower end of the Wilson score interval (0 where there are no trials)."""
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / trials
        centre = p + z * z / (2 * trials)
        margin = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
        lower = (centre - margin) / (1 + z * z / trials)
    return np.where(trials > 0, lower, 0.0)


def hypergeom_upper_tail(
    a: np.ndarray, total: int, marked: np.ndarray, drawn: np.ndarray
) -> np.ndarray:
    """P(X >= a) for X ~ Hypergeometric(total, marked, drawn): the one-sided Fisher exact
    p-value, exactly ``scipy.stats.hypergeom.sf(a - 1, total, marked, drawn)``.

    It calls the Boost routine that ``hypergeom.sf`` calls, from ``scipy.special``,
    with ``rv_discrete.sf``'s handling of the support: importing ``scipy.stats`` costs
    about a second, ``scipy.special`` a third of that. A SciPy without that routine
    gets ``hypergeom.sf`` itself (``tests/test_scan_fast_paths.py`` checks they agree).
    """
    try:
        from scipy.special._ufuncs import _hypergeom_sf
    except ImportError:  # pragma: no cover - older SciPy keeps it in scipy.stats._boost
        from scipy.stats import hypergeom

        return np.asarray(hypergeom.sf(np.asarray(a) - 1, total, marked, drawn), dtype=float)
    k = np.asarray(a, dtype=float) - 1
    marked = np.asarray(marked, dtype=float)
    drawn = np.asarray(drawn, dtype=float)
    valid = (total > 0) & (marked >= 0) & (drawn >= 0) & (marked <= total) & (drawn <= total)
    valid &= (marked == np.floor(marked)) & (drawn == np.floor(drawn)) & (total == int(total))
    low, high = np.maximum(drawn - (total - marked), 0), np.minimum(marked, drawn)
    out = np.zeros(k.shape)
    out[~valid | np.isnan(k)] = np.nan
    out[((k < low) | np.isneginf(k)) & valid] = 1.0
    inside = valid & (k >= low) & (k < high) & np.isfinite(k)
    out[inside] = np.clip(_hypergeom_sf(k[inside], marked[inside], drawn[inside], total), 0, 1)
    return out


def upper_tail_above_mean(
    a: np.ndarray, total: int, marked: np.ndarray, drawn: np.ndarray, max_terms: int = 50_000
) -> np.ndarray:
    """``hypergeom_upper_tail`` for counts above the mean (every scored hypothesis has
    a > drawn * marked / total), fast: the pmf at ``a`` from log-gamma, then the tail as
    a running product of pmf ratios, vectorised over rows, until the rest is below 1e-16
    of the sum (the pmf falls from ``a`` on, so the rest is at most term * r / (1 - r)).
    Rows at or below the mean, or not settled in ``max_terms`` terms, go to the exact
    routine. Agrees with ``scipy.stats.hypergeom.sf`` to 1e-7 relative (log-gamma of a
    million carries ~1e-9; ``tests/test_scan_fast_paths.py``)."""
    from scipy.special import gammaln

    a = np.asarray(a, dtype=float)
    m = np.asarray(marked, dtype=float)
    n = np.asarray(drawn, dtype=float)
    big_n = float(total)
    high = np.minimum(m, n)
    out = np.full(a.shape, np.nan)
    above = (a > n * m / max(big_n, 1.0)) & (a <= high) & (a == np.floor(a)) & (big_n > 0)
    out[(a > high) & (a == np.floor(a))] = 0.0
    rows = np.flatnonzero(above)
    if rows.size:
        ka, km, kn, kh = a[rows], m[rows], n[rows], high[rows]
        log_pmf = (
            gammaln(km + 1) - gammaln(ka + 1) - gammaln(km - ka + 1)
            + gammaln(big_n - km + 1) - gammaln(kn - ka + 1) - gammaln(big_n - km - kn + ka + 1)
            - gammaln(big_n + 1) + gammaln(kn + 1) + gammaln(big_n - kn + 1)
        )  # fmt: skip
        sums = np.ones(rows.size)
        term = np.ones(rows.size)
        k = ka.copy()
        live = np.arange(rows.size)
        settled = np.zeros(rows.size, dtype=bool)
        for _ in range(max_terms):
            kk = k[live]
            done = kk >= kh[live]
            ratio = np.where(
                done,
                0.0,
                (km[live] - kk)
                * (kn[live] - kk)
                / ((kk + 1) * (big_n - km[live] - kn[live] + kk + 1)),
            )
            term[live] *= ratio
            sums[live] += term[live]
            k[live] += 1
            rest = np.where(ratio < 1, term[live] * ratio / np.maximum(1 - ratio, 1e-300), np.inf)
            finished = done | (ratio == 0) | (rest <= 1e-16 * sums[live])
            settled[live[finished]] = True
            live = live[~finished]
            if not live.size:
                break
        values = np.exp(log_pmf) * sums
        out[rows[settled]] = np.clip(values[settled], 0.0, 1.0)
        above[rows[~settled]] = False
    slow = ~above & np.isnan(out)
    if slow.any():
        out[slow] = hypergeom_upper_tail(a[slow], total, m[slow], n[slow])
    return out


def joint_counts(
    groups: pl.DataFrame,
    feature_columns: list[str],
    name_of: dict[str, str],
    term_joint: pl.DataFrame | None,
) -> pl.DataFrame:
    """Long table feature, source, mode, hits (rows with the feature, by source and mode)."""
    parts = []
    if feature_columns:
        parts.append(
            groups.unpivot(
                index=["source", "mode"],
                on=feature_columns,
                variable_name="column",
                value_name="hits",
            )
            .with_columns(pl.col("column").replace_strict(name_of).alias("feature"))
            .select("feature", "source", "mode", pl.col("hits").cast(pl.Int64))
        )
    if term_joint is not None and not term_joint.is_empty():
        parts.append(
            term_joint.select(
                (pl.lit("term:") + pl.col("term")).alias("feature"),
                "source",
                "mode",
                pl.col("df").cast(pl.Int64).alias("hits"),
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={"feature": pl.String, "source": pl.String, "mode": pl.String, "hits": pl.Int64}
        )
    return pl.concat(parts).filter(pl.col("hits") > 0)


HYPOTHESIS_SCHEMA = {
    "rank": pl.Int32,
    "feature": pl.String,
    "mode": pl.String,
    "source": pl.String,
    "support": pl.Int64,
    "p_mode_given_feature": pl.Float64,
    "p_mode_without": pl.Float64,
    "lift": pl.Float64,
    "p_value": pl.Float64,
    "score": pl.Float64,
    "share_of_hits": pl.Float64,
}


def rank_hypotheses(
    groups: pl.DataFrame,
    joint: pl.DataFrame,
    min_support: int = 5,
    max_p: float = 0.01,
    top: int = 500,
    prune: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """Score every (feature, mode) pair; keep the best ``top`` with a positive score and a
    p-value of at most ``max_p``. ``prune`` may drop scored rows before the p-values
    (which are computed only as far down the score order as the top needs)."""
    scored = score_hypotheses(groups, joint, min_support)
    if prune is not None and not scored.is_empty():
        scored = prune(scored)
    n_total = int(groups["n_rows"].sum()) if groups.height else 0
    return significant(scored, n_total, max_p, top)


def score_hypotheses(groups: pl.DataFrame, joint: pl.DataFrame, min_support: int) -> pl.DataFrame:
    """Every (feature, mode) pair with a positive score, best first, without p-values:
    the HYPOTHESIS_SCHEMA columns (``rank`` by score, ``p_value`` null) and a, c."""
    n_total = int(groups["n_rows"].sum()) if groups.height else 0
    empty = pl.DataFrame(schema=HYPOTHESIS_SCHEMA | {"a": pl.Int64, "c": pl.Int64})
    if n_total == 0 or joint.is_empty():
        return empty
    # Categorical keys: every group-by below hashes integers, not strings (twice as fast).
    keys = ("feature", "source", "mode")
    joint = joint.with_columns(pl.col(*keys).cast(pl.Categorical))
    mode_totals = (
        groups.group_by("mode")
        .agg(pl.col("n_rows").sum().alias("c"))
        .with_columns(pl.col("mode").cast(pl.Categorical))
    )
    support = joint.group_by("feature").agg(pl.col("hits").sum().alias("support"))
    by_source = joint.group_by(["feature", "source"]).agg(pl.col("hits").sum().alias("f_src"))
    per_mode = joint.group_by(["feature", "mode"]).agg(pl.col("hits").sum().alias("a"))
    lead = joint.group_by(["feature", "mode"]).agg(
        pl.col("source")
        .sort_by([pl.col("hits"), pl.col("source").cast(pl.String)], descending=[True, False])
        .first()
    )
    table = (
        per_mode.filter(pl.col("mode") != Mode.ANSWER.value)
        .join(support, on="feature")
        .join(mode_totals, on="mode")
        .join(lead, on=["feature", "mode"])
        .join(by_source, on=["feature", "source"])
        .filter(pl.col("support") >= min_support)
        .with_columns(pl.col(*keys).cast(pl.String))
    )
    if table.is_empty():
        return empty
    a = table["a"].to_numpy().astype(float)
    s = table["support"].to_numpy().astype(float)
    c = table["c"].to_numpy().astype(float)
    rest = n_total - s
    p1 = a / s
    p0 = np.where(rest > 0, (c - a) / np.maximum(rest, 1), 0.0)
    lift = p1 / np.maximum(p0, 0.5 / np.maximum(rest, 1))
    score = wilson_lower(a, s) - p0
    return (
        table.with_columns(
            pl.Series("p_mode_given_feature", p1),
            pl.Series("p_mode_without", p0),
            pl.Series("lift", lift),
            pl.lit(None, pl.Float64).alias("p_value"),
            pl.Series("score", score),
            (pl.col("f_src") / pl.col("support")).alias("share_of_hits"),
        )
        .filter(pl.col("score") > 0)
        .sort(["score", "support", "feature"], descending=[True, True, False])
        .with_row_index("rank", offset=1)
        .with_columns(
            pl.col("rank").cast(pl.Int32), pl.col("a").cast(pl.Int64), pl.col("c").cast(pl.Int64)
        )
        .select(*HYPOTHESIS_SCHEMA, "a", "c")
    )


def significant(scored: pl.DataFrame, n_total: int, max_p: float, top: int) -> pl.DataFrame:
    """The first ``top`` rows of ``scored`` (best first) whose one-sided Fisher p-value is
    at most ``max_p``, ranked 1.. . The test runs block by block down the score order and
    stops once ``top`` rows pass."""
    kept: list[pl.DataFrame] = []
    n_kept, start = 0, 0
    block = max(top, 1_000)
    while start < scored.height and n_kept < top:
        part = scored.slice(start, block)
        p = upper_tail_above_mean(
            part["a"].to_numpy().astype(float),
            n_total,
            part["c"].to_numpy().astype(float),
            part["support"].to_numpy().astype(float),
        )
        part = part.with_columns(pl.Series("p_value", np.clip(p, 0.0, 1.0))).filter(
            pl.col("p_value") <= max_p
        )
        kept.append(part.head(top - n_kept))
        n_kept += kept[-1].height
        start += block
    if not kept:
        return pl.DataFrame(schema=HYPOTHESIS_SCHEMA)
    return (
        pl.concat(kept)
        .drop("rank")
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int32))
        .select(*HYPOTHESIS_SCHEMA)
    )
