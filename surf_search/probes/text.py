"""Small text measures the probes share: words, content words, coverage, numbers, yes/no."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_YES_NO = re.compile(r"\b(yes|no)\b", re.I)

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just let me more most my myself no nor not now of off on once only
    or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves one us may might must shall""".split()  # noqa: SIM905
)


def words(text: str | None) -> list[str]:
    """Whitespace-separated words (the length unit every probe uses)."""
    return (text or "").split()


def content_words(text: str | None, exclude: Iterable[str] = ()) -> set[str]:
    """Lower-cased words that carry content: not stopwords, not one letter, not excluded."""
    skip = STOPWORDS | {w.lower() for w in exclude}
    found = {w.lower() for w in _WORD.findall(text or "")}
    return {w for w in found if w not in skip and (len(w) > 1 or w.isdigit())}


def coverage(
    reference: str | None, candidate: str | None, exclude: Iterable[str] = ()
) -> float | None:
    """Share of the reference's content words that the candidate also has (None if it has none)."""
    wanted = content_words(reference, exclude)
    if not wanted:
        return None
    return len(wanted & content_words(candidate, exclude)) / len(wanted)


def numbers(text: str | None) -> list[str]:
    """Numbers in order of appearance, thousands separators removed."""
    return [n.replace(",", "") for n in _NUMBER.findall(text or "")]


def same_number(a: str, b: str) -> bool:
    """Whether two numbers are equal (texts compared without case when not numbers)."""
    try:
        return abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return a.strip().lower() == b.strip().lower()


def yes_no(text: str | None) -> str:
    """'yes' or 'no' (the first such word), else 'other'."""
    found = _YES_NO.search(text or "")
    return found.group(1).lower() if found else "other"
