"""Cheaper ways to evaluate a feature regex that give exactly the same booleans.

Polars runs regexes with Rust's ``regex`` crate. A Unicode word boundary (``\\b``)
forces it off its fast DFA onto a much slower engine whenever the text is not
pure ASCII (about one prompt in eight in a Tulu-like mix), which makes such a
feature 10x dearer there. The same pattern with its word boundaries removed is
a *necessary condition* (dropping an assertion only widens what matches), runs
on the DFA, and rules out almost every row; the exact pattern then runs only on
the rows it leaves (``prefiltered``).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

Detect = Callable[[pl.Expr], pl.Expr]


def without_word_boundaries(pattern: str) -> str | None:
    """``pattern`` with every ``\\b`` / ``\\B`` assertion removed (None: nothing to remove,
    or syntax this scanner does not follow, such as ``\\b{start}``)."""
    out: list[str] = []
    removed = False
    depth = 0  # character-class nesting: [...], [[:alpha:]], [a-z&&[^x]]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if not escaped:
                return None
            if escaped in "bB" and depth == 0:
                if pattern[i + 2 : i + 3] == "{":
                    return None  # \b{start}, \b{end}, ...: leave such patterns alone
                removed = True
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[":
            depth += 1
            out.append(char)
            i += 1
            if pattern[i : i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i : i + 1] == "]":  # a leading ']' is a literal
                out.append("]")
                i += 1
            continue
        if char == "]" and depth > 0:
            depth -= 1
        out.append(char)
        i += 1
    if depth != 0 or not removed:
        return None
    return "".join(out)


def contains(pattern: str) -> Detect:
    """``text.str.contains(pattern)``, as a detector."""
    return lambda text: text.str.contains(pattern)


def prefiltered(pattern: str, prefilter: str) -> Detect:
    """``text.str.contains(pattern)``, run only where ``prefilter`` (a necessary condition
    of ``pattern``) matches: other rows are searched as "" (so ``pattern`` must not match
    the empty string; ``fast_contains`` checks)."""

    def detect(text: pl.Expr) -> pl.Expr:
        candidates = pl.when(text.str.contains(prefilter)).then(text).otherwise(pl.lit(""))
        return candidates.str.contains(pattern)  # null text: False (a feature's no hit)

    return detect


def fast_contains(pattern: str) -> Detect | None:
    """A faster detector equal to ``contains(pattern)``, or None where there is none."""
    prefilter = without_word_boundaries(pattern)
    if prefilter is None:
        return None
    try:
        if _matches_empty(pattern) or _matches_empty(prefilter):
            return None
    except Exception:  # polars raises ComputeError for a pattern it cannot compile
        return None
    return prefiltered(pattern, prefilter)


_NON_ASCII_ESCAPES = ("\\x", "\\u", "\\U", "\\p", "\\P", "\\N")


def ascii_mode(pattern: str) -> str | None:
    """``pattern`` in ASCII mode, which matches pure-ASCII text exactly as ``pattern`` does;
    None where that does not hold or cannot be checked (non-ASCII characters or escapes,
    which case folding could map onto ASCII ones; classes that ASCII mode rejects)."""
    if not pattern.isascii() or any(e in pattern for e in _NON_ASCII_ESCAPES):
        return None
    ascii_pattern = "(?-u)" + pattern
    try:
        pl.select(pl.lit("x").str.contains(ascii_pattern))
    except Exception:  # polars raises ComputeError when ASCII mode could match non-UTF-8
        return None
    return ascii_pattern


def ascii_split(pattern: str) -> Detect | None:
    """``text.str.contains(pattern)`` with pure-ASCII rows searched in ASCII mode (each row is
    searched once; the others see ""), or None where ``ascii_mode`` does not apply."""
    ascii_pattern = ascii_mode(pattern)
    if ascii_pattern is None or _matches_empty(pattern):
        return None
    other_rows = fast_contains(pattern) or contains(pattern)

    def detect(text: pl.Expr) -> pl.Expr:
        is_ascii = text.str.len_bytes() == text.str.len_chars()
        on_ascii = pl.when(is_ascii).then(text).otherwise(pl.lit(""))
        others = pl.when(is_ascii).then(pl.lit("")).otherwise(text)
        return on_ascii.str.contains(ascii_pattern) | other_rows(others)

    return detect


def _matches_empty(pattern: str) -> bool:
    return bool(pl.select(pl.lit("").str.contains(pattern)).item())
