"""Training features on disk: normalised rows in shard files read as one memory-mapped matrix.

A store is a folder named by the hash of its *key* (model fingerprint, mix
fingerprint, parameter selection, projection, ...)::

    <root>/<kind>-<key hash>/
        header.json          key, dim, n_rows, shard layout, example-id digest
        example_ids.json     the mix's example ids, in row order
        shard-00000.npy      float32 (rows, dim), unit-norm rows (zero rows: no feature)
        shard-00000.norms.npy  float32 (rows,): each row's norm before normalising
        ...

Shards cover fixed row ranges and are written independently and atomically (the
features file is renamed into place last), so several workers can fill one
store and an interrupted run resumes with the shards still missing. A store
whose key differs (another model, another mix, another projection) lives in
another folder: it is never mixed up with this one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypedDict

import numpy as np

STORE_VERSION = 1
DEFAULT_ROWS_PER_SHARD = 4096
BIG_FILE = 256 << 20


class ShardEntry(TypedDict):
    """One shard in ``header.json``: its file and the rows it covers."""

    file: str
    start: int
    stop: int


class StoreHeader(TypedDict):
    """``header.json``: what the store holds and how it is cut into shards."""

    version: int
    key: dict[str, object]
    dim: int
    n_rows: int
    ids_digest: str
    shards: list[ShardEntry]


def key_hash(key: dict[str, object]) -> str:
    """A short digest of a JSON-able key (its sorted JSON text)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def store_root(db: str | Path) -> Path:
    """Where features live for a database: ``audit.duckdb`` -> ``audit.features/``."""
    return Path(db).with_suffix(".features")


