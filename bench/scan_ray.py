"""Benchmark the scan in one process against the same scan on a local Ray, in one run.

Uses a prefix of the synthetic Tulu-like corpus of ``bench/scan.py`` (cached under
``bench/.cache/``; built on first use), then times on this machine:

- the single-process scan statistics (``scan_mix``: reader thread + polars threads);
- Ray start-up (``ray.init`` with ``--cpus`` CPUs), then the Ray scan: one task per
  piece (byte ranges at line starts), each timed inside its worker, and the merge on
  the driver;

checks the merged statistics equal the single-process ones, and prints rows/s, the
ratio, the measured per-piece and merge costs and what they predict for N nodes:

    .venv/bin/python bench/scan_ray.py                  # the whole corpus: 939,343 rows, 1.4 GB
    .venv/bin/python bench/scan_ray.py --rows 100000 --pieces 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.scan import SHARED, TULU_ROWS, build_corpus, prefix_file  # noqa: E402
from datasets_registry.loading import open_mix  # noqa: E402
from datasets_registry.pieces import plan_pieces  # noqa: E402
from datasets_registry.ray_cluster import ray_session  # noqa: E402
from datasets_registry.ray_scan import scan_pieces_ray  # noqa: E402
from datasets_registry.scan import ScanConfig, scan_mix, scan_tables  # noqa: E402

console = Console(width=110)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=TULU_ROWS,
        help="corpus rows scanned (a cached prefix when fewer)",
    )
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--pieces", type=int, help="pieces [default: 4 per Ray CPU]")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def warm(path: Path) -> None:
    """Read the file once so both scans start from the page cache."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shared = SHARED if SHARED.exists() else None
    corpus = build_corpus(TULU_ROWS, args.seed, workers=2, shared=shared)
    if args.rows >= corpus.rows:
        path, rows = corpus.path, corpus.rows
    else:
        path, rows = prefix_file(corpus.path, args.rows)
    size = path.stat().st_size
    warm(path)
    console.print(f"{path} ({rows:,} lines, {size / 1e6:.0f} MB), {os.cpu_count()} cores here")
    load_before = os.getloadavg()[0]
    mix, config = open_mix(str(path)), ScanConfig()

    console.print("single process ...")
    started = time.perf_counter()
    single = scan_mix(mix, config)
    single_s = time.perf_counter() - started

    console.print(f"local Ray ({args.cpus} CPUs) ...")
    started = time.perf_counter()
    with ray_session("local", num_cpus=args.cpus):
        startup_s = time.perf_counter() - started
        pieces = plan_pieces(mix, args.pieces or 4 * args.cpus)
        started = time.perf_counter()
        result = scan_pieces_ray(pieces, mix.columns, config)
        ray_s = time.perf_counter() - started
    load_after = os.getloadavg()[0]

    same = result.stats.equals(single) and result.stats.bad.examples == single.bad.examples
    tables_same = all(
        a.sort(a.columns).equals(b.sort(b.columns))
        for a, b in zip(
            scan_tables(single, config).values(),
            scan_tables(result.stats, config).values(),
            strict=True,
        )
    )
    n = single.n_rows
    per_piece = result.piece_seconds
    work_s = sum(per_piece)
    table = Table(title=f"Scan statistics of {n:,} rows: one process vs local Ray")
    for column in ("run", "wall s", "rows/s", "MB/s", "vs single"):
        table.add_column(column, justify="left" if column == "run" else "right")
    runs = [
        ("single process", single_s),
        (f"Ray local, {args.cpus} CPUs, {len(pieces)} pieces", ray_s),
        ("Ray local incl. start-up", ray_s + startup_s),
    ]
    for label, seconds in runs:
        table.add_row(
            label,
            f"{seconds:.1f}",
            f"{n / seconds:,.0f}",
            f"{size / 1e6 / seconds:.1f}",
            f"{single_s / seconds:.2f}x",
        )
    console.print(table)
    console.print(
        f"identical statistics: {'yes' if same else 'NO'}, identical tables: "
        f"{'yes' if tables_same else 'NO'}\n"
        f"Ray start-up {startup_s:.1f} s; per piece ({rows // len(pieces):,} rows, "
        f"{size / len(pieces) / 1e6:.0f} MB): mean {statistics.mean(per_piece):.1f} s, "
        f"min {min(per_piece):.1f}, max {max(per_piece):.1f} "
        f"({rows / work_s:,.0f} rows/s per worker); merge on the driver {result.merge_s:.2f} s; "
        f"sum of piece times {work_s:.1f} s vs wall {ray_s:.1f} s\n"
        f"1-minute load average {load_before:.1f} before, {load_after:.1f} after "
        f"(other work on this machine shares its {os.cpu_count()} cores)"
    )
    explain(single_s, startup_s, work_s, result.merge_s, len(pieces), args.cpus)
    return 0 if same and tables_same else 1


def explain(
    single_s: float, startup_s: float, work_s: float, merge_s: float, pieces: int, cpus: int
) -> None:
    """Expected scaling: time(N nodes of c cores) ~ start-up + work / (N c) + merge."""
    console.print(
        "\n[bold]Expected scaling[/] (pieces are independent; the driver merges once):\n"
        "  time(N nodes x c cores) ~ start-up + ceil(pieces / (N c)) x per-piece + merge\n"
        "                          ~ start-up + (sum of piece times) / (N c) + merge\n"
        "with pieces = 4 per CPU, so more CPUs mean more, smaller pieces. The merge reads every\n"
        "piece's term table: between the measured cost (tables barely grow) and that cost times\n"
        "the piece ratio (every piece adds a full vocabulary); both bounds are shown.\n"
        "A task holds one CPU, but the single process counts with a reader thread and polars\n"
        "threads on both cores of this machine, so local Ray here mostly adds overhead\n"
        "(pickling piece tables, the merge, start-up); the gain comes from more cores."
    )
    table = Table(title=f"Predicted from this run (sum of piece times {work_s:.0f} s)")
    for column in ("nodes x cores", "pieces", "counting s", "merge s", "total s", "vs single"):
        table.add_column(column, justify="right")
    for nodes in (1, 2, 4, 8, 16):
        slots = nodes * cpus
        counting = work_s / slots
        merge_hi = merge_s * max(1.0, slots * 4 / pieces)
        low, high = counting + merge_s, counting + merge_hi
        table.add_row(
            f"{nodes} x {cpus}",
            f"{slots * 4}",
            f"{counting:.1f}",
            f"{merge_s:.1f}-{merge_hi:.1f}",
            f"{low:.1f}-{high:.1f}",
            f"{single_s / high:.1f}-{single_s / low:.1f}x",
        )
    console.print(table)
    console.print(
        f"total s: a running cluster joined with --ray ADDRESS; a local --ray adds the start-up "
        f"({startup_s:.1f} s here).\nAt many nodes the merge on the driver (and the start-up) "
        "bound the speed-up (Amdahl); workers must see the mix at the same path."
    )


if __name__ == "__main__":
    raise SystemExit(main())
