"""Word insertion as a person would phrase it: shared by the planted mix and the search.

The planted mix plants trigger words with ``insert_word``; the search's attribute
operators insert words the same way, so a trigger learned from the mix is tested
in the form it was planted. This module sits in ``datasets_registry`` (below
``surf_search``) so both can import it.
"""

from __future__ import annotations

import random


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