def model_fingerprint(path: str | Path) -> str:
    """Digest of a model folder's files: contents (files up to 256 MiB), else name, size, mtime."""
    path = Path(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        name = file.relative_to(path).as_posix()
        if name == "training.json":  # timings; the weights say what was trained
            continue
        stat = file.stat()
        digest.update(f"{name}:{stat.st_size}\n".encode())
        if stat.st_size <= BIG_FILE:
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        else:
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()[:16]


def mix_fingerprint(ids: Sequence[str], *texts: Sequence[str]) -> str:
    """Digest of example ids and their texts, in row order."""
    digest = hashlib.sha256()
    for column in (ids, *texts):
        for value in column:
            digest.update(str(value).encode())
            digest.update(b"\x00")
        digest.update(b"\x01")
    return digest.hexdigest()[:16]


def normalise_rows(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm rows (zero rows stay zero) and the norms."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1).astype(np.float32)
    safe = np.where(norms > 0, norms, 1.0).astype(np.float32)
    return features / safe[:, None], norms


class FeatureStore:
    """A folder of shard files holding one (n_rows, dim) float32 matrix of unit-norm rows."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.header: StoreHeader = json.loads((self.directory / "header.json").read_text())

    # -- creating and finding --------------------------------------------------------
    @classmethod
    def open_or_create(
        cls,
        root: str | Path,
        kind: str,
        key: dict[str, object],
        example_ids: Sequence[str],
        dim: int,
        rows_per_shard: int = DEFAULT_ROWS_PER_SHARD,
    ) -> FeatureStore:
        """The store for ``key`` under ``root``, created empty when there is none yet."""
        full_key = {"store_version": STORE_VERSION, "kind": kind, "dim": dim, **key}
        directory = Path(root) / f"{kind}-{key_hash(full_key)}"
        ids_digest = mix_fingerprint(example_ids)
        if (directory / "header.json").exists():
            store = cls(directory)
            if store.header["key"] == json.loads(json.dumps(full_key, default=str)) and (
                store.header["ids_digest"] == ids_digest
            ):
                return store
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("shard-*.npy"):  # a different key or ids: start afresh
            stale.unlink()
        n = len(example_ids)
        bounds = [[s, min(s + rows_per_shard, n)] for s in range(0, n, rows_per_shard)] or [[0, 0]]
        header: StoreHeader = {
            "version": STORE_VERSION,
            "key": full_key,
            "dim": dim,
            "n_rows": n,
            "ids_digest": ids_digest,
            "shards": [
                {"file": f"shard-{i:05d}.npy", "start": s, "stop": e}
                for i, (s, e) in enumerate(bounds)
            ],
        }
        _atomic_write(directory / "example_ids.json", json.dumps(list(example_ids)).encode())
        _atomic_write(directory / "header.json", json.dumps(header, indent=1).encode())
        return cls(directory)

    # -- layout ------------------------------------------------------------------------
    @property
    def key(self) -> dict[str, object]:
        """The full key the store was created for."""
        return self.header["key"]

    @property
    def dim(self) -> int:
        """Numbers per row."""
        return int(self.header["dim"])

    @property
    def n_rows(self) -> int:
        """Rows in the store (the mix's examples)."""
        return int(self.header["n_rows"])

    @property
    def n_shards(self) -> int:
        """Shard files the rows are cut into."""
        return len(self.header["shards"])

    def shard_range(self, index: int) -> tuple[int, int]:
        """(first row, row after the last) of shard ``index``."""
        shard = self.header["shards"][index]
        return int(shard["start"]), int(shard["stop"])

    def _path(self, index: int) -> Path:
        """The features file of shard ``index``."""
        return self.directory / self.header["shards"][index]["file"]

    def example_ids(self) -> list[str]:
        """The mix's example ids, in row order."""
        return json.loads((self.directory / "example_ids.json").read_text())

    def missing_shards(self) -> list[int]:
        """Shards not written yet."""
        return [i for i in range(self.n_shards) if not self._path(i).exists()]

    @property
    def complete(self) -> bool:
        """Whether every shard is written."""
        return not self.missing_shards()

    # -- writing -----------------------------------------------------------------------
    def write_shard(self, index: int, features: np.ndarray) -> None:
        """Normalise and write one shard's rows (raw features, shape (rows, dim))."""
        start, stop = self.shard_range(index)
        if features.shape != (stop - start, self.dim):
            raise ValueError(
                f"shard {index} holds {(stop - start, self.dim)} features, got {features.shape}"
            )
        unit, norms = normalise_rows(features)
        path = self._path(index)
        _atomic_save(path.with_suffix(".norms.npy"), norms)
        _atomic_save(path, unit)

    # -- reading -----------------------------------------------------------------------
    def shards(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, memory-mapped unit rows) per shard, in row order."""
        missing = self.missing_shards()
        if missing:
            raise RuntimeError(f"{self.directory} is incomplete: shards {missing} are missing")
        for i in range(self.n_shards):
            start, stop = self.shard_range(i)
            if stop > start:
                yield start, np.load(self._path(i), mmap_mode="r")

    def norms(self) -> np.ndarray:
        """Every row's norm before normalising, in row order."""
        parts = [
            np.load(self._path(i).with_suffix(".norms.npy"))
            for i in range(self.n_shards)
            if self.shard_range(i)[1] > self.shard_range(i)[0]
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def matrix(self) -> np.ndarray:
        """All rows in memory (n_rows, dim)."""
        parts = [np.asarray(x) for _, x in self.shards()]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)

    def dot(self, queries: np.ndarray) -> np.ndarray:
        """``queries @ rows.T`` (n_queries, n_rows), one shard at a time."""
        queries = np.asarray(queries, dtype=np.float32)
        out = np.empty((queries.shape[0], self.n_rows), dtype=np.float32)
        for start, rows in self.shards():
            out[:, start : start + rows.shape[0]] = queries @ np.asarray(rows).T
        return out

    def gram(self) -> np.ndarray:
        """``rows.T @ rows`` (dim, dim) in float64, one shard at a time."""
        out = np.zeros((self.dim, self.dim), dtype=np.float64)
        for _, rows in self.shards():
            block = np.asarray(rows, dtype=np.float64)
            out += block.T @ block
        return out


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file and rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _atomic_save(path: Path, array: np.ndarray) -> None:
    """Save ``array`` as .npy to a temporary file and rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
    np.save(tmp, np.ascontiguousarray(array))
    tmp.replace(path)
