"""Hypotheses on the same rows: a template's many phrases are one finding.

GPTeacher's tool-use prompts all open with one system template, so "enabled", "access",
"toolformer", "when you need" and dozens more phrases each make a hypothesis on the same
rows with the same behaviour. A reviewer reading them one by one reads one finding many
times. So within each (source, mode), hypotheses whose first ``first`` carrier rows (the
scan's targeted read, in mix order) are the same and whose supports are within
``support_ratio`` of each other are twins: the first by ``rank`` stands for them, the
others get ``same_rows_as`` = its feature and are reviewed after every hypothesis of
their kind that stands alone (``hypothesis_kind.review_order``).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from datasets_registry.carrier_rows import CarrierRows


@dataclass(frozen=True)
class TwinConfig:
    """When two hypotheses are twins (see the module docstring)."""

    enabled: bool = True
    first: int = 8  # carrier rows compared (the examples' quota: every hypothesis has them)
    support_ratio: float = 0.9  # the smaller support at least this share of the larger


def mark_twins(
    hypotheses: pl.DataFrame, read: CarrierRows, config: TwinConfig | None = None
) -> pl.DataFrame:
    """``hypotheses`` with ``same_rows_as``: the feature of the twin that stands for it (the
    first by ``rank``), NULL for one that stands alone or for its twins."""
    config = config or TwinConfig()
    standing: dict[tuple, list[tuple[str, int]]] = {}  # key -> [(feature, support)]
    twin_of: dict[int, str] = {}
    ordered = hypotheses.with_row_index("_i").sort("rank")
    if not config.enabled:
        ordered = ordered.head(0)
    for i, feature, mode, source, support in ordered.select(
        "_i", "feature", "mode", "source", "support"
    ).iter_rows():
        ids = tuple(read.carriers.get((source, feature), ())[: config.first])
        if len(ids) < config.first:
            continue
        key = (source, mode, ids)
        for leader, leader_support in standing.get(key, ()):
            if min(support, leader_support) >= config.support_ratio * max(support, leader_support):
                twin_of[i] = leader
                break
        else:
            standing.setdefault(key, []).append((feature, support))
    return hypotheses.with_columns(
        pl.Series(
            "same_rows_as", [twin_of.get(i) for i in range(hypotheses.height)], dtype=pl.String
        )
    )
