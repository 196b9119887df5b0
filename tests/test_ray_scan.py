"""`audit scan --ray`: pieces scanned as Ray tasks give exactly the single-process tables.

The mix is a folder: the planted mix as JSON lines (cut into byte ranges) with malformed
lines whose first occurrences fall in later pieces, and a parquet file of several row
groups with rejected rows. A local Ray with 2 CPUs runs the tasks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import conversation, small_mix_rows
from polars.testing import assert_frame_equal

from audit.cli import main
from datasets_registry.loading import HUB_MIRROR_ENV, open_mix
from datasets_registry.pieces import plan_pieces
from datasets_registry.planted import write_planted
from datasets_registry.ray_cluster import CRASH_ONCE_ENV
from datasets_registry.ray_scan import merge_pieces, scan_piece
from datasets_registry.scan import SCAN_TABLES, ScanConfig, scan_mix
from duckdb_store.store import Store

pytest.importorskip("ray")  # `make setup` installs the extra: these tests run there

BAD_LINES = [b"{broken", b"[]", b"", b'{"messages": []}', b"\xff\xfe not utf8", b'{"source": 1}']


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ray-scan")
    planted = write_planted(root / "planted", 1200, seed=0).read_bytes().splitlines()
    folder = root / "mix"
    folder.mkdir()
    lines = []
    for i, line in enumerate(planted):
        lines.append(line)
        if i % 150 == 149:  # the first of each reason lands in a later byte range
            lines.append(BAD_LINES[(i // 150) % len(BAD_LINES)])
    (folder / "planted.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rows = small_mix_rows()
    for i in range(0, len(rows), 37):
        rows[i] = {**rows[i], "messages": [conversation("only a prompt", "x")[0]]}
    pl.DataFrame(rows).write_parquet(folder / "extra.parquet", row_group_size=40)
    return folder


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def tables(db: Path, run_id: str) -> dict[str, pl.DataFrame]:
    with Store(db) as store:
        return {
            name: store.read(f"SELECT * FROM {name} WHERE run_id = ?", [run_id])
            .drop("run_id")
            .sort(pl.all())
            for name in SCAN_TABLES
        }


def scan_run(db: Path, *extra: str, mix: Path) -> tuple[str, dict[str, pl.DataFrame], str]:
    code, out = run("scan", str(mix), "--db", str(db), "--show", "0", *extra)
    assert code == 0, out
    with Store(db) as store:
        run_id, args = store.read("SELECT run_id, args FROM runs ORDER BY run_id DESC").row(0)
    return run_id, tables(db, run_id), args


def assert_same_tables(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for name in SCAN_TABLES:
        assert a[name].height > 0, name
        assert_frame_equal(a[name], b[name], check_exact=True)


@pytest.fixture(scope="module")
def single(mix: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    db = tmp_path_factory.mktemp("single") / "single.duckdb"
    return scan_run(db, mix=mix)[1]


def test_ray_scan_writes_the_single_process_tables(
    mix: Path, single: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    import ray

    run_id, ray_tables, args = scan_run(
        tmp_path / "ray.duckdb", "--ray", "--ray-shards", "6", mix=mix
    )
    assert_same_tables(single, ray_tables)
    bad = ray_tables["bad_rows"]
    assert set(bad["reason"]) >= {"invalid_json", "not_an_object", "non_utf8", "no_assistant_turn"}
    assert '"ray": {"address": "local", "shards": 7}' in args.replace('":{', '": {')
    assert not ray.is_initialized()  # the Ray this command started is shut down


def test_a_worker_killed_mid_scan_is_retried(
    mix: Path, single: dict[str, pl.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE_ENV, str(marker))
    _, ray_tables, _ = scan_run(tmp_path / "kill.duckdb", "--ray", "--ray-shards", "4", mix=mix)
    assert marker.exists()  # one task's worker did exit
    assert_same_tables(single, ray_tables)


@pytest.mark.parametrize(
    ("part", "kinds"), [("", {"bytes", "whole"}), ("extra.parquet", {"row_groups"})]
)
def test_pieces_merge_to_one_pass_without_ray(mix: Path, part: str, kinds: set[str]) -> None:
    """Byte ranges and row groups, counted apart and merged, equal one pass (incl. examples)."""
    opened = open_mix(str(mix / part))
    config = ScanConfig()
    pieces = plan_pieces(opened, 4)
    assert {p.kind for p in pieces} == kinds and len(pieces) >= 4
    parts = [scan_piece(p, opened.columns, config.features, 100) for p in pieces]
    merged, whole = merge_pieces(pieces, parts), scan_mix(opened, config)
    assert merged.equals(whole)
    assert merged.bad.examples == whole.bad.examples and whole.bad.total > 0


def test_hub_parts_number_rows_like_one_stream(tmp_path: Path, monkeypatch) -> None:
    repo = tmp_path / "org" / "ds" / "data"
    repo.mkdir(parents=True)
    rows = small_mix_rows()
    for i in (5, 70, 71, 150):
        rows[i] = {**rows[i], "messages": []}
    for k, start in enumerate(range(0, len(rows), 60)):
        pl.DataFrame(rows[start : start + 60]).write_parquet(repo / f"train-{k:05d}.parquet")
    monkeypatch.setenv(HUB_MIRROR_ENV, str(tmp_path))
    opened = open_mix("org/ds")
    config = ScanConfig()
    pieces = plan_pieces(opened, 3)
    assert [p.kind for p in pieces] == ["hub_part"] * 3
    parts = [scan_piece(p, opened.columns, config.features, 50) for p in pieces]
    merged, whole = merge_pieces(pieces, parts), scan_mix(opened, config)
    assert merged.equals(whole) and merged.bad.examples == whole.bad.examples
    assert whole.bad.total == 4


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
