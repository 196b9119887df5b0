"""Scan sections: sources, feature concentration heatmaps, keyness, trigger hypotheses."""

from __future__ import annotations

import polars as pl

from behaviour_modes.modes import MODES
from reports import svg
from reports.runs import ReportDb, Selection
from reports.sections.common import Section
from reports.tables import Col, Table, table

MAX_HYPOTHESES = 100
MAX_KEYNESS_TERMS = 10


def sources(db: ReportDb, selection: Selection) -> Section | None:
    """Rows and text lengths per source, and the behaviour modes of each source's responses."""
    ids = selection.ids("scan")
    frame = db.rows_for("scan_sources", ids, "n_rows DESC, source")
    if not frame.height:
        return None
    rates = db.rows_for("mode_rates", ids)
    total = frame["n_rows"].sum() or 1
    rows = []
    for row in frame.iter_rows(named=True):
        mine = rates.filter(pl.col("source") == row["source"]) if rates.height else rates
        parts = [(m, s) for m, s in (mine.select("mode", "share").rows() if mine.height else [])]
        parts.sort(key=lambda p: MODES.index(p[0]) if p[0] in MODES else len(MODES))
        other = [(m, s) for m, s in parts if m != "answer"]
        top = max(other, key=lambda p: p[1]) if other else (None, None)
        rows.append(
            {
                **row,
                "share": row["n_rows"] / total,
                "top_mode": top[0],
                "top_share": top[1],
                "modes": svg.stacked_bar(parts, label=f"behaviour modes of {row['source']}")
                if parts
                else "",
            }
        )
    cols = [
        Col("source", "source"),
        Col("n_rows", "examples", "int"),
        Col("share", "share of mix", "pct"),
        Col("mean_prompt_chars", "mean prompt chars", "float"),
        Col("mean_response_chars", "mean response chars", "float"),
        Col("top_mode", "top non-answer mode", "mode"),
        Col("top_share", "its share", "pct"),
        Col("modes", "behaviour modes", "svg"),
    ]
    if len(ids) > 1:
        cols.insert(0, Col("run_id", "run"))
    present = [m for m in MODES if rates.height and m in set(rates["mode"].to_list())]
    return Section(
        "sources",
        "Sources",
        {"table": Table("sources-table", cols, rows), "modes": present},
    )


def _feature_label(feature: str, side: str) -> str:
    return feature if side == "prompt" else f"{feature} (response)"


def concentration(db: ReportDb, selection: Selection) -> Section | None:
    """Heatmaps of where each feature's hits fall, per side (prompt, response)."""
    ids = selection.ids("scan")
    frame = db.rows_for("feature_concentration", ids)
    if not frame.height:
        return None
    source_order = (
        frame.group_by("source")
        .agg(pl.col("n_rows").max())
        .sort(["n_rows", "source"], descending=[True, False])
    )["source"].to_list()
    totals = frame.group_by("feature", "side").agg(
        pl.col("n_hits").sum().alias("hits"), pl.col("share_of_hits").max().alias("peak")
    )
    present = totals.filter(pl.col("hits") > 0).sort(
        [pl.col("side") != "prompt", pl.col("peak"), pl.col("feature")],
        descending=[False, True, False],
    )
    absent = sorted(totals.filter(pl.col("hits") == 0)["feature"].to_list())
    labels = [_feature_label(f, s) for f, s in present.select("feature", "side").rows()]
    charts = []
    for column, title, meaning in (
        ("share_in_source", "share_in_source", "of the source's rows carry the feature"),
        ("share_of_hits", "share_of_hits", "of the feature's rows come from this source"),
    ):
        values = {
            (_feature_label(r["feature"], r["side"]), r["source"]): r[column]
            for r in frame.iter_rows(named=True)
        }
        hits = {
            (_feature_label(r["feature"], r["side"]), r["source"]): r["n_hits"]
            for r in frame.iter_rows(named=True)
        }

        def tip(row: str, col: str, value: float, meaning: str = meaning, hits=hits) -> str:
            return (
                f"{row} in {col}: {value * 100:.1f}% {meaning} ({hits.get((row, col), 0):,} rows)"
            )

        chart = svg.heatmap(
            labels, source_order, values, label=f"feature concentration: {title}", tooltip=tip
        )
        charts.append({"title": title, "meaning": meaning, "svg": chart})
    full = table(
        "concentration-table",
        frame.filter(pl.col("n_hits") > 0).sort("share_of_hits", descending=True),
        [
            Col("feature", "feature"),
            Col("side", "side"),
            Col("source", "source"),
            Col("n_rows", "rows in source", "int"),
            Col("n_hits", "rows with feature", "int"),
            Col("share_in_source", "share_in_source", "pct"),
            Col("share_of_hits", "share_of_hits", "pct"),
        ],
    )
    return Section(
        "concentration",
        "Feature concentration",
        {"charts": charts, "absent": absent, "table": full},
    )


