"""The scan on Ray: one task per piece of the mix, statistics merged on the driver.

Each task runs the single-process code (``read_piece`` -> ``count_batches``) on its
piece and returns a :class:`ScanStats`; the driver merges them in piece order, so
``scan_tables`` sees the same counts (and the same first rejected-row examples) as
one pass. Tasks are retried when their worker dies (``max_retries``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from datasets_registry.features import Feature
from datasets_registry.normalise import TEXT_COLUMNS, Columns
from datasets_registry.pieces import Piece, positions_in, read_piece, shift_examples
from datasets_registry.ray_cluster import (
    CRASH_ONCE_ENV,
    MAX_RETRIES,
    crash_once,
    require_ray,
    task_errors,
)
from datasets_registry.scan import FIRST_BATCH_ROWS, ScanConfig, count_batches
from datasets_registry.stats import ScanStats


@dataclass
class PieceStats:
    """A worker's answer for one piece: counts, lines/rows read, seconds spent."""

    stats: ScanStats
    positions: int
    seconds: float


@dataclass
class RayScan:
    """Merged statistics and where the time went."""

    stats: ScanStats
    pieces: list[Piece]
    piece_seconds: list[float] = field(default_factory=list)
    merge_s: float = 0.0


def scan_piece(
    piece: Piece,
    columns: Columns,
    features: Sequence[Feature],
    batch_rows: int,
    crash_marker: str | None = None,
    phrases: bool = True,
    with_measures: bool = True,
) -> PieceStats:
    """Count one piece exactly as the single-process scan counts a mix."""
    crash_once(crash_marker)
    started = time.perf_counter()
    progressed = 0

    def on_batch(batch: object) -> None:
        nonlocal progressed
        progressed += batch.progress  # type: ignore[attr-defined]

    batches = read_piece(piece, columns, batch_rows, TEXT_COLUMNS, first_rows=FIRST_BATCH_ROWS)
    stats = count_batches(batches, features, on_batch, phrases, with_measures)
    return PieceStats(stats, positions_in(piece, progressed), time.perf_counter() - started)


def merge_pieces(pieces: Sequence[Piece], parts: Sequence[PieceStats]) -> ScanStats:
    """Piece statistics in piece order, rejected-row examples renumbered per shard."""
    offsets: dict[str, int] = {}
    merged = []
    for piece, part in zip(pieces, parts, strict=True):
        stats = part.stats
        offset = offsets.get(piece.shard.name, 0)
        if piece.relative:
            stats = stats.with_bad(shift_examples(stats.bad, piece, offset))
        offsets[piece.shard.name] = offset + part.positions
        merged.append(stats)
    return ScanStats.merge(merged)


def scan_pieces_ray(
    pieces: Sequence[Piece],
    columns: Columns,
    config: ScanConfig,
    on_piece: Callable[[Piece], None] | None = None,
) -> RayScan:
    """Scan ``pieces`` as Ray tasks (Ray must be initialised) and merge their statistics."""
    ray = require_ray()
    task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(scan_piece)
    features = ray.put(list(config.features))
    marker = os.environ.get(CRASH_ONCE_ENV)
    refs = [
        task.remote(
            p, columns, features, config.batch_rows, marker, config.phrases, config.measures
        )
        for p in pieces
    ]
    where = {ref: i for i, ref in enumerate(refs)}
    parts: list[PieceStats | None] = [None] * len(refs)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            i = where[ref]
            with task_errors(ray):
                parts[i] = ray.get(ref)
            if on_piece is not None:
                on_piece(pieces[i])
    answers = [p for p in parts if p is not None]
    started = time.perf_counter()
    stats = merge_pieces(pieces, answers)
    merge_s = time.perf_counter() - started
    return RayScan(stats, list(pieces), [p.seconds for p in answers], merge_s)
