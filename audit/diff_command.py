"""`audit diff`: what changed between two scans (before and after a prune)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import click
import polars as pl

from audit.output import CliError, console, open_store, print_frame

if TYPE_CHECKING:
    from datasets_registry.scan_diff import ScanDiff

#: The columns a lost or gained hypothesis prints with (lost ones add ``support_after``).
PRINTED_COLUMNS = (
    "review_rank", "kind", "feature", "mode", "source", "support", "p_mode_given_feature",
)  # fmt: skip


def print_diff(diff: ScanDiff, show: int) -> None:
    """Sources with their change in share, then hypotheses lost and gained."""
    console.print(
        f"[bold]{diff.before_run}[/] -> [bold]{diff.after_run}[/]: "
        f"{diff.lost.height} hypotheses lost, {diff.gained.height} gained, "
        f"{diff.kept.height} kept"
    )
    print_frame(
        diff.sources.sort("share_change"),
        title="Sources: rows and share of the mix, before -> after",
    )
    lost = diff.lost.sort("review_rank")
    if lost.height and show:
        print_frame(
            lost,
            title="Hypotheses lost (in review order before; support_after: rows with the "
            "feature after, where it still forms a hypothesis)",
            columns=[*PRINTED_COLUMNS[:-1], "support_after", PRINTED_COLUMNS[-1]],
            max_rows=show,
        )
    gained = diff.gained.sort("review_rank")
    if gained.height and show:
        print_frame(
            gained,
            title="Hypotheses gained (in review order after)",
            columns=list(PRINTED_COLUMNS),
            max_rows=show,
        )
    moved = diff.kept.with_columns((pl.col("p_after") - pl.col("p_before")).alias("p_change")).sort(
        pl.col("p_change").abs(), descending=True
    )
    if moved.height and show:
        print_frame(
            moved,
            title="Hypotheses kept, largest change in P(M|F) first",
            max_rows=min(show, 10),
        )


@click.command("diff")
@click.argument("before", type=click.Path(dir_okay=False))
@click.argument("after", type=click.Path(dir_okay=False), required=False)
@click.option("--before-run", help="Scan run of BEFORE [default: its latest].")
@click.option(
    "--after-run",
    help="Scan run of AFTER [default: its latest; with one file, the latest two scans].",
)
@click.option(
    "--show",
    default=15,
    show_default=True,
    type=click.IntRange(min=0),
    help="Hypotheses printed per table (0: the summary and sources only).",
)
def diff_command(
    before: str, after: str | None, before_run: str | None, after_run: str | None, show: int
) -> None:
    """Compare two scans: per-source shares, hypotheses gained and lost.

    BEFORE and AFTER are audit files (one file holding both scans works too: its two
    latest, or --before-run and --after-run).
    """
    show_diff(before, after, before_run, after_run, show)


def show_diff(
    before: str, after: str | None, before_run: str | None, after_run: str | None, show: int
) -> None:
    """Open the audit file(s), compare the scans and print the difference."""
    from datasets_registry.scan_diff import ScanDiffError, compare_scans

    for path in filter(None, (before, after)):
        if not Path(path).is_file():
            raise CliError(f"no audit file at {path}")
    with ExitStack() as stack:
        old = stack.enter_context(open_store(before))
        same = after is None or Path(after).resolve() == Path(before).resolve()
        new = old if same else stack.enter_context(open_store(after))
        try:
            diff = compare_scans(old, new, before_run, after_run)
        except ScanDiffError as exc:
            raise CliError(str(exc)) from None
    print_diff(diff, show)
