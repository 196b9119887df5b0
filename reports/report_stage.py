"""The report stage: the runs in the store as one self-contained HTML file.

It shows, by default, the latest successful run of each stage (see
:mod:`reports.runs`), or exactly the runs named. It writes no table and records no
run: the report only reads the store (opening a store migrates an older file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from duckdb_store import Store
from reports.html import render, write_html
from reports.runs import ReadOnlyDb, ReportDb, ReportError
from stage_kit import NO_PROGRESS, Progress, StageError


@dataclass(frozen=True)
class ReportConfig:
    """What the report shows and where it goes."""

    out: str = "report.html"  # HTML file to write (CSS, script and charts inline; opens offline)
    run_ids: tuple[str, ...] = ()  # runs to show; empty: the latest successful run of each stage


@dataclass
class ReportResult:
    """The report written: where, which sections and which runs it shows."""

    out: Path  # the HTML file written
    sections: list[str]  # ids of the sections shown, in report order (empty: nothing yet)
    runs: list[str]  # ids of the runs shown


def check_database(path: str | Path) -> None:
    """Refuse (ReportError) a path with no file, a file DuckDB cannot open, or no runs table.

    Call it before opening a store for the report: a store would create a missing file
    and add the audit tables to any DuckDB file, and a report writes into neither.
    """
    ReadOnlyDb(path).close()


def run(config: ReportConfig, store: Store, progress: Progress = NO_PROGRESS) -> ReportResult:
    """Render the report of ``store`` for ``config.run_ids`` and write it to ``config.out``."""
    report = render(ReportDb.of_store(store), list(config.run_ids) or None, progress)
    try:
        out = write_html(config.out, report.html)
    except OSError as exc:
        raise StageError(f"cannot write {config.out}: {exc.strerror or exc}") from None
    return ReportResult(out=out, sections=report.sections, runs=report.runs)


__all__ = ["ReportConfig", "ReportError", "ReportResult", "check_database", "run"]
