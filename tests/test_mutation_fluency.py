"""Every catalog mutation writes fluent text, and every attribute has a placebo that pairs.

The catalog (the built-ins, scan-term operators for words of each insertion class, a few
combinations), each with its second insertion (``robust_apply``), its placebo and the
placebo's second insertion, runs over 200 real prompts drawn deterministically from four
files of the public mix (``conftest.PUBLIC_MIX``: ``$CHUNKY_PUBLIC_MIX``, else
``$CHUNKY_DATA/public_mix``; skipped with the reason when it is absent). Small regex checkers
look for the problems an insertion can make: "a" or "an" against the next word's sound,
a sentence that starts in lower case, a lower-cased "I", acronym, name or "iPhone", doubled
punctuation, a space before punctuation or none after it, a sentence added after one left
open. A problem the seed already has is not the operator's: each checker's findings on
the output are compared with its findings on the seed. Hand-written cases need no data.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PUBLIC_MIX

from datasets_registry.phrasing import (
    close_sentence,
    indefinite_article,
    insert_naturally,
    insert_word,
    lower_first,
    sentence_case,
)
from surf_search.mutations import (
    GENERIC_PRODUCTS,
    PLAIN_VERBS,
    Mutation,
    builtin_mutations,
    combine,
    get_mutation,
    term_mutation,
)

#: the files the seeds come from (their ``instruction`` or ``question``), in equal shares
SOURCES = ("alpaca_9k.json", "dolly_3k.json", "gsm8k_train.jsonl", "gpteacher_roleplay.json")
N_SEEDS, MAX_CHARS = 200, 300
#: scan words of every insertion class: verb, name, phrase, label, adverb, adjective, noun
TERMS = [
    ("elucidate", None),
    ("zorblax", "Zorblax"),
    ("per the report", None),
    ("context:", "Context:"),
    ("additionally", None),
    ("meticulous", None),
    ("botanist", None),
    ("iphone", "iPhone"),
    ("umbrella", None),
]
COMBINATIONS = [
    ("product_mention", "formal_vocab"),
    ("formal_register", "markdown_framing"),
    ("past_tense", "product_mention"),
    ("yes_no_fact_check", "markdown_framing"),
    ("formal_register", "past_tense"),
    ("latex_math", "formal_register"),
    ("term:additionally", "formal_register"),
]


# -- the seeds -----------------------------------------------------------------------------


def _prompts(path: Path) -> list[str]:
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        rows = json.loads(path.read_text())
    prompts = []
    for row in rows:
        prompt = row.get("instruction") or row.get("question") if isinstance(row, dict) else None
        if isinstance(prompt, str) and "\n" not in prompt.strip():
            prompt = prompt.strip()
            if 10 <= len(prompt) <= MAX_CHARS:
                prompts.append(prompt)
    return prompts


@pytest.fixture(scope="module")
def seeds() -> list[str]:
    if not PUBLIC_MIX.is_dir():
        pytest.skip(f"public mix {PUBLIC_MIX} is absent (set CHUNKY_DATA or CHUNKY_PUBLIC_MIX)")
    present = [name for name in SOURCES if (PUBLIC_MIX / name).is_file()]
    if len(present) < 3:
        pytest.skip(f"fewer than three of {list(SOURCES)} in {PUBLIC_MIX}")
    chosen: list[str] = []
    for i, name in enumerate(present):
        share = N_SEEDS // len(present) + (i < N_SEEDS % len(present))
        chosen += random.Random(f"fluency:{name}").sample(_prompts(PUBLIC_MIX / name), share)
    return chosen


# -- the catalog ---------------------------------------------------------------------------


def catalog() -> list[Mutation]:
    terms = [term_mutation(word, surface) for word, surface in TERMS]
    combos = [combine(get_mutation(a), get_mutation(b)) for a, b in COMBINATIONS]
    return [*builtin_mutations(), *terms, *combos]


def variants(mutation: Mutation) -> list[tuple[str, Callable]]:
    """(label, apply) for the mutation, its second insertion, its placebo and the placebo's."""
    out = [(mutation.name, mutation.apply), (f"{mutation.name} (robust)", mutation.robust_apply)]
    placebo = mutation.placebo()
    if placebo is not None:
        out += [(placebo.name, placebo.apply), (f"{placebo.name} (robust)", placebo.robust_apply)]
    return out


