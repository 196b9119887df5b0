"""Count one piece of a mix, and merge pieces' counts into one pass's (any executor).

Each piece runs the single-process code (``read_piece`` -> ``count_batches``) and returns
a :class:`PieceStats`; :func:`merge_pieces` merges them in piece order, renumbering
rejected-row examples per shard, so ``scan_tables`` sees the same counts (and the same
first examples) as one pass. Ray tasks (``ray_scan``) and local processes
(``process_scan``) both run :func:`scan_piece`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from datasets_registry.features import Feature
from datasets_registry.normalise import TEXT_COLUMNS, Columns
from datasets_registry.pieces import Piece, positions_in, read_piece, shift_examples
from datasets_registry.ray_cluster import crash_once
from datasets_registry.scan import FIRST_BATCH_ROWS, count_batches
from datasets_registry.stats import ScanStats


@dataclass
class PieceStats:
    """A worker's answer for one piece: counts, lines/rows read, seconds spent."""

    stats: ScanStats
    positions: int
    seconds: float


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
