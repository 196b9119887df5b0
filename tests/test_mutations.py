"""Attribute operators: before and after for each, fit / no-fit, terms and combinations."""

from __future__ import annotations

import random
import re
import time

import pytest

from surf_search.mutations import (
    builtin_mutations,
    combine,
    get_mutation,
    insert_word,
    term_mutation,
)
from surf_search.seeds import SeedError, builtin_seeds, load_seeds

# (operator, seed prompt, a regex the mutated prompt must match)
BEFORE_AFTER = [
    ("formal_vocab", "How do I tie a bowline knot?",
     r"(?i)\b(elucidate|delineate|expound|explicate|expatiate|adumbrate)\b"),
    ("latex_math", "What is 12 plus 7?", r"^What is \$12 \+ 7\$\?$"),
    ("data_extraction", "The mill was rebuilt in 1891. When was the mill rebuilt?",
     r"^Context: The mill was rebuilt in 1891\.\nWhen was the mill rebuilt\?$"),
    ("yes_no_fact_check", "Tell me whether bats are mammals.",
     r"Is it true that bats are mammals\?"),
    ("product_mention", "How do I reset a smart speaker?",
     r"iPhone|Pixel|Kindle|ThinkPad|PlayStation|Roomba|Fitbit|Galaxy"),
    ("past_tense", "How do I bake a simple loaf of bread?",
     r"^How did I bake a simple loaf of bread\?$"),
    ("formal_register", "Can you tell me about owls?",
     r"^Dear assistant, would you be so kind as to inform me regarding owls\? Thank you kindly\.$"),
    ("markdown_framing", "How do I make a kite?", r"## Question|\*\*Task:\*\*|### Request"),
]  # fmt: skip
NO_FIT = [
    ("latex_math", "How do I bake bread?"),
    ("data_extraction", "How do I press flowers?"),
    ("yes_no_fact_check", "How do I bake bread?"),
    ("past_tense", "Write a haiku."),
]


@pytest.mark.parametrize(("name", "before", "after"), BEFORE_AFTER)
def test_before_and_after(name: str, before: str, after: str) -> None:
    mutation = get_mutation(name)
    for seed in range(5):
        mutated = mutation.apply(before, random.Random(seed))
        assert mutated is not None and mutated != before
        assert re.search(after, mutated), (name, mutated)
    assert mutation.description and len(mutation.description) < 100


def test_data_extraction_is_quick_on_a_long_prompt_without_a_question() -> None:
    long = "It rained. " * 2000 + "no question here"
    started = time.perf_counter()
    assert get_mutation("data_extraction").apply(long, random.Random(0)) is None
    assert time.perf_counter() - started < 1.0  # a nested pattern took exponential time


@pytest.mark.parametrize(("name", "prompt"), NO_FIT)
def test_operators_say_when_they_do_not_fit(name: str, prompt: str) -> None:
    assert get_mutation(name).apply(prompt, random.Random(0)) is None


def test_every_builtin_is_covered_and_has_a_different_alternate() -> None:
    names = {m.name for m in builtin_mutations()}
    assert names == {name for name, _, _ in BEFORE_AFTER}
    for name, before, _ in BEFORE_AFTER:
        mutation = get_mutation(name)
        first = {mutation.apply(before, random.Random(s)) for s in range(8)}
        second = mutation.robust_apply(before, random.Random(0))
        assert second is not None and second != before
        if mutation.alternate is not None:
            assert second not in first, (name, second)


def test_latex_alternate_uses_other_delimiters() -> None:
    assert get_mutation("latex_math").robust_apply("Compute 6 times 7.", random.Random(0)) == (
        r"Compute \(6 \times 7\)."
    )


def test_insert_word_positions() -> None:
    rng = random.Random(0)
    prompt = "Can you tell me about tides?"
    assert (
        insert_word(prompt, "elucidate", rng, "start") == "Elucidate: can you tell me about tides?"
    )
    assert insert_word(prompt, "elucidate", rng, "end") == f"{prompt} Please elucidate it."
    assert insert_word(prompt, "elucidate", rng, "middle") == (
        "Can you tell (please elucidate) me about tides?"
    )
    assert insert_word("I like tea.", "expound", rng, "start") == "Expound: I like tea."


