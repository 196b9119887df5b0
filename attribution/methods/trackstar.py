"""``trackstar``: Bergson's TrackStar scores on the ``gradient`` method's features.

TrackStar (Chang et al. 2024, as Bergson implements it) preconditions each module's
projected gradient with ``H^-1/2`` on both sides, ``H`` the module's autocorrelation
``sum_i g_i g_i^T / n`` over the training gradients, and scores by cosine. ``H`` comes
from the stored rows (the same sum Bergson's ``AutocorrelationCollector`` takes during a
pass over the data) and is inverted by Bergson's ``invert_psd_matrix`` (damped inverse,
damping 0.1 x the mean eigenvalue). Two parts of Bergson's full pipeline are left out,
and why: the optimizer-state normalisers (the organisms keep no optimizer state) and
mixing in the query set's autocorrelation (a finding has tens of queries, too few for a
per-module Gram of 256 dimensions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from attribution.feature_store import FeatureStore, normalise_rows
from attribution.inputs import Query, TrainingSet
from attribution.methods.gradient import GradientMethod
from attribution.methods.registry import attribution_method
from attribution.scoring import DEFAULT_DAMPING


@attribution_method("trackstar")
@dataclass
class TrackstarMethod(GradientMethod):
    """Cosine of gradients whitened per module by the training autocorrelation."""

    hit_desc: ClassVar[str] = (
        "a training example whose whitened loss gradient points the same way as the query's"
    )

    whiten: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def fit(self, store: FeatureStore, train: TrainingSet) -> None:
        """Each module's ``H^-1/2`` from the stored training gradients."""
        import torch
        from bergson.hessians.inversion import invert_psd_matrix

        assert self.featuriser is not None
        spans = self._spans()
        grams = {name: np.zeros((hi - lo, hi - lo)) for name, (lo, hi) in spans.items()}
        norms = store.norms()
        for start, rows in store.shards():
            raw = np.asarray(rows, np.float64) * norms[start : start + rows.shape[0], None]
            for name, (lo, hi) in spans.items():
                grams[name] += raw[:, lo:hi].T @ raw[:, lo:hi]
        n = max(store.n_rows, 1)
        self.whiten = {
            name: invert_psd_matrix(
                torch.from_numpy(gram / n), damping_factor=DEFAULT_DAMPING, power=-0.5
            )
            .float()
            .numpy()
            for name, gram in grams.items()
        }

    def _spans(self) -> dict[str, tuple[int, int]]:
        """Each module's columns in a row of features."""
        assert self.featuriser is not None
        out, lo = {}, 0
        for name, size in self.featuriser.module_sizes.items():
            out[name] = (lo, lo + size)
            lo += size
        return out

    def _whitened(self, rows: np.ndarray) -> np.ndarray:
        """Rows with every module whitened, then unit norm."""
        out = np.empty(rows.shape, np.float32)
        for name, (lo, hi) in self._spans().items():
            out[:, lo:hi] = np.asarray(rows[:, lo:hi], np.float32) @ self.whiten[name]
        return normalise_rows(out)[0]

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        """Cosine of whitened query and training gradients, one store shard at a time."""
        assert self.store is not None, "call prepare() first"
        q = self._whitened(self.query_features(queries))
        out = np.empty((q.shape[0], self.store.n_rows), np.float32)
        for start, rows in self.store.shards():
            out[:, start : start + rows.shape[0]] = q @ self._whitened(rows).T
        return out
