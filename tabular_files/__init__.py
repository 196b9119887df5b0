"""One reader (and writer) of tabular input files: csv/tsv, jsonl/ndjson, json, parquet.

Ground floor: imports nothing of the project. ``json_rows`` (the one JSON line and
document parser, bad lines named), ``csv_rows`` (CSV record by record), ``table``
(whole files to a polars frame and back). Streaming readers (the mix loader) use
the parsers directly.
"""

from tabular_files.csv_rows import as_record, csv_rows, has_invalid_utf8
from tabular_files.json_rows import (
    INVALID_JSON,
    NON_UTF8,
    BadLine,
    document_rows,
    json_lines,
    parse_json_line,
)
from tabular_files.table import (
    READABLE,
    WRITABLE,
    Table,
    TabularError,
    jsonable,
    read_table,
    write_table,
)

__all__ = [
    "INVALID_JSON",
    "NON_UTF8",
    "READABLE",
    "WRITABLE",
    "BadLine",
    "Table",
    "TabularError",
    "as_record",
    "csv_rows",
    "document_rows",
    "has_invalid_utf8",
    "jsonable",
    "json_lines",
    "parse_json_line",
    "read_table",
    "write_table",
]
