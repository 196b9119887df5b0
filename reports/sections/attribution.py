"""Attribution per finding (bars per source, methods side by side), pruning, verification."""

from __future__ import annotations

import polars as pl

from reports import svg
from reports.runs import ReportDb, Selection
from reports.sections.common import Section, finding_labels
from reports.tables import Col, table

METHOD_ORDER = ("gradient", "saliency", "embedding", "lexical", "random")


def _method_order(methods: list[str]) -> list[str]:
    known = [m for m in METHOD_ORDER if m in methods]
    return known + sorted(m for m in methods if m not in METHOD_ORDER)


def _attribution_card(
    index: int, finding_id: str, rows: pl.DataFrame, examples: pl.DataFrame, label: str
) -> dict[str, object]:
    methods = _method_order(rows["method"].unique().to_list())
    by_source = rows.group_by("source").agg(pl.col("share").max().alias("peak"))
    source_order = by_source.sort(["peak", "source"], descending=[True, False])["source"]
    bars = {}
    for r in rows.iter_rows(named=True):
        tip = (
            f"{r['source']} / {r['method']}: {r['share'] * 100:.1f}% of top hits "
            f"({r['hits']} hits), enrichment x{r['enrichment']:.2f}"
            if r["share"] is not None and r["enrichment"] is not None
            else f"{r['source']} / {r['method']}"
        )
        bars[(r["source"], r["method"])] = svg.Bar(r["share"], r["ci_low"], r["ci_high"], tip)
    chart = svg.grouped_bars(
        source_order.to_list(),
        methods,
        bars,
        label=f"attribution of {label} per source and method",
        max_value=1.0,
    )
    top = {
        m: rows.filter(pl.col("method") == m).sort("share", descending=True, nulls_last=True)[
            "source"
        ][0]
        for m in methods
    }
    ex_table = None
    if examples.height:
        ex_table = table(
            f"attributed-examples-{index}",
            examples.filter(pl.col("rank") <= 10).sort(["method", "rank"]),
            [
                Col("method", "method"),
                Col("rank", "rank", "int"),
                Col("example_id", "example"),
                Col("source", "source"),
                Col("score", "score", "float"),
                Col(
                    "shows_behaviour",
                    "shows it",
                    "bool",
                    "the example's own response shows the finding's behaviour (those rank "
                    "first: a response that does not show it cannot have taught it)",
                ),
            ],
        )
    return {
        "finding_id": finding_id,
        "label": label,
        "svg": chart,
        "top": top,
        "agree": len(set(top.values())) <= 1,
        "table": table(
            f"attribution-table-{index}",
            rows.sort(["method", "rank"]),
            [
                Col("method", "method"),
                Col("rank", "rank", "int"),
                Col("source", "source"),
                Col("hits", "hits", "int"),
                Col("share", "share of hits", "pct"),
                Col("enrichment", "enrichment", "float", "share of hits / share of the mix"),
                Col("ci_low", "95% low", "pct"),
                Col("ci_high", "95% high", "pct"),
            ],
        ),
        "examples": ex_table,
    }


def attribution(db: ReportDb, selection: Selection) -> Section | None:
    """Per finding: attribution bars per source and method, the top examples per method."""
    ids = selection.ids("attribute")
    frame = db.rows_for("attributions", ids)
    if not frame.height:
        return None
    examples = db.rows_for("attributed_examples", ids)
    labels = finding_labels(db, selection)
    cards = []
    for index, finding_id in enumerate(frame["finding_id"].unique(maintain_order=True).to_list()):
        rows = frame.filter(pl.col("finding_id") == finding_id)
        mine = examples.filter(pl.col("finding_id") == finding_id) if examples.height else examples
        label = labels.get(finding_id, finding_id)
        cards.append(_attribution_card(index, finding_id, rows, mine, label))
    return Section("attribution", "Attribution", {"cards": cards})


EDIT_LABELS = {"total_removed": "removed", "total_added": "added", "total_edit": "total edit"}


def recommendations(db: ReportDb, selection: Selection) -> Section | None:
    """The pruning recommendations, their totals per action, and the size of the edit
    (removed, added, total as shares of the mix; prune runs before these rows have none)."""
    frame = db.rows_for("recommendations", selection.ids("prune"))
    if not frame.height:
        return None
    is_edit = pl.col("action").is_in(list(EDIT_LABELS))
    edit = [
        {**r, "label": EDIT_LABELS[r["action"]]}
        for r in frame.filter(is_edit).select("run_id", "action", "n_examples", "fraction",
                                             "detail").iter_rows(named=True)
    ]  # fmt: skip
    frame = frame.filter(~is_edit)
    labels = finding_labels(db, selection)
    frame = frame.with_columns(
        pl.col("finding_id").replace_strict(labels, default=pl.col("finding_id")).alias("finding")
    )
    by_action = (
        frame.group_by("action")
        .agg(pl.col("n_examples").sum(), pl.col("fraction").sum())
        .sort("action")
    )
    return Section(
        "recommendations",
        "Recommendations",
        {
            "table": table(
                "recommendations-table",
                frame,
                [
                    Col("finding", "finding"),
                    Col("action", "action"),
                    Col("source", "source"),
                    Col("n_examples", "examples", "int"),
                    Col("fraction", "fraction of mix", "pct"),
                    Col("detail", "detail", "long"),
                ],
            ),
            "by_action": by_action.to_dicts(),
            "edit": edit,
        },
    )


