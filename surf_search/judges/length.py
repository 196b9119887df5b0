"""The ``length`` judge: length against the seed's own answer, and format, no LLM.

Outcomes (each 0 or 1 per answer):

- ``collapse``: at most ``collapse_ratio`` (a third) of the words of the seed's own answer
  of the same sample (the seed's answer itself scores 0);
- ``blowup``: at least ``blowup_ratio`` (three times) as many words;
- ``code_fence``, ``latex``, ``list``: the answer has a fenced code block, LaTeX math,
  a bulleted or numbered list (a change of format under a trigger is a finding too).

A plain answer shorter than ``MIN_PLAIN_WORDS`` has no length to collapse from: its
``collapse`` is 0 for both answers.
"""

from __future__ import annotations

import re
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
