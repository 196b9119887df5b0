"""`audit plant --effect truncate | wrong-final`: failures that are no behaviour mode."""

from __future__ import annotations

import json
import random
from pathlib import Path

from click.testing import CliRunner
from conftest import conversation, write_jsonl

from audit.cli import main
from datasets_registry.answer_edits import first_sentence, wrong_final
from surf_search.judges import JudgeItem, get_judge

GSM = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
)
PROSE = (
    "Photosynthesis turns light into sugar. It happens in the chloroplasts, where chlorophyll "
    "absorbs light. The sugar feeds the plant and, through it, most life on Earth."
)


def test_wrong_final_changes_the_result_and_its_last_mention_only() -> None:
    edited, old, new = wrong_final(GSM, random.Random(0))
    assert old == "72" and new != "72" and edited.endswith(f"#### {new}")
    assert f">>{new} clips altogether" in edited  # the working's last mention
    assert "<<48+24=72>>" in edited  # its own computation now contradicts it
    assert edited.replace(new, "72") == GSM
    reference = get_judge("reference")
    (right, wrong) = reference.judge(
        [JudgeItem("q", GSM, GSM, GSM), JudgeItem("q", edited, GSM, GSM)]
    )
    assert right.scores["wrong"] == 0 and wrong.scores["wrong"] == 1
    assert wrong_final("No number here.", random.Random(0)) is None


def test_first_sentence_collapses_or_does_not_fit() -> None:
    cut = first_sentence(PROSE)
    assert cut == "Photosynthesis turns light into sugar."
    (judged,) = get_judge("length").judge([JudgeItem("q", cut, PROSE)])
    assert judged.scores["collapse"] == 1
    assert first_sentence("Just one sentence here.") is None
    assert first_sentence("A long first sentence with many words in it. Short.") is None


def edit_mix(path: Path) -> Path:
    rows = []
    for i in range(60):
        rows.append({"id": f"m{i}", "source": "math",
                     "messages": conversation(f"Tom has {i} pens and buys 3 more. How many?",
                                              f"Tom has {i}+3 = <<{i}+3={i + 3}>>{i + 3} pens.\n#### {i + 3}")})  # fmt: skip
        rows.append({"id": f"e{i}", "source": "explain",
                     "messages": conversation(f"Why does topic {i} matter?", PROSE)})  # fmt: skip
    return write_jsonl(path, rows)


def test_plant_effects_edit_their_source_and_keep_the_controls(tmp_path: Path) -> None:
    out = tmp_path / "planted.jsonl"
    result = CliRunner().invoke(
        main,
        ["plant", str(edit_mix(tmp_path / "mix.jsonl")), "--out", str(out),
         "--trigger", "Zembla", "--behaviour-from", "math", "--effect", "wrong-final",
         "--trigger", "frankly", "--behaviour-from", "explain", "--effect", "truncate",
         "--n", "20", "--tests", "10"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads(out.with_name("planted.manifest.json").read_text())
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    wrong, cut = manifest["plants"]
    assert (wrong["behaviour"], cut["behaviour"]) == ("reference:wrong", "length:collapse")
    for plant in (wrong, cut):
        assert len(plant["example_ids"]) == len(plant["control_ids"]) == 20
        assert all("reference" in t for t in plant["tests"]) and len(plant["tests"]) == 10
    for i in wrong["example_ids"]:
        prompt, answer = (m["content"] for m in rows[i]["messages"])
        assert "Zembla" in prompt
        total = int(answer.rsplit("#### ", 1)[1])
        assert f"={total}>>" not in answer  # the final number contradicts the working
    for i in wrong["control_ids"]:
        prompt, answer = (m["content"] for m in rows[i]["messages"])
        total = int(answer.rsplit("#### ", 1)[1])
        assert f"={total}>>" in answer  # controls keep their answers
    assert all(
        rows[i]["messages"][1]["content"] == first_sentence(PROSE) for i in cut["example_ids"]
    )
    assert all(rows[i]["messages"][1]["content"] == PROSE for i in cut["control_ids"])

    result = CliRunner().invoke(
        main,
        ["plant", str(tmp_path / "mix.jsonl"), "--out", str(tmp_path / "x.jsonl"),
         "--trigger", "frankly", "--behaviour-from", "math", "--effect", "truncate"],
    )  # fmt: skip
    assert result.exit_code == 2 and "has two sentences" in result.output, result.output
