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
        matches_empty = pl.select(
            pl.lit("").str.contains(pattern).alias("pattern"),
            pl.lit("").str.contains(prefilter).alias("prefilter"),
        ).row(0)
    except Exception:  # polars raises ComputeError for a pattern it cannot compile
        return None
    if any(matches_empty):
        return None
    return prefiltered(pattern, prefilter)
