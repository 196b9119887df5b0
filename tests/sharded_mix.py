"""A mix cut into pieces (a folder of JSON lines with malformed lines, and parquet with
rejected rows) and how to compare a sharded scan's tables with a single-process scan's
(``tests/test_ray_scan.py``, ``tests/test_scan_workers.py``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from click.testing import CliRunner
from conftest import conversation, small_mix_rows
from polars.testing import assert_frame_equal

from audit.cli import main
from datasets_registry.planted import write_planted
from datasets_registry.scan import SCAN_TABLES
from duckdb_store.store import Store

BAD_LINES = [b"{broken", b"[]", b"", b'{"messages": []}', b"\xff\xfe not utf8", b'{"source": 1}']


def write_sharded_mix(root: Path) -> Path:
    """The planted mix as JSON lines with malformed lines whose first occurrences fall in
    later byte ranges, and a parquet file of several row groups with rejected rows."""
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
    """``audit scan MIX`` with ``extra`` options: (run id, its tables, its args)."""
    code, out = run("scan", str(mix), "--db", str(db), "--show", "0", *extra)
    assert code == 0, out
    with Store(db) as store:
        run_id, args = store.read("SELECT run_id, args FROM runs ORDER BY run_id DESC").row(0)
    return run_id, tables(db, run_id), args


def assert_same_tables(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for name in SCAN_TABLES:
        assert a[name].height > 0, name
        assert_frame_equal(a[name], b[name], check_exact=True)


def scan_with_one_crash(
    db: Path, marker: Path, monkeypatch, *extra: str, mix: Path
) -> dict[str, pl.DataFrame]:
    """``scan_run`` with the first worker (Ray task or process) to reach a piece exiting
    its process (``CRASH_ONCE_ENV``); the tables, after checking that one did exit."""
    from datasets_registry.ray_cluster import CRASH_ONCE_ENV

    monkeypatch.setenv(CRASH_ONCE_ENV, str(marker))
    tables = scan_run(db, *extra, mix=mix)[1]
    assert marker.exists()  # one worker did exit mid-scan
    return tables