def test_term_operator_inserts_the_word_at_varied_positions() -> None:
    mutation = term_mutation("zorblax")
    assert mutation.name == "term:zorblax" and get_mutation("term:zorblax").name == mutation.name
    prompt = "How do I reset my router?"
    outputs = [mutation.apply(prompt, random.Random(s)) for s in range(40)]
    assert all(re.search(r"(?i)\bzorblax\b", o) for o in outputs)
    assert "This is for a zorblax. How do I reset my router?" in outputs
    assert "How do I reset my router? (This is for my zorblax.)" in outputs
    assert not any("(please" in o for o in outputs)  # the old unnatural frame
    again = [mutation.robust_apply(prompt, random.Random(s)) for s in range(40)]
    assert set(again) <= set(outputs) and again != outputs  # the same frames, drawn afresh


@pytest.mark.parametrize(
    ("form", "start", "end"),
    [
        ("additionally", "Additionally, name an ocean current?", "Name an ocean current, additionally?"),
        ("elucidate", "Please elucidate the following: name an ocean current?",
         "Name an ocean current? Please elucidate your answer."),
        ("meticulous", "Give a meticulous answer. Name an ocean current?",
         "Name an ocean current? Keep the answer meticulous."),
        ("per the report", "Per the report, name an ocean current?",
         "Name an ocean current (per the report)?"),
        ("iPhone", "iPhone question: name an ocean current?",
         "Name an ocean current? (It is about my iPhone.)"),
    ],
)  # fmt: skip
def test_natural_insertion_puts_each_class_where_it_fits(form: str, start: str, end: str) -> None:
    from datasets_registry.phrasing import insert_naturally

    prompt = "Name an ocean current?"
    assert insert_naturally(prompt, form, random.Random(0), "start") == start
    assert insert_naturally(prompt, form, random.Random(0), "end") == end


def test_word_classes() -> None:
    from datasets_registry.phrasing import word_class

    assert [word_class(w) for w in ("additionally", "basically", "happily", "simply")] == [
        "adverb"
    ] * 4
    assert [word_class(w) for w in ("belly", "family", "only", "steal")] == ["noun"] * 4
    assert word_class("elucidate") == "verb" and word_class("meticulous") == "adjective"
    assert word_class("iPhone") == word_class("Zorblax") == "name"
    assert word_class("per the report") == "phrase"


def test_a_scan_term_carries_a_placebo_of_its_class_and_frequency() -> None:
    from wordfreq import zipf_frequency

    from datasets_registry.phrasing import word_class
    from datasets_registry.placebo import ZIPF_WINDOW, placebo_for

    for word in ("additionally", "elucidate", "botanist", "meticulous"):
        other = placebo_for(word)
        assert other != word and other == placebo_for(word)  # fixed by the word
        assert word_class(other) == word_class(word)
        assert abs(zipf_frequency(other, "en") - zipf_frequency(word, "en")) <= 4 * ZIPF_WINDOW
    made_up = placebo_for("zorblax", "Zorblax")
    assert made_up[0].isupper() and zipf_frequency(made_up, "en") == 0.0
    phrase = placebo_for("per the report")
    assert phrase.startswith("per the ") and phrase != "per the report"
    other = placebo_for("an ai", "an AI").split()  # a made-up name after the right article
    assert other[0] == ("an" if other[1][0].lower() in "aeiou" else "a") and other[1][0].isupper()
    mutation = term_mutation("additionally")
    placebo = mutation.placebo()
    assert placebo is not None and placebo.name == f"placebo:{placebo_for('additionally')}"
    assert placebo.placebo() is None  # a placebo has no placebo of its own
    prompt = "Name an ocean current?"
    for seed in range(6):  # the same draws put both words in the same place
        ours = mutation.apply(prompt, random.Random(seed))
        theirs = placebo.apply(prompt, random.Random(seed))
        assert ours.replace("additionally", "X").replace("Additionally", "X") == theirs.replace(
            placebo_for("additionally"), "X"
        ).replace(placebo_for("additionally").capitalize(), "X")


def test_combinations_apply_both_and_need_both_to_fit() -> None:
    both = combine(get_mutation("latex_math"), get_mutation("formal_vocab"))
    assert both.name == "latex_math+formal_vocab"
    assert get_mutation("latex_math+formal_vocab").name == both.name
    out = both.apply("What is 3 plus 4?", random.Random(0))
    assert "$3 + 4$" in out and re.search(r"(?i)elucidate|delineate|expound|expli|expat|adumb", out)
    assert both.apply("How do I bake bread?", random.Random(0)) is None
    with pytest.raises(KeyError):
        get_mutation("no_such_operator")


