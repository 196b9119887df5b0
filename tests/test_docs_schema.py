"""docs/architecture.md documents the DuckDB schema exactly: every table and column a fresh
store has, with its type and the migration that added it, and nothing the store lacks."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from duckdb_store.store import MIGRATIONS, Store

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
SCHEMA_HEADING = "## The DuckDB schema"
#: "added in" of a table the store creates itself, before any migration (schema_version)
BEFORE_MIGRATIONS = 0
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_SEPARATOR = re.compile(r"^[\s:|-]+$")

Columns = dict[str, dict[str, tuple[str, str]]]  # table -> column -> (type, added in)


def _columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(table, column, type) of every column in the connection's own main schema."""
    return con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_catalog = current_database() "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()


def documented() -> Columns:
    """The per-table sections (``### <table>``) of the doc's schema part, each with the rows
    of its ``column | type | added in | meaning`` table."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    assert SCHEMA_HEADING in lines, f"{DOC.name} has no '{SCHEMA_HEADING}' section"
    start = lines.index(SCHEMA_HEADING) + 1
    tables: Columns = {}
    table = None
    for number, line in enumerate(lines[start:], start=start + 1):
        if line.startswith("## "):
            break  # the next top-level section
        if line.startswith("### "):
            table = line.removeprefix("### ").strip().strip("`")
            assert table not in tables, f"{DOC.name}:{number}: a second section for {table}"
            tables[table] = {}
            continue
        if table is None or not line.startswith("|") or _SEPARATOR.match(line):
            continue
        cells = [c.strip() for c in _CELL_SPLIT.split(line.strip().strip("|"))]
        if cells[0] == "column":
            assert cells[:3] == ["column", "type", "added in"], (
                f"{DOC.name}:{number}: the {table} table's header must start "
                f"'column | type | added in', not {cells[:3]}"
            )
            continue
        assert len(cells) >= 4, f"{DOC.name}:{number}: {table} row needs 4 cells: {line}"
        column = cells[0].strip("`")
        assert column not in tables[table], f"{DOC.name}:{number}: {table}.{column} twice"
        tables[table][column] = (cells[1], cells[2])
    return tables


@pytest.fixture(scope="module")
def doc() -> Columns:
    return documented()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """table -> column -> DuckDB type, in a fresh store."""
    out: dict[str, dict[str, str]] = {}
    with Store(tmp_path_factory.mktemp("docs_schema") / "a.duckdb") as fresh:
        for table, column, kind in _columns(fresh.con):
            out.setdefault(table, {})[column] = kind
    assert out, "a fresh store has no tables"
    return out


@pytest.fixture(scope="module")
def added_in() -> dict[tuple[str, str], int]:
    """(table, column) -> the version of the migration that added it, replayed in memory."""
    first: dict[tuple[str, str], int] = {}
    con = duckdb.connect()
    try:
        for migration in MIGRATIONS:
            con.execute(migration.sql)
            for table, column, _ in _columns(con):
                first.setdefault((table, column), migration.version)
    finally:
        con.close()
    return first


def test_every_table_has_a_section(doc: Columns, store: dict[str, dict[str, str]]) -> None:
    missing = sorted(set(store) - set(doc))
    assert not missing, f"{DOC.name} has no '### <table>' section for: {', '.join(missing)}"


def _absent(wanted: dict, present: dict) -> list[str]:
    """``table.column`` of every column in ``wanted`` whose table ``present`` has without it."""
    return [
        f"{table}.{column}"
        for table, columns in sorted(wanted.items())
        if table in present
        for column in columns
        if column not in present[table]
    ]


def test_every_column_is_documented(doc: Columns, store: dict[str, dict[str, str]]) -> None:
    missing = _absent(store, doc)
    assert not missing, f"{DOC.name} has no row for these columns: {', '.join(missing)}"


def test_nothing_documented_is_absent(doc: Columns, store: dict[str, dict[str, str]]) -> None:
    tables = sorted(set(doc) - set(store))
    columns = _absent(doc, store)
    assert not tables, f"{DOC.name} documents tables a fresh store lacks: {', '.join(tables)}"
    assert not columns, f"{DOC.name} documents columns a fresh store lacks: {', '.join(columns)}"


def test_types_and_versions_match(
    doc: Columns, store: dict[str, dict[str, str]], added_in: dict[tuple[str, str], int]
) -> None:
    wrong = []
    for table, columns in sorted(store.items()):
        for column, kind in columns.items():
            if column not in doc.get(table, {}):
                continue  # reported by test_every_column_is_documented
            doc_type, doc_version = doc[table][column]
            version = str(added_in.get((table, column), BEFORE_MIGRATIONS))
            if doc_type != kind:
                wrong.append(f"{table}.{column}: type {doc_type!r}, the store has {kind}")
            if doc_version != version:
                wrong.append(f"{table}.{column}: added in {doc_version!r}, migration {version}")
    assert not wrong, f"{DOC.name} disagrees with the store:\n" + "\n".join(wrong)
