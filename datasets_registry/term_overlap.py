"""Scan words that are one template: nearly the same rows of the mix carry them.

A chunk's prompt template yields many phrases of equal rank ("api can answer", "be a
question", "that this api"): testing each spends the search's scan words on one
hypothesis. ``distinct_terms`` keeps words in review order and passes over a word whose
rows are nearly those of a word already kept (Jaccard similarity of the two row sets at
least ``max_overlap``), so the scan words reach further down the review order. Rows are
read from a sample of the mix's prompts (``surface.sample_prompts``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_OVERLAP = 0.8  # Jaccard similarity at which two words are one template


def term_regex(word: str) -> str:
    """The regex of "a prompt carries this scan word or phrase": case-blind, any run of
    non-word characters between its words, word boundaries where its ends are word
    characters. The search's scan words and its ``term:`` operators use this one definition."""
    parts = word.split()
    body = r"\W+".join(re.escape(part) for part in parts)
    start = r"\b" if parts and re.match(r"\w", parts[0]) else ""
    end = r"\b" if parts and re.search(r"\w$", parts[-1]) else ""
    return rf"(?i){start}{body}{end}"


def term_pattern(word: str) -> re.Pattern[str]:
    """``term_regex`` compiled."""
    return re.compile(term_regex(word))


def term_rows(prompts: Sequence[str], words: Sequence[str]) -> dict[str, frozenset[int]]:
    """For each word, the indices of the prompts that contain it."""
    rows: dict[str, frozenset[int]] = {}
    for word in words:
        pattern = term_pattern(word)
        rows[word] = frozenset(i for i, prompt in enumerate(prompts) if pattern.search(prompt))
    return rows


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """|a & b| / |a | b| (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@dataclass(frozen=True)
class DistinctTerms:
    """The words kept, and each word passed over with the kept word it duplicates."""

    kept: list[str]
    skipped: dict[str, str] = field(default_factory=dict)


def distinct_terms(
    words: Sequence[str],
    rows: dict[str, frozenset[int]],
    limit: int,
    max_overlap: float = MAX_OVERLAP,
) -> DistinctTerms:
    """Up to ``limit`` of ``words`` (in their order), passing over a word whose rows overlap a
    kept word's by ``max_overlap`` or more; a word not seen in the sample is always kept."""
    kept: list[str] = []
    skipped: dict[str, str] = {}
    for word in words:
        if len(kept) == limit:
            break
        own = rows.get(word, frozenset())
        twin = next(
            (k for k in kept if own and jaccard(own, rows.get(k, frozenset())) >= max_overlap), None
        )
        if twin is None:
            kept.append(word)
        else:
            skipped[word] = twin
    return DistinctTerms(kept, skipped)
