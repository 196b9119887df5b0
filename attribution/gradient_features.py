"""Projected per-example gradients: the featurisation the gradient method stores.

A :class:`GradientFeaturiser` is the recipe (model folder, parameter selection,
projection, seed, ...); :meth:`GradientFeaturiser.build` loads the model and makes
the gradient computer and the seeded projector, the same in this process and in
every Ray actor (:mod:`attribution.ray_features`), so features computed anywhere
agree. :func:`featurise_rows` turns training rows into projected gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from attribution.gradients import (
    ALL_PARAMETERS,
    DEFAULT_CHUNK,
    GradientComputer,
    ParamSelection,
    load_model,
    training_max_length,
)
from attribution.projection import RADEMACHER, RandomProjector
from organism.encoding import EncodedExample, encode_rows

if TYPE_CHECKING:
    import torch

PROJECT_BYTES = 1 << 30  # gradient rows gathered before one projection pass
DEFAULT_PROJ_DIM = 512


@dataclass(frozen=True)
class GradientFeaturiser:
    """How training rows become projected gradients (picklable: Ray actors get a copy)."""

    model_path: str | Path
    selection: ParamSelection = ALL_PARAMETERS
    proj_dim: int = DEFAULT_PROJ_DIM
    projection: str = RADEMACHER
    seed: int = 0
    device: str | None = None
    chunk_size: int = DEFAULT_CHUNK
    response_tokens: int | None = None  # the loss on the first N response tokens (None: all)

    def build(self) -> tuple[GradientComputer, RandomProjector]:
        """The model's gradient computer and the seeded projector (the same in every worker)."""
        model, tokenizer = load_model(self.model_path, self.device)
        computer = GradientComputer(
            model,
            tokenizer,
            self.selection,
            max_length=training_max_length(self.model_path),
            chunk_size=self.chunk_size,
            response_tokens=self.response_tokens,
        )
        projector = RandomProjector(
            computer.dim,
            self.proj_dim,
            seed=self.seed,
            kind=self.projection,
            device=str(computer.device),
        )
        return computer, projector


def gradient_features(
    computer: GradientComputer,
    projector: RandomProjector,
    examples: Sequence[EncodedExample | None],
    *,
    vectorised: bool = True,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Projected per-example gradients (len(examples), proj_dim); ``None`` rows stay zero."""
    import torch

    out = np.zeros((len(examples), projector.proj_dim), dtype=np.float32)
    kept = [i for i, e in enumerate(examples) if e is not None]
    present = [e for e in examples if e is not None]
    with torch.no_grad():
        if vectorised:
            # Projecting costs a pass over the whole (dim x proj_dim) matrix per call,
            # whatever the number of rows, so chunks are gathered up to PROJECT_BYTES first.
            per_row = max(1, computer.dim * 4)
            pending_rows: list[int] = []
            pending: list[list[torch.Tensor]] = []

            def flush() -> None:
                if not pending_rows:
                    return
                parts = [torch.cat(column) for column in zip(*pending, strict=True)]
                out[[kept[r] for r in pending_rows]] = projector.project(parts).cpu().numpy()
                if progress is not None:
                    progress(len(pending_rows))
                pending_rows.clear()
                pending.clear()

            for rows, grads in computer.iter_gradients(present):
                pending_rows.extend(rows)
                pending.append(grads)
                if len(pending_rows) * per_row >= PROJECT_BYTES:
                    flush()
            flush()
        else:
            for r, example in enumerate(present):
                with torch.enable_grad():
                    grads = computer.loop_gradients(example)
                out[kept[r]] = projector.project(grads).cpu().numpy()[0]
                if progress is not None:
                    progress(1)
    return out


def featurise_rows(
    computer: GradientComputer,
    projector: RandomProjector,
    prompts: Sequence[str],
    responses: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Projected gradients of training rows (rows training would skip stay zero, counted done)."""
    encoded = encode_rows(computer.tokenizer, prompts, responses, computer.max_length)
    features = gradient_features(computer, projector, encoded.examples, progress=progress)
    if progress is not None and len(prompts) > len(encoded.kept):
        progress(len(prompts) - len(encoded.kept))
    return features
