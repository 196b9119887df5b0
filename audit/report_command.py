"""`audit report`: the audit database as one self-contained HTML file."""

from __future__ import annotations

import click

from audit.output import CliError, console


@click.command("report")
@click.option(
    "--db",
    "db",
    default="audit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB file holding every table.",
)
@click.option(
    "--run",
    "run_ids",
    multiple=True,
    metavar="RUN_ID",
    help="Show these runs (repeatable) [default: the latest successful run of each stage].",
)
@click.option(
    "--out",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="HTML file to write (CSS, script and charts inline; opens offline).",
)
def report_command(db: str, run_ids: tuple[str, ...], out: str) -> None:
    """Write an HTML report of the audit database: scan, findings, attribution, probes."""
    from reports.html import write_report
    from reports.runs import ReportError

    try:
        report = write_report(db, out, list(run_ids) or None)
    except ReportError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    shown = ", ".join(report.sections) or "nothing yet (no finished runs)"
    console.print(f"wrote {out}: {shown}", highlight=False, markup=False)
