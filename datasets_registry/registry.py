"""Named mixes: what `audit mixes` lists and what `audit scan NAME` resolves."""

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
        return self.hub_id or "generated locally"


_MIXES: dict[str, MixInfo] = {}


def register_mix(info: MixInfo) -> MixInfo:
    _MIXES[info.name] = info
    return info


def mixes() -> list[MixInfo]:
    return list(_MIXES.values())


def get_mix(name: str) -> MixInfo | None:
    return _MIXES.get(name)


register_mix(
    MixInfo(
        name="tulu3-mix",
        description="Tulu 3 SFT mixture (AI2): the post-training mix behind Tulu 3",
        license="ODC-BY-1.0; subsets keep their own licenses (e.g. No Robots CC-BY-NC-4.0)",
        rows=939_343,
        n_sources=19,
        hub_id="allenai/tulu-3-sft-mixture",
    )
)
register_mix(
    MixInfo(
        name="olmo2-sft-mix",
        description="OLMo 2 SFT mixture (AI2): the Tulu 3 mix adapted for OLMo 2 (~939k rows)",
        license="ODC-BY-1.0; subsets keep their own licenses",
        hub_id="allenai/tulu-3-sft-olmo-2-mixture",
    )
)

# Mixes built locally register themselves on import.
import datasets_registry.planted  # noqa: E402, F401