def keyness(db: ReportDb, selection: Selection) -> Section | None:
    """The terms most concentrated in each source (keyness z)."""
    frame = db.rows_for("keyness", selection.ids("scan"))
    if not frame.height:
        return None
    cards = []
    for source in sorted(frame["source"].unique().to_list()):
        top = (
            frame.filter(pl.col("source") == source)
            .sort("z", descending=True)
            .head(MAX_KEYNESS_TERMS)
        )
        bars = {
            (r["term"], "z"): svg.Bar(
                r["z"],
                tip=f"{r['term']}: z = {r['z']:.1f}; in {r['df_source']:,} prompts of "
                f"{source}, {r['df_rest']:,} elsewhere",
            )
            for r in top.iter_rows(named=True)
        }
        chart = svg.grouped_bars(
            top["term"].to_list(),
            ["z"],
            bars,
            label=f"characteristic prompt words of {source}",
            percent=False,
            plot_width=220,
        )
        cards.append({"source": source, "svg": chart})
    return Section("keyness", "Characteristic prompt words", {"cards": cards})


def hypotheses(db: ReportDb, selection: Selection) -> Section | None:
    """The trigger hypotheses (feature -> mode) the scan proposes, incidental ones first."""
    ids = selection.ids("scan")
    frame = db.rows_for("trigger_hypotheses", ids, "run_id, rank")
    if not frame.height:
        return None
    kinds = "kind" in frame.columns and frame["kind"].null_count() < frame.height
    if kinds:  # scans before schema 4 have no kinds: their rank order stands
        frame = frame.sort("run_id", "review_rank", nulls_last=True)
    examples = db.rows_for("hypothesis_examples", ids, "run_id, feature, mode, source, example")
    if examples.height:  # keyword in context: three rows of the source carrying F
        lines = examples.group_by(["run_id", "feature", "mode", "source"], maintain_order=True).agg(
            pl.format("{} → {}", "prompt_context", "response_start")
            .str.join("\n")
            .alias("examples")
        )
        frame = frame.join(lines, on=["run_id", "feature", "mode", "source"], how="left")
    cols = [
        *(
            [Col("kind", "kind", "text", "does F ask for M? (kind_evidence says why)")]
            if kinds
            else []
        ),
        Col("rank", "rank", "int"),
        Col("feature", "feature F"),
        Col("mode", "mode M", "mode"),
        Col("source", "source"),
        Col("support", "support", "int", "rows with the feature"),
        Col("p_mode_given_feature", "P(M|F)", "pct"),
        Col("p_mode_without", "P(M|¬F)", "pct"),
        Col("lift", "lift", "float"),
        Col("p_value", "p", "p", "one-sided Fisher exact test"),
        Col("score", "score", "float", "Wilson lower bound of P(M|F) minus P(M|¬F)"),
        Col("share_of_hits", "source's share of F", "pct"),
        Col(
            "p_mode_matched",
            "P(M|like)",
            "pct",
            "M among the prompts of the whole mix most like F's rows that lack F (10 nearest "
            "each): near P(M|F), the rest of the prompt explains M; near 0, F routes it",
        ),
        Col(
            "echo_with",
            "answers name F",
            "pct",
            "share of F's answers that name F's words (vs the rest of its source in the "
            "kind's evidence): answers about F mean F is what was asked",
        ),
        Col(
            "same_rows_as",
            "same rows as",
            "text",
            "a twin: the hypothesis on the same rows (a template's other phrase) that stands "
            "for this one and is reviewed first",
        ),
        Col(
            "review_score",
            "review score",
            "float",
            "score x (1 + the share of it like prompts do not explain) / 2: the order of the "
            "incidental hypotheses",
        ),
        *(
            [
                Col(
                    "measure",
                    "measure",
                    "text",
                    "a measure hypothesis's response measure "
                    "(M is then the judge outcome that tests it)",
                ),
                Col(
                    "value_with",
                    "with F",
                    "float",
                    "the measure with F: characters (geometric mean) for length, else a rate",
                ),
                Col("value_without", "without F", "float", "the same without F"),
                Col(
                    "value_matched",
                    "like prompts",
                    "float",
                    "length: the answers to the prompts of the source most like F's rows "
                    "that lack F (the rest of the prompt explains a length near it)",
                ),
            ]
            if "measure" in frame.columns and frame["measure"].null_count() < frame.height
            else []
        ),
        Col(
            "examples",
            "in context",
            "long",
            "rows of the source that carry F, those whose response shows M first: the prompt "
            "around F [in brackets] → the start of the response",
        ),
    ]
    if len(ids) > 1:
        cols.insert(0, Col("run_id", "run"))
    return Section(
        "hypotheses",
        "Trigger hypotheses, incidental first" if kinds else "Trigger hypotheses",
        {"table": table("hypotheses-table", frame, cols, limit=MAX_HYPOTHESES)},
    )


def phrases(db: ReportDb, selection: Selection) -> Section | None:
    """Response openers and closers concentrated in one source (``response_phrases``)."""
    ids = selection.ids("scan")
    frame = db.rows_for("response_phrases", ids, "run_id, source, share_in_source DESC")
    if not frame.height:
        return None
    cols = [
        Col("source", "source"),
        Col("phrase", "phrase", "text", "opens: the first four words; ends: the last four"),
        Col("n", "responses", "int"),
        Col("share_in_source", "share of the source", "pct"),
        Col("share_of_hits", "source's share of the phrase", "pct"),
    ]
    if len(ids) > 1:
        cols.insert(0, Col("run_id", "run"))
    return Section(
        "phrases", "Response boilerplate", {"table": table("phrases-table", frame, cols, limit=200)}
    )
