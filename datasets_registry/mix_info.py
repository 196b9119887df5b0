"""The record of a named mix (no registry here, so mix modules can describe themselves)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class MixInfo:
    """A named post-training mix on the Hugging Face hub or built locally by ``builder``."""

    name: str
    description: str
    license: str
    rows: int | None = None
    n_sources: int | None = None
    hub_id: str | None = None
    split: str = "train"
    source_column: str = "source"
    streaming: bool = True
    builder: Callable[[Path], Path] | None = field(default=None, compare=False)

    @property
    def origin(self) -> str:
        """Where the mix comes from: its hub id, or "generated locally"."""
        return self.hub_id or "generated locally"
