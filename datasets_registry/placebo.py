"""Placebo words: a neutral word of similar frequency and class for each scan term.

A ``term:`` finding says "inserting this word changes the behaviour". An inserted
frame ("Please X your answer.", "(This is for my X.)") can itself change it, whatever
X is; so the search inserts a placebo word in the same frame on the same seeds and
confirms the term only when it beats both the seed and the placebo.

The placebo of a word (``placebo_for``) is drawn, with a stream fixed by the word, from
English words (``wordfreq``'s list, its Zipf frequencies) that

- are of the same insertion class (``phrasing.word_class``: -ly adverbs with -ly
  adverbs, names with names, ...; a noun ending in -s or not as the word does, so
  "a botanist" does not become "a bullets"),
- are about as common: Zipf frequency within ``ZIPF_WINDOW`` of the word's (widened
  twice if too few),
- are neutral: not a stop word, not sharing the word's first four letters, and further
  than ``NEUTRAL_COSINE`` (mean MiniLM token embeddings) from every description of a
  behaviour (``hypothesis_kind.MODE_REQUESTS``) and from offensive language.

A word no list knows (``zorblax``) and a name (``iPhone``, ``Zorblax``: the list has no
names as names) get a made-up word of the same length, capitalised if the form has a
capital; a label (``Context:``) gets its word's placebo as a label spelled alike (a
capitalised common word and a colon); a phrase gets its rarest content word replaced by
that word's placebo ("per the report" -> "per the" + the placebo of "report").
"""

from __future__ import annotations

import logging
import random
from functools import cache

import numpy as np

from datasets_registry.phrasing import word_class

log = logging.getLogger(__name__)

ZIPF_WINDOW = 0.3  # Zipf units either side (then twice and four times that)
MIN_POOL = 20  # placebo candidates wanted before the window is widened
NEUTRAL_COSINE = 0.2  # the largest cosine to a behaviour description a placebo may have
VOCABULARY = 40_000  # most common English words considered
_OFFENSIVE = "offensive, obscene or insulting language: slurs, swearing and profanity"
_SYLLABLES = ("ba", "do", "ke", "lu", "mi", "no", "ra", "si", "to", "ve", "zo", "qua", "pel")


def placebo_for(term: str, surface: str | None = None) -> str:
    """The placebo of a scan term (a word or a phrase), spelled like ``surface``."""
    form = (surface or term).strip()
    if word_class(form) == "label":  # "Context:" -> "Venue:": a neutral label, capitalised alike
        core = form[:-1].strip()
        plain = core[:1].isupper() and core[1:] == core[1:].lower()
        other = placebo_for(core.lower()) if plain else placebo_for(core)
        return (other[:1].upper() + other[1:] if plain else other) + ":"
    words = form.split()
    if len(words) > 1:
        from datasets_registry.stats import stop_word_set

        stop = stop_word_set()
        content = [i for i, w in enumerate(words) if w.lower() not in stop] or [len(words) - 1]
        rarest = min(content, key=lambda i: (_zipf(words[i]), i))
        words[rarest] = placebo_for(words[rarest])
        if rarest and words[rarest - 1].lower() in ("a", "an"):  # "an ai" -> "a Rado"
            article = "an" if words[rarest][:1].lower() in "aeiou" else "a"
            words[rarest - 1] = article.capitalize() if words[rarest - 1][0].isupper() else article
        return " ".join(words)
    if _zipf(form) == 0.0 or word_class(form) == "name":
        return _made_up(form)
    pool = _pool(form)
    if not pool:
        return _made_up(form)
    return random.Random(f"placebo:{form.lower()}").choice(pool)


def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


def _pool(form: str) -> list[str]:
    """Neutral words of ``form``'s class and about its frequency (see the module docstring)."""
    low = form.lower()
    target = _zipf(form)
    words, zipfs, classes, neutral = _vocabulary()
    same = (classes == word_class(form)) & neutral
    same &= np.array([not w.startswith(low[:4]) and w != low for w in words])
    if word_class(form) == "noun":  # "a botanist" -> "a bullets": a plural for a singular
        same &= np.array([w.endswith("s") == low.endswith("s") for w in words])
    for window in (ZIPF_WINDOW, 2 * ZIPF_WINDOW, 4 * ZIPF_WINDOW):
        near = same & (np.abs(zipfs - target) <= window)
        if near.sum() >= MIN_POOL:
            break
    return [w for w, keep in zip(words, near, strict=True) if keep]


@cache
def _vocabulary() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Common English words, their Zipf frequencies, word classes, and whether each is
    neutral (computed once: every term's pool is drawn from them)."""
    from wordfreq import top_n_list, zipf_frequency

    from behaviour_modes.learned import LearnedUnavailable, embed
    from datasets_registry.hypothesis_kind import MODE_REQUESTS
    from datasets_registry.stats import stop_word_set

    stop = stop_word_set()
    words = [
        w
        for w in top_n_list("en", VOCABULARY)
        if w.isascii() and w.isalpha() and len(w) >= 3 and w not in stop
    ]
    zipfs = np.array([zipf_frequency(w, "en") for w in words])
    classes = np.array([word_class(w) for w in words])
    neutral = np.ones(len(words), dtype=bool)
    try:
        described = embed([*sorted(set(MODE_REQUESTS.values())), _OFFENSIVE])
        neutral = (embed(words) @ described.T).max(axis=1) < NEUTRAL_COSINE
    except LearnedUnavailable as exc:
        log.warning("placebo words chosen without the meaning filter: %s", exc)
    return words, zipfs, classes, neutral


def _made_up(form: str) -> str:
    """A made-up word of ``form``'s length, capitalised as it is (fixed by ``form``)."""
    rng = random.Random(f"made-up:{form.lower()}")
    word = ""
    while len(word) < max(4, len(form)):
        word += rng.choice(_SYLLABLES)
    word = word[: max(4, len(form))]
    return word.capitalize() if any(c.isupper() for c in form) else word
