"""The scan on Ray: one task per piece of the mix, statistics merged on the driver.

Each task runs ``piece_scan.scan_piece`` on its piece; the driver merges the answers in
piece order (``piece_scan.merge_pieces``), so ``scan_tables`` sees the same counts (and
the same first rejected-row examples) as one pass. Tasks are retried when their worker
dies (``max_retries``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from datasets_registry.normalise import Columns
from datasets_registry.piece_scan import PieceStats, merge_pieces, scan_piece
from datasets_registry.pieces import Piece
from datasets_registry.ray_cluster import CRASH_ONCE_ENV, MAX_RETRIES, require_ray, task_errors
from datasets_registry.scan import ScanConfig
from datasets_registry.stats import ScanStats


@dataclass
class RayScan:
    """Merged statistics and where the time went."""

    stats: ScanStats
    pieces: list[Piece]
    piece_seconds: list[float] = field(default_factory=list)
    merge_s: float = 0.0


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
