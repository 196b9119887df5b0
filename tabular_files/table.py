"""Whole tabular files in and out: csv/tsv, jsonl/ndjson, a json array, parquet.

:func:`read_table` never drops a line silently: a JSON line that does not parse or
is not an object is counted in ``Table.bad``. Invalid UTF-8 is tolerated (replaced
by U+FFFD), and nested values (lists, objects) become JSON text in the frame while
``Table.raw`` keeps them as parsed. A whole CSV file is read by polars (every cell
text, an empty cell null, a quoted empty cell ""); readers that stream records and
account for each one use :func:`tabular_files.csv_rows.csv_rows` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import orjson
import polars as pl

from tabular_files.json_rows import BadLine, document_rows, json_lines, parse_json_line

READABLE = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")
WRITABLE = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")


class TabularError(ValueError):
    """A file that cannot be read or written; the message is one line for the user."""


@dataclass
class Table:
    """A file's rows as a frame, the JSON values as parsed, and the lines that were not rows."""

    frame: pl.DataFrame
    raw: dict[str, list[object]] = field(default_factory=dict)  # JSON formats only
    bad: int = 0  # lines (or array items) that are not JSON objects


def jsonable(value: object) -> object:
    """Nested values become JSON text so that any jsonl file makes a table."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_table(path: Path) -> Table:
    """The rows of ``path`` by its suffix (raises TabularError)."""
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise TabularError(
            f"{path}: cannot read {suffix or 'files without a suffix'} (use {', '.join(READABLE)})"
        )
    try:
        if suffix in (".csv", ".tsv"):
            return Table(_read_csv(path, "\t" if suffix == ".tsv" else ","))
        if suffix == ".parquet":
            return Table(_read_parquet(path))
        data = path.read_bytes()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise TabularError(f"cannot read {path}: {_first_line(exc)}") from None
    if suffix == ".json":
        try:
            items = document_rows(parse_json_line(data, lossy=True))
        except BadLine as exc:
            raise TabularError(f"{path}: not valid JSON ({exc.detail})") from None
    else:
        items = [value for _, value in json_lines(data, lossy=True)]
    records = [item for item in items if isinstance(item, dict)]
    return _records_table(records, bad=len(items) - len(records))


def _read_csv(path: Path, separator: str) -> pl.DataFrame:
    """Every cell as text (invalid UTF-8 replaced); ragged lines cut or padded with nulls."""
    return pl.read_csv(
        path,
        separator=separator,
        infer_schema=False,
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
    )


def _read_parquet(path: Path) -> pl.DataFrame:
    """A parquet file; binary columns decoded as UTF-8 text (invalid bytes replaced)."""
    frame = pl.read_parquet(path)
    binary = [n for n, t in frame.schema.items() if t == pl.Binary]
    return frame.with_columns(
        pl.col(n).map_elements(
            lambda b: b.decode("utf-8", errors="replace"), return_dtype=pl.String
        )
        for n in binary
    )


def _records_table(records: list[dict[str, object]], bad: int) -> Table:
    """JSON objects as a table: columns in first-seen order, nested values as JSON text."""
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    raw = {name: [r.get(name) for r in records] for name in columns}
    table = {name: [jsonable(v) for v in values] for name, values in raw.items()}
    try:
        frame = pl.DataFrame(table, strict=False, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        frame = pl.DataFrame(
            {n: [None if v is None else str(v) for v in vs] for n, vs in table.items()},
            schema={n: pl.String for n in table},
        )
    return Table(frame, raw, bad)


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` in the format of ``path``'s suffix (raises TabularError).

    CSV/TSV cannot hold nested values: those columns are written as JSON text.
    """
    suffix = path.suffix.lower()
    if suffix not in WRITABLE:
        raise TabularError(f"{path}: cannot write {suffix} (use one of {', '.join(WRITABLE)})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix in (".csv", ".tsv"):
            nested = [n for n, t in frame.schema.items() if t.is_nested()]
            flat = frame.with_columns(
                pl.col(n).map_elements(
                    lambda v: orjson.dumps(v.to_list() if isinstance(v, pl.Series) else v).decode(),
                    return_dtype=pl.String,
                )
                for n in nested
            )
            flat.write_csv(path, separator="\t" if suffix == ".tsv" else ",")
        elif suffix == ".parquet":
            frame.write_parquet(path)
        elif suffix == ".json":
            frame.write_json(path)
        else:
            frame.write_ndjson(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise TabularError(f"cannot write {path}: {_first_line(exc)}") from None
