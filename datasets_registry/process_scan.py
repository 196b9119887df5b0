"""The scan in local processes (``audit scan --workers N``): one task per piece of the mix.

The pieces run ``piece_scan.scan_piece`` in a pool of ``N`` spawned processes and are
merged in piece order, so the tables equal a single-process scan's (as on Ray, which
stays the way to use a cluster). Each process's Polars gets an equal share of the cores,
so ``N`` processes do not each start a thread per core (unless ``POLARS_MAX_THREADS`` is
set). A process that dies (killed, out of memory) breaks the pool: the pieces without an
answer run again in a new pool, up to ``MAX_RETRIES`` times. An error raised in a piece
(a ``MixError``) stops the scan at once, pieces not started are cancelled.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import cloudpickle

from datasets_registry.normalise import Columns
from datasets_registry.piece_scan import PieceStats, merge_pieces, scan_piece
from datasets_registry.pieces import Piece
from datasets_registry.ray_cluster import CRASH_ONCE_ENV, MAX_RETRIES
from datasets_registry.scan import ScanConfig
from datasets_registry.stats import ScanStats
from stage_kit import StageError

PIECES_PER_WORKER = 4  # more pieces than processes: a slow piece does not hold the rest
POLARS_THREADS_ENV = "POLARS_MAX_THREADS"


def workers_pieces(workers: int) -> int:
    """How many pieces ``workers`` processes share."""
    return PIECES_PER_WORKER * workers


def scan_pieces_processes(
    pieces: Sequence[Piece],
    columns: Columns,
    config: ScanConfig,
    workers: int,
    on_piece: Callable[[Piece], None] | None = None,
) -> ScanStats:
    """Scan ``pieces`` in ``workers`` processes and merge their statistics in piece order."""
    answers: dict[int, PieceStats] = {}
    marker = os.environ.get(CRASH_ONCE_ENV)
    for attempt in range(MAX_RETRIES + 1):
        todo = [i for i in range(len(pieces)) if i not in answers]
        if not todo:
            break
        try:
            _run_pool(pieces, todo, columns, config, workers, marker, answers, on_piece)
        except BrokenProcessPool as exc:
            if attempt == MAX_RETRIES:
                raise StageError(
                    f"a scan process died {MAX_RETRIES + 1} times ({exc}); "
                    "scan with fewer --workers or without them"
                ) from None
    return merge_pieces(pieces, [answers[i] for i in range(len(pieces))])


def _run_pool(
    pieces: Sequence[Piece],
    todo: list[int],
    columns: Columns,
    config: ScanConfig,
    workers: int,
    marker: str | None,
    answers: dict[int, PieceStats],
    on_piece: Callable[[Piece], None] | None,
) -> None:
    """Run the pieces ``todo`` in one pool, keeping every answer that arrives."""
    threads = os.environ.get(POLARS_THREADS_ENV) or str(max(1, (os.cpu_count() or 1) // workers))
    with (
        _environ(POLARS_THREADS_ENV, threads),
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        features = cloudpickle.dumps(list(config.features))  # detectors are closures
        futures: dict[Future[PieceStats], int] = {
            pool.submit(
                _scan_piece,
                cloudpickle.dumps((pieces[i], columns)),
                features,
                config.batch_rows,
                marker,
                config.phrases,
                config.measures,
            ): i
            for i in todo
        }
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = futures[future]
                    answers[i] = future.result()  # a piece's error or a broken pool raises
                    if on_piece is not None:
                        on_piece(pieces[i])
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _scan_piece(
    piece_and_columns: bytes,
    features: bytes,
    batch_rows: int,
    marker: str | None,
    phrases: bool,
    measures: bool,
) -> PieceStats:
    """``scan_piece`` in a worker, its arguments unpickled with cloudpickle."""
    piece, columns = cloudpickle.loads(piece_and_columns)
    return scan_piece(
        piece, columns, cloudpickle.loads(features), batch_rows, marker, phrases, measures
    )


@contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    """``name=value`` in this process's environment (which spawned processes copy)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
