"""`audit export`: the audit's results in other tools' formats (`audit export inspect`)."""

from __future__ import annotations

from pathlib import Path

import click

from audit.options import DB_OPTION
from audit.output import CliError, console, open_store, print_frame, stage_errors


@click.group("export")
def export_group() -> None:
    """Export the audit's results for other tools."""


@export_group.command("inspect")
@click.option(
    "--run",
    "run_id",
    metavar="RUN_ID",
    help="The search run to export [default: the latest successful search].",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the log (created if missing); `inspect view --log-dir` opens it.",
)
@DB_OPTION
def export_inspect_command(run_id: str | None, out: str, db: str) -> None:
    """Write a search run's trials as an Inspect eval log (.eval): one sample per mutated
    prompt, with its answer, the judges' scores and the seed's answer in its metadata."""
    import polars as pl

    from surf_search.inspect_logs import write_run_logs

    if not Path(db).is_file():
        raise CliError(f"no audit database at {db} (run `audit search` first or pass --db)")
    with open_store(db) as store, stage_errors():
        if run_id is None:
            run_id = store.latest_run("search")
            if run_id is None:
                raise CliError(f"no finished search run in {db} (run `audit search` first)")
        written = write_run_logs(store, run_id, out)
    print_frame(
        pl.DataFrame(
            {
                "file": [log.path.name for log in written],
                "samples": [log.samples for log in written],
                "phases": [", ".join(log.phases) for log in written],
            }
        ),
        title=f"Inspect log of {run_id} in {out}",
    )
    console.print(f"inspect view --log-dir {out}", highlight=False, markup=False, style="dim")