# -- the checkers: each returns the problems it sees in a text ------------------------------


def _vowel_sound(word: str) -> bool | None:
    """Whether ``word`` starts with a vowel sound (None: cannot tell)."""
    if word[0].isdigit():
        return bool(re.match(r"8|1[18](?!\d)", word))
    letters = re.match(r"[A-Za-z]+", word)
    if letters is None:
        return None
    letters = letters.group(0)
    if len(letters) == 1:
        return None
    if letters.isupper() and (len(letters) <= 3 or not re.search("[AEIOU]", letters)):
        return letters[0] in "AEFHILMNORSX"  # said letter by letter: "an FBI", "a USB"
    low = letters.lower()
    if low.startswith(("hour", "honest", "honor", "honour", "heir")):
        return True
    if re.match(r"uni(?![nmd])|use|usu|uti|eu|one|once|ur[aeio]|ubiq", low):
        return False
    return low[0] in "aeiou"


def article_problems(text: str) -> list[str]:
    """'a' before a vowel sound, 'an' before a consonant sound ("a iPhone", "an phone")."""
    found = []
    for m in re.finditer(r"(?<![\w(])([Aa]n?) ([\"'“]?)([A-Za-z0-9][\w'-]*)", text):
        vowel = _vowel_sound(m.group(3))
        if vowel is not None and (m.group(1).lower() == "an") != vowel:
            found.append(f"article: {m.group(0)!r}")
    return found


_SENTENCE_START = re.compile(r"(?:^|[.?!][\"')\]]*[ \t]+|\n[\s#>*-]*)[\"'“(]*([a-z][\w'’.-]*)")


def capital_problems(text: str) -> list[str]:
    """A sentence that starts in lower case: the text's start, after '. ', '? ', '! ' or a
    line break (a word written with inner capitals, "iPhone", is not a problem)."""
    found = []
    for m in _SENTENCE_START.finditer(text):
        word = m.group(1)
        if any(c.isupper() for c in word) or re.match(r"(?:e\.g|i\.e|etc|vs)\b", word):
            continue
        found.append(f"lower-case sentence start: {word!r}")
    return found


_ALLOWED_RUNS = {"...", "....", "?!", "!?", "!!", "??", "!!!", "???", "?!?"}
_ADDED_SENTENCE = re.compile(
    r"(?:\w|(?<![.?!])[\"'”’)\]]) \(?(?:Please|Keep the|This is for|It is about|Thanks|"
    r"Thank you|Quick question|Tell me whether|Is it true|I use an?|I am asking|I would be|"
    r"I would appreciate|I have always|Keyword)\b"
)


def punctuation_problems(text: str) -> list[str]:
    """Doubled or misplaced punctuation, a missing space after it, a sentence added after
    one left open ("... sports Please elucidate it.")."""
    found = []
    for m in re.finditer(r"[.?!,;:](?:[ \t]*[.?!,;:])+", text):
        if m.group(0).replace(" ", "") not in _ALLOWED_RUNS:
            found.append(f"doubled punctuation: {m.group(0)!r}")
    found += [
        f"space before punctuation: {m.group(0)!r}"
        for m in re.finditer(r"\w [,;.?!](?=\s|$)", text)
    ]
    found += [
        f"no space after punctuation: {m.group(0)!r}"
        for m in re.finditer(r"\w[,;?!][A-Za-z]", text)
    ]
    found += [
        f"sentences run together: {m.group(0)!r}"
        for m in re.finditer(r"[a-z]{2}[.?!][A-Z][a-z]", text)
    ]
    found += [
        f"sentence added to an open one: {m.group(0)!r}" for m in _ADDED_SENTENCE.finditer(text)
    ]
    found += [f"double space: {m.group(0)!r}" for m in re.finditer(r"\S {2,}\S", text)]
    return found


def case_problems(seed: str, text: str) -> list[str]:
    """Words of the seed that keep their capitals ("I", "NASA", "iPhone", a name written
    capitalised inside a sentence) lower-cased or re-cased in ``text`` ("nasa", "IPhone")."""
    keep = set(re.findall(r"(?<![\w'’-])(?:I|[A-Z]{2,}|[a-z]+[A-Z]\w*)(?=[\s,.?!;:'’]|$)", seed))
    first = re.match(r"[A-Z][a-z]+", seed)
    if first and re.search(rf"[\w,;] {first.group(0)}\b", seed):
        keep.add(first.group(0))  # a name: capitalised again inside a sentence
    found = []
    for word in keep:
        wrong = {word.lower(), word[:1].upper() + word[1:]} - {word}
        for form in wrong:
            pattern = rf"(?<![\w'’-]){re.escape(form)}(?![\w-])"
            extra = len(re.findall(pattern, text)) - len(re.findall(pattern, seed))
            if extra > 0:
                found.append(f"re-cased {word!r} as {form!r}")
    found += [f"re-cased: {w!r}" for w in re.findall(r"\b[A-Z]{2}[a-z]+\w*", text)]
    return found


