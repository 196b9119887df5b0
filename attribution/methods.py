"""Attribution methods behind one small interface: score queries against every training example.

A method is prepared once on a :class:`TrainingSet` (featurise, embed or index
the training examples; on-disk features are reused when their key matches) and
then scores any number of queries: ``scores(queries)`` is an (n_queries,
n_train) matrix, ``search(queries, k)`` the k best rows per query. Each says in
one line what a hit means (``hit_desc``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from attribution.embedding import (
    EmbeddingIndex,
    embed,
    embedding_dim,
    encoder_key,
    example_text,
    load_encoder,
)
from attribution.feature_store import (
    DEFAULT_ROWS_PER_SHARD,
    FeatureStore,
    key_hash,
    mix_fingerprint,
    model_fingerprint,
)
from attribution.gradients import (
    ALL_PARAMETERS,
    DEFAULT_CHUNK,
    GradientComputer,
    ParamSelection,
    encode_rows,
    load_model,
    training_max_length,
)
from attribution.lexical import BM25
from attribution.projection import RADEMACHER, RandomProjector
from attribution.scoring import DEFAULT_DAMPING, Preconditioner, cosine_scores

PROJECT_BYTES = 1 << 30  # gradient rows gathered before one projection pass

#: (stage label, rows done, rows in total)
Progress = Callable[[str, int, int], None]
DEFAULT_PROJ_DIM = 512


@dataclass(frozen=True)
class Query:
    """One mis-routed exchange: the prompt and the model's response, and the seed prompt
    the search mutated into ``prompt`` when there is one (``base``)."""

    prompt: str
    response: str
    base: str | None = None


@dataclass
class TrainingSet:
    """The mix's examples in row order (ids, sources, texts)."""

    example_ids: list[str]
    sources: list[str]
    prompts: list[str]
    responses: list[str]

    @classmethod
    def from_frame(cls, frame: Any) -> TrainingSet:
        """From a normalised mix frame (``example_id, source, prompt, response``)."""
        return cls(
            [str(v) for v in frame["example_id"]],
            [str(v) for v in frame["source"]],
            list(frame["prompt"]),
            list(frame["response"]),
        )

    def __len__(self) -> int:
        return len(self.example_ids)

    @cached_property
    def fingerprint(self) -> str:
        return mix_fingerprint(self.example_ids, self.sources, self.prompts, self.responses)

    @cached_property
    def source_names(self) -> list[str]:
        return sorted(set(self.sources))

    @cached_property
    def source_codes(self) -> np.ndarray:
        code = {s: i for i, s in enumerate(self.source_names)}
        return np.array([code[s] for s in self.sources], dtype=np.int64)

    @cached_property
    def mix_share(self) -> np.ndarray:
        counts = np.bincount(self.source_codes, minlength=len(self.source_names))
        return counts / max(len(self), 1)

    def texts(self) -> list[str]:
        return [example_text(p, r) for p, r in zip(self.prompts, self.responses, strict=True)]


