"""Findings: a forest plot of effects, confirmed findings with example pairs, every test."""

from __future__ import annotations

import json

import polars as pl

from reports import svg
from reports.runs import ReportDb, Selection
from reports.sections.common import Section, clip
from reports.tables import Cell, Col, table

MAX_EXAMPLES = 3


def _examples(trials: pl.DataFrame, finding: dict[str, Cell]) -> list[dict[str, str]]:
    examples = []
    if finding.get("example_prompt") or finding.get("example_response"):
        examples.append(
            {
                "seed": "",
                "prompt": clip(finding.get("example_prompt")),
                "response": clip(finding.get("example_response")),
                "behaviour": finding["mode"],
            }
        )
    mode = str(finding["mode"])
    if trials.height and ":" in mode:  # a judged outcome: pairs whose score rose
        examples += _judged_examples(trials, finding, mode)
    elif trials.height:
        flipped = trials.filter(
            (pl.col("run_id") == finding["run_id"])
            & (pl.col("attribute") == finding["attribute"])
            & pl.col("flipped").fill_null(False)
            & (pl.col("prompt") != (finding.get("example_prompt") or ""))
        ).unique(subset=["prompt"], keep="first", maintain_order=True)
        for row in flipped.head(MAX_EXAMPLES).iter_rows(named=True):
            examples.append(
                {
                    "seed": clip(row["seed"]),
                    "prompt": clip(row["prompt"]),
                    "response": clip(row["response"]),
                    "behaviour": row["behaviour"] or "",
                    "base_behaviour": row["base_behaviour"] or "",
                }
            )
    return examples[: MAX_EXAMPLES + 1]


def _judged_examples(
    trials: pl.DataFrame, finding: dict[str, Cell], outcome: str
) -> list[dict[str, str]]:
    """Pairs of a judged finding whose score of ``outcome`` rose by half the scale or more,
    labelled with both scores (``0.00 -> 1.00``)."""
    if "scores" not in trials.columns:
        return []
    rows = trials.filter(
        (pl.col("run_id") == finding["run_id"])
        & (pl.col("attribute") == finding["attribute"])
        & pl.col("scores").is_not_null()
        & (pl.col("prompt") != (finding.get("example_prompt") or ""))
    ).unique(subset=["prompt"], keep="first", maintain_order=True)
    examples = []
    for row in rows.iter_rows(named=True):
        base, mutated = json.loads(row["scores"]).get(outcome, (0.0, 0.0))
        if mutated - base >= 0.5:
            examples.append(
                {
                    "seed": clip(row["seed"]),
                    "prompt": clip(row["prompt"]),
                    "response": clip(row["response"]),
                    "behaviour": f"{outcome} {mutated:.2f}",
                    "base_behaviour": f"{outcome} {base:.2f}",
                }
            )
        if len(examples) == MAX_EXAMPLES:
            break
    return examples


def findings(db: ReportDb, selection: Selection) -> Section | None:
    """A forest plot of effects, the confirmed findings with example pairs, every test."""
    ids = selection.ids("search")
    frame = db.rows_for("findings", ids)
    if not frame.height:
        return None
    frame = frame.with_columns(pl.col("confirmed").fill_null(False)).sort(
        ["confirmed", "effect"], descending=[True, True], nulls_last=True
    )
    trials = db.rows_for("search_trials", ids)
    intervals = [
        svg.Interval(
            f"{r['attribute']} → {r['mode']}",
            r["effect"],
            r["ci_low"],
            r["ci_high"],
            bool(r["confirmed"]),
            f"{r['attribute']} → {r['mode']}: effect {r['effect']:+.2f}, q = {r['q_value']:.2g}"
            if r["effect"] is not None and r["q_value"] is not None
            else "",
        )
        for r in frame.iter_rows(named=True)
    ]
    cards = [
        {**r, "examples": _examples(trials, r)}
        for r in frame.iter_rows(named=True)
        if r["confirmed"]
    ]
    cols = [
        Col("finding_id", "finding"),
        Col("attribute", "attribute"),
        Col("mode", "mode", "mode"),
        Col("n_base", "n base", "int"),
        Col("n_mutated", "n mutated", "int"),
        Col("rate_base", "rate base", "pct"),
        Col("rate_mutated", "rate mutated", "pct"),
        Col("effect", "effect", "signed"),
        Col("ci_low", "CI low", "signed"),
        Col("ci_high", "CI high", "signed"),
        Col("ci_level", "CI level", "pct"),
        Col("p_value", "p", "p"),
        Col("p_finding", "p (all tests)", "p"),
        Col("q_value", "q (BH)", "p"),
        Col("confirmed", "confirmed", "bool"),
        Col("robust", "robust", "bool"),
        Col("robust_effect", "robust effect", "signed"),
        Col("placebo_attribute", "placebo"),
        Col("rate_placebo", "rate placebo", "pct"),
        Col("placebo_effect", "effect vs placebo", "signed"),
        Col("test", "test"),
        Col("judge", "judge"),
        Col("judge_version", "judge version"),
    ]
    return Section(
        "findings",
        "Findings",
        {
            "forest": svg.forest(
                intervals,
                label=(
                    "effect of each attribute with its paired interval (90%: the lower end is "
                    "the one-sided 95% bound; searches before schema 9: 95%)"
                ),
            ),
            "cards": cards,
            "table": table("findings-table", frame, cols),
            "n_confirmed": len(cards),
        },
    )