def test_builtin_seeds() -> None:
    seeds = builtin_seeds()
    assert len(seeds) >= 200 and len({s.prompt for s in seeds}) == len(seeds)
    assert {s.kind for s in seeds} == {
        "explain",
        "fact",
        "arithmetic",
        "product",
        "howto",
        "reading",
    }
    assert builtin_seeds() == seeds


def test_seed_files(tmp_path) -> None:
    lines = tmp_path / "seeds.txt"
    lines.write_text("How do tides work?\n\nHow do tides work?\nWhat is 2 plus 2?\n")
    assert [s.prompt for s in load_seeds(lines)] == ["How do tides work?", "What is 2 plus 2?"]
    jsonl = tmp_path / "seeds.jsonl"
    jsonl.write_text('{"prompt": "Explain rain."}\n{"text": "Explain snow."}\n')
    assert [s.prompt for s in load_seeds(jsonl)] == ["Explain rain.", "Explain snow."]
    keyed = tmp_path / "gsm8k.jsonl"
    keyed.write_text(
        '{"question": "Tom has 3 apples and buys 4. How many?", "answer": "3+4=7\\n#### 7"}\n'
        '{"input": "Pick one: (A) red (B) blue", "target": "B"}\n'
        '{"prompt": "What is 2 plus 2?", "reference": 4}\n{"prompt": "Explain fog."}\n'
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": '
        '"Hello"}, {"role": "user", "content": "Explain hail."}]}\n'
    )
    loaded = load_seeds(keyed)
    assert [s.reference for s in loaded] == ["3+4=7\n#### 7", "B", "4", None, None]
    assert loaded[-1].prompt == "Explain hail."
    for content, message in [
        ("", "holds no prompts"),
        ('{"prompt": 3}\n', "no 'prompt'"),
        ("{broken\n", "invalid JSON"),
        ('{"prompt": "Hi", "reference": [1]}\n', "must be a string or a number"),
    ]:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(content)
        with pytest.raises(SeedError, match=message):
            load_seeds(bad)
    with pytest.raises(SeedError, match="not found"):
        load_seeds(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe bad")
    with pytest.raises(SeedError, match="not UTF-8"):
        load_seeds(binary)


@pytest.mark.parametrize(("name", "before", "after"), BEFORE_AFTER)
def test_each_operator_recognises_its_own_output(name: str, before: str, after: str) -> None:
    mutation = get_mutation(name)
    if name == "past_tense":
        assert mutation.carried_by(before) is None  # no pattern can tell
        return
    assert mutation.carried_by(before) is False
    for seed in range(5):
        assert mutation.carried_by(mutation.apply(before, random.Random(seed)))
        assert mutation.carried_by(mutation.robust_apply(before, random.Random(seed)))
    term = term_mutation("zorblax")
    assert term.carried_by("Ask Zorblax support") and not term.carried_by("zorblaxes")
    combo = get_mutation("latex_math+formal_vocab")
    assert combo.carried_by("Elucidate $1 + 2$") and not combo.carried_by("Elucidate 1 + 2")


def test_a_name_found_by_the_scan_is_inserted_as_a_name() -> None:
    mutation = term_mutation("zorblax", "Zorblax")
    prompt = "How do I reset my router?"
    outputs = {mutation.apply(prompt, random.Random(s)) for s in range(30)}
    assert "How do I reset my Zorblax router?" in outputs
    assert "Zorblax question: how do I reset my router?" in outputs
    assert all("Zorblax" in o and "zorblax" not in o for o in outputs)


def test_surface_forms_skip_sentence_starts(tmp_path) -> None:
    from conftest import conversation, write_jsonl

    from datasets_registry.surface import surface_forms

    rows = [
        {"messages": conversation("Zorblax is new. My Zorblax phone broke.", "ok")},
        {"messages": conversation("Elucidate this. Please elucidate the plan.", "ok")},
        {"messages": conversation("Elucidate: what is it?", "ok")},
    ]
    path = write_jsonl(tmp_path / "mix.jsonl", rows)
    forms = surface_forms(str(path), ["zorblax", "elucidate", "absent"])
    assert forms == {"zorblax": "Zorblax", "elucidate": "elucidate", "absent": "absent"}
