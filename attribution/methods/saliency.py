"""``saliency``: the share of each example's input-gradient saliency on the query's trigger
tokens (:mod:`attribution.saliency`); training rows are cached on disk by key."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from attribution.feature_store import key_hash, model_fingerprint
from attribution.inputs import Query, TrainingSet
from attribution.methods.registry import DenseMethod, attribution_method
from attribution.model_loading import load_model, training_max_length
from attribution.saliency import (
    DEFAULT_RESPONSE_TOKENS,
    SaliencyComputer,
    idf_weights,
    l2_normalise,
)
from organism.encoding import encode_rows
from stage_kit import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from scipy import sparse

    from attribution.config import AttributionConfig

LABEL = "saliency"


@attribution_method("saliency")
@dataclass
class SaliencyMethod(DenseMethod):
    """Share of each example's input-gradient saliency on the query's trigger tokens."""

    hit_desc: ClassVar[str] = (
        "a training example whose response the model bases on the tokens the trigger inserts"
    )

    model_path: str | Path
    store_root: str | Path
    device: str | None = None
    response_tokens: int | None = DEFAULT_RESPONSE_TOKENS
    featurised: int = 0  # training rows computed by the last prepare (0: reused from disk)
    seconds: float = 0.0
    computer: SaliencyComputer | None = field(default=None, repr=False)
    train_rows: sparse.csr_matrix | None = field(default=None, repr=False)
    idf: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_config(
        cls, model_path: str | Path, config: AttributionConfig, store_root: Path
    ) -> SaliencyMethod:
        """The method as ``config`` sets it up."""
        return cls(
            model_path, store_root, device=config.device, response_tokens=config.response_tokens
        )

    def prepare(self, train: TrainingSet, progress: Progress = NO_PROGRESS) -> None:
        """Saliency rows of every training example (read back from disk when cached)."""
        from scipy import sparse

        started = time.perf_counter()
        model, tokenizer = load_model(self.model_path, self.device)
        self.computer = computer = SaliencyComputer(
            model,
            tokenizer,
            max_length=training_max_length(self.model_path),
            response_tokens=self.response_tokens,
        )
        key = {
            "kind": "saliency",
            "model": model_fingerprint(self.model_path),
            "mix": train.fingerprint,
            "saliency": computer.key(),
        }
        path = Path(self.store_root) / f"saliency-{key_hash(key)}" / "rows.npz"
        self.featurised = 0
        if path.exists():
            self.train_rows = sparse.load_npz(path).tocsr()
        else:
            encoded = encode_rows(tokenizer, train.prompts, train.responses, computer.max_length)

            def advance(n: int) -> None:
                self.featurised += n
                progress(LABEL, self.featurised, len(train))

            self.train_rows = computer.rows(encoded.examples, advance)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".rows.{os.getpid()}.tmp.npz")
            sparse.save_npz(tmp, self.train_rows)
            tmp.replace(path)
        self.idf = idf_weights(self.train_rows)
        self.seconds = time.perf_counter() - started

    def query_rows(self, queries: Sequence[Query]) -> sparse.csr_matrix:
        """Each query's saliency row, kept to the word forms its mutation inserted when its
        seed is known (the whole row when that leaves nothing), IDF-weighted, unit norm."""
        from scipy import sparse

        computer = self.computer
        assert computer is not None and self.idf is not None, "call prepare() first"
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
        """Cosine of the queries' rows with every training row."""
        assert self.train_rows is not None, "call prepare() first"
        return np.asarray((self.query_rows(queries) @ self.train_rows.T).todense(), np.float32)
