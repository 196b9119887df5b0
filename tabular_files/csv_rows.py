"""CSV and TSV files record by record, through Python's ``csv`` module.

For readers that stream records and account for each one (the mix loader counts
rows with bytes that are not UTF-8; the probe inputs name the row of a bad label);
a whole file as a frame is :func:`tabular_files.read_table`. Fields may be of any
size, a UTF-8 byte-order mark is dropped, and quoted fields may span lines. Bytes
that are not UTF-8 become lone surrogates (``errors="surrogateescape"``, the
default: see :func:`has_invalid_utf8`) or raise ``UnicodeDecodeError``
(``errors="strict"``).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

#: A parsed record: its fields (the header row is one too).
Fields = list[str]


def csv_rows(
    path: str | Path, *, separator: str = ",", errors: str = "surrogateescape"
) -> Iterator[tuple[int, Fields]]:
    """The header, then every record, each as (line number where it ends, fields).

    Blank lines before the header are skipped; a blank line after it is a record
    with no fields (``[]``). Nothing is yielded for a file without a header.
    """
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8-sig", errors=errors, newline="") as handle:
        reader = csv.reader(handle, delimiter=separator)
        header_seen = False
        for fields in reader:
            if not fields and not header_seen:
                continue
            header_seen = True
            yield reader.line_num, fields


def as_record(header: Sequence[str], fields: Sequence[str]) -> dict[str, str | None]:
    """A record's fields by column name (missing fields None, extra fields dropped)."""
    return {name: fields[i] if i < len(fields) else None for i, name in enumerate(header)}


def has_invalid_utf8(value: object) -> bool:
    """Whether a field read with ``surrogateescape`` held bytes that are not UTF-8."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