class Method(Protocol):
    name: str
    hit_desc: str

    def prepare(self, train: TrainingSet, progress: Progress | None = None) -> None: ...

    def scores(self, queries: Sequence[Query]) -> np.ndarray: ...

    def search(self, queries: Sequence[Query], k: int) -> tuple[np.ndarray, np.ndarray]: ...


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, indices) of the k best columns per row, best first (ties: lower index)."""
    k = min(k, scores.shape[1])
    if k == 0:
        empty = np.zeros((scores.shape[0], 0))
        return empty, empty.astype(np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    rows = np.arange(scores.shape[0])[:, None]
    picked = scores[rows, part]
    order = np.lexsort((part, -picked), axis=1)
    index = part[rows, order]
    return scores[rows, index], index


@dataclass
class _Dense:
    """Methods whose scores are a dense matrix: search is its top k."""

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        raise NotImplementedError

    def search(self, queries: Sequence[Query], k: int) -> tuple[np.ndarray, np.ndarray]:
        return top_k(self.scores(queries), k)


# -- gradient ------------------------------------------------------------------------------


def gradient_features(
    computer: GradientComputer,
    projector: RandomProjector,
    examples: Sequence[Any | None],
    *,
    vectorised: bool = True,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Projected per-example gradients (len(examples), proj_dim); ``None`` rows stay zero."""
    import torch

    out = np.zeros((len(examples), projector.proj_dim), dtype=np.float32)
    kept = [i for i, e in enumerate(examples) if e is not None]
    present = [examples[i] for i in kept]
    with torch.no_grad():
        if vectorised:
            # Projecting costs a pass over the whole (dim x proj_dim) matrix per call,
            # whatever the number of rows, so chunks are gathered up to PROJECT_BYTES first.
            per_row = max(1, computer.dim * 4)
            pending_rows: list[int] = []
            pending: list[list[Any]] = []

            def flush() -> None:
                if not pending_rows:
                    return
                parts = [torch.cat(column) for column in zip(*pending, strict=True)]
                out[[kept[r] for r in pending_rows]] = projector.project(parts).cpu().numpy()
                if progress is not None:
                    progress(len(pending_rows))
                pending_rows.clear()
                pending.clear()

            for rows, grads in computer.iter_gradients(present):
                pending_rows.extend(rows)
                pending.append(grads)
                if len(pending_rows) * per_row >= PROJECT_BYTES:
                    flush()
            flush()
        else:
            for r, example in enumerate(present):
                with torch.enable_grad():
                    grads = computer.loop_gradients(example)
                out[kept[r]] = projector.project(grads).cpu().numpy()[0]
                if progress is not None:
                    progress(1)
    return out


