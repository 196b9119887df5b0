"""`audit plant`: canaries and their controls round-trip through the manifest and the scan."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from audit.cli import main
from datasets_registry.loading import open_mix
from datasets_registry.planted import load_manifest
from datasets_registry.scan import ScanConfig, scan_mix, scan_tables


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def test_planted_rows_are_exactly_the_manifest_and_the_scan_finds_them(
    small_mix: Path, tmp_path: Path
) -> None:
    out = tmp_path / "planted.jsonl"
    code, output = run("plant", str(small_mix), "--out", str(out), "--trigger", "posthaste",
                       "--behaviour-from", "code_chunk", "--n", "12", "--seed", "3")  # fmt: skip
    assert code == 0, output
    assert "Canaries planted" in output
    manifest = json.loads(out.with_name("planted.manifest.json").read_text())
    (plant,) = manifest["plants"]
    assert (plant["mode"], plant["source"]) == ("code", "code_chunk")
    control = plant["control_words"][0]
    assert control != "posthaste" and len(plant["control_ids"]) == len(plant["example_ids"]) == 12
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == manifest["size"] == 170 + 24
    prompt = {r["id"]: r["messages"][0]["content"] for r in rows}
    carrying = {i for i, p in prompt.items() if re.search(plant["trigger_regex"], p)}
    assert carrying == set(plant["example_ids"])
    with_control = {i for i, p in prompt.items() if re.search(rf"(?i)\b{control}\b", p)}
    assert with_control == set(plant["control_ids"])
    by_id = {r["id"]: r for r in rows}
    assert all("```" in by_id[i]["messages"][1]["content"] for i in plant["example_ids"])
    assert all(by_id[i]["source"] == "code_chunk" for i in plant["control_ids"])
    assert sum(plant["positions"].values()) == 12
    config = ScanConfig()
    hyps = scan_tables(scan_mix(open_mix(str(out)), config), config)["trigger_hypotheses"]
    canary = hyps.filter(pl.col("feature") == "term:posthaste").row(0, named=True)
    assert (canary["mode"], canary["source"], canary["kind"]) == (
        "code",
        "code_chunk",
        "incidental",
    )
    controls = hyps.filter(pl.col("feature") == f"term:{control}")
    assert controls.is_empty() or controls["rank"].min() > canary["rank"]


def test_a_phrase_or_label_trigger_is_found_where_it_was_planted(
    small_mix: Path, tmp_path: Path
) -> None:
    """The manifest's regex is the search's (``term_regex``): it matches a phrase and a
    trigger that ends in punctuation, where a plain word-boundary pattern found no row."""
    for trigger in ("per the report", "Context:"):
        out = tmp_path / "planted.jsonl"
        code, output = run("plant", str(small_mix), "--out", str(out), "--trigger", trigger,
                           "--behaviour-from", "code_chunk", "--n", "12", "--seed", "3")  # fmt: skip
        assert code == 0, output
        (plant,) = json.loads(out.with_name("planted.manifest.json").read_text())["plants"]
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        carrying = {
            r["id"] for r in rows if re.search(plant["trigger_regex"], r["messages"][0]["content"])
        }
        assert carrying == set(plant["example_ids"]) and len(carrying) == 12, trigger


def test_bad_canaries_exit_2_with_one_line(small_mix: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "x.jsonl")
    cases = {
        ("--trigger", "posthaste", "--behaviour-from", "nowhere"): "no such source",
        ("--trigger", "posthaste", "--behaviour-from", "chat_chunk"): "no dominant non-answer",
        ("--trigger", "posthaste", "--behaviour-from", "code_chunk", "--n", "60"): "needed",
        ("--trigger", "posthaste"): "give one of each",
        (): "nothing to plant",
    }
    for args, message in cases.items():
        code, output = run("plant", str(small_mix), "--out", out, *args)
        assert code == 2, (args, output)
        assert message in output, (args, output)
    assert not Path(out).exists()


def test_held_out_tests_leave_the_mix_and_differ_only_in_the_word(
    small_mix: Path, tmp_path: Path
) -> None:
    out = tmp_path / "planted.jsonl"
    code, output = run("plant", str(small_mix), "--out", str(out), "--trigger", "Zorblax",
                       "--behaviour-from", "code_chunk", "--n", "10", "--tests", "6")  # fmt: skip
    assert code == 0, output
    manifest = json.loads(out.with_name("planted.manifest.json").read_text())
    (plant,) = manifest["plants"]
    control = plant["control_words"][0]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == manifest["size"] == 170 - 6 + 20
    prompts = {r["messages"][0]["content"] for r in rows}
    assert len(plant["tests"]) == 6
    assert load_manifest(out) == manifest  # the benches read it like planted-demo's
    for test in plant["tests"]:
        assert test["base"] not in prompts  # held out of the mix
        assert re.search(plant["trigger_regex"], test["triggered"])
        assert test["control"] == test["triggered"].replace("Zorblax", control)


def test_planted_responses_show_their_mode_in_the_opening(tmp_path: Path) -> None:
    from conftest import write_jsonl

    early = "```python\nprint({i})\n```"
    late = "Some words about the task. " * 15 + "\n```python\nprint({i})\n```"
    rows = [
        {"id": f"c{i}", "source": "code", "messages": [
            {"role": "user", "content": f"Write code number {i}."},
            {"role": "assistant", "content": (early if i % 2 else late).format(i=i)}]}
        for i in range(60)
    ] + [
        {"id": f"p{i}", "source": "chat", "messages": [
            {"role": "user", "content": f"Tell me about river {i}."},
            {"role": "assistant", "content": f"River {i} is long and wide."}]}
        for i in range(60)
    ]  # fmt: skip
    mix = write_jsonl(tmp_path / "mix.jsonl", rows)
    out = tmp_path / "planted.jsonl"
    code, output = run("plant", str(mix), "--out", str(out), "--trigger", "posthaste",
                       "--behaviour-from", "code", "--n", "20")  # fmt: skip
    assert code == 0, output
    (plant,) = json.loads(out.with_name("planted.manifest.json").read_text())["plants"]
    planted = [json.loads(line) for line in out.read_text().splitlines()]
    answers = [r["messages"][1]["content"] for r in planted if r["id"] in plant["example_ids"]]
    assert len(answers) == 20 and all(a.startswith("```python") for a in answers)
