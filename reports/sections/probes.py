"""Probe results: each probe's summary rows (item ``*``) as a chart and a table, then items.

Probes write one row per item, condition and metric plus summary rows whose
``item_id`` is ``*``. Where a probe wrote no summary rows, the report averages its
items per condition and metric instead. Only bounded metrics (rates, ratios,
R^2: every value within [-1, 2]) are charted; counts stay in the table.
"""

from __future__ import annotations

import polars as pl
from markupsafe import Markup

from reports import svg
from reports.runs import ReportDb, Selection
from reports.sections.common import Section
from reports.tables import Col, table

SUMMARY_ITEM = "*"
MAX_PROBE_ITEMS = 200
CHART_RANGE = (-1.0, 2.0)
COUNT_METRICS = frozenset({"n", "best_layer"})  # summary counts, never charted


def _summary(rows: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """The probe's own summary rows, or the mean of its items (and whether it was averaged)."""
    own = rows.filter(pl.col("item_id") == SUMMARY_ITEM)
    if own.height:
        return own.select("target", "condition", "metric", "value", "detail"), False
    averaged = (
        rows.group_by("target", "condition", "metric", maintain_order=True)
        .agg(pl.col("value").mean(), pl.len().alias("n"))
        .with_columns(pl.format("mean of {} items", "n").alias("detail"))
        .drop("n")
    )
    return averaged, True


def _chart(summary: pl.DataFrame, probe: str) -> tuple[Markup | str, str]:
    """Bounded metrics: grouped by condition or metric (the longer list), or one bar per
    (condition, metric) pair when most pairs are missing (a metric per condition)."""
    means = summary.group_by("condition", "metric", maintain_order=True).agg(pl.col("value").mean())
    bounded = means.group_by("metric").agg(
        pl.col("value").is_not_null().any().alias("some"),
        pl.col("value").is_between(*CHART_RANGE).or_(pl.col("value").is_null()).all().alias("ok"),
    )
    keep = bounded.filter(
        pl.col("some") & pl.col("ok") & ~pl.col("metric").is_in(list(COUNT_METRICS))
    )["metric"].to_list()
    means = means.filter(pl.col("metric").is_in(keep) & pl.col("value").is_not_null())
    if not means.height:
        return "", ""
    label = f"probe {probe}: summary metrics"
    rows = [(str(c), str(m), v) for c, m, v in means.select("condition", "metric", "value").rows()]
    conditions = list(dict.fromkeys(c for c, _, _ in rows))
    metrics = list(dict.fromkeys(m for _, m, _ in rows))
    if len(rows) * 2 < len(conditions) * len(metrics):
        pairs = [f"{c} · {m}" for c, m, _ in rows]
        bars = {
            (pair, "value"): svg.Bar(v, tip=f"{pair}: {v:.3f}")
            for pair, (_, _, v) in zip(pairs, rows, strict=True)
        }
        chart = svg.grouped_bars(pairs, ["value"], bars, label=label, percent=False)
        return chart, "condition · metric"
    by_condition = len(conditions) > len(metrics)
    bars = {}
    for c, m, v in rows:
        bars[(c, m) if by_condition else (m, c)] = svg.Bar(v, tip=f"{m} / {c}: {v:.3f}")
    chart = svg.grouped_bars(
        conditions if by_condition else metrics,
        metrics if by_condition else conditions,
        bars,
        label=label,
        percent=False,
    )
    if by_condition:
        return chart, f"{', '.join(metrics)} per condition"
    return chart, f"per metric, one bar per condition ({', '.join(conditions)})"


def _card(index: int, probe: str, rows: pl.DataFrame) -> dict[str, object]:
    summary, averaged = _summary(rows)
    items = rows.filter(pl.col("item_id") != SUMMARY_ITEM)
    chart, caption = _chart(summary, probe)
    return {
        "probe": probe,
        "svg": chart,
        "caption": caption,
        "averaged": averaged,
        "summary": table(
            f"probe-table-{index}",
            summary,
            [
                Col("target", "target"),
                Col("condition", "condition"),
                Col("metric", "metric"),
                Col("value", "value", "float"),
                Col("detail", "detail", "long"),
            ],
        ),
        "per_item": table(
            f"probe-items-{index}",
            items.sort("item_id", "condition", "metric"),
            [
                Col("target", "target"),
                Col("item_id", "item"),
                Col("condition", "condition"),
                Col("metric", "metric"),
                Col("value", "value", "float"),
                Col("detail", "detail", "long"),
            ],
            limit=MAX_PROBE_ITEMS,
        )
        if items.height
        else None,
    }


def probes(db: ReportDb, selection: Selection) -> Section | None:
    """Probe results: per probe a chart of its bounded metrics and every result row."""
    frame = db.rows_for("probe_results", selection.ids("probe"))
    if not frame.height:
        return None
    if not selection.explicit and selection.probe_runs:
        keep = pl.DataFrame(
            {"probe": list(selection.probe_runs), "run_id": list(selection.probe_runs.values())}
        )
        frame = frame.join(keep, on=["probe", "run_id"], how="semi")
    names = sorted(frame["probe"].unique().to_list(), key=str)
    cards = [
        _card(index, probe, frame.filter(pl.col("probe") == probe))
        for index, probe in enumerate(names)
    ]
    return Section("probes", "Probe results", {"cards": cards})
