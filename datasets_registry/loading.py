"""Open a mix (registry name, hub id, local file or folder) and stream normalised batches.

A mix is a list of shards (a file, or a hub dataset) that can be read
independently, so a scan can run one shard per worker and merge the statistics.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from datasets_registry.normalise import (
    INVALID_JSON,
    NON_UTF8,
    NORMALISED_COLUMNS,
    BadRows,
    Columns,
    normalise_row,
)
from datasets_registry.registry import MixInfo, get_mix

FILE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".csv")
HUB_MIRROR_ENV = "CHUNKY_AUDIT_HUB_MIRROR"
READ_BLOCK = 32 * 1024 * 1024


class MixError(Exception):
    """A mix that cannot be opened at all (unknown name, missing path, hub unreachable)."""


@dataclass(frozen=True)
class Shard:
    """One independently readable part of a mix: a local file or a hub dataset split."""

    name: str
    path: Path | None = None
    hub_id: str | None = None
    split: str = "train"
    size: int = 0  # bytes for files, rows for hub datasets (0: unknown)
    unit: str = "bytes"


@dataclass
class Batch:
    """Normalised rows (NORMALISED_COLUMNS), the rows rejected while reading them, progress made."""

    frame: pl.DataFrame
    bad: BadRows
    progress: int


@dataclass
class Mix:
    name: str
    shards: list[Shard]
    columns: Columns = field(default_factory=Columns)
    info: MixInfo | None = None

    @property
    def unit(self) -> str:
        return self.shards[0].unit if self.shards else "bytes"

    @property
    def total(self) -> int:
        return sum(s.size for s in self.shards)

    def batches(self, batch_rows: int = 50_000) -> Iterator[Batch]:
        for shard in self.shards:
            yield from read_shard(shard, self.columns, batch_rows)

    def frame(self) -> tuple[pl.DataFrame, BadRows]:
        """The whole mix in memory (for small mixes: training, attribution, tests)."""
        frames, bad = [], BadRows()
        for batch in self.batches():
            frames.append(batch.frame)
            bad = bad + batch.bad
        frame = pl.concat(frames) if frames else _empty_frame()
        return frame, bad


def open_mix(spec: str, columns: Columns | None = None, cache_dir: Path | None = None) -> Mix:
    """Resolve ``spec``: a registered name, an existing local path, or a hub dataset id."""
    columns = columns or Columns()
    info = get_mix(spec)
    if info is not None:
        if info.builder is not None:
            built = info.builder(cache_dir or default_cache_dir())
            return Mix(spec, _file_shards(built), columns, info)
        if columns.source == "source" and info.source_column != "source":
            columns = Columns(**{**columns.__dict__, "source": info.source_column})
        return Mix(
            spec, [_hub_shard(info.hub_id or spec, info.split, info.rows or 0)], columns, info
        )
    path = Path(spec).expanduser()
    if path.exists():
        shards = _file_shards(path)
        if not shards:
            raise MixError(f"no {', '.join(FILE_SUFFIXES)} files under {path}")
        return Mix(spec, shards, columns)
    if _looks_like_hub_id(spec):
        return Mix(spec, [_hub_shard(spec, "train", 0)], columns)
    raise MixError(f"no such mix or path: {spec!r} (see `audit mixes` for named mixes)")


def default_cache_dir() -> Path:
    return Path(os.environ.get("CHUNKY_AUDIT_CACHE", Path.home() / ".cache" / "chunky-audit"))


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "~"))


def _hub_shard(hub_id: str, split: str, rows: int) -> Shard:
    return Shard(name=hub_id, hub_id=hub_id, split=split, size=rows, unit="rows")


def _file_shards(path: Path) -> list[Shard]:
    if path.is_file():
        files = [path]
    else:
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FILE_SUFFIXES
        )
    return [Shard(name=str(f), path=f, size=f.stat().st_size) for f in files]


def _empty_frame() -> pl.DataFrame:
    return pl.DataFrame({c: pl.Series([], dtype=pl.String) for c in NORMALISED_COLUMNS})


class _Batcher:
    """Collects normalised tuples and emits polars batches."""

    def __init__(self, shard: Shard, columns: Columns, batch_rows: int) -> None:
        self.default_source = shard.path.stem if shard.path else shard.name
        self.columns = columns
        self.batch_rows = batch_rows
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.bad = BadRows()
        self.reported = 0

    def add(self, raw: Any, where: str) -> None:
        example = normalise_row(raw, self.default_source, self.columns, self.bad, where)
        if example is not None:
            self.rows.append(example)

    @property
    def full(self) -> bool:
        return len(self.rows) >= self.batch_rows

    def emit(self, position: int) -> Batch:
        if self.rows:
            frame = pl.DataFrame(
                list(zip(*self.rows, strict=True)),
                schema={c: pl.String for c in NORMALISED_COLUMNS},
                orient="col",
            )
        else:
            frame = _empty_frame()
        batch = Batch(frame, self.bad, position - self.reported)
        self.rows, self.bad, self.reported = [], BadRows(), position
        return batch


def read_shard(shard: Shard, columns: Columns, batch_rows: int = 50_000) -> Iterator[Batch]:
    if shard.hub_id is not None:
        yield from _read_hub(shard, columns, batch_rows)
        return
    assert shard.path is not None
    suffix = shard.path.suffix.lower()
    reader = {
        ".jsonl": _read_jsonl,
        ".ndjson": _read_jsonl,
        ".json": _read_json,
        ".parquet": _read_parquet,
        ".csv": _read_csv,
    }.get(suffix)
    if reader is None:
        raise MixError(f"unsupported file type {suffix!r}: {shard.path}")
    yield from reader(shard, columns, batch_rows)


def _parse_line(line: bytes) -> tuple[Any, str | None]:
    try:
        return orjson.loads(line), None
    except orjson.JSONDecodeError:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return None, NON_UTF8
        return None, INVALID_JSON


def _read_jsonl(shard: Shard, columns: Columns, batch_rows: int) -> Iterator[Batch]:
    assert shard.path is not None
    batcher = _Batcher(shard, columns, batch_rows)
    name = shard.path.name
    position = 0
    line_no = 0
    tail = b""
    with open(shard.path, "rb") as handle:
        while True:
            block = handle.read(READ_BLOCK)
            if not block:
                lines, tail = ([tail] if tail.strip() else []), b""
            else:
                lines = (tail + block).split(b"\n")
                tail = lines.pop()
            for line in lines:
                line_no += 1
                position += len(line) + 1
                if not line.strip():
                    continue
                raw, reason = _parse_line(line)
                if reason is not None:
                    batcher.bad.add(reason, f"{name}:{line_no}: {line[:200]!r}")
                    continue
                batcher.add(raw, f"{name}:{line_no}")
                if batcher.full:
                    yield batcher.emit(position)
            if not block:
                break
    yield batcher.emit(shard.size)


def _read_json(shard: Shard, columns: Columns, batch_rows: int) -> Iterator[Batch]:
    """A JSON array of rows (or an object holding one); falls back to JSON lines."""
    assert shard.path is not None
    data = shard.path.read_bytes()
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        yield from _read_jsonl(shard, columns, batch_rows)
        return
    if isinstance(parsed, dict):
        lists = [v for v in parsed.values() if isinstance(v, list)]
        parsed = lists[0] if len(lists) == 1 else [parsed]
    if not isinstance(parsed, list):
        parsed = [parsed]
    batcher = _Batcher(shard, columns, batch_rows)
    for index, raw in enumerate(parsed):
        batcher.add(raw, f"{shard.path.name}[{index}]")
        if batcher.full:
            yield batcher.emit(int(shard.size * (index + 1) / len(parsed)))
    yield batcher.emit(shard.size)


def _read_parquet(shard: Shard, columns: Columns, batch_rows: int) -> Iterator[Batch]:
    import pyarrow.parquet as pq

    assert shard.path is not None
    file = pq.ParquetFile(shard.path)
    total = max(file.metadata.num_rows, 1)
    batcher = _Batcher(shard, columns, batch_rows)
    index = 0
    for record_batch in file.iter_batches(batch_size=min(batch_rows, 10_000)):
        for raw in record_batch.to_pylist():
            batcher.add(raw, f"{shard.path.name}[{index}]")
            index += 1
        if batcher.full:
            yield batcher.emit(int(shard.size * index / total))
    yield batcher.emit(shard.size)


def _has_surrogates(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_csv(shard: Shard, columns: Columns, batch_rows: int) -> Iterator[Batch]:
    assert shard.path is not None
    csv.field_size_limit(sys.maxsize)
    batcher = _Batcher(shard, columns, batch_rows)
    consumed = 0  # approximate: characters of the fields read so far
    with open(shard.path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            consumed += sum(len(v) + 1 for v in row.values() if isinstance(v, str))
            where = f"{shard.path.name}:{reader.line_num}"
            if any(_has_surrogates(v) for v in row.values()):
                batcher.bad.add(NON_UTF8, f"{where}: row has bytes that are not UTF-8")
                continue
            batcher.add(row, where)
            if batcher.full:
                yield batcher.emit(min(consumed, shard.size))
    yield batcher.emit(shard.size)


def _read_hub(shard: Shard, columns: Columns, batch_rows: int) -> Iterator[Batch]:
    """Stream a hub dataset with `datasets` (a local mirror is used when one is configured)."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise MixError("loading hub datasets needs the `datasets` package") from exc
    assert shard.hub_id is not None
    location = shard.hub_id
    mirror = os.environ.get(HUB_MIRROR_ENV)
    if mirror and (Path(mirror) / shard.hub_id).exists():
        location = str(Path(mirror) / shard.hub_id)
    try:
        stream = datasets.load_dataset(location, split=shard.split, streaming=True)
        iterator = iter(stream)
        first = next(iterator, None)
    except Exception as exc:  # datasets raises many types; all mean "cannot open"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MixError(f"cannot load hub dataset {shard.hub_id!r}: {reason}") from None
    batcher = _Batcher(shard, columns, batch_rows)
    index = 0
    if first is not None:
        batcher.add(first, f"{shard.hub_id}[0]")
        index = 1
        for raw in iterator:
            batcher.add(raw, f"{shard.hub_id}[{index}]")
            index += 1
            if batcher.full:
                yield batcher.emit(index)
    yield batcher.emit(index)
