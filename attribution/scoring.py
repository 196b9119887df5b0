"""Scores between query features and training features: cosine, optionally preconditioned.

Rows on both sides are unit vectors, so a plain score is the cosine similarity.
The TRAK-style preconditioned score is ``q^T (X^T X + lambda I)^-1 x_i`` for the
training feature matrix ``X`` (n, d): directions every training example shares
count less, directions few examples use count more. ``lambda`` is ``damping``
times the mean eigenvalue of ``X^T X`` (its trace over d), so the setting does
not depend on the number of rows or the dimension.
"""

from __future__ import annotations

import numpy as np

from attribution.feature_store import FeatureStore, normalise_rows

DEFAULT_DAMPING = 0.1


class Preconditioner:
    """``(X^T X + lambda I)^-1`` for a training feature matrix, applied to query rows."""

    def __init__(self, gram: np.ndarray, damping: float = DEFAULT_DAMPING) -> None:
        dim = gram.shape[0]
        self.damping = damping
        self.lam = damping * float(np.trace(gram)) / max(dim, 1) or damping
        self.inverse = np.linalg.inv(gram + self.lam * np.eye(dim))

    @classmethod
    def from_store(cls, store: FeatureStore, damping: float = DEFAULT_DAMPING) -> Preconditioner:
        """From the training rows of a feature store."""
        return cls(store.gram(), damping)

    @classmethod
    def from_matrix(cls, rows: np.ndarray, damping: float = DEFAULT_DAMPING) -> Preconditioner:
        """From training rows in memory (n, d)."""
        rows = np.asarray(rows, dtype=np.float64)
        return cls(rows.T @ rows, damping)

    def apply(self, queries: np.ndarray) -> np.ndarray:
        """Preconditioned query rows, rescaled to unit norm (per-query rankings are unchanged)."""
        out = np.asarray(queries, dtype=np.float64) @ self.inverse  # the inverse is symmetric
        return normalise_rows(out.astype(np.float32))[0]


def cosine_scores(
    queries: np.ndarray,
    train: FeatureStore | np.ndarray,
    preconditioner: Preconditioner | None = None,
) -> np.ndarray:
    """(n_queries, n_train) scores of query features against unit-norm training rows."""
    unit = normalise_rows(queries)[0]
    if preconditioner is not None:
        unit = preconditioner.apply(unit)
    if isinstance(train, FeatureStore):
        return train.dot(unit)
    return unit @ np.asarray(train, dtype=np.float32).T
