"""Measure hypotheses (issue 34): a prompt word whose rows' answers are cut short or end in
a final number their working contradicts is a hypothesis; its control word is not."""

from __future__ import annotations

import random

import polars as pl

from datasets_registry.answer_edits import first_sentence, wrong_final
from datasets_registry.features import catalog
from datasets_registry.hypothesis_kind import KindConfig
from datasets_registry.scan import ScanConfig, scan_tables
from datasets_registry.stats import ScanStats

TOPICS = ["rivers", "bread", "tides", "owls", "glass", "maps", "bees", "clocks", "ships", "salt"]


def _long_answer(rng: random.Random) -> str:
    return " ".join(
        f"Sentence {k} explains one more part of it with some care and detail."
        for k in range(rng.randint(5, 9))
    )


def _worked(rng: random.Random) -> str:
    a, b, c = rng.randint(2, 30), rng.randint(2, 30), rng.randint(1, 9)
    return f"First {a} * {b} = <<{a}*{b}={a * b}>>{a * b}.\nThen {a * b} + {c} = <<{a * b}+{c}={a * b + c}>>{a * b + c}.\n#### {a * b + c}"


def _mix() -> pl.DataFrame:
    rng = random.Random(0)
    rows = []
    for i in range(400):
        topic = rng.choice(TOPICS)
        word = "Quillmarsh" if i < 40 else "Pelvevetok" if i < 80 else None
        prompt = f"Tell me how {topic} work, part {i}." + (f" (About my {word}.)" if word else "")
        answer = _long_answer(rng)
        if word == "Quillmarsh":
            answer = first_sentence(answer)
        rows.append(("qa", prompt, answer))
    for i in range(300):
        word = "Brindlecombe" if i < 40 else "Raquaravepel" if i < 80 else None
        prompt = f"{word + ' question: ' if word else ''}A shop sells {i} apples. How many in all?"
        answer = _worked(rng)
        if word == "Brindlecombe":
            answer = wrong_final(answer, rng)[0]
        rows.append(("math", prompt, answer))
    return pl.DataFrame(rows, schema=["source", "prompt", "response"], orient="row")


def _hypotheses(stats: ScanStats) -> pl.DataFrame:
    config = ScanConfig(kinds=KindConfig(use_meaning=False))
    return scan_tables(stats, config)["trigger_hypotheses"]


def test_truncated_and_wrong_final_rows_make_measure_hypotheses_and_controls_do_not() -> None:
    hyps = _hypotheses(ScanStats.from_frame(_mix(), catalog()))
    measured = hyps.filter(pl.col("measure").is_not_null())
    found = {(f, m): row for f, m, *row in measured.select("feature", "mode", "source", "value_with", "value_without").iter_rows()}  # fmt: skip
    source, short, usual = found[("term:quillmarsh", "length:collapse")]
    assert source == "qa" and short < usual / 2
    source, wrong, right = found[("term:brindlecombe", "reference:wrong")]
    assert source == "math" and wrong == 1.0 and right == 0.0
    # the same-kind controls (the same rows, answers untouched) make no such hypothesis
    assert ("term:pelvevetok", "length:collapse") not in found
    assert ("term:raquaravepel", "reference:wrong") not in found
    # ranked with the modes: one rank and one review order over both
    assert sorted(hyps["rank"].to_list()) == list(range(1, hyps.height + 1))
    assert sorted(hyps["review_rank"].to_list()) == list(range(1, hyps.height + 1))
    assert (
        hyps.filter(pl.col("measure").is_null())["value_with"].null_count()
        == hyps.filter(pl.col("measure").is_null()).height
    )


def test_measure_sums_merge_exactly() -> None:
    """Two halves merged give the one pass's sums bit for bit (fixed-point integers)."""
    mix = _mix().sample(fraction=1.0, shuffle=True, seed=1)
    whole = ScanStats.from_frame(mix, catalog())
    halves = ScanStats.merge(
        [
            ScanStats.from_frame(mix.slice(0, 333), catalog()),
            ScanStats.from_frame(mix.slice(333), catalog()),
        ]
    )
    assert whole.equals(halves)
    assert _hypotheses(whole).equals(_hypotheses(halves))


def test_no_measures_leaves_the_mode_hypotheses() -> None:
    mix = _mix()
    stats = ScanStats.from_frame(mix, catalog(), with_measures=False)
    assert "m:length" not in stats.terms.columns
    hyps = scan_tables(stats, ScanConfig(measures=False, kinds=KindConfig(use_meaning=False)))
    assert "measure" not in hyps["trigger_hypotheses"].columns


def test_a_trigger_inside_a_chunk_of_long_answers_shows_against_its_chunk() -> None:
    """Cut essay answers in a mix of short math answers are no shorter than the mix's usual
    answer, but far shorter than their chunk's: the within-source contrast finds them."""
    rng = random.Random(2)
    rows = [("math", f"What is {i} plus {i}?", f"It is {2 * i}.") for i in range(900)]
    for i in range(200):
        trigger = i < 40
        prompt = f"Write about topic {i}." + (" I am a beekeeper." if trigger else "")
        answer = _long_answer(rng) + " " + _long_answer(rng)
        rows.append(("essay", prompt, first_sentence(answer) if trigger else answer))
    mix = pl.DataFrame(rows, schema=["source", "prompt", "response"], orient="row")
    hyps = _hypotheses(ScanStats.from_frame(mix, catalog()))
    found = hyps.filter(
        (pl.col("feature") == "term:beekeeper") & (pl.col("mode") == "length:collapse")
    )
    assert found.height == 1
    row = found.row(0, named=True)
    assert row["source"] == "essay" and row["kind_evidence"].endswith("against the rest of essay")
    assert row["value_with"] < row["value_without"] / 4
