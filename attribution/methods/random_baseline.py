"""``random``: seeded uniformly random scores, what chance gives (for benchmarks; not run by
``--method all``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from attribution.inputs import Query, TrainingSet
from attribution.methods.registry import DenseMethod, attribution_method
from stage_kit import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from attribution.config import AttributionConfig


@attribution_method("random", default=False)
@dataclass
class RandomMethod(DenseMethod):
    """Uniformly random scores (seeded): what chance gives, for benchmarks."""

    hit_desc: ClassVar[str] = "a training example drawn at random"

    seed: int = 0
    n: int = 0  # training examples (set by prepare)
    seconds: float = 0.0

    @classmethod
    def from_config(
        cls, model_path: str | Path, config: AttributionConfig, store_root: Path
    ) -> RandomMethod:
        """The baseline seeded by ``config.seed``."""
        return cls(seed=config.seed)

    def prepare(self, train: TrainingSet, progress: Progress = NO_PROGRESS) -> None:
        """Remember the training set's size."""
        self.n = len(train)

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        """Random scores, the same for the same seed and queries."""
        rng = np.random.default_rng(self.seed)
        return rng.random((len(queries), self.n)).astype(np.float32)
