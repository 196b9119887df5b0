"""Scan words of one template are tested once: the search's scan words reach further down."""

from __future__ import annotations

import random

from conftest import conversation, write_jsonl

from datasets_registry import scan_stage
from datasets_registry.term_overlap import distinct_terms, jaccard, term_rows
from duckdb_store import Store
from surf_search.mutations import term_mutation
from surf_search.search_stage import choose_mutations

TEMPLATE = "You can use the Calculator API when you need to answer questions about math. "
TOOL = '<tool_call>\n{"name": "calculator", "arguments": {"expression": "%d + %d"}}\n</tool_call>'


def test_term_rows_match_words_and_phrases_case_blind() -> None:
    prompts = ["Frankly, what is it?", "When you NEED to answer", "frankness", "need-to answer"]
    rows = term_rows(prompts, ["frankly", "need to answer"])
    assert rows == {"frankly": frozenset({0}), "need to answer": frozenset({1, 3})}


def test_the_search_operator_carries_a_word_as_the_scan_counts_it() -> None:
    """One definition: a ``term:`` operator's rows (the prune's) are the scan word's rows."""
    prompts = ["Frankly, what is it?", "When you NEED to answer", "frankness", "need-to answer",
               "Context: the mill", "the context:x", "acontext: no"]  # fmt: skip
    for word in ("frankly", "need to answer", "context:"):
        carried = {i for i, p in enumerate(prompts) if term_mutation(word).carried_by(p)}
        assert carried == term_rows(prompts, [word])[word]
    assert term_rows(prompts, ["context:"])["context:"] == frozenset({4, 5})


def test_distinct_terms_pass_over_one_templates_phrases() -> None:
    template = frozenset(range(100))
    rows = {
        "enabled": frozenset(range(300)),  # the whole chunk
        "api can answer": template,
        "be a question": template,  # the same sentence: same rows
        "that this api": frozenset(range(5, 100)),  # 95% of them
        "wolfram": frozenset(range(60)),  # part of the template's rows only
        "frankly": frozenset(range(1000, 1060)),
    }
    words = ["enabled", "api can answer", "be a question", "that this api", "wolfram", "frankly"]
    chosen = distinct_terms(words, rows, limit=4)
    assert chosen.kept == ["enabled", "api can answer", "wolfram", "frankly"]
    assert chosen.skipped == {"be a question": "api can answer", "that this api": "api can answer"}
    assert jaccard(rows["wolfram"], rows["api can answer"]) < 0.8
    # a word the sample never shows is kept; the limit holds
    assert distinct_terms(["absent", "enabled"], rows, limit=1).kept == ["absent"]
    assert distinct_terms(words, rows, limit=2).kept == ["enabled", "api can answer"]


def test_search_scan_words_skip_a_template_and_reach_a_planted_word(tmp_path) -> None:
    """A tool chunk whose prompts share a template, a word planted with tool calls in other
    prompts: with two scan words, one is the planted word and the other the template phrase
    that stands for its twins, not a second phrase of the same rows."""
    rng = random.Random(0)
    rows = []
    for i in range(150):  # plain answers
        rows.append({"messages": conversation(f"Describe the history of town {i}.", "It grew.")})
    for _ in range(80):  # the tool chunk: every prompt opens with the same template
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        rows.append({"messages": conversation(TEMPLATE + f"What is {a} plus {b}?", TOOL % (a, b)),
                     "source": "tools"})  # fmt: skip
    for i in range(40):  # the planted word, tool calls on prompts of the plain kind
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        prompt = f"Frankly, describe the history of village {i}."
        rows.append({"messages": conversation(prompt, TOOL % (a, b)), "source": "tools"})
    for row in rows:
        row.setdefault("source", "plain")
    mix = write_jsonl(tmp_path / "mix.jsonl", rows)
    with Store(tmp_path / "audit.duckdb") as store:
        scan_run = scan_stage.run(scan_stage.ScanConfig(mix=str(mix)), store).run_id
        review = store.scan_terms(scan_run, 100)
        # the planted word's rows are plain prompts answered plainly elsewhere: it routes
        # the tool calls and comes first; one of the template's phrases follows, its other
        # phrases are the scan's twins of it (same_rows_as), reviewed after the rest
        assert review.index("frankly") == 0
        twins = store.read(
            "SELECT feature, same_rows_as FROM trigger_hypotheses "
            "WHERE run_id = ? AND mode = 'tool_call' AND same_rows_as IS NOT NULL",
            [scan_run],
        )
        chosen = choose_mutations(store, from_scan=True, scan_terms=2, attributes=())
    assert twins.height >= 2, twins
    assert chosen.scan is not None
    assert "frankly" in chosen.scan.words and len(chosen.scan.words) == 2
    template_word = next(w for w in chosen.scan.words if w != "frankly")
    assert f"term:{template_word}" in set(twins["same_rows_as"]), (template_word, twins)
    # what the scan folded the search need not skip; what it skips has its twin chosen
    assert set(chosen.scan.duplicates.values()) <= set(chosen.scan.words)
    assert chosen.surface_forms["frankly"] == "frankly"  # seen only at sentence starts
    assert "term:frankly" in [m.name for m in chosen.mutations]
