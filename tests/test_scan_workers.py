"""Sharded scans without Ray: pieces counted apart and merged equal one pass, and
`audit scan --workers N` writes exactly the single-process tables (``tests/sharded_mix.py``:
malformed lines and rejected rows fall in later pieces)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from conftest import small_mix_rows
from sharded_mix import assert_same_tables, run, scan_run, scan_with_one_crash

from datasets_registry.loading import HUB_MIRROR_ENV, open_mix
from datasets_registry.piece_scan import merge_pieces, scan_piece
from datasets_registry.pieces import plan_pieces
from datasets_registry.scan import ScanConfig, scan_mix


@pytest.mark.parametrize(
    ("part", "kinds"), [("", {"bytes", "whole"}), ("extra.parquet", {"row_groups"})]
)
def test_pieces_merge_to_one_pass_without_ray(
    sharded_mix: Path, part: str, kinds: set[str]
) -> None:
    """Byte ranges and row groups, counted apart and merged, equal one pass (incl. examples)."""
    opened = open_mix(str(sharded_mix / part))
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


def test_workers_write_the_single_process_tables(
    sharded_mix: Path, sharded_single: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    _, tables, args = scan_run(tmp_path / "w.duckdb", "--workers", "2", mix=sharded_mix)
    assert_same_tables(sharded_single, tables)
    bad = tables["bad_rows"]
    assert set(bad["reason"]) >= {"invalid_json", "not_an_object", "non_utf8", "no_assistant_turn"}
    assert '"workers": {"processes": 2, "pieces": ' in args.replace('":{', '": {')


def test_a_worker_process_killed_mid_scan_is_retried(
    sharded_mix: Path,
    sharded_single: dict[str, pl.DataFrame],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tables = scan_with_one_crash(
        tmp_path / "kill.duckdb",
        tmp_path / "crashed",
        monkeypatch,
        "--workers",
        "2",
        mix=sharded_mix,
    )
    assert_same_tables(sharded_single, tables)


def test_workers_and_ray_are_one_choice(small_mix: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")  # without the extra --ray fails first, on the install hint
    db = tmp_path / "n.duckdb"
    code, out = run("scan", str(small_mix), "--db", str(db), "--workers", "2", "--ray")
    assert code == 2 and "--workers and --ray: choose one" in out, out
    assert not db.exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_file_that_is_not_parquet_is_a_clear_error(
    small_mix: Path, tmp_path: Path, workers: str
) -> None:
    folder = tmp_path / "mix"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(small_mix.read_bytes())
    (folder / "b.parquet").write_text("not parquet at all\n")
    code, out = run("scan", str(folder), "--db", str(tmp_path / "a.duckdb"), "--workers", workers)
    assert code != 0 and "Traceback" not in out, out
    assert f"cannot read {folder / 'b.parquet'} as parquet" in out, out
