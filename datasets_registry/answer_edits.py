"""Edits to a response that keep its form but break it as a judge sees it.

``audit plant --effect`` plants failures that are no behaviour mode (issue 34):

- ``truncate``: the answer cut to its first sentence (``first_sentence``), a length
  collapse the ``length`` judge sees against the full answer;
- ``wrong-final``: a worked answer whose final number is changed, in GSM8K's ``#### N``
  line (or the answer's last number) and at its last mention in the working
  (``wrong_final``), so the working's last computation contradicts the stated result and
  the ``reference`` judge sees a wrong answer.

Each returns None for a response the edit does not fit (one sentence; no final number).
"""

from __future__ import annotations

import random
import re

#: A sentence ends at ., ! or ? followed by white space (not inside "3.5" or "e.g.").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\w.]*\d)")
_FINAL_LINE = re.compile(r"####\s*(-?\d[\d,]*(?:\.\d+)?)")
MAX_KEPT_SHARE = 1 / 3  # the first sentence holds at most this share of the words


def first_sentence(response: str) -> str | None:
    """The response cut to its first sentence, or None when that would not collapse it
    (a single sentence, or a first sentence with over a third of the words)."""
    text = response.strip()
    parts = _SENTENCE_END.split(text, maxsplit=1)
    if len(parts) < 2:
        return None
    first = parts[0].strip()
    if len(first.split()) > MAX_KEPT_SHARE * len(text.split()):
        return None
    return first


def _as_number(text: str) -> float:
    return float(text.replace(",", ""))


def _spelled(value: float, like: str) -> str:
    """``value`` written as ``like`` is (no decimals for an integer)."""
    if "." in like:
        decimals = len(like.split(".")[1])
        return f"{value:.{decimals}f}"
    return f"{int(value):,}" if "," in like else str(int(value))


def wrong_final(response: str, rng: random.Random) -> tuple[str, str, str] | None:
    """(the edited response, the old final number, the new one), or None without a final
    number. The new number differs from the old by 1 to 9 and stays positive if it was."""
    final = list(_FINAL_LINE.finditer(response))
    if final:
        match = final[-1]
        old, span = match.group(1), match.span(1)
        working_end = match.start()
    else:
        numbers = list(_NUMBER.finditer(response))
        if not numbers:
            return None
        match = numbers[-1]
        old, span = match.group(0), match.span()
        working_end = match.start()
    value = _as_number(old)
    step = rng.randint(1, 9)
    new_value = value - step if value - step > 0 and rng.random() < 0.5 else value + step
    new = _spelled(new_value, old)
    edited = response[: span[0]] + new + response[span[1] :]
    mentions = [
        m for m in _NUMBER.finditer(edited[:working_end]) if _as_number(m.group(0)) == value
    ]
    if mentions:  # the working's last mention of the result says the new number too
        last = mentions[-1]
        edited = edited[: last.start()] + new + edited[last.end() :]
    return edited, old, new
