"""Open a mix (registry name, hub id, local file or folder) and stream normalised batches.

A mix is a list of shards (a file, or a hub dataset) that can be read
independently, so a scan can run one shard per worker and merge the statistics.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import polars as pl

from datasets_registry.lines import is_blank, iter_lines
from datasets_registry.normalise import (
    NON_UTF8,
    NORMALISED_COLUMNS,
    TEXT_COLUMNS,
    BadRows,
    Columns,
    normalise_pair,
    normalise_row,
)
from datasets_registry.registry import MixInfo, get_mix
from tabular_files import (
    BadLine,
    as_record,
    csv_rows,
    document_rows,
    has_invalid_utf8,
    parse_json_line,
)

FILE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".csv")
HUB_MIRROR_ENV = "CHUNKY_AUDIT_HUB_MIRROR"

if TYPE_CHECKING:
    import pyarrow.parquet as pq
    from datasets import IterableDataset


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
    """Normalised rows (NORMALISED_COLUMNS, or the columns asked for), the rows rejected while
    reading them, progress made."""

    frame: pl.DataFrame
    bad: BadRows
    progress: int
    shapes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, shape) -> rows


@dataclass
class Mix:
    """An opened mix: its shards (files, byte ranges, hub files) and how to read its rows."""

    name: str
    shards: list[Shard]
    columns: Columns = field(default_factory=Columns)
    info: MixInfo | None = None

    @property
    def unit(self) -> str:
        """What progress counts: "bytes" for files, "rows" for hub streams."""
        return self.shards[0].unit if self.shards else "bytes"

    @property
    def total(self) -> int:
        """The mix's size in ``unit``."""
        return sum(s.size for s in self.shards)

    def batches(
        self,
        batch_rows: int = 50_000,
        fields: tuple[str, ...] = NORMALISED_COLUMNS,
        first_rows: int | None = None,
    ) -> Iterator[Batch]:
        """Normalised batches; ``fields=TEXT_COLUMNS`` skips ids and conversation JSON.

        ``first_rows`` makes the first batch that small and each next one twice as big,
        up to ``batch_rows``, so a consumer reading ahead in a thread starts sooner.
        """
        for shard in self.shards:
            yield from read_shard(shard, self.columns, batch_rows, fields, first_rows)
            first_rows = None

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
    """Where downloaded and converted mixes are kept (``CHUNKY_AUDIT_CACHE`` overrides)."""
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


def _empty_frame(fields: tuple[str, ...] = NORMALISED_COLUMNS) -> pl.DataFrame:
    return pl.DataFrame({c: pl.Series([], dtype=pl.String) for c in fields})


class _Batcher:
    """Collects normalised tuples and emits polars batches."""

    def __init__(
        self,
        shard: Shard,
        columns: Columns,
        batch_rows: int,
        fields: tuple[str, ...] = NORMALISED_COLUMNS,
        first_rows: int | None = None,
    ) -> None:
        if fields not in (NORMALISED_COLUMNS, TEXT_COLUMNS):
            raise ValueError(f"fields must be NORMALISED_COLUMNS or TEXT_COLUMNS, got {fields}")
        self.default_source = shard.path.stem if shard.path else shard.name
        self.columns = columns
        self.max_rows = batch_rows
        self.batch_rows = min(first_rows or batch_rows, batch_rows)  # this batch's size
        self.fields = fields
        self.text_only = fields == TEXT_COLUMNS
        self.rows: list[tuple[str, ...]] = []
        self.bad = BadRows()
        self.shapes: Counter[tuple[str, str]] = Counter()
        self.reported = 0

    def add(self, raw: object, where: str) -> None:
        """Normalise one raw row into the batch, or tally why it cannot be."""
        if self.text_only:
            pair = normalise_pair(raw, self.default_source, self.columns, self.bad, where)
            if pair is not None:
                self.rows.append(pair[:3])
                self.shapes[(pair[0], pair[4])] += 1
            return
        example = normalise_row(
            raw, self.default_source, self.columns, self.bad, where, self.shapes
        )
        if example is not None:
            self.rows.append(example)

    @property
    def full(self) -> bool:
        return len(self.rows) >= self.batch_rows

    def emit(self, position: int) -> Batch:
        if self.rows:
            frame = pl.DataFrame(
                list(zip(*self.rows, strict=True)),
                schema={c: pl.String for c in self.fields},
                orient="col",
            )
        else:
            frame = _empty_frame(self.fields)
        batch = Batch(frame, self.bad, position - self.reported, self.shapes)
        self.rows, self.bad, self.reported = [], BadRows(), position
        self.shapes = Counter()
        self.batch_rows = min(2 * self.batch_rows, self.max_rows)
        return batch


def read_shard(
    shard: Shard,
    columns: Columns,
    batch_rows: int = 50_000,
    fields: tuple[str, ...] = NORMALISED_COLUMNS,
    first_rows: int | None = None,
) -> Iterator[Batch]:
    """Normalised batches of one shard (its rows, bad rows counted by reason)."""
    batcher = _Batcher(shard, columns, batch_rows, fields, first_rows)
    if shard.hub_id is not None:
        yield from _read_hub(shard, batcher)
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
    yield from reader(shard, batcher)