def featurise_rows(
    computer: GradientComputer,
    projector: RandomProjector,
    prompts: Sequence[str],
    responses: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Projected gradients of training rows (rows training would skip stay zero, counted done)."""
    encoded = encode_rows(computer.tokenizer, prompts, responses, computer.max_length)
    features = gradient_features(computer, projector, encoded.examples, progress=progress)
    if progress is not None and len(prompts) > len(encoded.kept):
        progress(len(prompts) - len(encoded.kept))
    return features


def ray_rows_per_shard(n_rows: int, workers: int) -> int:
    """Store shard size for Ray: about four shards per worker, 64 to 4096 rows each."""
    return max(64, min(DEFAULT_ROWS_PER_SHARD, -(-n_rows // (4 * max(workers, 1)))))


@dataclass
class GradientMethod(_Dense):
    """Cosine of projected per-example gradients of the response loss (optionally TRAK-preconditioned)."""

    model_path: str | Path
    store_root: str | Path
    selection: ParamSelection = ALL_PARAMETERS
    proj_dim: int = DEFAULT_PROJ_DIM
    projection: str = RADEMACHER
    seed: int = 0
    precondition: bool = False
    damping: float = DEFAULT_DAMPING
    device: str | None = None
    chunk_size: int = DEFAULT_CHUNK
    response_tokens: int | None = None
    ray_address: str | None = None  # featurise the training set on Ray (``local``: this machine)
    ray_workers: int = 2  # CPU actors when the cluster has no GPU (else one actor per GPU)
    name: str = "gradient"
    hit_desc: str = "a training example whose loss gradient points the same way as the query's"
    featurised: int = 0  # training rows featurised by the last prepare (0: all reused)
    ray_shards: int = 0  # store shards the last prepare featurised on Ray
    seconds: float = 0.0
    store: FeatureStore | None = field(default=None, repr=False)

    def prepare(self, train: TrainingSet, progress: Progress | None = None) -> None:
        started = time.perf_counter()
        self.computer, self.projector = self.featuriser()
        device = str(self.computer.device)
        gradient_key = self.computer.key()
        gradient_key["shapes"] = key_hash({"shapes": gradient_key["shapes"]})
        key = {
            "model": model_fingerprint(self.model_path),
            "mix": train.fingerprint,
            "gradient": gradient_key,
            "projection": self.projector.key(),
            "device": device.split(":")[0],
        }
        rows_per_shard = DEFAULT_ROWS_PER_SHARD
        if self.ray_address is not None:  # enough shards to keep every worker busy
            rows_per_shard = ray_rows_per_shard(len(train), self.ray_workers)
        self.store = FeatureStore.open_or_create(
            self.store_root, "gradient", key, train.example_ids, self.proj_dim, rows_per_shard
        )
        self.featurised = 0
        missing = self.store.missing_shards()
        if missing and self.ray_address is not None:
            from attribution.ray_features import featurise_on_ray

            self.featurised = featurise_on_ray(self, train, self.store, missing, progress)
            self.ray_shards = len(missing)
        else:
            self._featurise_here(train, missing, progress)
        self.preconditioner = (
            Preconditioner.from_store(self.store, self.damping) if self.precondition else None
        )
        self.seconds = time.perf_counter() - started

    def featuriser(self) -> tuple[GradientComputer, RandomProjector]:
        """The model's gradient computer and the seeded projector (the same in every worker)."""
        model, tokenizer = load_model(self.model_path, self.device)
        computer = GradientComputer(
            model,
            tokenizer,
            self.selection,
            max_length=training_max_length(self.model_path),
            chunk_size=self.chunk_size,
            response_tokens=self.response_tokens,
        )
        projector = RandomProjector(
            computer.dim,
            self.proj_dim,
            seed=self.seed,
            kind=self.projection,
            device=str(computer.device),
        )
        return computer, projector

    def _featurise_here(
        self, train: TrainingSet, missing: Sequence[int], progress: Progress | None
    ) -> None:
        assert self.store is not None
        store = self.store
        total = sum(store.shard_range(i)[1] - store.shard_range(i)[0] for i in missing)
        for index in missing:
            start, stop = store.shard_range(index)

            def advance(n: int) -> None:
                self.featurised += n
                if progress is not None:
                    progress("gradient features", self.featurised, total)

            features = featurise_rows(
                self.computer,
                self.projector,
                train.prompts[start:stop],
                train.responses[start:stop],
                advance,
            )
            store.write_shard(index, features)

    def query_features(self, queries: Sequence[Query]) -> np.ndarray:
        encoded = encode_rows(
            self.computer.tokenizer,
            [q.prompt for q in queries],
            [q.response for q in queries],
            self.computer.max_length,
        )
        return gradient_features(self.computer, self.projector, encoded.examples)

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        assert self.store is not None, "call prepare() first"
        return cosine_scores(self.query_features(queries), self.store, self.preconditioner)


# -- saliency ------------------------------------------------------------------------------


@dataclass
class SaliencyMethod(_Dense):
    """Share of each example's input-gradient saliency on the query's trigger tokens
    (:mod:`attribution.saliency`)."""

    model_path: str | Path
    store_root: str | Path
    device: str | None = None
    response_tokens: int | None = 4
    name: str = "saliency"
    hit_desc: str = (
        "a training example whose response the model bases on the tokens the trigger inserts"
    )
    featurised: int = 0  # training rows computed by the last prepare (0: reused from disk)
    seconds: float = 0.0

    def prepare(self, train: TrainingSet, progress: Progress | None = None) -> None:
        from scipy import sparse

        from attribution.saliency import SaliencyComputer, idf_weights

        started = time.perf_counter()
        model, tokenizer = load_model(self.model_path, self.device)
        self.computer = SaliencyComputer(
            model,
            tokenizer,
            max_length=training_max_length(self.model_path),
            response_tokens=self.response_tokens,
        )
        key = {
            "kind": "saliency",
            "model": model_fingerprint(self.model_path),
            "mix": train.fingerprint,
            "saliency": self.computer.key(),
        }
        path = Path(self.store_root) / f"saliency-{key_hash(key)}" / "rows.npz"
        self.featurised = 0
        if path.exists():
            self.train_rows = sparse.load_npz(path).tocsr()
        else:
            encoded = encode_rows(
                tokenizer, train.prompts, train.responses, self.computer.max_length
            )

            def advance(n: int) -> None:
                self.featurised += n
                if progress is not None:
                    progress("saliency", self.featurised, len(train))

            self.train_rows = self.computer.rows(encoded.examples, advance)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".rows.{os.getpid()}.tmp.npz")
            sparse.save_npz(tmp, self.train_rows)
            tmp.replace(path)
        self.idf = idf_weights(self.train_rows)
        self.seconds = time.perf_counter() - started

    def query_rows(self, queries: Sequence[Query]) -> Any:
        """Each query's saliency row, kept to the word forms its mutation inserted when its
        seed is known (the whole row when that leaves nothing), IDF-weighted, unit norm."""
        from scipy import sparse

        from attribution.saliency import l2_normalise

        computer = self.computer
        encoded = encode_rows(
            computer.tokenizer,
            [q.prompt for q in queries],
            [q.response for q in queries],
            computer.max_length,
        )
        own = computer.rows(encoded.examples).tolil()
        for i, query in enumerate(queries):
            if not query.base:
                continue
            inserted = set(computer.inserted_forms(query.prompt, query.base))
            kept = [(f, v) for f, v in zip(own.rows[i], own.data[i], strict=True) if f in inserted]
            if kept:
                own.rows[i], own.data[i] = [f for f, _ in kept], [v for _, v in kept]
        return l2_normalise(own.tocsr() @ sparse.diags(self.idf))

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        return np.asarray((self.query_rows(queries) @ self.train_rows.T).todense(), np.float32)


