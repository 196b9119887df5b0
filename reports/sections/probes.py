"""Probe results: the mean of each metric per condition, then every item."""

from __future__ import annotations

import polars as pl

from reports import svg
from reports.runs import ReadOnlyDb, Selection
from reports.sections.common import Section
from reports.tables import Col, table

MAX_PROBE_ITEMS = 200


def probes(db: ReadOnlyDb, selection: Selection) -> Section | None:
    frame = db.rows_for("probe_results", selection.ids("probe"))
    if not frame.height:
        return None
    if not selection.explicit and selection.probe_runs:
        keep = pl.DataFrame(
            {"probe": list(selection.probe_runs), "run_id": list(selection.probe_runs.values())}
        )
        frame = frame.join(keep, on=["probe", "run_id"], how="semi")
    cards = []
    for index, probe in enumerate(sorted(frame["probe"].unique().to_list(), key=str)):
        rows = frame.filter(pl.col("probe") == probe)
        summary = (
            rows.group_by("target", "condition", "metric")
            .agg(
                pl.len().alias("n"),
                pl.col("value").mean().alias("mean"),
                pl.col("value").min().alias("min"),
                pl.col("value").max().alias("max"),
            )
            .sort("metric", "condition", "target")
        )
        metrics = summary["metric"].unique(maintain_order=True).to_list()
        conditions = summary["condition"].unique(maintain_order=True).to_list()
        means = summary.group_by("metric", "condition").agg(pl.col("mean").mean())
        bars = {
            (r["metric"], r["condition"]): svg.Bar(
                r["mean"], tip=f"{r['metric']} / {r['condition']}: mean {r['mean']:.3f}"
            )
            for r in means.iter_rows(named=True)
            if r["mean"] is not None
        }
        chart = svg.grouped_bars(
            [str(m) for m in metrics],
            [str(c) for c in conditions],
            bars,
            label=f"probe {probe}: mean value per metric and condition",
            percent=False,
        )
        items = table(
            f"probe-items-{index}",
            rows.sort("item_id", "condition", "metric"),
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
        summary_cols = [
            Col("target", "target"),
            Col("condition", "condition"),
            Col("metric", "metric"),
            Col("n", "items", "int"),
            Col("mean", "mean", "float"),
            Col("min", "min", "float"),
            Col("max", "max", "float"),
        ]
        cards.append(
            {
                "probe": probe,
                "svg": chart,
                "summary": table(f"probe-table-{index}", summary, summary_cols),
                "per_item": items,
            }
        )
    return Section("probes", "Probe results", {"cards": cards})