def _read_jsonl(
    shard: Shard, batcher: _Batcher, start: int = 0, stop: int | None = None
) -> Iterator[Batch]:
    """JSON lines of ``shard`` (bytes ``start:stop``, both at line starts; lines numbered
    from 1 at ``start``); progress counts bytes from ``start``."""
    assert shard.path is not None
    name = shard.path.name
    parse, add = parse_json_line, batcher.add
    position = 0
    end = shard.size if stop is None else stop
    with open(shard.path, "rb") as handle:
        if start or stop is not None:
            handle.seek(start)
            handle = _Window(handle, end - start)  # type: ignore[assignment]
        for line_no, line in enumerate(iter_lines(handle), start=1):
            position += len(line) + 1
            if is_blank(line):
                continue
            try:
                raw = parse(line, strict=True)
            except BadLine as bad:
                text = bytes(line)
                batcher.bad.add(bad.reason, f"{name}:{line_no}: {text[:200]!r}")
                continue
            add(raw, f"{name}:{line_no}")
            if len(batcher.rows) >= batcher.batch_rows:
                yield batcher.emit(position)
    yield batcher.emit(end - start)


class _Window:
    """At most ``limit`` bytes of an open binary file, from its current position."""

    def __init__(self, handle: BinaryIO, limit: int) -> None:
        self.handle, self.left = handle, limit

    def readinto(self, view: memoryview) -> int:
        if self.left <= 0:
            return 0
        read = self.handle.readinto(view[: self.left]) or 0
        self.left -= read
        return read


def _read_json(shard: Shard, batcher: _Batcher) -> Iterator[Batch]:
    """A JSON array of rows (or an object holding one); falls back to JSON lines."""
    assert shard.path is not None
    try:
        document = parse_json_line(shard.path.read_bytes(), strict=True)
        parsed = document_rows(document, unwrap=True)
    except BadLine:
        yield from _read_jsonl(shard, batcher)
        return
    for index, raw in enumerate(parsed):
        batcher.add(raw, f"{shard.path.name}[{index}]")
        if batcher.full:
            yield batcher.emit(int(shard.size * (index + 1) / len(parsed)))
    yield batcher.emit(shard.size)


def _read_parquet(
    shard: Shard, batcher: _Batcher, row_groups: Sequence[int] | None = None
) -> Iterator[Batch]:
    """Rows of ``shard`` (of ``row_groups`` only, when given; rows keep their file index)."""
    assert shard.path is not None
    file = open_parquet(shard.path)
    total = max(file.metadata.num_rows, 1)
    index = 0
    if row_groups is not None:
        index = sum(file.metadata.row_group(g).num_rows for g in range(min(row_groups, default=0)))
    batches = file.iter_batches(batch_size=min(batcher.batch_rows, 10_000), row_groups=row_groups)
    with parquet_errors(shard.path):
        for record_batch in batches:
            for raw in record_batch.to_pylist():
                batcher.add(raw, f"{shard.path.name}[{index}]")
                index += 1
            if batcher.full:
                yield batcher.emit(int(shard.size * index / total))
    yield batcher.emit(shard.size)


def open_parquet(path: Path) -> pq.ParquetFile:
    """``path`` opened as parquet; a file that is not one is a :class:`MixError`."""
    import pyarrow.parquet as pq

    with parquet_errors(path):
        return pq.ParquetFile(path)


@contextmanager
def parquet_errors(path: Path) -> Iterator[None]:
    """pyarrow's errors reading ``path`` (not parquet, truncated, corrupt) as a MixError
    that names the file."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        raise MixError(f"cannot read {path} as parquet: {exc}") from None


def _read_csv(shard: Shard, batcher: _Batcher) -> Iterator[Batch]:
    """CSV records of ``shard``; a record with bytes that are not UTF-8 is a bad row."""
    assert shard.path is not None
    consumed = 0  # approximate: characters of the fields read so far
    rows = csv_rows(shard.path)
    _, header = next(rows, (0, []))
    for line_num, fields in rows:
        if not fields:  # a blank line
            continue
        row = as_record(header, fields)
        consumed += sum(len(v) + 1 for v in row.values() if isinstance(v, str))
        where = f"{shard.path.name}:{line_num}"
        if any(has_invalid_utf8(v) for v in row.values()):
            batcher.bad.add(NON_UTF8, f"{where}: row has bytes that are not UTF-8")
            continue
        batcher.add(row, where)
        if batcher.full:
            yield batcher.emit(min(consumed, shard.size))
    yield batcher.emit(shard.size)


def open_hub_stream(shard: Shard) -> IterableDataset:
    """The streaming ``datasets`` view of a hub shard (a local mirror when one is configured)."""
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
        return datasets.load_dataset(location, split=shard.split, streaming=True)
    except Exception as exc:  # datasets raises many types; all mean "cannot open"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MixError(f"cannot load hub dataset {shard.hub_id!r}: {reason}") from None


def _read_hub(
    shard: Shard, batcher: _Batcher, part: tuple[int, int] | None = None
) -> Iterator[Batch]:
    """Stream a hub dataset; ``part=(k, n)``: its k-th of n contiguous groups of data files
    (rows numbered from 0 within the part)."""
    assert shard.hub_id is not None
    try:
        stream = open_hub_stream(shard)
        if part is not None:
            stream = stream.shard(num_shards=part[1], index=part[0], contiguous=True)
        iterator = iter(stream)
        first = next(iterator, None)
    except MixError:
        raise
    except Exception as exc:  # datasets raises many types; all mean "cannot open"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MixError(f"cannot load hub dataset {shard.hub_id!r}: {reason}") from None
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
