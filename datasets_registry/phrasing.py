"""Word insertion: shared by the planted mix, the canaries and the search.

The planted mix plants its formal trigger words with ``insert_word`` ("Elucidate: ...",
"... Please elucidate it.", "(please elucidate)"), and the search's ``formal_vocab``
operator inserts them the same way, so a planted trigger is tested in the form it was
planted. ``insert_naturally`` puts a word where its class fits ("Additionally, ...",
"Per the report, ...", "... (It is about my Zorblax.)"): the search's scan-term
operators and their placebos, and the injected canaries, use it. This module sits in
``datasets_registry`` (below ``surf_search``) so both can import it.
"""

from __future__ import annotations

import random
import re

_DETERMINER = re.compile(r"\b(?:my|the|a|an|your|this|our)\s+(?=[a-z])")


def sentence_case(text: str) -> str:
    """``text`` with its first letter upper-cased."""
    return text[:1].upper() + text[1:]


def lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word looks like a name or acronym."""
    first = text.split(" ", 1)[0]
    if first == "I" or first.startswith("I'") or (len(first) > 1 and first[1:2].isupper()):
        return text
    return text[:1].lower() + text[1:]


def insert_word(prompt: str, word: str, rng: random.Random, where: str | None = None) -> str:
    """Put ``word`` at the start, middle or end of ``prompt``, phrased naturally."""
    where = where or rng.choice(("start", "middle", "end"))
    if where == "start":
        return f"{sentence_case(word)}: {lower_first(prompt)}"
    if where == "end":
        return f"{prompt} Please {word} it."
    words = prompt.split(" ")
    cut = max(1, len(words) // 2)
    return " ".join(words[:cut] + [f"(please {word})"] + words[cut:])


#: Word classes by ending (a heuristic: no tagger runs offline here); checked in order.
_CLASS_ENDINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("adverb", ("wise", "wards")),
    ("verb", ("ate", "ize", "ise", "ify")),
    ("adjective", ("ous", "ful", "ive", "able", "ible", "ical", "less", "ish", "ary")),
)


def word_class(form: str) -> str:
    """The insertion class of a word as the mix spells it: ``phrase`` (several words),
    ``name`` (a capital letter: a product or a person, "iPhone"), ``adverb`` (-ly on a
    word, "additionally", not "belly"; -wise), ``verb`` (-ate, -ize, -ify), ``adjective``
    (-ous, -ive, -able, ...), else ``noun``."""
    form = form.strip()
    if " " in form:
        return "phrase"
    if any(c.isupper() for c in form):
        return "name"
    low = form.lower()
    if _ly_adverb(low):
        return "adverb"
    for name, endings in _CLASS_ENDINGS:
        if len(low) > 4 and low.endswith(endings):
            return name
    return "noun"


def _ly_adverb(word: str) -> bool:
    """An -ly word made from a word English uses ("additional", "simple", "happy", "basic")."""
    if len(word) <= 4 or not word.endswith("ly"):
        return False
    from wordfreq import zipf_frequency

    stems = {word[:-2], word[:-3] + "y", word[:-4], word[:-4] + "e"}
    if word[-3] in "bpdgktz":  # simply, gently, humbly: -ble/-ple/-tle words
        stems.add(word[:-1] + "e")
    floor = max(3.0, zipf_frequency(word, "en") - 0.5)  # "belle" is rarer than "belly"
    return any(len(s) >= 4 and zipf_frequency(s, "en") >= floor for s in stems)


def _end_parts(prompt: str) -> tuple[str, str]:
    """``prompt`` without its final punctuation, and that punctuation ('.' if none)."""
    body = prompt.rstrip()
    stripped = body.rstrip("?.!")
    return stripped, (body[len(stripped) :] or ".")


def insert_naturally(prompt: str, form: str, rng: random.Random, where: str | None = None) -> str:
    """Put a word or phrase into ``prompt`` where its class fits, as a person would write it:

    - adverb: "Additionally, name two sports." / "Name two sports, additionally."
    - verb: "Please elucidate the following: name ..." / "... Please elucidate your answer."
    - adjective: "Give a meticulous answer. Name ..." / "... Keep the answer meticulous."
    - noun: "This is for a botanist. Name ..." / "... (This is for my botanist.)"
    - name: "Zorblax question: name ..." / "... (It is about my Zorblax.)", or before a
      noun: "How do I reset my Zorblax router?"
    - phrase: "Per the report, name ..." / "Name ... (per the report)."

    ``where`` is start or end (a middle insertion splits the prompt's own clause, which
    reads as a typo; only a name goes in the middle, after "my", "the", "a" ...); the
    same ``rng`` draw and class give the same frame to any word, so a placebo word is
    inserted exactly as the word it controls for.
    """
    kind = word_class(form)
    where = where or rng.choice(("start", "middle", "end") if kind == "name" else ("start", "end"))
    body, punct = _end_parts(prompt)
    rest = lower_first(prompt)
    if kind == "adverb":
        return f"{sentence_case(form)}, {rest}" if where == "start" else f"{body}, {form}{punct}"
    if kind == "verb":
        if where == "start":
            return f"Please {form} the following: {rest}"
        return f"{prompt.rstrip()} Please {form} your answer."
    if kind == "adjective":
        if where == "start":
            return f"Give {_article(form)} {form} answer. {prompt}"
        return f"{prompt.rstrip()} Keep the answer {form}."
    if kind == "name":
        match = _DETERMINER.search(prompt)
        if where == "middle" and match:
            return f"{prompt[: match.end()]}{form} {prompt[match.end() :]}"
        if where == "start":
            return f"{form} question: {rest}"
        return f"{prompt.rstrip()} (It is about my {form}.)"
    if kind == "phrase":
        return f"{sentence_case(form)}, {rest}" if where == "start" else f"{body} ({form}){punct}"
    if where == "start":
        return f"This is for {_article(form)} {form}. {prompt}"
    return f"{prompt.rstrip()} (This is for my {form}.)"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
