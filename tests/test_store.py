"""The DuckDB store: migrations, runs, and refusing files it cannot read."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from duckdb_store import store as store_module
from duckdb_store.store import (
    SCHEMA_VERSION,
    ReadOnlyQueryError,
    Store,
    StoreError,
    query_readonly,
)


def test_new_file_gets_the_current_schema(tmp_path: Path) -> None:
    with Store(tmp_path / "a.duckdb") as store:
        assert store.schema_version() == SCHEMA_VERSION
        tables = set(store.read("SELECT table_name FROM information_schema.tables")["table_name"])
    assert {
        "runs",
        "bad_rows",
        "scan_sources",
        "feature_concentration",
        "keyness",
        "mode_rates",
        "trigger_hypotheses",
        "response_phrases",
    } <= tables


def test_older_file_is_migrated(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "old.duckdb"
    first = store_module.MIGRATIONS[:1]
    monkeypatch.setattr(store_module, "MIGRATIONS", first)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 1)
    Store(path).close()
    extra = store_module.Migration(
        2, "add a note column", "ALTER TABLE runs ADD COLUMN note VARCHAR"
    )
    monkeypatch.setattr(store_module, "MIGRATIONS", [*first, extra])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 2)
    with Store(path) as store:
        assert store.schema_version() == 2
        assert "note" in store.read("DESCRIBE runs")["column_name"].to_list()


def test_newer_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (999, now(), 'future')")
    con.close()
    with pytest.raises(StoreError, match="newer than this chunky-audit"):
        Store(path)


def test_not_a_duckdb_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.duckdb"
    path.write_text("this is not a database")
    with pytest.raises(StoreError, match="cannot open"):
        Store(path)


def test_runs_and_writes(tmp_path: Path) -> None:
    with Store(tmp_path / "r.duckdb") as store:
        run_id = store.start_run("scan", {"mix": "x"})
        assert run_id.startswith("scan-")
        store.write(
            "mode_rates",
            pl.DataFrame({"source": ["s"], "mode": ["code"], "n": [3], "share": [1.0]}),
            run_id,
        )
        store.finish_run(run_id)
        assert store.latest_run("scan") == run_id
        row = store.read("SELECT * FROM mode_rates").row(0, named=True)
    assert row == {"run_id": run_id, "source": "s", "mode": "code", "n": 3, "share": 1.0}


def test_query_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "q.duckdb"
    Store(path).close()
    assert query_readonly(path, "SELECT 1 AS one")["one"].to_list() == [1]
    for sql in [
        "DELETE FROM runs",
        "CREATE TABLE x (a INT)",
        "DROP TABLE runs",
        "INSERT INTO runs (run_id) VALUES ('x')",
    ]:
        with pytest.raises(ReadOnlyQueryError, match="read-only"):
            query_readonly(path, sql)
    with pytest.raises(ReadOnlyQueryError, match="no audit database"):
        query_readonly(tmp_path / "missing.duckdb", "SELECT 1")
    with pytest.raises(ReadOnlyQueryError, match="query failed"):
        query_readonly(path, "SELEKT nonsense")


def test_a_scan_only_file_gains_the_later_tables_and_keeps_its_rows(
    tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "v1.duckdb"
    real = list(store_module.MIGRATIONS)
    monkeypatch.setattr(store_module, "MIGRATIONS", real[:1])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 1)
    with Store(path) as store:
        run = store.start_run("scan", {"mix": "x"})
    monkeypatch.setattr(store_module, "MIGRATIONS", real)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", real[-1].version)
    with Store(path) as store:
        tables = set(store.read("SELECT table_name FROM information_schema.tables")["table_name"])
        assert store.read("SELECT run_id FROM runs")["run_id"].to_list() == [run]
    assert {
        "queries",
        "findings",
        "attributions",
        "attributed_examples",
        "recommendations",
        "verifications",
        "probe_results",
    } <= tables


def test_a_run_left_running_by_a_dead_process_becomes_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "runs.duckdb"
    with Store(path) as store:
        store.con.execute(
            "INSERT INTO runs VALUES ('search-dead', 'search', '{}', now(), NULL, 'running')"
        )
        live = store.start_run("scan", {})
        status = dict(store.read("SELECT run_id, status FROM runs").iter_rows())
        assert status == {"search-dead": "interrupted", live: "running"}
        store.start_run("search", {})
        assert store.read(f"SELECT status FROM runs WHERE run_id = '{live}'").item() == "running"


def test_run_ids_started_in_the_same_second_sort_by_start() -> None:
    from duckdb_store.store import new_run_id

    ids = [new_run_id("probe") for _ in range(200)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def row_after_migrating(path: Path, version: int, insert: str, table: str, monkeypatch) -> dict:
    """Write one row (``insert``) at schema ``version``, reopen at the latest schema and read
    the row back from ``table``."""
    real = list(store_module.MIGRATIONS)
    monkeypatch.setattr(store_module, "MIGRATIONS", [m for m in real if m.version <= version])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", version)
    with Store(path) as store:
        store.con.execute(insert)
    monkeypatch.setattr(store_module, "MIGRATIONS", real)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", real[-1].version)
    with Store(path) as store:
        return store.read(f"SELECT * FROM {table}").row(0, named=True)


def test_verifications_before_schema_6_read_as_one_model_arms(tmp_path: Path, monkeypatch) -> None:
    insert = (
        "INSERT INTO verifications VALUES ('verify-1', 'F1', 'term:x', 'code', 0.8, 0.1, "
        "0.9, 0.88, 40, 0.001, 'before', 'after')"
    )
    row = row_after_migrating(tmp_path / "v5.duckdb", 5, insert, "verifications", monkeypatch)
    assert (row["arm"], row["n_after_models"]) == ("after", 1)
    assert (row["rate_after_mean"], row["clean_answer_after_mean"]) == (0.1, 0.88)
    assert row["rate_after_low"] is None and row["clean_answer_after_high"] is None
    assert row["n_clean"] is None  # schema 7: its clean rate counted the finding's own seeds


def test_attributed_examples_before_schema_8_do_not_say_whether_they_show_it(
    tmp_path: Path, monkeypatch
) -> None:
    insert = (
        "INSERT INTO attributed_examples VALUES ('attribute-1', 'F1', 'saliency', 'x-1', "
        "'code_chunk', 2.5, 1)"
    )
    path = tmp_path / "v7.duckdb"
    row = row_after_migrating(path, 7, insert, "attributed_examples", monkeypatch)
    assert (row["example_id"], row["rank"], row["shows_behaviour"]) == ("x-1", 1, None)
