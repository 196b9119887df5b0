"""Tables for the HTML report: typed columns, formatted cells, raw values for sorting."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

#: Column kinds: how a cell is formatted, and whether it sorts as a number.
NUMERIC_KINDS = frozenset({"int", "float", "pct", "p", "signed"})

#: One value of a row read from the store (or a chart, ``Markup``, a ``str``, in "svg" columns).
Cell = str | int | float | bool | date | datetime | None


@dataclass(frozen=True)
class Col:
    """A table column: the row key it shows, its header, how cells format, a header tooltip."""

    key: str
    label: str
    kind: str = "text"  # text | int | float | pct | p | signed | bool | mode | svg | long
    help: str = ""

    @property
    def numeric(self) -> bool:
        """Whether cells sort as numbers."""
        return self.kind in NUMERIC_KINDS


@dataclass
class Table:
    """A sortable table for the page: its columns, the rows shown, how many were cut."""

    id: str
    cols: list[Col]
    rows: list[dict[str, Cell]]
    total: int = 0  # rows before the cut (0: all shown)
    caption: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def cut(self) -> int:
        """How many rows were left out (``total`` minus the rows shown)."""
        return max(self.total - len(self.rows), 0)


def table(
    id: str, frame: pl.DataFrame, cols: list[Col], *, limit: int | None = None, caption: str = ""
) -> Table:
    """A Table from the columns of ``frame`` named by ``cols`` (missing columns are blank)."""
    rows = frame.head(limit).to_dicts() if limit is not None else frame.to_dicts()
    return Table(id=id, cols=cols, rows=rows, total=frame.height, caption=caption)


def _bad(value: Cell) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value: Cell, kind: str = "text") -> str:
    """A cell as text (escaping is the template's job)."""
    if _bad(value):
        return "–"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "signed":
        return f"{value:+.3f}"
    if kind == "p":
        return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"
    if kind == "bool":
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if kind == "float" or isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.2e}"
        return f"{value:,.3f}"
    return str(value)


def sort_value(value: Cell, kind: str = "text") -> str | None:
    """The ``data-v`` attribute for sorting: the raw number, empty (sorts last), or None (text)."""
    if kind == "bool":
        return "" if value is None else ("1" if value else "0")
    if kind not in NUMERIC_KINDS:
        return None
    return "" if _bad(value) else repr(float(value))
