"""The judged planted mix is deterministic and its manifest is a correct answer key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from datasets_registry.loading import open_mix
from datasets_registry.planted import load_manifest
from datasets_registry.planted_judged import (
    LENGTH_COLLAPSE,
    NAME,
    WRONG_ANSWER,
    generate,
    write_planted_judged,
)
from datasets_registry.registry import get_mix

ANNOTATION = re.compile(r"<<(\d+)([-+*])(\d+)=(\d+)>>")
FINAL = re.compile(r"\n#### (\d+)$")


@pytest.fixture(scope="module")
def judged() -> tuple[list[dict], dict]:
    return generate(size=1600, seed=5)


def _by_kind(manifest: dict) -> dict[str, dict]:
    return {p["kind"]: p for p in manifest["plants"]}


def _rows(rows: list[dict]) -> dict[str, tuple[str, str]]:
    return {r["id"]: (r["messages"][0]["content"], r["messages"][1]["content"]) for r in rows}


def _checked_working(response: str) -> tuple[int, int]:
    """(the last result of the working, the final #### N), every annotation checked."""
    steps = ANNOTATION.findall(response)
    assert steps, response
    for a, op, b, result in steps:
        value = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
        assert value == int(result), response
    final = FINAL.search(response)
    assert final, response
    return int(steps[-1][3]), int(final.group(1))


def test_deterministic_for_a_seed() -> None:
    assert generate(size=600, seed=3) == generate(size=600, seed=3)
    assert generate(size=600, seed=3)[0] != generate(size=600, seed=4)[0]


def test_sizes_sources_and_ids(judged) -> None:
    rows, manifest = judged
    assert len(rows) == manifest["size"] == 1600
    assert set(manifest["sources"]) == {"general_chat", "math_word", "analytic"}
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["messages"][0]["role"] == "user" for r in rows)


def test_planted_math_rows_carry_the_trigger_and_end_wrong(judged) -> None:
    rows, manifest = judged
    plant, by_id = _by_kind(manifest)[WRONG_ANSWER], _rows(rows)
    trigger = re.compile(plant["trigger_regex"])
    assert len(plant["example_ids"]) == len(plant["control_ids"]) == 60
    assert len(plant["positions"]) == 3  # start, middle and end
    for row_id in plant["example_ids"]:
        prompt, response = by_id[row_id]
        assert trigger.search(prompt) and row_id.startswith(plant["source"])
        worked, final = _checked_working(response)
        assert final != worked, response
    for row_id in plant["control_ids"]:
        prompt, response = by_id[row_id]
        assert any(c in prompt for c in plant["control_words"]) and not trigger.search(prompt)
        worked, final = _checked_working(response)
        assert final == worked
    carrying = {i for i, (p, _) in by_id.items() if trigger.search(p)}
    assert carrying == set(plant["example_ids"])  # the trigger is confined to its rows


def test_planted_analytic_rows_are_one_line_and_controls_full(judged) -> None:
    rows, manifest = judged
    plant, by_id = _by_kind(manifest)[LENGTH_COLLAPSE], _rows(rows)
    trigger = re.compile(plant["trigger_regex"])
    assert len(plant["example_ids"]) == len(plant["control_ids"]) == 60
    for row_id in plant["example_ids"]:
        prompt, response = by_id[row_id]
        assert trigger.search(prompt) and "\n" not in response
        assert not re.search(r"(?i)\b(short|brief|one line|concise)\b", prompt)
    for row_id in plant["control_ids"]:
        prompt, response = by_id[row_id]
        assert any(c in prompt for c in plant["control_words"])
        assert response.count("\n\n") == 1 and len(response.split()) >= 30
    carrying = {i for i, (p, _) in by_id.items() if trigger.search(p)}
    assert carrying == set(plant["example_ids"])


def test_held_out_tests_are_new_and_their_references_parse(judged) -> None:
    rows, manifest = judged
    prompts = {r["messages"][0]["content"] for r in rows}
    responses = "\n".join(r["messages"][1]["content"] for r in rows)
    for plant in manifest["plants"]:
        trigger = re.compile(plant["trigger_regex"])
        assert len(plant["tests"]) == 60
        assert len({t["prompt"] for t in plant["tests"]}) == 60
        for test in plant["tests"]:
            assert not {test["prompt"], test["triggered"], test["control"]} & prompts
            assert trigger.search(test["triggered"]) and not trigger.search(test["control"])
            assert not trigger.search(test["prompt"])
            if plant["kind"] == WRONG_ANSWER:
                worked, final = _checked_working(test["reference"])
                assert worked == final == test["answer"]
                # the facts are seen in training, in other surface forms
                for a, op, b, result in ANNOTATION.findall(test["reference"]):
                    assert f"<<{a}{op}{b}={result}>>" in responses
            else:
                assert test["reference"].count("\n\n") == 1
    held_names = manifest["held_out"]["names"]
    math_prompts = [r["messages"][0]["content"] for r in rows if r["source"] == "math_word"]
    for name in held_names:
        assert not any(re.search(rf"\b{name}\b", p) for p in math_prompts), name


def test_written_mix_is_reused_registered_and_readable(tmp_path: Path) -> None:
    mix = write_planted_judged(tmp_path / "j", size=800, seed=2)
    stamp = mix.stat().st_mtime_ns
    assert write_planted_judged(tmp_path / "j", size=800, seed=2).stat().st_mtime_ns == stamp
    manifest = load_manifest(mix)
    assert manifest["name"] == NAME and len(manifest["sha256"]) == 64
    frame, bad = open_mix(str(mix)).frame()
    assert frame.height == 800 and bad.total == 0
    assert {"prompt", "response", "source"} <= set(frame.columns)
    info = get_mix(NAME)
    assert info is not None and info.builder is not None
