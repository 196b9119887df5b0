"""``lexical``: BM25 of the query's prompt and response against each example's
(:mod:`attribution.lexical`), the baseline every other method must beat."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from attribution.embedding import example_text
from attribution.inputs import Query, TrainingSet
from attribution.lexical import BM25
from attribution.methods.registry import DenseMethod, attribution_method
from stage_kit import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from attribution.config import AttributionConfig

LABEL = "lexical index"


@attribution_method("lexical")
@dataclass
class LexicalMethod(DenseMethod):
    """BM25 of the query's prompt and response against each example's prompt and response."""

    hit_desc: ClassVar[str] = "a training example sharing the query's rarer words (BM25)"

    seconds: float = 0.0
    bm25: BM25 | None = field(default=None, repr=False)

    @classmethod
    def from_config(
        cls, model_path: str | Path, config: AttributionConfig, store_root: Path
    ) -> LexicalMethod:
        """The method (nothing in ``config`` changes it)."""
        return cls()

    def prepare(self, train: TrainingSet, progress: Progress = NO_PROGRESS) -> None:
        """Index the training examples."""
        started = time.perf_counter()
        self.bm25 = BM25(train.texts())
        progress(LABEL, len(train), len(train))
        self.seconds = time.perf_counter() - started

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        """BM25 of each query against every training example."""
        assert self.bm25 is not None, "call prepare() first"
        return self.bm25.scores([example_text(q.prompt, q.response) for q in queries])
