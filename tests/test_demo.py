"""The shipped organisms (the demo's, the test suite's) fit the planted mixes the generator
makes today."""

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


def test_shipped_test_organism_was_trained_on_todays_test_mix(tmp_path: Path) -> None:
    """The suite's organism (``tests/organism``) fits the test mix: else every session
    trains one (about 2 minutes) and the suite runs over its 8 minutes."""
    from conftest import (
        PLANTED_TEST_EPOCHS,
        PLANTED_TEST_SIZE,
        SHIPPED_TEST_ORGANISM,
        shipped_test_organism_info,
    )

    info = shipped_test_organism_info()
    mix = write_planted(tmp_path / "mix", PLANTED_TEST_SIZE, info["seed"])
    digest = hashlib.sha256(mix.read_bytes()).hexdigest()
    assert (digest, info["epochs"]) == (info["mix_sha256"], PLANTED_TEST_EPOCHS), (
        f"the planted test mix or its epochs changed: re-ship {SHIPPED_TEST_ORGANISM} "
        "(python tests/ship_test_organism.py)"
    )
