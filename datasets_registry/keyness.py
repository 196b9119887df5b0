"""Characteristic words per source: log-odds ratio with an informative Dirichlet prior.

Monroe, Colaresi and Quinn (2008), "Fightin' Words", eq. 16-22, over document
frequencies. For word w, source i and the rest of the mix j, with counts y
(documents containing w), totals n = sum_w y_w, prior alpha_w = alpha0 * y_w / n
from the whole mix:

    delta_w = log((y_iw + a_w) / (n_i + a0 - y_iw - a_w))
            - log((y_jw + a_w) / (n_j + a0 - y_jw - a_w))
    var_w   = 1 / (y_iw + a_w) + 1 / (y_jw + a_w)
    z_w     = delta_w / sqrt(var_w)
"""

from __future__ import annotations

import polars as pl

DEFAULT_ALPHA0 = 1000.0


def log_odds_z(
    y_i: float, y_j: float, n_i: float, n_j: float, alpha_w: float, alpha0: float
) -> float:
    """The z-score for one word (a scalar reference for the vectorised version)."""
    import math

    delta = math.log((y_i + alpha_w) / (n_i + alpha0 - y_i - alpha_w)) - math.log(
        (y_j + alpha_w) / (n_j + alpha0 - y_j - alpha_w)
    )
    return delta / math.sqrt(1.0 / (y_i + alpha_w) + 1.0 / (y_j + alpha_w))


def keyness(
    term_df: pl.DataFrame,
    top_k: int = 50,
    min_df: int = 3,
    alpha0: float = DEFAULT_ALPHA0,
) -> pl.DataFrame:
    """Top ``top_k`` terms per source by z; ``term_df`` has source, term, df."""
    if term_df.is_empty():
        return pl.DataFrame(
            schema={
                "source": pl.String,
                "term": pl.String,
                "df_source": pl.Int64,
                "df_rest": pl.Int64,
                "z": pl.Float64,
            }
        )
    per_source = term_df.group_by(["source", "term"]).agg(pl.col("df").sum().alias("df_source"))
    n_total = float(per_source["df_source"].sum())
    totals = per_source.group_by("term").agg(pl.col("df_source").sum().alias("df_all"))
    source_totals = per_source.group_by("source").agg(pl.col("df_source").sum().alias("n_i"))
    y_i = pl.col("df_source").cast(pl.Float64)
    y_j = (pl.col("df_all") - pl.col("df_source")).cast(pl.Float64)
    n_i = pl.col("n_i").cast(pl.Float64)
    n_j = n_total - n_i
    alpha_w = alpha0 * pl.col("df_all") / n_total
    delta = ((y_i + alpha_w) / (n_i + alpha0 - y_i - alpha_w)).log() - (
        (y_j + alpha_w) / (n_j + alpha0 - y_j - alpha_w)
    ).log()
    variance = 1.0 / (y_i + alpha_w) + 1.0 / (y_j + alpha_w)
    return (
        per_source.filter(pl.col("df_source") >= min_df)
        .join(totals, on="term")
        .join(source_totals, on="source")
        .with_columns(
            (delta / variance.sqrt()).alias("z"),
            (pl.col("df_all") - pl.col("df_source")).alias("df_rest"),
        )
        .sort(["source", "z", "term"], descending=[False, True, False])
        .group_by("source", maintain_order=True)
        .head(top_k)
        .select("source", "term", "df_source", "df_rest", "z")
    )
