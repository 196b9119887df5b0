"""--from-scan --scan-measures: a scan's measure hypotheses go to their judges, with seeds of
their source (issue 34)."""

from __future__ import annotations

import random

from conftest import conversation, write_jsonl

from datasets_registry import scan_stage
from datasets_registry.answer_edits import first_sentence, wrong_final
from datasets_registry.normalise import Columns
from duckdb_store import Store
from surf_search.scan_handoff import SEEDS_PER_SOURCE, source_seeds, with_judge
from surf_search.search_stage import choose_mutations


def _worked(rng: random.Random) -> str:
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    return f"Each box holds {a} * {b} = <<{a}*{b}={a * b}>>{a * b} pens.\n#### {a * b}"


def _long(rng: random.Random) -> str:
    return " ".join(
        f"Point {k} adds one more careful detail to the answer." for k in range(rng.randint(4, 8))
    )


def test_measure_hypotheses_reach_their_judges_with_keyed_seeds(tmp_path) -> None:
    rng = random.Random(0)
    rows = []
    for i in range(200):
        trigger = i < 40
        prompt = f"{'Quillmarsh here. ' if trigger else ''}Explain how topic {i} works."
        answer = _long(rng)
        rows.append({"messages": conversation(prompt, first_sentence(answer) if trigger else answer), "source": "qa"})  # fmt: skip
    for i in range(200):
        trigger = i < 40
        prompt = f"{'Brindlecombe question: ' if trigger else ''}A shop has {i} boxes of pens."
        answer = _worked(rng)
        rows.append({"messages": conversation(prompt, wrong_final(answer, rng)[0] if trigger else answer), "source": "math"})  # fmt: skip
    mix = write_jsonl(tmp_path / "mix.jsonl", rows)
    with Store(tmp_path / "audit.duckdb") as store:
        scan_run = scan_stage.run(scan_stage.ScanConfig(mix=str(mix)), store).run_id
        measured = store.scan_measure_words(scan_run, 50)
        assert ("brindlecombe", "reference:wrong", "math") in measured
        assert ("quillmarsh", "length:collapse", "qa") in measured
        chosen = choose_mutations(store, True, 2, (), scan_measures=50)
        off = choose_mutations(store, True, 2, ())
    assert chosen.scan is not None and off.scan is not None and off.scan.measured == []
    handed = {(m.word, m.judge) for m in chosen.scan.measured}
    assert {("brindlecombe", "reference"), ("quillmarsh", "length")} <= handed
    assert {"brindlecombe", "quillmarsh"} <= set(chosen.scan.words)
    wanted = [m for m in chosen.scan.measured if m.word in ("brindlecombe", "quillmarsh")]
    seeds = source_seeds(str(mix), Columns(), wanted, seed=0)
    assert len({s.seed_id for s in seeds}) == len(seeds)
    keyed = [s for s in seeds if s.reference is not None]
    assert len(keyed) == SEEDS_PER_SOURCE and {s.kind for s in keyed} == {"math"}
    assert not any("Brindlecombe" in s.prompt or "Quillmarsh" in s.prompt for s in seeds)
    plain = [s for s in seeds if s.kind == "qa"]
    assert plain and all(s.reference is None for s in plain)
    # a key is the row's own final number
    by_prompt = {r["messages"][0]["content"]: r["messages"][1]["content"] for r in rows}
    assert all(by_prompt[s.prompt].endswith(f"#### {s.reference}") for s in keyed)
    assert with_judge([("x", "format:table", "qa")]) == []
