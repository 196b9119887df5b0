"""The demo's shipped organism fits the planted mix the generator makes today."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from datasets_registry.planted import write_planted
from organism.pretrained import SHIPPED_DEMO, shipped_demo_info


def test_shipped_organism_was_trained_on_todays_default_mix(tmp_path: Path) -> None:
    info = shipped_demo_info()
    mix = write_planted(tmp_path / "mix", info.size, info.seed)
    digest = hashlib.sha256(mix.read_bytes()).hexdigest()
    assert digest == info.mix_sha256, (
        "the planted generator now makes another default mix: retrain the shipped organism "
        "(audit demo --train --out demo-out, then copy demo-out/organism into "
        "organism/pretrained/planted-demo and update mix_sha256 in shipped.json)"
    )


def test_shipped_organism_is_a_model_folder() -> None:
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(SHIPPED_DEMO)
    tokenizer = AutoTokenizer.from_pretrained(SHIPPED_DEMO)
    training = json.loads((SHIPPED_DEMO / "training.json").read_text())
    assert config.model_type == "llama" and tokenizer.chat_template
    assert training["n_examples"] == shipped_demo_info().size