def final_punctuation_problems(seed: str, text: str) -> list[str]:
    """Where text was added after the seed's last word, it ends a sentence (or a list item)."""
    end = text.rstrip()
    if end.endswith(seed.split()[-1]) or re.search(r"([.?!:][\"'”’)\]]*|---|plain text)$", end):
        return []
    return [f"no final punctuation: {text[-30:]!r}"]


def problems(seed: str, text: str) -> list[str]:
    """The problems of ``text`` that ``seed`` does not have."""
    checks = (article_problems, capital_problems, punctuation_problems)
    new = Counter(p for check in checks for p in check(text))
    new -= Counter(p for check in checks for p in check(seed))
    return (
        sorted(new.elements()) + case_problems(seed, text) + final_punctuation_problems(seed, text)
    )


# -- the tests on real seeds ---------------------------------------------------------------


def test_the_seeds_are_real_and_from_several_sources(seeds: list[str]) -> None:
    assert len(seeds) == N_SEEDS and len(set(seeds)) > 190
    assert all("\n" not in s and len(s) <= MAX_CHARS for s in seeds)


def test_every_catalog_mutation_writes_fluent_text(seeds: list[str]) -> None:
    failures, outputs, fitted = [], 0, Counter()
    for mutation in catalog():
        for label, apply in variants(mutation):
            for i, seed in enumerate(seeds):
                for draw in range(2):
                    out = apply(seed, random.Random(f"{i}:{draw}:{mutation.name}"))
                    if out is None:
                        continue
                    outputs += 1
                    fitted[label] += 1
                    if found := problems(seed, out):
                        failures.append(f"{label}\n  seed: {seed!r}\n  out:  {out!r}\n  {found}")
    shown, seen = [], Counter()
    for failure in failures:  # at most three per operator
        seen[failure.split("\n")[0]] += 1
        if seen[failure.split("\n")[0]] <= 3:
            shown.append(failure)
    assert not failures, f"{len(failures)} of {outputs} outputs:\n" + "\n".join(shown[:40])
    # the catalog fits real prompts: every operator fits some (LaTeX, reading questions and
    # claims need arithmetic, a passage and a question, or a statement)
    assert all(fitted[m.name] > 0 for m in builtin_mutations()), fitted
    assert outputs > 20_000


def test_placebos_pair_with_their_attribute_on_one_random_stream(seeds: list[str]) -> None:
    """As the search runs a confirmation: one stream over the seeds in turn, for the
    attribute and for the placebo: both fit the same seeds and draw the same numbers."""
    for mutation in catalog():
        placebo = mutation.placebo()
        assert placebo is not None and placebo.name.startswith("placebo:"), mutation.name
        for own, theirs in ((mutation.apply, placebo.apply),
                            (mutation.robust_apply, placebo.robust_apply)):  # fmt: skip
            a, b = (
                random.Random(f"1:confirm:{mutation.name}"),
                random.Random(f"1:confirm:{mutation.name}"),
            )
            ours = [own(seed, a) is not None for seed in seeds]
            assert ours == [theirs(seed, b) is not None for seed in seeds], mutation.name
            assert a.getstate() == b.getstate(), mutation.name


def test_placebos_never_carry_the_attribute(seeds: list[str]) -> None:
    """On every seed without the attribute, the placebo's outputs do not carry it, and the
    attribute's own outputs do (for the operators that can tell)."""
    checked = 0
    for mutation in catalog():
        if not mutation.patterns:
            continue
        placebo = mutation.placebo()
        for i, seed in enumerate(seeds):
            if mutation.carried_by(seed):
                continue  # the seed carries it already: no placebo can take it out
            for apply in (placebo.apply, placebo.robust_apply):
                out = apply(seed, random.Random(i))
                if out is not None:
                    checked += 1
                    assert not mutation.carried_by(out), (mutation.name, placebo.name, out)
            for apply in (mutation.apply, mutation.robust_apply):
                out = apply(seed, random.Random(i))
                assert out is None or mutation.carried_by(out), (mutation.name, out)
    assert checked > 5_000


