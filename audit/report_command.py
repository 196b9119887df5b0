"""`audit report`: the audit database as one self-contained HTML file."""

from __future__ import annotations

import click

from audit.options import DB_OPTION
from audit.output import console, open_store, stage_errors
from reports.report_stage import ReportConfig, check_database, run


@click.command("report")
@DB_OPTION
@click.option(
    "--run",
    "run_ids",
    multiple=True,
    metavar="RUN_ID",
    help="Show these runs (repeatable) [default: the latest successful run of each stage].",
)
@click.option(
    "--out",
    default=ReportConfig.out,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="HTML file to write (CSS, script and charts inline; opens offline).",
)
def report_command(db: str, run_ids: tuple[str, ...], out: str) -> None:
    """Write an HTML report of the audit database: scan, findings, attribution, probes."""
    config = ReportConfig(out=out, run_ids=run_ids)
    with stage_errors():  # ReportError is a StageError
        check_database(db)  # a store would create a missing file and migrate a foreign one
    # No progress display: the report takes a moment and prints one line (its contract).
    with open_store(db) as store, stage_errors():
        result = run(config, store)
    shown = ", ".join(result.sections) or "nothing yet (no finished runs)"
    console.print(f"wrote {out}: {shown}", highlight=False, markup=False)
