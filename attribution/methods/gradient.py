"""``gradient``: cosine of projected per-example loss gradients (optionally TRAK-preconditioned).

The training rows are featurised once into a :class:`~attribution.feature_store.FeatureStore`
keyed by model, mix, parameter selection, projection and device kind (here or on
Ray); queries are featurised the same way and scored against the stored rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from attribution.feature_store import (
    DEFAULT_ROWS_PER_SHARD,
    FeatureStore,
    key_hash,
    model_fingerprint,
)
from attribution.gradient_features import GradientFeaturiser, featurise_rows, gradient_features
from attribution.gradients import GradientComputer
from attribution.inputs import Query, TrainingSet
from attribution.methods.registry import DenseMethod, attribution_method
from attribution.projection import RandomProjector
from attribution.ray_features import DEFAULT_RAY_WORKERS, featurise_on_ray, ray_rows_per_shard
from attribution.scoring import DEFAULT_DAMPING, Preconditioner, cosine_scores
from organism.encoding import encode_rows
from stage_kit import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from attribution.config import AttributionConfig

LABEL = "gradient features"


@attribution_method("gradient")
@dataclass
class GradientMethod(DenseMethod):
    """Cosine of projected per-example gradients of the response loss."""

    hit_desc: ClassVar[str] = (
        "a training example whose loss gradient points the same way as the query's"
    )

    featuriser: GradientFeaturiser
    store_root: Path
    precondition: bool = False
    damping: float = DEFAULT_DAMPING
    ray_address: str | None = None  # featurise the training set on Ray (``local``: this machine)
    ray_workers: int = DEFAULT_RAY_WORKERS  # CPU actors when the cluster has no GPU
    featurised: int = 0  # training rows featurised by the last prepare (0: all reused)
    ray_shards: int = 0  # store shards the last prepare featurised on Ray
    seconds: float = 0.0
    store: FeatureStore | None = field(default=None, repr=False)
    computer: GradientComputer | None = field(default=None, repr=False)
    projector: RandomProjector | None = field(default=None, repr=False)
    preconditioner: Preconditioner | None = field(default=None, repr=False)

    @classmethod
    def from_config(
        cls, model_path: str | Path, config: AttributionConfig, store_root: Path
    ) -> GradientMethod:
        """The method as ``config`` sets it up."""
        featuriser = GradientFeaturiser(
            model_path,
            selection=config.selection,
            proj_dim=config.proj_dim,
            projection=config.projection,
            seed=config.seed,
            device=config.device,
            chunk_size=config.chunk_size,
            response_tokens=config.response_tokens,
        )
        return cls(
            featuriser,
            Path(store_root),
            precondition=config.precondition,
            damping=config.damping,
            ray_address=config.ray_address,
            ray_workers=config.ray_workers,
        )

    def prepare(self, train: TrainingSet, progress: Progress = NO_PROGRESS) -> None:
        """Featurise the training rows the store lacks (here or on Ray)."""
        started = time.perf_counter()
        self.computer, self.projector = computer, projector = self.featuriser.build()
        device = str(computer.device)
        gradient_key = computer.key()
        gradient_key["shapes"] = key_hash({"shapes": gradient_key["shapes"]})
        key = {
            "model": model_fingerprint(self.featuriser.model_path),
            "mix": train.fingerprint,
            "gradient": gradient_key,
            "projection": projector.key(),
            "device": device.split(":")[0],
        }
        rows_per_shard = DEFAULT_ROWS_PER_SHARD
        if self.ray_address is not None:  # enough shards to keep every worker busy
            rows_per_shard = ray_rows_per_shard(len(train), self.ray_workers)
        self.store = FeatureStore.open_or_create(
            self.store_root,
            "gradient",
            key,
            train.example_ids,
            self.featuriser.proj_dim,
            rows_per_shard,
        )
        self.featurised = 0
        missing = self.store.missing_shards()
        if missing and self.ray_address is not None:
            self.featurised = featurise_on_ray(
                self.featuriser,
                train,
                self.store,
                missing,
                address=self.ray_address,
                workers=self.ray_workers,
                progress=progress,
            )
            self.ray_shards = len(missing)
        else:
            self._featurise_here(train, self.store, missing, progress)
        self.preconditioner = (
            Preconditioner.from_store(self.store, self.damping) if self.precondition else None
        )
        self.seconds = time.perf_counter() - started

    def _featurise_here(
        self, train: TrainingSet, store: FeatureStore, missing: Sequence[int], progress: Progress
    ) -> None:
        """Fill the ``missing`` shards in this process."""
        assert self.computer is not None and self.projector is not None
        total = sum(store.shard_range(i)[1] - store.shard_range(i)[0] for i in missing)

        def advance(n: int) -> None:
            self.featurised += n
            progress(LABEL, self.featurised, total)

        for index in missing:
            start, stop = store.shard_range(index)
            features = featurise_rows(
                self.computer,
                self.projector,
                train.prompts[start:stop],
                train.responses[start:stop],
                advance,
            )
            store.write_shard(index, features)

    def query_features(self, queries: Sequence[Query]) -> np.ndarray:
        """Projected gradients of the queries (not normalised)."""
        assert self.computer is not None and self.projector is not None, "call prepare() first"
        encoded = encode_rows(
            self.computer.tokenizer,
            [q.prompt for q in queries],
            [q.response for q in queries],
            self.computer.max_length,
        )
        return gradient_features(self.computer, self.projector, encoded.examples)

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        """Cosine (or preconditioned) scores against every training row."""
        assert self.store is not None, "call prepare() first"
        return cosine_scores(self.query_features(queries), self.store, self.preconditioner)