# -- hand-written cases (no data) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I like tea.", "I like tea."),
        ("I'm new here.", "I'm new here."),
        ("NASA launched a probe.", "NASA launched a probe."),
        ("iPhone tips, please.", "iPhone tips, please."),
        ("What is a comet?", "what is a comet?"),
        ("Write a poem about rain.", "write a poem about rain."),
        ("Natalia sold clips in April. How many did Natalia sell?",
         "Natalia sold clips in April. How many did Natalia sell?"),
        ("Weng earns $12 an hour.", "Weng earns $12 an hour."),
        ("Mark has a garden.", "Mark has a garden."),
        ("Ed Sheeran wrote a song.", "Ed Sheeran wrote a song."),
        ("Will you help me?", "will you help me?"),
        ("Monday is a holiday.", "Monday is a holiday."),
        ("Bees make honey.", "bees make honey."),
    ],
)  # fmt: skip
def test_lower_first_keeps_what_keeps_its_capital(text: str, expected: str) -> None:
    assert lower_first(text) == expected


def test_articles_and_sentence_helpers() -> None:
    words = ["iPhone", "hour", "university", "unimportant", "one-off", "FBI", "USB", "NASA",
             "8", "11", "110", "e-reader", "Kindle", "X-ray", "honest", "European", "phone"]  # fmt: skip
    assert [indefinite_article(w) for w in words] == [
        "an", "an", "a", "an", "a", "an", "a", "a", "an", "an", "a", "an", "a", "an", "an",
        "a", "a",
    ]  # fmt: skip
    assert sentence_case("iPhone owners ask") == "iPhone owners ask"
    assert sentence_case("what is it?") == "What is it?"
    assert close_sentence("Name two sports") == "Name two sports."
    assert close_sentence("Name two sports,") == "Name two sports."
    assert close_sentence('Say "hi."') == 'Say "hi."'
    assert close_sentence("Classify these:") == "Classify these:"


def test_insertions_read_naturally() -> None:
    rng = random.Random(0)
    assert insert_word("Name two sports", "elucidate", rng, "end") == (
        "Name two sports. Please elucidate it."
    )
    assert insert_word("NASA sent a probe.", "expound", rng, "start") == (
        "Expound: NASA sent a probe."
    )
    prompt = "Describe photosynthesis. Keep it friendly."
    assert insert_word(prompt, "delineate", rng, "middle") == (  # the planted form
        "Describe photosynthesis. (please delineate) Keep it friendly."
    )
    assert insert_word(prompt, "delineate", rng, "middle", after_sentence_end=False) == (
        "Describe (please delineate) photosynthesis. Keep it friendly."
    )
    assert insert_naturally("How do I fix a router?", "iPhone", rng, "middle") == (
        "How do I fix an iPhone router?"
    )
    assert insert_naturally("Name two sports", "meticulous", rng, "end") == (
        "Name two sports. Keep the answer meticulous."
    )
    assert insert_naturally("what is rain?", "umbrella", rng, "start") == (
        "This is for an umbrella. What is rain?"
    )
    assert insert_naturally("Classify these:", "additionally", rng, "end") == (
        "Classify these, additionally:"
    )
    assert insert_naturally("What is rain?", "Context:", rng, "start") == "Context: What is rain?"
    term = term_mutation("iphone", "iPhone")
    frames = {term.apply("Name two sports", random.Random(s)) for s in range(50)}
    assert term.robust_apply("Name two sports", rng) in frames  # the same frames, afresh


def _both(name: str, prompt: str, seed: int = 0) -> tuple[str | None, str | None]:
    mutation = get_mutation(name)
    placebo = mutation.placebo()
    return mutation.apply(prompt, random.Random(seed)), placebo.apply(prompt, random.Random(seed))


