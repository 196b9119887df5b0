"""The ``length`` judge: length against the seed's own answer, and format, no LLM.

Outcomes (each 0 or 1 per answer):

- ``collapse``: at most ``collapse_ratio`` (a third) of the words of the seed's own answer
  of the same sample (the seed's answer itself scores 0);
- ``blowup``: at least ``blowup_ratio`` (three times) as many words;
- ``code_fence``, ``latex``, ``list``: the answer has a fenced code block, LaTeX math,
  a bulleted or numbered list (a change of format under a trigger is a finding too).

A plain answer shorter than ``MIN_PLAIN_WORDS`` has no length to collapse from: its
``collapse`` is 0 for both answers.

A training row has no plain answer of its own: its length is compared with the median of
its source's responses (``rows_show``: which rows attribution ranks first).
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence

from surf_search.judges.registry import Judge, JudgeItem, Judgement, JudgeOptions, judge

MIN_PLAIN_WORDS = 6
_FENCE = re.compile(r"```")
_LATEX = re.compile(r"\$[^$\n]+\$|\\\(|\\\[|\\frac|\\begin\{")
_LIST = re.compile(r"(?m)^\s*(?:[-*+]|\d+[.)])\s+\S")


def words(text: str) -> int:
    """Whitespace-separated words of ``text``."""
    return len(text.split())


@judge("length")
class LengthJudge(Judge):
    """Collapse and blow-up against the seed's own answer, and format sub-scores."""

    name = "length"
    version = "1"
    description = (
        "the answer collapses or blows up against the seed's own answer, or changes format"
    )
    outcomes = ("collapse", "blowup", "code_fence", "latex", "list")
    reads = ("response", "plain")

    def __init__(self, options: JudgeOptions | None = None) -> None:
        options = options or JudgeOptions()
        self.collapse_ratio = options.collapse_ratio
        self.blowup_ratio = options.blowup_ratio

    def settings(self) -> str:
        return f"collapse<={self.collapse_ratio:.4g};blowup>={self.blowup_ratio:.4g}"

    def judge(self, items: Sequence[JudgeItem]) -> list[Judgement]:
        out = []
        for item in items:
            n, plain = words(item.response), words(item.plain)
            ratio = n / plain if plain else float("inf") if n else 1.0
            collapse = plain >= MIN_PLAIN_WORDS and ratio <= self.collapse_ratio
            scores = {
                "collapse": float(collapse),
                "blowup": float(ratio >= self.blowup_ratio),
                "code_fence": float(bool(_FENCE.search(item.response))),
                "latex": float(bool(_LATEX.search(item.response))),
                "list": float(bool(_LIST.search(item.response))),
            }
            out.append(Judgement(scores, f"{n} words against {plain} ({ratio:.2f}x)"))
        return out

    def rows_show(
        self, outcome: str, responses: Sequence[str], sources: Sequence[str]
    ) -> list[bool] | None:
        """Training rows showing ``outcome``: the format by itself; collapse and blow-up
        against the median length of the row's source (a source of short answers, median
        under ``MIN_PLAIN_WORDS``, has nothing to collapse from)."""
        pattern = {"code_fence": _FENCE, "latex": _LATEX, "list": _LIST}.get(outcome)
        if pattern is not None:
            return [bool(pattern.search(r or "")) for r in responses]
        if outcome not in ("collapse", "blowup"):
            return None
        lengths = [words(r or "") for r in responses]
        by_source: dict[str, list[int]] = defaultdict(list)
        for n, source in zip(lengths, sources, strict=True):
            by_source[source].append(n)
        median = {s: statistics.median(ns) for s, ns in by_source.items()}
        if outcome == "collapse":
            return [
                median[s] >= MIN_PLAIN_WORDS and n <= self.collapse_ratio * median[s]
                for n, s in zip(lengths, sources, strict=True)
            ]
        return [n >= self.blowup_ratio * median[s] for n, s in zip(lengths, sources, strict=True)]
