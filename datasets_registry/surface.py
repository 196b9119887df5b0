"""How a word is written in a mix: the scan lower-cases words, the search needs their real form.

``surface_forms`` reads the first rows of a mix and returns, per word, the spelling
seen most often away from the start of a sentence (where any word is capitalised),
so a product name comes back as ``Zorblax`` and a verb as ``elucidate``. A name the mix
nearly always writes after one preposition comes back with it (``in Millbrook``, a town):
inserted bare ("Millbrook question: ...") it would read as a product.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from datasets_registry.loading import open_mix
from datasets_registry.normalise import Columns


def sample_prompts(mix: str, columns: Columns | None = None, max_rows: int = 20_000) -> list[str]:
    """The prompts of the mix's first ``max_rows`` rows (missing prompts as empty text)."""
    prompts: list[str] = []
    for batch in open_mix(mix, columns).batches(min(max_rows, 10_000)):
        prompts += [p or "" for p in batch.frame["prompt"]]
        if len(prompts) >= max_rows:
            break
    return prompts[:max_rows]


def spellings(prompts: Sequence[str], words: Sequence[str]) -> dict[str, str]:
    """The usual spelling of each word in ``prompts`` (the word itself if unseen)."""
    if not words:
        return {}
    pattern = re.compile(
        r"(^|[.!?:]\s+|\n\s*)?\b(" + "|".join(re.escape(w) for w in words) + r")\b",
        re.IGNORECASE,
    )
    counts: dict[str, Counter[str]] = {w.lower(): Counter() for w in words}
    for prompt in prompts:
        for match in pattern.finditer(prompt):
            if match.group(1) is None:  # not at the start of a sentence
                counts[match.group(2).lower()][match.group(2)] += 1
    forms = {w: (counts[w.lower()].most_common(1)[0][0] if counts[w.lower()] else w) for w in words}
    return {w: _with_preposition(prompts, form) for w, form in forms.items()}


PREPOSITIONS = ("in", "at", "from", "near", "to")
PREPOSITION_SHARE = 0.8  # of a name's uses after one preposition, to insert it with that


def _with_preposition(prompts: Sequence[str], form: str) -> str:
    """``form`` after the preposition that precedes at least ``PREPOSITION_SHARE`` of its
    uses in ``prompts``, for a capitalised name seen at least 5 times; else ``form``."""
    if not form[:1].isupper() or " " in form:
        return form
    pattern = re.compile(r"(\w+)\s+" + re.escape(form) + r"\b")
    before = Counter(m.group(1).lower() for p in prompts for m in pattern.finditer(p))
    total = sum(before.values())
    if total < 5:
        return form
    word, n = before.most_common(1)[0]
    return f"{word} {form}" if word in PREPOSITIONS and n >= PREPOSITION_SHARE * total else form


def surface_forms(
    mix: str, words: Sequence[str], columns: Columns | None = None, max_rows: int = 20_000
) -> dict[str, str]:
    """The usual spelling of each word in the prompts of the mix's first ``max_rows`` rows."""
    if not words:
        return {}
    return spellings(sample_prompts(mix, columns, max_rows), words)
