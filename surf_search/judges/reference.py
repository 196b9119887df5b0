"""The ``reference`` judge: is the answer right against the seed's key? No LLM.

The key decides how it is read:

- a GSM8K answer (``... #### 42``) or a number: the answer's final number (after its own
  ``####`` if it has one, else the last number it writes) must equal it;
- one letter A-E (multiple choice): the letter the answer picks ("The answer is (B)",
  "B) ...", a lone "B") must be it;
- anything else: the normalised key (lower case, no punctuation, articles or extra
  spaces) must equal the normalised answer or appear in it as whole words.

Outcome ``wrong``: 1 for a wrong answer, 0 for a right one; an answer to a seed without a
key gets no score (not a failure: there is nothing to judge it against) and is left out.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from surf_search.judges.registry import Judge, JudgeItem, Judgement, JudgeOptions, judge

_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")
_LETTER_PICKS = (
    re.compile(r"(?i)answer\s*(?:is|:)?\s*\(?([A-E])\)?(?![A-Za-z])"),
    re.compile(r"\(([A-E])\)"),
    re.compile(r"(?m)^\s*([A-E])[).:]"),
    re.compile(r"(?<![A-Za-z])([A-E])(?![A-Za-z])"),
)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def key_of(reference: str) -> str:
    """The key of a reference: the text after its last ``####`` (GSM8K), else all of it."""
    return reference.rsplit("####", 1)[-1].strip() if "####" in reference else reference.strip()


def as_number(text: str) -> float | None:
    """``text`` as a number ("1,200", "$5", "3.0"), or None."""
    cleaned = text.strip().replace(",", "").replace("$", "").rstrip(".")
    try:
        return float(cleaned)
    except ValueError:
        return None


def final_number(response: str) -> float | None:
    """The number an answer ends on: after its ``####``, else the last number it writes."""
    tail = response.rsplit("####", 1)[-1] if "####" in response else response
    numbers = _NUMBER.findall(tail)
    return as_number(numbers[-1]) if numbers else None


def picked_letter(response: str) -> str | None:
    """The multiple-choice letter an answer picks (the first pattern that finds one)."""
    for pattern in _LETTER_PICKS:
        found = pattern.findall(response)
        if found:
            return found[0].upper() if pattern is _LETTER_PICKS[0] else found[-1].upper()
    return None


def normalise(text: str) -> str:
    """Lower case, no punctuation or articles, single spaces (SQuAD's normalisation)."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def matches(reference: str, response: str) -> tuple[bool, str]:
    """Whether ``response`` answers ``reference``'s key, and what was compared."""
    key = key_of(reference)
    number = as_number(key)
    if number is not None:
        got = final_number(response)
        return got is not None and abs(got - number) < 1e-9, f"key {key}, answer {_show(got)}"
    if re.fullmatch(r"\(?[A-Ea-e]\)?", key):
        letter = key.strip("()").upper()
        got_letter = picked_letter(response)
        return got_letter == letter, f"key {letter}, answer {got_letter or 'none'}"
    want, have = normalise(key), normalise(response)
    found = bool(want) and (have == want or f" {want} " in f" {have} ")
    return found, f"key {want!r} {'found' if found else 'not found'}"


def _show(number: float | None) -> str:
    if number is None:
        return "none"
    return str(int(number)) if number == int(number) else str(number)


@judge("reference")
class ReferenceJudge(Judge):
    """Correctness against the seed's key (GSM8K number, choice letter, normalised text)."""

    name = "reference"
    version = "1"
    description = "the answer is wrong against the seed's key (no LLM)"
    outcomes = ("wrong",)
    reads = ("response", "reference")

    def __init__(self, options: JudgeOptions | None = None) -> None:
        del options  # nothing to set

    def judge(self, items: Sequence[JudgeItem]) -> list[Judgement]:
        out = []
        for item in items:
            if not item.reference:  # nothing to judge against: no score, and no failure
                out.append(Judgement(explanation="the seed has no reference (answer key)"))
                continue
            right, why = matches(item.reference, item.response)
            out.append(Judgement({"wrong": 0.0 if right else 1.0}, why))
        return out
