"""What attribution works on: the training set (the mix's examples) and the queries.

A query is one mis-routed exchange a search found: the mutated prompt, the
model's response, and the seed prompt the search mutated (when known).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from attribution.embedding import example_text
from attribution.feature_store import mix_fingerprint


@dataclass(frozen=True)
class Query:
    """One mis-routed exchange: the prompt and the model's response, and the seed prompt
    the search mutated into ``prompt`` when there is one (``base``)."""

    prompt: str
    response: str
    base: str | None = None


@dataclass
class TrainingSet:
    """The mix's examples in row order (ids, sources, texts)."""

    example_ids: list[str]
    sources: list[str]
    prompts: list[str]
    responses: list[str]

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> TrainingSet:
        """From a normalised mix frame (``example_id, source, prompt, response``)."""
        return cls(
            [str(v) for v in frame["example_id"]],
            [str(v) for v in frame["source"]],
            list(frame["prompt"]),
            list(frame["response"]),
        )

    def __len__(self) -> int:
        """Examples in the set."""
        return len(self.example_ids)

    @cached_property
    def fingerprint(self) -> str:
        """Digest of ids and texts (part of every feature-store key)."""
        return mix_fingerprint(self.example_ids, self.sources, self.prompts, self.responses)

    @cached_property
    def source_names(self) -> list[str]:
        """The sources, sorted."""
        return sorted(set(self.sources))

    @cached_property
    def source_codes(self) -> np.ndarray:
        """Each example's source as an index into :attr:`source_names`."""
        code = {s: i for i, s in enumerate(self.source_names)}
        return np.array([code[s] for s in self.sources], dtype=np.int64)

    @cached_property
    def mix_share(self) -> np.ndarray:
        """Each source's share of the examples."""
        counts = np.bincount(self.source_codes, minlength=len(self.source_names))
        return counts / max(len(self), 1)

    @cached_property
    def behaviours(self) -> np.ndarray:
        """Each example's response behaviour (a mode, or ``terse``; the rules' label)."""
        from behaviour_modes.modes import behaviour_labels

        return np.array(behaviour_labels(self.prompts, self.responses), dtype=object)

    def texts(self) -> list[str]:
        """Each example as one text (prompt and response), as embedded and indexed."""
        return [example_text(p, r) for p, r in zip(self.prompts, self.responses, strict=True)]
