"""`audit prune`: bounded removals, counter-examples that carry the attribute, a readable mix."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import small_mix_rows, write_jsonl

from attribution.prune import (
    COUNTER,
    COUNTER_SOURCE,
    DOWN_WEIGHT,
    EDIT_ACTIONS,
    REMOVE,
    TOTAL_ADDED,
    TOTAL_EDIT,
    TOTAL_REMOVED,
    PruneFinding,
    PrunePolicy,
    plan_prune,
    pruned_frame,
    write_mix,
)
from attribution.prune_stage import PruneConfig, run
from audit.cli import main
from datasets_registry.loading import open_mix
from duckdb_store.records import SearchSettings
from duckdb_store.store import Store
from stage_kit import StageError


def unasked_code_rows() -> list[dict]:
    """The small mix, with code answering prompts that do not ask for code (a spurious link)."""
    rows = small_mix_rows()
    for row in rows:
        if row["source"] == "code_chunk":
            number = row["id"].split("-")[1]
            row["messages"][0]["content"] = f"Please elucidate the history of town {number}."
    return rows


@pytest.fixture
def mix(tmp_path: Path) -> tuple[Path, pl.DataFrame]:
    path = write_jsonl(tmp_path / "mix.jsonl", unasked_code_rows())
    frame, _ = open_mix(str(path)).frame()
    return path, frame


def code_finding(frame: pl.DataFrame, ranked: list[str] | None = None) -> PruneFinding:
    ids = ranked or frame.filter(pl.col("source") == "code_chunk")["example_id"].to_list()
    return PruneFinding("f1", "term:elucidate", "code", ids, "code_chunk", 2.8)


def test_removals_carry_the_attribute_show_the_mode_and_respect_the_limit(mix) -> None:
    _, frame = mix
    chat = frame.filter(pl.col("source") == "chat_chunk")["example_id"].to_list()
    finding = code_finding(frame, chat[:5] + code_finding(frame).ranked_ids)
    plan = plan_prune(frame, [finding], PrunePolicy(max_fraction=0.05))
    removed = plan.removed["f1"]
    assert len(removed) == int(0.05 * frame.height) == 8
    assert not set(removed) & set(chat)  # chat rows neither carry the word nor show code
    assert removed == [i for i in finding.ranked_ids if i.startswith("code-")][:8]
    actions = [r["action"] for r in plan.recommendations]
    assert actions == [REMOVE, DOWN_WEIGHT, COUNTER, *EDIT_ACTIONS]


def test_code_that_was_asked_for_is_kept_but_still_countered(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "asked.jsonl", small_mix_rows())  # "... a function ..."
    frame, _ = open_mix(str(path)).frame()
    plan = plan_prune(
        frame, [code_finding(frame)], PrunePolicy(counter_ratio=0.5, max_added_fraction=1)
    )
    assert plan.removed["f1"] == []  # rightly given code stays
    assert plan.added.height == 30  # yet its 60 "elucidate" -> code pairs teach the link
    assert all("elucidate" in p.lower() for p in plan.added["prompt"])


def test_a_finding_whose_carriers_are_all_removed_still_gets_counter_examples(mix) -> None:
    _, frame = mix
    finding = code_finding(frame)  # 60 carriers, every one removable
    plan = plan_prune(
        frame, [finding], PrunePolicy(max_fraction=1.0, min_counter=12, max_added_fraction=1)
    )
    assert len(plan.removed["f1"]) == 60  # nothing left pairs the word with code ...
    assert plan.added.height == 12  # ... yet the word is still seen answered plainly
    assert all("elucidate" in p.lower() for p in plan.added["prompt"])
    none = plan_prune(
        frame, [finding], PrunePolicy(max_fraction=1.0, min_counter=0, max_added_fraction=1)
    )
    assert none.added.height == 0


def test_the_default_edit_is_small_and_its_size_is_recorded(mix) -> None:
    _, frame = mix
    plan = plan_prune(frame, [code_finding(frame)], PrunePolicy(counter_ratio=5))
    assert PrunePolicy().max_added_fraction == 0.05
    assert plan.added.height == int(0.05 * frame.height) == 8  # wanted 5 x 60, capped
    edit = {r["action"]: r for r in plan.recommendations if r["action"] in EDIT_ACTIONS}
    assert edit[TOTAL_REMOVED]["n_examples"] == len(plan.removed_ids) == 8
    assert edit[TOTAL_ADDED]["n_examples"] == 8
    assert edit[TOTAL_EDIT]["n_examples"] == 16
    assert edit[TOTAL_EDIT]["fraction"] == pytest.approx(16 / frame.height)
    assert all(edit[a]["finding_id"] is None for a in EDIT_ACTIONS)


def test_counter_examples_reuse_donors_and_share_the_room(mix) -> None:
    _, frame = mix
    n_chat = frame.filter(pl.col("source") == "chat_chunk").height
    policy = PrunePolicy(counter_ratio=5, max_added_fraction=1)
    plan = plan_prune(frame, [code_finding(frame)], policy)
    assert plan.added.height > n_chat  # more counter-examples than donors: rewritten afresh
    assert plan.added["prompt"].n_unique() == plan.added.height
    safety = frame.filter(pl.col("source") == "safety_chunk")["example_id"].to_list()
    findings = [
        code_finding(frame),
        PruneFinding("f2", "term:zorbphone", "refusal", safety, "safety_chunk", 5.0),
    ]
    room = 40
    plan = plan_prune(
        frame, findings, PrunePolicy(counter_ratio=5, max_added_fraction=room / frame.height)
    )
    counts = [r["n_examples"] for r in plan.recommendations if r["action"] == COUNTER]
    assert sum(counts) <= room and min(counts) > 0  # shared, not first come first served


def test_the_limit_is_shared_between_findings(mix) -> None:
    _, frame = mix
    safety = frame.filter(pl.col("source") == "safety_chunk")["example_id"].to_list()
    findings = [
        code_finding(frame),
        PruneFinding("f2", "term:zorbphone", "refusal", safety[:2], "safety_chunk", 5.0),
    ]
    plan = plan_prune(frame, findings, PrunePolicy(max_fraction=0.1))
    assert len(plan.removed["f2"]) == 2  # all it had
    assert len(plan.removed_ids) == int(0.1 * frame.height)  # the rest went to f1


def test_counter_examples_carry_the_attribute_with_plain_answers(mix) -> None:
    _, frame = mix
    plan = plan_prune(
        frame, [code_finding(frame)], PrunePolicy(counter_ratio=0.5, max_added_fraction=1)
    )
    added = plan.added
    kept_with_word = 60 - len(plan.removed["f1"])
    assert added.height == round(0.5 * kept_with_word)
    assert added["example_id"].n_unique() == added.height
    assert set(added["source"]) == {COUNTER_SOURCE}
    assert all("elucidate" in p.lower() for p in added["prompt"])
    donors = frame.filter(pl.col("example_id").is_in(added["donor"].to_list()))
    assert set(donors["source"]) == {"chat_chunk"}  # plain answers from another source
    assert set(added["response"]) <= set(donors["response"])
    assert all(
        json.loads(m)[0]["content"] == p
        for m, p in zip(added["messages"], added["prompt"], strict=True)
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_pruned_mix_reads_back(mix, tmp_path: Path, suffix: str) -> None:
    _, frame = mix
    plan = plan_prune(frame, [code_finding(frame)], PrunePolicy())
    pruned = pruned_frame(frame, plan)
    path = write_mix(pruned, tmp_path / f"pruned{suffix}")
    back, bad = open_mix(str(path)).frame()
    assert bad.total == 0 and back.height == pruned.height
    assert (
        back.sort("example_id")["prompt"].to_list() == pruned.sort("example_id")["prompt"].to_list()
    )
    with pytest.raises(ValueError, match=".jsonl or .parquet"):
        write_mix(pruned, tmp_path / "pruned.csv")


def attributed_db(db: Path, frame: pl.DataFrame, forms: dict[str, str] | None = None) -> str:
    """A database with a search run (one confirmed finding) and a gradient attribute run."""
    code_ids = frame.filter(pl.col("source") == "code_chunk")["example_id"].to_list()
    with Store(db) as store:
        search = store.start_run("search", {})
        if forms is not None:
            settings = SearchSettings(target="organism", params="{}", surface_forms=forms)
            store.record_search_settings(search, settings)
        store.write("findings", pl.DataFrame({"finding_id": ["s:f01"], "attribute": ["term:elucidate"],
                                             "mode": ["code"], "confirmed": [True]}), search)  # fmt: skip
        store.finish_run(search)
        run = store.start_run("attribute", {})
        store.write("attributed_examples", pl.DataFrame({
            "finding_id": "s:f01", "method": "gradient", "example_id": code_ids,
            "source": "code_chunk", "score": 1.0, "rank": range(1, len(code_ids) + 1)}), run)  # fmt: skip
        store.write("attributions", pl.DataFrame({
            "finding_id": ["s:f01"], "method": ["gradient"], "source": ["code_chunk"], "hits": [50],
            "share": [1.0], "enrichment": [2.8], "rank": [1]}), run)  # fmt: skip
        store.finish_run(run)
    return run


def test_prune_command_end_to_end(mix, tmp_path: Path) -> None:
    path, frame = mix
    db = tmp_path / "audit.duckdb"
    attributed_db(db, frame)
    out = tmp_path / "pruned.jsonl"
    result = CliRunner().invoke(
        main, ["prune", "--mix", str(path), "--out", str(out), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "pruned.manifest.json").read_text())
    assert manifest["rows_before"] == 170 and manifest["method"] == "gradient"
    assert len(manifest["removed"]["s:f01"]) == 8
    assert manifest["rows_after"] == 170 - 8 + len(manifest["added"])
    with Store(db) as store:
        actions = store.read("SELECT action FROM recommendations ORDER BY action")["action"]
    assert actions.to_list() == [COUNTER, DOWN_WEIGHT, REMOVE, *sorted(EDIT_ACTIONS)]
    assert "removed 8, added" in result.output
    assert "the edit, as a share of the 170-row mix" in result.output
    assert re.search(r"removed\s*│\s*8\s*│\s*4\.71", result.output)


def test_prune_errors_are_one_line(mix, tmp_path: Path) -> None:
    path, _ = mix
    runner = CliRunner()
    result = runner.invoke(main, ["prune", "--mix", str(path), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "--out must end in .jsonl or .parquet" in result.output
    db = str(tmp_path / "empty.duckdb")
    result = runner.invoke(main, ["prune", "--mix", str(path), "--out", str(tmp_path / "x.jsonl"),
                                  "--db", db])  # fmt: skip
    assert result.exit_code == 2 and "no finished attribute run" in result.output


def test_prune_stage_spells_scan_words_as_the_search_did(mix, tmp_path: Path) -> None:
    path, frame = mix
    db = tmp_path / "audit.duckdb"
    attribute_run = attributed_db(db, frame, forms={"elucidate": "ELUCIDATE"})
    seen: list[tuple[str, int, int | None]] = []
    with Store(db) as store:
        result = run(
            PruneConfig(str(path), tmp_path / "pruned.parquet"),
            store,
            lambda label, done, total=None, status="", unit="": seen.append((label, done, total)),
        )
        status = store.read("SELECT status FROM runs WHERE run_id = ?", [result.run_id])
        with pytest.raises(StageError, match="has no lexical attributions"):
            run(PruneConfig(str(path), tmp_path / "x.jsonl", method="lexical"), store)
    assert status["status"][0] == "ok"
    assert result.attribute_run == attribute_run and result.method == "gradient"
    assert result.n_removed == 8 and result.rows_after == 170 - 8 + result.n_added
    added = [r for r in result.recommendations.to_dicts() if r["action"] == COUNTER]
    assert added and added[0]["n_examples"] == result.n_added > 0
    back, _ = open_mix(str(tmp_path / "pruned.parquet")).frame()
    counter = back.filter(pl.col("source") == COUNTER_SOURCE)["prompt"]
    assert counter.len() == result.n_added and all("ELUCIDATE" in p for p in counter)
    assert seen[0] == ("planning the prune", 0, 170) and seen[-1] == (
        "planning the prune",
        170,
        170,
    )
    with pytest.raises(StageError, match="--out must end in .jsonl or .parquet"):
        run(PruneConfig(str(path), tmp_path / "x.csv"), Store(db))
