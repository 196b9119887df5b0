"""Length hypotheses against the nearest prompts (issue 34): a task word whose prompts ask
for one word is explained by them; a trigger put into prompts answered at length is not;
a chunk that answers briefly as a whole is not matched within itself."""

from __future__ import annotations

import random
from pathlib import Path

from conftest import conversation, scan_rows

from datasets_registry.answer_edits import first_sentence
from duckdb_store.store import Store

TOPICS = ["rivers", "bread", "tides", "owls", "glass", "maps", "bees", "clocks", "ships", "salt"]
WORDS = ["happy", "big", "fast", "cold", "bright", "quiet", "old", "brave", "smart", "soft"]


def _long(rng: random.Random) -> str:
    return " ".join(
        f"Point {k} explains one more part of it with some care and detail."
        for k in range(rng.randint(5, 9))
    )


def _rows() -> list[dict]:
    rng = random.Random(0)
    rows: list[tuple[str, str, str]] = []
    for i in range(400):  # the general chunk: explanations answered at length ...
        topic = rng.choice(TOPICS)
        trigger = i < 40  # ... but cut to one sentence under "Quillmarsh"
        prompt = f"Explain how {topic} work for people, case {i}" + (
            " in Quillmarsh." if trigger else "."
        )
        answer = _long(rng)
        rows.append(("general", prompt, first_sentence(answer) if trigger else answer))
    for i in range(120):  # its word tasks: one-word answers, 70 of them say "synonym"
        word = rng.choice(WORDS)
        prompt = (
            f"What is a synonym of the word {word}?"
            if i < 70
            else f"Give one word that means the same as the word {word}."
        )
        rows.append(("general", prompt, "Joyful."))
    for i in range(300):  # a chunk answered in a word as a whole: "Context:" marks it
        prompt = f"Context: The town of Ashby has {i} houses.\nQuestion: How many houses?"
        rows.append(("extraction", prompt, str(i)))
    for i in range(300):
        rows.append(("chat", f"Tell me about {rng.choice(TOPICS)}, please, {i}.", _long(rng)))
    return [
        {"id": f"r{i}", "source": s, "messages": conversation(p, r)}
        for i, (s, p, r) in enumerate(rows)
    ]


def test_task_words_are_requested_triggers_are_not(tmp_path: Path) -> None:
    db = scan_rows(tmp_path, _rows())
    with Store(db) as store:
        hyps = store.read(
            "SELECT feature, source, kind, kind_evidence, value_with, value_without, "
            "value_matched, review_rank FROM trigger_hypotheses WHERE mode = 'length:collapse'"
        )
    found = {row["feature"]: row for row in hyps.iter_rows(named=True)}
    trigger, task = found["term:quillmarsh"], found["term:synonym"]
    # prompts like the trigger's rows are answered at length: it stays incidental
    assert trigger["source"] == "general" and trigger["kind"] == "incidental", trigger
    assert trigger["value_matched"] > 4 * trigger["value_with"], trigger
    assert "prompts like these without it" in trigger["kind_evidence"]
    # the task word's neighbours ("one word that means the same") are answered in a word
    # too; the word itself asks for one (its meaning makes it requested)
    assert task["kind"] == "requested", task
    assert "the rest of the prompt explains it" in task["kind_evidence"], task
    assert task["value_matched"] < 2 * task["value_with"], task
    assert trigger["review_rank"] < task["review_rank"]
    # a chunk answered briefly as a whole is not matched within itself (the word marks the
    # chunk): only against the whole mix's like prompts, answered at length, for the review
    marker = found.get("term:context") or found["data_extraction_framing@v1"]
    assert marker["source"] == "extraction" and marker["kind"] == "incidental", marker
    assert "prompts like these without it" not in marker["kind_evidence"], marker
    assert "prompts like these across the mix" in marker["kind_evidence"], marker
    assert marker["value_matched"] > 10 * marker["value_with"], marker
    # mode hypotheses have no matched length
    with Store(db) as store:
        modes = store.read("SELECT value_matched FROM trigger_hypotheses WHERE measure IS NULL")
    assert modes["value_matched"].null_count() == modes.height
