"""The `audit` command. Heavy libraries are imported inside the commands that need them."""

from __future__ import annotations

import click

from audit.options import DB_OPTION, FORMAT_OPTION
from audit.output import CliError, console, emit_frame
from datasets_registry.planted import DEFAULT_SEED, DEFAULT_SIZE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chunky-audit")
def main() -> None:
    """Audit post-training mixes for chunky failures (feature -> behaviour-mode triggers)."""


@main.command("mixes")
@FORMAT_OPTION
def mixes_command(fmt: str) -> None:
    """List the named mixes `audit scan` understands."""
    import polars as pl

    from datasets_registry.registry import mixes

    rows = [
        {
            "name": m.name,
            "source": m.origin,
            "rows": m.rows,
            "sources": m.n_sources,
            "license": m.license,
            "description": m.description,
        }
        for m in mixes()
    ]
    emit_frame(pl.DataFrame(rows), fmt, title="Named mixes")
    if fmt == "table":
        console.print(
            "A MIX may also be a local file or folder (jsonl, json, parquet, csv) "
            "or a Hugging Face dataset id."
        )


@main.command("query")
@click.argument("sql")
@DB_OPTION
@FORMAT_OPTION
def query_command(sql: str, db: str, fmt: str) -> None:
    """Run read-only SQL against the audit database."""
    from duckdb_store.store import ReadOnlyQueryError, query_readonly

    try:
        frame = query_readonly(db, sql)
    except ReadOnlyQueryError as exc:
        raise CliError(str(exc)) from None
    emit_frame(frame, fmt)


@main.command("demo")
@click.option(
    "--out",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the planted mix, the organism, the database and the report.",
)
@click.option(
    "--size",
    default=DEFAULT_SIZE,
    show_default=True,
    type=click.IntRange(min=200),
    help="Conversations in the planted mix.",
)
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int)
@click.option(
    "--epochs",
    default=None,
    type=click.IntRange(min=1),
    help="Organism training epochs (default: the trainer's).",
)
@click.option(
    "--train",
    is_flag=True,
    help="Train the organism here even when the one shipped with chunky-audit fits the mix.",
)
def demo_command(out: str, size: int, seed: int, epochs: int | None, train: bool) -> None:
    """Run the whole audit on the planted organism (rerunning reuses what is done)."""
    from pathlib import Path

    from audit.demo import DemoPlan, run_demo

    run_demo(DemoPlan(Path(out), size=size, seed=seed, epochs=epochs, train=train))


from audit.classify_command import classify_command  # noqa: E402
from audit.report_command import report_command  # noqa: E402
from audit.scan_command import scan_command  # noqa: E402
from audit.train_command import train_command  # noqa: E402

main.add_command(scan_command)
main.add_command(train_command)
main.add_command(classify_command)

main.add_command(report_command)


from audit.search_command import search_command  # noqa: E402

main.add_command(search_command)

from audit.attribute_command import attribute_command  # noqa: E402

main.add_command(attribute_command)

from audit.prune_command import prune_command  # noqa: E402
from audit.verify_command import verify_command  # noqa: E402

main.add_command(prune_command)
main.add_command(verify_command)

from audit.probe_command import probe_command  # noqa: E402

main.add_command(probe_command)

from audit.plant_command import plant_command  # noqa: E402

main.add_command(plant_command)

from audit.diff_command import diff_command  # noqa: E402
from audit.export_command import export_group  # noqa: E402

main.add_command(export_group)
main.add_command(diff_command)
