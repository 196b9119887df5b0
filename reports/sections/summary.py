"""The summary: mix, model, dates, counts, the runs shown and bad rows by reason."""

from __future__ import annotations

import json

import polars as pl

from datasets_registry.normalise import REASON_TEXT
from reports.runs import ReportDb, Run, Selection
from reports.sections.attribution import EDIT_LABELS
from reports.sections.common import Section
from reports.tables import Col, Table, table


def _describe_run(run: Run) -> str:
    keys = ("mix", "model", "base_url", "target", "before", "after", "probe", "method")
    parts = [f"{k}={run.args[k]}" for k in keys if run.args.get(k) not in (None, "", [])]
    return ", ".join(parts)


def summary(db: ReportDb, selection: Selection) -> Section | None:
    """Mixes, models, dates and counts of the runs shown, the runs, bad rows by reason."""
    runs = list(selection.runs.values())
    if not runs:
        return None
    mixes = sorted({str(r.args["mix"]) for r in runs if r.args.get("mix")})
    models = sorted(
        {str(r.args[k]) for r in runs for k in ("model", "before", "after") if r.args.get(k)}
    )
    run_rows = [
        {
            "run_id": r.run_id,
            "command": r.command,
            "status": r.status,
            "started_at": r.started_at,
            "seconds": r.seconds,
            "about": _describe_run(r),
        }
        for r in runs
    ]
    run_table = Table(
        "runs-table",
        [
            Col("run_id", "run"),
            Col("command", "command"),
            Col("status", "status"),
            Col("started_at", "started (UTC)"),
            Col("seconds", "seconds", "float"),
            Col("about", "arguments"),
        ],
        run_rows,
    )
    scan_ids, search_ids = selection.ids("scan"), selection.ids("search")
    sources = db.rows_for("scan_sources", scan_ids)
    counts: list[tuple[str, int]] = []
    if sources.height:
        counts += [
            ("examples", int(sources["n_rows"].sum())),
            ("sources", sources["source"].n_unique()),
        ]
    bad = db.rows_for("bad_rows", scan_ids, "n DESC")
    counts.append(("bad rows", int(bad["n"].sum()) if bad.height else 0))
    hyps = db.rows_for("trigger_hypotheses", scan_ids)
    if hyps.height:
        counts.append(("trigger hypotheses", hyps.height))
    queries = db.rows_for("queries", search_ids)
    if queries.height:
        failed = queries.filter(pl.col("status") != "ok").height
        counts.append(("model calls", queries.height))
        counts.append(("failed calls", failed))
    findings = db.rows_for("findings", search_ids)
    if findings.height:
        counts.append(("attributes tested", findings.height))
        counts.append(("confirmed findings", int(findings["confirmed"].fill_null(False).sum())))
    recs = db.rows_for("recommendations", selection.ids("prune"))
    recs = recs.filter(~pl.col("action").is_in(list(EDIT_LABELS))) if recs.height else recs
    if recs.height:
        counts.append(("recommendations", recs.height))
    probes = db.rows_for("probe_results", selection.ids("probe"))
    if probes.height:
        counts.append(("probe results", probes.height))
    bad_table = None
    if bad.height:
        bad = bad.with_columns(
            pl.col("reason").replace_strict(REASON_TEXT, default="").alias("meaning")
        )
        bad_table = table(
            "bad-rows-table",
            bad,
            [
                Col("reason", "reason"),
                Col("meaning", "meaning"),
                Col("n", "rows", "int"),
                Col("example", "first example", "long"),
            ],
        )
    return Section(
        "summary",
        "Summary",
        {
            "mixes": mixes,
            "models": models,
            "counts": counts,
            "runs": run_table,
            "bad_rows": bad_table,
            "explicit": selection.explicit,
            "hidden_runs": selection.n_runs_in_db - len(runs),
            "args": {r.run_id: json.dumps(r.args, indent=2, default=str) for r in runs},
            "first_started": min((r.started_at for r in runs if r.started_at), default=None),
            "last_finished": max((r.finished_at for r in runs if r.finished_at), default=None),
        },
    )
