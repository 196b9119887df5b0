"""Console helpers: polars frames as rich tables, one-line errors, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

import click
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import polars as pl

    from duckdb_store import Store

# Logs and pipes have no width limit: render tables at 140 columns there instead of 80.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

EXIT_USAGE = 2


class CliError(click.ClickException):
    """A user-facing failure: one line on stderr, exit code 2, no traceback."""

    exit_code = EXIT_USAGE

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the message as one red line on stderr."""
        err_console.print(
            f"[bold red]error:[/] {escape(self.format_message())}",  # messages are plain text
            highlight=False,
            markup=True,
            soft_wrap=True,
        )


def _cell(value: object) -> Text:
    """A table cell: data text as it is (a Text is never read as rich markup, so
    "[a javascript]" in a prompt stays in the table)."""
    if value is None:
        return Text("")
    if isinstance(value, float):
        if value != value:  # NaN
            return Text("nan")
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return Text(f"{value:.0e}")
        return Text(f"{value:.3f}")
    text = str(value)
    return Text(text if len(text) <= 80 else text[:77] + "...")


def print_frame(
    frame: pl.DataFrame,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    max_rows: int | None = None,
) -> None:
    """Print a polars DataFrame as a rich table (data text is never read as markup)."""
    if columns:
        frame = frame.select([c for c in columns if c in frame.columns])
    table = Table(title=title, show_lines=False, header_style="bold")
    rows = frame.rows() if max_rows is None else frame.head(max_rows).rows()
    for index, name in enumerate(frame.columns):
        numeric = frame.schema[name].is_numeric()
        longest = max((len(_cell(row[index])) for row in rows), default=0)
        table.add_column(
            name,
            justify="right" if numeric else "left",
            overflow="fold",
            no_wrap=numeric,
            min_width=None if numeric else min(longest, 24),
        )
    for row in rows:
        table.add_row(*[_cell(v) for v in row])
    console.print(table)
    if max_rows is not None and frame.height > max_rows:
        console.print(f"[dim]... {frame.height - max_rows} more rows[/]")


FORMATS = ("table", "csv", "json")


def emit_frame(frame: pl.DataFrame, fmt: str, title: str | None = None) -> None:
    """Print a frame as a rich table, CSV or JSON records (for scripts and pipes)."""
    if fmt == "csv":
        click.echo(frame.write_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.write_json())
    else:
        print_frame(frame, title=title)


class AmountColumn(ProgressColumn):
    """Bytes (as a download) for tasks whose ``unit`` field is "bytes", else done/total."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()
        self._count = MofNCompleteColumn()

    def render(self, task: Task) -> RenderableType:
        """The amount done, in the task's unit."""
        column = self._bytes if task.fields.get("unit") == "bytes" else self._count
        return column.render(task)


def progress_bar(unit: str) -> Progress:
    """A progress bar counting bytes (with transfer rate) or rows."""
    amount = DownloadColumn() if unit == "bytes" else AmountColumn()
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        amount,
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


class CliProgress:
    """A stage ``Progress`` callback for the console.

    On a terminal each task label gets a rich progress bar. When output goes to a
    file or a pipe (a log), bars would only appear at the end, so each task prints a
    plain line when it starts, every ``every_s`` seconds while it runs, and when it
    ends. Use as a context manager around the stage call.
    """

    def __init__(self, unit: str = "rows", every_s: float = 10.0) -> None:
        self.live = console.is_terminal
        self.unit = unit
        self.every_s = every_s
        self._bar = progress_bar(unit) if self.live else None
        self._tasks: dict[str, object] = {}
        self._last: dict[str, tuple[float, int, int | None, str]] = {}
        self._units: dict[str, str] = {}
        self._finished: set[str] = set()

    def __enter__(self) -> CliProgress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            return
        for label, (_, done, total, status) in self._last.items():
            self._line(label, done, total, status)

    def __call__(
        self, label: str, done: int, total: int | None = None, status: str = "", unit: str = ""
    ) -> None:
        """Advance task ``label`` to ``done`` of ``total``."""
        if self._bar is not None:
            if label not in self._tasks:
                self._tasks[label] = self._bar.add_task(
                    label, total=total, status=status, unit=unit or self.unit
                )
            self._bar.update(self._tasks[label], completed=done, total=total, status=status)
            return
        import time

        if unit:
            self._units[label] = unit
        now = time.monotonic()
        if label in self._finished:
            if total is not None and done >= total:
                return  # already reported finished
            self._finished.discard(label)
        first = label not in self._last
        last_time = self._last[label][0] if not first else 0.0
        finished = total is not None and done >= total
        if first or finished or now - last_time >= self.every_s:
            self._line(label, done, total, status)
            last_time = now
        self._last[label] = (last_time, done, total, status)
        if finished:
            self._last.pop(label)
            self._finished.add(label)

    def _line(self, label: str, done: int, total: int | None, status: str) -> None:
        share = f" ({done / total:.0%})" if total else ""
        amount = f"{done:,}/{total:,}" if total is not None else f"{done:,}"
        if (self._units.get(label) or self.unit) == "bytes":
            amount = (
                f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB" if total else f"{done / 1e6:,.1f} MB"
            )
        console.print(
            f"{label}: {amount}{share}{' ' + status if status else ''}",
            highlight=False,
            markup=False,
        )


@contextmanager
def stage_errors(*extra: type[BaseException]) -> Iterator[None]:
    """Turn a stage's user-facing errors (``StageError``, and ``extra``) into a one-line CliError."""
    from stage_kit import StageError

    try:
        yield
    except (StageError, *extra) as exc:
        text = str(exc).strip()
        raise CliError(text.splitlines()[0] if text else type(exc).__name__) from None


@contextmanager
def open_store(db: str) -> Iterator[Store]:
    """The audit database, opened for a command (a file that cannot be opened: a CliError)."""
    from duckdb_store import Store, StoreError

    try:
        store = Store(db)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        yield store
    finally:
        store.close()