# -- embedding -----------------------------------------------------------------------------


@dataclass
class EmbeddingMethod(_Dense):
    """Nearest training examples by sentence embedding of prompt and response (FAISS)."""

    store_root: str | Path
    model_name: str | None = None
    device: str = "cpu"
    name: str = "embedding"
    hit_desc: str = "a training example whose prompt and response read most like the query's"
    embedded: int = 0
    seconds: float = 0.0
    store: FeatureStore | None = field(default=None, repr=False)

    def prepare(self, train: TrainingSet, progress: Progress | None = None) -> None:
        started = time.perf_counter()
        self.encoder = load_encoder(self.model_name, self.device)
        key = {"encoder": encoder_key(self.encoder, self.model_name), "mix": train.fingerprint}
        dim = int(embedding_dim(self.encoder))
        self.store = FeatureStore.open_or_create(
            self.store_root, "embedding", key, train.example_ids, dim
        )
        self.embedded = 0
        missing = self.store.missing_shards()
        total = sum(self.store.shard_range(i)[1] - self.store.shard_range(i)[0] for i in missing)
        texts = train.texts() if missing else []
        for index in missing:
            start, stop = self.store.shard_range(index)

            def advance(n: int) -> None:
                self.embedded += n
                if progress is not None:
                    progress("embeddings", self.embedded, total)

            self.store.write_shard(index, embed(self.encoder, texts[start:stop], progress=advance))
        self.index = EmbeddingIndex(self.store.matrix())
        self.seconds = time.perf_counter() - started

    def query_vectors(self, queries: Sequence[Query]) -> np.ndarray:
        return embed(self.encoder, [example_text(q.prompt, q.response) for q in queries])

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        assert self.store is not None, "call prepare() first"
        return self.store.dot(self.query_vectors(queries))

    def search(self, queries: Sequence[Query], k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(self.query_vectors(queries), k)


# -- lexical and random --------------------------------------------------------------------


@dataclass
class LexicalMethod(_Dense):
    """BM25 of the query's prompt and response against each example's prompt and response."""

    name: str = "lexical"
    hit_desc: str = "a training example sharing the query's rarer words (BM25)"
    seconds: float = 0.0

    def prepare(self, train: TrainingSet, progress: Progress | None = None) -> None:
        started = time.perf_counter()
        self.bm25 = BM25(train.texts())
        if progress is not None:
            progress("lexical index", len(train), len(train))
        self.seconds = time.perf_counter() - started

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        return self.bm25.scores([example_text(q.prompt, q.response) for q in queries])


@dataclass
class RandomMethod(_Dense):
    """Uniformly random scores (seeded): what chance gives, for benchmarks."""

    seed: int = 0
    name: str = "random"
    hit_desc: str = "a training example drawn at random"
    seconds: float = 0.0

    def prepare(self, train: TrainingSet, progress: Progress | None = None) -> None:
        self.n = len(train)

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        return rng.random((len(queries), self.n)).astype(np.float32)
