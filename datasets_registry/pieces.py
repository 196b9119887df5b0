"""Split a mix into pieces that workers read independently (the unit of a sharded scan).

A piece is one file of a folder, a byte range of a JSON-lines file (cut at line
starts), a run of row groups of a parquet file, or a contiguous group of the data
files of a hub dataset. Reading the pieces in order yields exactly the rows of
one pass over the mix. Rejected-row examples name their line (``mix.jsonl:12``)
or row (``org/ds[12]``): a piece that cannot know how many lines come before it
numbers its own from the start and the driver shifts them (:func:`shift_examples`)
once the pieces before it have reported how many they read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import pairwise

from datasets_registry.loading import (
    Batch,
    Mix,
    MixError,
    Shard,
    _Batcher,
    _read_hub,
    _read_jsonl,
    _read_parquet,
    open_hub_stream,
    open_parquet,
    read_shard,
)
from datasets_registry.normalise import EXAMPLE_CHARS, NORMALISED_COLUMNS, BadRows, Columns

JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class Piece:
    """Part of one shard: ``kind`` is ``whole``, ``bytes`` (``start:stop`` bytes),
    ``row_groups`` (groups ``start:stop``) or ``hub_part`` (part ``start`` of ``stop``)."""

    shard: Shard
    kind: str = "whole"
    start: int = 0
    stop: int = 0
    size: int = 0  # progress units (bytes or rows) this piece accounts for

    @property
    def relative(self) -> bool:
        """Whether rejected-row examples number lines/rows from this piece's own start."""
        return (self.kind == "bytes" and self.start > 0) or (
            self.kind == "hub_part" and self.start > 0
        )


def plan_pieces(mix: Mix, target: int) -> list[Piece]:
    """About ``target`` pieces (at least one per shard), shared out by shard size."""
    total = sum(s.size for s in mix.shards)
    even = max(1, target // max(len(mix.shards), 1))  # sizes unknown (a hub dataset)
    pieces: list[Piece] = []
    for shard in mix.shards:
        want = max(1, round(target * shard.size / total)) if shard.size and total else even
        pieces.extend(_split(shard, want))
    return pieces


def _split(shard: Shard, want: int) -> list[Piece]:
    whole = [Piece(shard, size=shard.size)]
    if want <= 1:
        return whole
    if shard.hub_id is not None:
        n_files = int(getattr(open_hub_stream(shard), "n_shards", 1) or 1)
        parts = min(want, n_files)
        if parts <= 1:
            return whole
        return [
            Piece(shard, "hub_part", k, parts, _share(shard.size, k, parts)) for k in range(parts)
        ]
    assert shard.path is not None
    suffix = shard.path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        bounds = line_bounds(shard, want)
        return [Piece(shard, "bytes", a, b, b - a) for a, b in pairwise(bounds)] or whole
    if suffix == ".parquet":
        groups = open_parquet(shard.path).metadata.num_row_groups
        parts = min(want, groups)
        if parts <= 1:
            return whole
        cuts = [round(k * groups / parts) for k in range(parts + 1)]
        return [
            Piece(shard, "row_groups", a, b, _share(shard.size, k, parts))
            for k, (a, b) in enumerate(pairwise(cuts))
        ]
    return whole  # .json (one document) and .csv (quoted newlines) are read whole


def _share(size: int, k: int, parts: int) -> int:
    return size * (k + 1) // parts - size * k // parts


def line_bounds(shard: Shard, parts: int) -> list[int]:
    """``parts + 1`` byte offsets from 0 to the file size, each at a line start (duplicates
    dropped: a file with few long lines gives fewer pieces)."""
    assert shard.path is not None
    size = shard.path.stat().st_size
    bounds = [0]
    with open(shard.path, "rb") as handle:
        for k in range(1, parts):
            guess = max(size * k // parts, bounds[-1])
            handle.seek(max(guess - 1, 0))
            handle.readline()  # to the end of the line holding byte guess - 1
            at = handle.tell()
            if bounds[-1] < at < size:
                bounds.append(at)
    bounds.append(size)
    return bounds


def read_piece(
    piece: Piece,
    columns: Columns,
    batch_rows: int = 50_000,
    fields: tuple[str, ...] = NORMALISED_COLUMNS,
    first_rows: int | None = None,
) -> Iterator[Batch]:
    """The normalised batches of one piece (the same reader code as a whole-mix pass)."""
    shard = piece.shard
    if piece.kind == "whole":
        yield from read_shard(shard, columns, batch_rows, fields, first_rows)
        return
    batcher = _Batcher(shard, columns, batch_rows, fields, first_rows)
    if piece.kind == "bytes":
        yield from _read_jsonl(shard, batcher, piece.start, piece.stop)
    elif piece.kind == "row_groups":
        yield from _read_parquet(shard, batcher, list(range(piece.start, piece.stop)))
    elif piece.kind == "hub_part":
        yield from _read_hub(shard, batcher, (piece.start, piece.stop))
    else:
        raise MixError(f"unknown piece kind {piece.kind!r}")


def positions_in(piece: Piece, progressed: int) -> int:
    """Lines (byte ranges) or rows (hub parts) a piece read, given the progress its batches
    reported: what the numbering of the pieces after it shifts by."""
    if piece.kind == "hub_part":
        return progressed  # hub progress counts rows
    if piece.kind != "bytes":
        return 0
    assert piece.shard.path is not None
    lines, left = 0, piece.stop - piece.start
    with open(piece.shard.path, "rb") as handle:
        handle.seek(piece.start)
        while left > 0:
            block = handle.read(min(left, 1 << 24))
            if not block:
                break
            lines += block.count(b"\n")
            left -= len(block)
    return lines


def shift_examples(bad: BadRows, piece: Piece, offset: int) -> BadRows:
    """``bad`` with the line/row numbers of its examples moved ``offset`` on (piece-relative
    to whole-shard numbering), cut to the same length a single pass would keep."""
    if not offset or not bad.examples:
        return bad
    if piece.kind == "hub_part":
        pattern = re.compile(rf"^({re.escape(piece.shard.name)}\[)(\d+)(\])")
    else:
        assert piece.shard.path is not None
        pattern = re.compile(rf"^({re.escape(piece.shard.path.name)}:)(\d+)(:)")

    def shift(example: str) -> str:
        moved = pattern.sub(lambda m: f"{m[1]}{int(m[2]) + offset}{m[3]}", example, count=1)
        return moved[:EXAMPLE_CHARS]

    return replace(bad, examples={r: shift(e) for r, e in bad.examples.items()})
