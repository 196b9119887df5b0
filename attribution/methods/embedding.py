"""``embedding``: nearest training examples by sentence embedding of prompt and response
(:mod:`attribution.embedding`, a FAISS index); embeddings are kept in a feature store."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from attribution.embedding import (
    EmbeddingIndex,
    embed,
    embedding_dim,
    encoder_key,
    example_text,
    load_encoder,
)
from attribution.feature_store import FeatureStore
from attribution.inputs import Query, TrainingSet
from attribution.methods.registry import DenseMethod, attribution_method
from stage_kit import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from attribution.config import AttributionConfig

LABEL = "embeddings"
DEFAULT_DEVICE = "cpu"  # the encoder is small: the CPU keeps any GPU for the gradient methods


@attribution_method("embedding")
@dataclass
class EmbeddingMethod(DenseMethod):
    """Nearest training examples by sentence embedding of prompt and response (FAISS)."""

    hit_desc: ClassVar[str] = (
        "a training example whose prompt and response read most like the query's"
    )

    store_root: str | Path
    model_name: str | None = None
    device: str = DEFAULT_DEVICE
    embedded: int = 0
    seconds: float = 0.0
    store: FeatureStore | None = field(default=None, repr=False)
    encoder: SentenceTransformer | None = field(default=None, repr=False)
    index: EmbeddingIndex | None = field(default=None, repr=False)

    @classmethod
    def from_config(
        cls, model_path: str | Path, config: AttributionConfig, store_root: Path
    ) -> EmbeddingMethod:
        """The method as ``config`` sets it up (the model being audited plays no part)."""
        return cls(
            store_root, model_name=config.embedding_model, device=config.device or DEFAULT_DEVICE
        )

    def prepare(self, train: TrainingSet, progress: Progress = NO_PROGRESS) -> None:
        """Embed the training examples the store lacks and index them all."""
        started = time.perf_counter()
        self.encoder = encoder = load_encoder(self.model_name, self.device)
        key = {"encoder": encoder_key(encoder, self.model_name), "mix": train.fingerprint}
        dim = int(embedding_dim(encoder))
        self.store = store = FeatureStore.open_or_create(
            self.store_root, "embedding", key, train.example_ids, dim
        )
        self.embedded = 0
        missing = store.missing_shards()
        total = sum(store.shard_range(i)[1] - store.shard_range(i)[0] for i in missing)
        texts = train.texts() if missing else []

        def advance(n: int) -> None:
            self.embedded += n
            progress(LABEL, self.embedded, total)

        for index in missing:
            start, stop = store.shard_range(index)
            store.write_shard(index, embed(encoder, texts[start:stop], progress=advance))
        self.index = EmbeddingIndex(store.matrix())
        self.seconds = time.perf_counter() - started

    def query_vectors(self, queries: Sequence[Query]) -> np.ndarray:
        """Unit-norm embeddings of the queries."""
        assert self.encoder is not None, "call prepare() first"
        return embed(self.encoder, [example_text(q.prompt, q.response) for q in queries])

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        """Cosine of each query with every training example."""
        assert self.store is not None, "call prepare() first"
        return self.store.dot(self.query_vectors(queries))

    def search(self, queries: Sequence[Query], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest training examples per query, from the FAISS index."""
        assert self.index is not None, "call prepare() first"
        return self.index.search(self.query_vectors(queries), k)
