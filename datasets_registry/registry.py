"""Named mixes: what `audit mixes` lists and what `audit scan NAME` resolves.

The registry is filled here, at import: the hub mixes are described below and
mixes built locally (the planted mixes) describe themselves in their own module
with a ``MixInfo`` that this module registers. The imports go one way only
(``mix_info`` <- ``planted`` <- ``registry``), so no module imports the registry
to register itself.
"""

from __future__ import annotations

from datasets_registry.mix_info import MixInfo
from datasets_registry.planted import PLANTED_MIX
from datasets_registry.planted_judged import PLANTED_JUDGED_MIX

_MIXES: dict[str, MixInfo] = {}


def register_mix(info: MixInfo) -> MixInfo:
    """Add ``info`` under its name (replacing a mix of the same name) and return it."""
    _MIXES[info.name] = info
    return info


def mixes() -> list[MixInfo]:
    """Every registered mix, in registration order."""
    return list(_MIXES.values())


def get_mix(name: str) -> MixInfo | None:
    """The mix registered as ``name``, or None."""
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
register_mix(PLANTED_MIX)
register_mix(PLANTED_JUDGED_MIX)

__all__ = ["MixInfo", "get_mix", "mixes", "register_mix"]
