"""Organisms shipped with chunky-audit, so the demo need not train its first model.

``planted-demo/`` is the tiny model `audit train` makes from the default planted mix
(6,000 conversations, seed 0, the trainer's default epochs). ``shipped.json`` records
the sha256 of that mix: the demo uses the shipped weights only when its own mix has
the same digest (a changed generator makes a different mix, and the demo trains).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SHIPPED_DEMO = Path(__file__).resolve().parent / "planted-demo"


@dataclass(frozen=True)
class ShippedInfo:
    """What the shipped demo organism was trained on."""

    size: int  # conversations in the planted mix
    seed: int  # mix and training seed
    epochs: int | None  # training epochs (None: the trainer's default)
    mix_sha256: str  # digest of the mix file it was trained on


def shipped_demo_info() -> ShippedInfo:
    """The shipped demo organism's training record."""
    raw = json.loads((SHIPPED_DEMO / "shipped.json").read_text())
    return ShippedInfo(raw["size"], raw["seed"], raw["epochs"], raw["mix_sha256"])
