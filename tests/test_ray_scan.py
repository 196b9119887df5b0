"""`audit scan --ray`: pieces scanned as Ray tasks give exactly the single-process tables.

The mix (``tests/sharded_mix.py``) is a folder: the planted mix as JSON lines (cut into
byte ranges) with malformed lines whose first occurrences fall in later pieces, and a
parquet file of several row groups with rejected rows. A local Ray with 2 CPUs runs the
tasks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from sharded_mix import assert_same_tables, run, scan_run, scan_with_one_crash

from audit.cli import main

pytest.importorskip("ray")  # `make setup` installs the extra: these tests run there


def test_ray_scan_writes_the_single_process_tables(
    sharded_mix: Path, sharded_single: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    import ray

    run_id, ray_tables, args = scan_run(
        tmp_path / "ray.duckdb", "--ray", "--ray-shards", "6", mix=sharded_mix
    )
    assert_same_tables(sharded_single, ray_tables)
    bad = ray_tables["bad_rows"]
    assert set(bad["reason"]) >= {"invalid_json", "not_an_object", "non_utf8", "no_assistant_turn"}
    assert '"ray": {"address": "local", "shards": 7}' in args.replace('":{', '": {')
    assert not ray.is_initialized()  # the Ray this command started is shut down


def test_a_worker_killed_mid_scan_is_retried(
    sharded_mix: Path,
    sharded_single: dict[str, pl.DataFrame],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ray_tables = scan_with_one_crash(
        tmp_path / "kill.duckdb",
        tmp_path / "crashed",
        monkeypatch,
        "--ray",
        "--ray-shards",
        "4",
        mix=sharded_mix,
    )
    assert_same_tables(sharded_single, ray_tables)


def test_ray_option_parsing() -> None:
    command = main.commands["scan"]
    for argv, address in (
        (["mix", "--ray"], "local"),
        (["--ray", "auto", "mix"], "auto"),
        (["mix", "--ray", "ray://head:10001"], "ray://head:10001"),
        (["mix"], None),
    ):
        ctx = command.make_context("scan", argv)
        assert ctx.params["ray"] == address and ctx.params["mix"] == "mix", argv


def test_without_ray_the_error_says_how_to_install(
    small_mix: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code, out = run("scan", str(small_mix), "--db", str(tmp_path / "n.duckdb"), "--ray")
    assert code == 2, out
    assert out.strip() == "error: --ray needs Ray: pip install 'chunky-audit[ray]'"
    assert not (tmp_path / "n.duckdb").exists()