def _one_row_per_arm(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per finding and arm: the arm's mean rates after (with their interval) in
    ``rate_after`` / ``clean_answer_after``; files before schema 6 have one model per arm."""
    if "n_after_models" not in frame.columns:
        return frame.with_columns(
            pl.lit("after").alias("arm"),
            pl.lit(1).alias("n_after_models"),
            *(pl.lit(None, pl.Float64).alias(f"{c}_{e}") for c in ("rate_after",
              "clean_answer_after") for e in ("low", "high")),
        )  # fmt: skip
    frame = frame.with_columns(
        pl.col("arm").fill_null("after"),
        pl.col("n_after_models").fill_null(1),
        pl.coalesce("rate_after_mean", "rate_after").alias("rate_after"),
        pl.coalesce("clean_answer_after_mean", "clean_answer_after").alias("clean_answer_after"),
    )
    return frame.group_by("run_id", "finding_id", "arm", maintain_order=True).first()


def verification(db: ReportDb, selection: Selection) -> Section | None:
    """Behaviour rates and clean answers before and after retraining, per finding."""
    frame = db.rows_for("verifications", selection.ids("verify"))
    if not frame.height:
        return None
    frame = _one_row_per_arm(frame)
    several_arms = frame["arm"].n_unique() > 1
    frame = frame.with_columns(
        (
            pl.format("{} → {} ({})", "attribute", "mode", "arm")
            if several_arms
            else pl.format("{} → {}", "attribute", "mode")
        ).alias("finding"),
        ((pl.col("rate_before") - pl.col("rate_after")) / pl.col("rate_before"))
        .fill_nan(None)
        .alias("relative_drop"),
        (pl.col("clean_answer_after") - pl.col("clean_answer_before")).alias("clean_change"),
    )
    labels = frame["finding"].to_list()
    charts = []
    for before, after, title in (
        ("rate_before", "rate_after", "trigger rate (share of triggered prompts in the mode)"),
        ("clean_answer_before", "clean_answer_after", "clean answer rate (untriggered seeds)"),
    ):
        bars = {}
        for r in frame.iter_rows(named=True):
            for name, column in (("before", before), ("after", after)):
                value = r[column]
                low, high = (r.get(f"{column}_low"), r.get(f"{column}_high"))
                tip = f"{r['finding']} {name}: {value * 100:.1f}%" if value is not None else ""
                if low is not None and high is not None:
                    tip += (
                        f" (mean of {r['n_after_models']} models, 95% interval "
                        f"{low * 100:.1f}-{high * 100:.1f}%)"
                    )
                bars[(r["finding"], name)] = svg.Bar(value, low, high, tip=tip)
        chart = svg.grouped_bars(
            labels,
            ["before", "after"],
            bars,
            label=title,
            max_value=1.0,
            colours=["#d64545", "#2fa58a"],
        )
        charts.append({"title": title, "svg": chart})
    cols = [
        Col("finding", "finding"),
        Col("rate_before", "rate before", "pct"),
        Col("rate_after", "rate after", "pct"),
        Col("relative_drop", "relative drop", "pct"),
        Col("clean_answer_before", "clean answer before", "pct"),
        Col("clean_answer_after", "clean answer after", "pct"),
        Col("clean_change", "clean change", "signed"),
    ]
    if frame["n_after_models"].max() > 1:
        cols[2:3] = [
            Col("rate_after", "rate after (mean)", "pct"),
            Col("rate_after_low", "low (95%)", "pct"),
            Col("rate_after_high", "high (95%)", "pct"),
        ]
        cols += [
            Col("clean_answer_after_low", "clean low (95%)", "pct"),
            Col("clean_answer_after_high", "clean high (95%)", "pct"),
            Col("n_after_models", "models after", "int"),
        ]
    optional = [
        Col("rate_base_before", "base rate before", "pct"),
        Col("rate_base_after", "base rate after", "pct"),
        Col("n", "held-out seeds", "int"),
        Col("p_value", "p (effect fell)", "p"),
        Col("q_value", "q (BH)", "p"),
        Col("test", "test"),
    ]
    cols += [c for c in optional if c.key in frame.columns]
    return Section(
        "verification",
        "Verification before / after",
        {"charts": charts, "table": table("verification-table", frame, cols)},
    )
