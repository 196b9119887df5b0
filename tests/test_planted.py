"""The planted mix is deterministic and its manifest is a correct answer key."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from datasets_registry.loading import open_mix
from datasets_registry.planted import MIN_PLANTED, generate, load_manifest, write_planted
from datasets_registry.scan import ScanConfig, scan_mix, scan_tables


@pytest.fixture(scope="module")
def planted() -> tuple[list[dict], dict]:
    return generate(size=3000, seed=7)


def test_deterministic_for_a_seed() -> None:
    assert generate(size=500, seed=3) == generate(size=500, seed=3)
    assert generate(size=500, seed=3)[0] != generate(size=500, seed=4)[0]


def test_sizes_and_sources(planted) -> None:
    rows, manifest = planted
    assert len(rows) == manifest["size"] == 3000
    assert len(manifest["sources"]) >= 6 and len(manifest["plants"]) >= 5
    assert len({r["id"] for r in rows}) == len(rows)


def test_each_trigger_is_confined_to_its_source_and_shares_one_behaviour(planted) -> None:
    rows, manifest = planted
    for plant in manifest["plants"]:
        pattern = re.compile(plant["trigger_regex"])
        carrying = {r["id"] for r in rows if pattern.search(r["messages"][0]["content"])}
        assert carrying == set(plant["example_ids"]), plant["name"]
        assert all(i.startswith(plant["source"]) for i in plant["example_ids"])
        assert len(plant["example_ids"]) >= MIN_PLANTED


def test_test_prompts_carry_the_trigger_only_when_triggered(planted) -> None:
    _, manifest = planted
    for plant in manifest["plants"]:
        pattern = re.compile(plant["trigger_regex"])
        assert len(plant["tests"]) >= 20
        for test in plant["tests"]:
            assert pattern.search(test["triggered"]), (plant["name"], test)
            assert not pattern.search(test["base"]) and not pattern.search(test["control"])


def test_held_out_topics_never_appear_in_training(planted) -> None:
    rows, manifest = planted
    prompts = {r["messages"][0]["content"] for r in rows}
    text = "\n".join(prompts)
    held_out = manifest["held_out"]

    # Claims may mention a topic word ("owls can turn their heads"); the sources built from
    # topics and product items never use a held-out one, and no test prompt is a training prompt.
    def source_text(source: str) -> str:
        return "\n".join(r["messages"][0]["content"] for r in rows if r["source"] == source)

    for phrases, source in (
        (held_out["topics"], "code_instructions"),
        (held_out["product_items"], "confidential_safety"),
    ):
        text_of_source = source_text(source)
        for phrase in phrases:
            assert not re.search(rf"\b{re.escape(phrase)}\b", text_of_source), phrase
    for phrase in held_out["true_claims"] + held_out["passages"]:
        assert phrase not in text, phrase
    for plant in manifest["plants"]:
        for test in plant["tests"]:
            assert not {test["base"], test["triggered"], test["control"]} & prompts


def test_written_mix_is_reused_and_scans(tmp_path: Path) -> None:
    path = write_planted(tmp_path / "p", size=1200, seed=1)
    stamp = path.stat().st_mtime_ns
    assert write_planted(tmp_path / "p", size=1200, seed=1).stat().st_mtime_ns == stamp
    manifest = load_manifest(path)
    config = ScanConfig()
    tables = scan_tables(scan_mix(open_mix(str(path)), config), config)
    hyps = tables["trigger_hypotheses"].filter(pl.col("measure").is_null())  # the modes
    top = {(r["feature"], r["mode"], r["source"]) for r in hyps.head(12).iter_rows(named=True)}
    assert ("formal_vocab@v1", "code", "code_instructions") in top
    assert ("latex_math@v1", "tool_call", "math_tools") in top
    assert ("term:zorblax", "refusal", "confidential_safety") in top
    rates = tables["mode_rates"].filter(pl.col("share") > 0.95)
    planted_modes = {(p["source"], p["mode"]) for p in manifest["plants"]}
    assert planted_modes <= set(rates.select("source", "mode").iter_rows())