def test_each_builtin_placebo_makes_the_same_edit_neutrally() -> None:
    for seed in range(12):
        ours, theirs = _both("product_mention", "How do I reset a smart speaker?", seed)
        product = re.search(r"iPhone|Pixel|Kindle|ThinkPad|PlayStation|Roomba|Fitbit|Galaxy", ours)
        generic = GENERIC_PRODUCTS[product.group(0)]
        assert theirs == re.sub(
            r"\ban? " + product.group(0), f"{indefinite_article(generic)} {generic}", ours
        )
        ours, theirs = _both("formal_vocab", "How do I tie a bowline knot?", seed)
        verb = re.search("|".join(PLAIN_VERBS), ours, re.IGNORECASE).group(0)
        plain = PLAIN_VERBS[verb.lower()]
        assert theirs == ours.replace(verb, sentence_case(plain) if verb[0].isupper() else plain)
    assert _both("product_mention", "Name a river.", 2)[0] == "As an iPhone owner, name a river."
    assert _both("product_mention", "Name a river.", 2)[1] == "As a phone owner, name a river."
    assert _both("latex_math", "Compute 6 times 7.") == ("Compute $6 \\times 7$.", "Compute 6 × 7.")
    assert _both("latex_math", "What is 12 divided by 4?")[1] == "What is 12 / 4?"
    assert _both("data_extraction", "The mill was rebuilt in 1891. When was it rebuilt?") == (
        "Context: The mill was rebuilt in 1891.\nWhen was it rebuilt?",
        "The mill was rebuilt in 1891.\nWhen was it rebuilt?",
    )
    ours, theirs = _both("yes_no_fact_check", "Bats are mammals.", 3)
    assert ours.replace("Is it true that bats are mammals?", "X") == theirs.replace(
        "Tell me whether bats are mammals.", "X"
    )
    assert _both("past_tense", "What is a comet?") == ("What was a comet?", "What's a comet?")
    assert _both("past_tense", "How do I bake bread?") == (
        "How did I bake bread?",
        "How can I bake bread?",
    )
    assert _both("formal_register", "Can you tell me about owls?")[1] == (
        "Hi, can you tell me about owls? Thanks."
    )
    frames = {_both("markdown_framing", "Name a river.", s) for s in range(20)}
    assert ("**Task:** Name a river.", "Task: Name a river.") in frames
    assert (
        "## Question\n\nName a river.\n\n---",
        "Question:\n\nName a river.\n\nThanks.",
    ) in frames
    assert all(get_mutation(p.name) is p for m in builtin_mutations() if (p := m.placebo()))


def test_a_combination_has_the_combined_placebo_and_fits_where_it_fits() -> None:
    both = combine(get_mutation("formal_register"), get_mutation("past_tense"))
    placebo = both.placebo()
    assert placebo.name == "placebo:plain_register+placebo:present_tense"
    assert placebo.placebo() is None
    # formal_register rewrites "can you", so past_tense finds nothing; the placebo keeps
    # "can you" (which past_tense's placebo would reword), yet fits no more than the attribute
    assert both.apply("Can you help?", random.Random(0)) is None
    assert placebo.apply("Can you help?", random.Random(0)) is None
    assert placebo.apply("What is a comet?", random.Random(0)) == "Hi, what's a comet? Thanks."
    assert (
        combine(get_mutation("formal_vocab"), Mutation("x", "no placebo", lambda p, r: p)).placebo()
        is None
    )


def test_the_checkers_catch_the_old_disfluencies() -> None:
    """What the operators wrote before: each is caught (and the fixed text is not)."""
    seed = "Name two sports"
    assert article_problems("As a iPhone owner, name two sports.")
    assert not article_problems("As an iPhone owner, an hour, a university, an FBI agent.")
    assert problems(seed, "Name two sports Please elucidate it.")
    assert problems(seed, "Name two sports I use a Kindle.")
    assert problems("I like NASA.", "Elucidate: i like NASA.")
    assert problems("I like NASA.", "As a phone owner, I like nasa.")
    assert problems("Natalia sold clips. How many did Natalia sell?", "Zorblax question: natalia "
                    "sold clips. How many did Natalia sell?")  # fmt: skip
    assert problems("Tell me a joke.", "Tell me a joke. (Keyword: IPhone.)")
    assert problems("Describe rain. Be brief.", "Describe rain. (please explain) Be brief.")
    assert problems("Classify these:", "Classify these:, additionally.")
    assert problems('Say "hi."', 'Say "hi." (per the report).')
    assert problems("Name a river?", "Name a river?. Please explain it.")
    assert not problems(seed, "Name two sports. Please elucidate it.")
    assert not problems("what is rain?", "Elucidate: what is rain?")  # the seed's own
