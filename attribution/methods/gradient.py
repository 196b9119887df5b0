"""``gradient``: cosine of projected per-example loss gradients computed by Bergson.

The training rows are featurised once (:mod:`attribution.bergson_gradients`) into a
:class:`~attribution.feature_store.FeatureStore` keyed by model, mix, recipe and device
kind, filled here or on Ray, shard by shard (an interrupted run resumes with the shards
still missing; a rerun reuses the store for every finding). Queries are featurised the
same way and scored against the stored unit rows: the cosine Bergson's ``Attributor``
computes with ``unit_norm=True``. ``precondition`` scores through the unit rows' damped
Gram (:class:`~attribution.scoring.Preconditioner`), each training example weighing the
same.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from attribution.bergson_gradients import BergsonFeaturiser, GradientRecipe
from attribution.feature_store import DEFAULT_ROWS_PER_SHARD, FeatureStore, model_fingerprint
from attribution.inputs import Query, TrainingSet
from attribution.methods.registry import DenseMethod, attribution_method
from attribution.ray_features import DEFAULT_RAY_WORKERS, featurise_on_ray, ray_rows_per_shard
from attribution.scoring import DEFAULT_DAMPING, Preconditioner, cosine_scores
from stage_kit import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from attribution.config import AttributionConfig

LABEL = "gradient features"


@attribution_method("gradient")
@dataclass
class GradientMethod(DenseMethod):
    """Cosine of Bergson's projected per-example gradients of the response loss."""

    hit_desc: ClassVar[str] = (
        "a training example whose loss gradient points the same way as the query's"
    )
    store_kind: ClassVar[str] = "bergson"  # features shared by every method built on them

    recipe: GradientRecipe
    store_root: Path
    precondition: bool = False
    damping: float = DEFAULT_DAMPING
    device: str | None = None
    ray_address: str | None = None  # featurise the training set on Ray (``local``: this machine)
    ray_workers: int = DEFAULT_RAY_WORKERS  # CPU actors when the cluster has no GPU
    featurised: int = 0  # training rows featurised by the last prepare (0: all reused)
    ray_shards: int = 0  # store shards the last prepare featurised on Ray
    seconds: float = 0.0
    store: FeatureStore | None = field(default=None, repr=False)
    featuriser: BergsonFeaturiser | None = field(default=None, repr=False)
    preconditioner: Preconditioner | None = field(default=None, repr=False)

    @classmethod
    def from_config(
        cls, model_path: str | Path, config: AttributionConfig, store_root: Path
    ) -> GradientMethod:
        """The method as ``config`` sets it up."""
        recipe = GradientRecipe(
            str(model_path),
            selection=config.selection,
            proj_dim=config.proj_dim,
            projection=config.projection,
            seed=config.seed,
            response_tokens=config.response_tokens,
            precision=config.precision,
        )
        return cls(
            recipe,
            Path(store_root),
            precondition=config.precondition,
            damping=config.damping,
            device=config.device,
            ray_address=config.ray_address,
            ray_workers=config.ray_workers,
        )

    def prepare(self, train: TrainingSet, progress: Progress = NO_PROGRESS) -> None:
        """Featurise the training rows the store lacks (here or on Ray), then fit the
        method's preconditioner."""
        started = time.perf_counter()
        self.featuriser = featuriser = self.recipe.build(self.device)
        key = {
            "model": model_fingerprint(self.recipe.model_path),
            "mix": train.fingerprint,
            "gradient": featuriser.key(),
            "device": featuriser.device.split(":")[0],
        }
        rows_per_shard = DEFAULT_ROWS_PER_SHARD
        if self.ray_address is not None:  # enough shards to keep every worker busy
            rows_per_shard = ray_rows_per_shard(len(train), self.ray_workers)
        self.store = store = FeatureStore.open_or_create(
            self.store_root, self.store_kind, key, train.example_ids, featuriser.dim, rows_per_shard
        )
        self.featurised = 0
        missing = store.missing_shards()
        if missing and self.ray_address is not None:
            self.featurised = featurise_on_ray(
                self.recipe,
                train,
                store,
                missing,
                address=self.ray_address,
                workers=self.ray_workers,
                progress=progress,
            )
            self.ray_shards = len(missing)
        elif missing:
            self._featurise_here(train, store, missing, progress)
        self.fit(store, train)
        self.seconds = time.perf_counter() - started

    def fit(self, store: FeatureStore, train: TrainingSet) -> None:
        """Whatever the scores need from the whole training set (here: the Gram)."""
        self.preconditioner = (
            Preconditioner.from_store(store, self.damping) if self.precondition else None
        )

    def _featurise_here(
        self, train: TrainingSet, store: FeatureStore, missing: Sequence[int], progress: Progress
    ) -> None:
        """Fill the ``missing`` shards in this process."""
        assert self.featuriser is not None
        total = sum(store.shard_range(i)[1] - store.shard_range(i)[0] for i in missing)

        def advance(n: int) -> None:
            self.featurised += n
            progress(LABEL, self.featurised, total)

        for index in missing:
            start, stop = store.shard_range(index)
            features = self.featuriser.featurise(
                train.prompts[start:stop], train.responses[start:stop], advance
            )
            store.write_shard(index, features)

    def query_features(self, queries: Sequence[Query]) -> np.ndarray:
        """Projected gradients of the queries (not normalised)."""
        assert self.featuriser is not None, "call prepare() first"
        return self.featuriser.featurise([q.prompt for q in queries], [q.response for q in queries])

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        """Cosine (or preconditioned) scores against every training row."""
        assert self.store is not None, "call prepare() first"
        return cosine_scores(self.query_features(queries), self.store, self.preconditioner)
