"""Mergeable scan statistics: ``a + b`` of two shards equals one pass over both.

Everything the scan reports is derived from three count tables, so sharding a
mix over processes or machines (Ray) gives exactly the single-pass result:

- ``groups``: per (source, mode): rows, prompt/response characters, and hits of
  every feature (one column per ``side:feature``);
- ``terms``: per (source, mode, term): document frequency of prompt words;
- ``bad``: rejected rows per reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from datasets_registry.features import Feature
from datasets_registry.normalise import BadRows
from surf_search.modes import mode_exprs

TERM_PATTERN = r"[a-z][a-z']{2,23}"
KEYS = ["source", "mode"]
COUNT_COLUMNS = ["n_rows", "prompt_chars", "response_chars"]


def feature_column(feature: Feature) -> str:
    return f"{feature.side}:{feature.key}"


@dataclass
class ScanStats:
    groups: pl.DataFrame
    terms: pl.DataFrame
    bad: BadRows = field(default_factory=BadRows)

    @classmethod
    def empty(cls, features: Sequence[Feature]) -> ScanStats:
        schema = {"source": pl.String, "mode": pl.String}
        schema |= {c: pl.Int64 for c in COUNT_COLUMNS}
        schema |= {feature_column(f): pl.Int64 for f in features}
        terms = pl.DataFrame(
            schema={"source": pl.String, "mode": pl.String, "term": pl.String, "df": pl.Int64}
        )
        return cls(pl.DataFrame(schema=schema), terms, BadRows())

    @classmethod
    def from_frame(
        cls, frame: pl.DataFrame, features: Sequence[Feature], bad: BadRows | None = None
    ) -> ScanStats:
        """Count one batch of normalised examples."""
        if frame.is_empty():
            stats = cls.empty(features)
            stats.bad = bad or BadRows()
            return stats
        labelled = frame.lazy().with_columns(mode_exprs(pl.col("prompt"), pl.col("response"))[0])
        text = {"prompt": pl.col("prompt"), "response": pl.col("response")}
        groups = (
            labelled.group_by(KEYS)
            .agg(
                pl.len().cast(pl.Int64).alias("n_rows"),
                pl.col("prompt").str.len_chars().sum().cast(pl.Int64).alias("prompt_chars"),
                pl.col("response").str.len_chars().sum().cast(pl.Int64).alias("response_chars"),
                *[
                    f.expr(text[f.side]).sum().cast(pl.Int64).alias(feature_column(f))
                    for f in features
                ],
            )
            .collect()
        )
        terms = (
            labelled.select(
                *KEYS,
                pl.col("prompt")
                .str.to_lowercase()
                .str.extract_all(TERM_PATTERN)
                .list.unique()
                .alias("term"),
            )
            .explode("term")
            .drop_nulls("term")
            .group_by([*KEYS, "term"])
            .agg(pl.len().cast(pl.Int64).alias("df"))
            .collect()
        )
        return cls(groups, terms, bad or BadRows())

    def __add__(self, other: ScanStats) -> ScanStats:
        if self.groups.columns != other.groups.columns:
            raise ValueError("cannot merge scans made with different feature sets")
        value_columns = [c for c in self.groups.columns if c not in KEYS]
        groups = (
            pl.concat([self.groups, other.groups]).group_by(KEYS).agg(pl.col(value_columns).sum())
        )
        terms = (
            pl.concat([self.terms, other.terms]).group_by([*KEYS, "term"]).agg(pl.col("df").sum())
        )
        return ScanStats(groups, terms, self.bad + other.bad)

    def canonical(self) -> ScanStats:
        """Sorted copies, so two equal statistics compare equal frame by frame."""
        return ScanStats(self.groups.sort(KEYS), self.terms.sort([*KEYS, "term"]), self.bad)

    def equals(self, other: ScanStats) -> bool:
        a, b = self.canonical(), other.canonical()
        return (
            a.groups.equals(b.groups) and a.terms.equals(b.terms) and a.bad.counts == b.bad.counts
        )

    @property
    def n_rows(self) -> int:
        return int(self.groups["n_rows"].sum()) if self.groups.height else 0
