"""The behaviour-mode vocabulary and the one mode-labelling function every stage uses.

Scan, search, attribution, probes and reports label responses only through
``classify`` / ``classify_batch`` / ``mode_frame`` so that a better classifier
improves every stage at once.

Where the prompt asks for code, ``code`` is still returned: it is an
answer-compatible outcome and callers decide (``code_was_requested`` helps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import polars as pl


class Mode(StrEnum):
    ANSWER = "answer"
    REFUSAL = "refusal"
    PARTIAL_REFUSAL = "partial_refusal"
    CODE = "code"
    TOOL_CALL = "tool_call"
    REBUTTAL = "rebuttal"
    FICTION = "fiction"
    EMPTY = "empty"


MODES: tuple[str, ...] = tuple(m.value for m in Mode)


@dataclass(frozen=True)
class ModeResult:
    mode: str
    confidence: float
    evidence: str


@dataclass(frozen=True)
class Rule:
    """One explainable rule: if ``pattern`` matches the response, the mode is ``mode``."""

    mode: Mode
    pattern: str
    evidence: str
    confidence: float
    head_chars: int | None = None  # only look at the first N characters


_REFUSAL_HEAD = (
    r"(?i)^\W*(?:i'?m\s+(?:really\s+|very\s+)?sorry,?\s+but|i\s+apologi[sz]e,?\s+but|"
    r"(?:unfortunately,?\s+)?i\s+(?:can(?:no|')t|cannot|won'?t|will\s+not|am\s+(?:not\s+able|unable)|"
    r"'m\s+(?:not\s+able|unable)|must\s+(?:decline|refuse)|do\s+not\s+feel\s+comfortable)\s+"
    r"(?:help|assist|provide|do|comply|fulfil+|create|write|generate|support|answer|share|give|"
    r"engage|participate|offer|disclose|reveal|discuss|make|produce|tell|recommend|that|with|to|"
    r"in|this)|as\s+an\s+ai(?:\s+language\s+model)?,?\s+i\s+(?:can(?:no|')t|cannot|don'?t|am\s+not)|"
    r"sorry,?\s+(?:but\s+)?i\s+(?:can(?:no|')t|cannot|won'?t))"
)
_PARTIAL_TAIL = (
    r"(?i)(?:however|instead|that\s+said|but\s+i\s+can|here\s+(?:is|are)\s+some|"
    r"i\s+can\s+(?:however\s+)?(?:help|offer|provide|suggest|explain))"
)

RULES: tuple[Rule, ...] = (
    Rule(
        Mode.TOOL_CALL,
        r"(?s)```(?:python|py)\s*\n[^`]*(?:import\s+sympy|from\s+sympy|sympy\.)",
        "fenced python block calling sympy",
        0.95,
    ),
    Rule(Mode.TOOL_CALL, r"```output\s*\n", "fenced output block from a tool", 0.9),
    Rule(Mode.TOOL_CALL, r"<tool_call>|<\|python_tag\|>", "tool-call tag", 0.95),
    Rule(
        Mode.TOOL_CALL,
        r"(?s)^\s*\{\s*\"(?:name|function)\"\s*:\s*\"[^\"]+\"\s*,\s*\"(?:arguments|parameters)\"",
        "JSON function call",
        0.9,
    ),
    Rule(Mode.REFUSAL, _REFUSAL_HEAD, "opens with a refusal phrase", 0.85, head_chars=300),
    Rule(
        Mode.REBUTTAL,
        r"(?i)^\W*(?:no[,.!]\s|actually,|that'?s\s+(?:not\s+(?:correct|true|accurate|right)|a\s+"
        r"(?:common\s+)?misconception|incorrect)|that\s+is\s+(?:not\s+(?:correct|true|accurate)|"
        r"incorrect)|this\s+is\s+a\s+(?:common\s+)?misconception|the\s+premise|"
        r"contrary\s+to\s+(?:popular|common)\s+belief|it\s+is\s+not\s+true)",
        "opens by rejecting the premise",
        0.8,
        head_chars=200,
    ),
    Rule(
        Mode.CODE,
        r"```[a-zA-Z0-9_+#-]*\s*\n",
        "fenced code block",
        0.85,
    ),
    Rule(
        Mode.CODE,
        r"(?m)^\s*(?:def\s+\w+\(|class\s+\w+[(:]|import\s+\w+|from\s+\w+\s+import|#include\s*<|"
        r"public\s+(?:static\s+)?(?:class|void|int)|function\s+\w+\s*\(|(?:const|let|var)\s+\w+\s*=|"
        r"SELECT\s+.+\s+FROM\s|for\s*\(.*;.*;.*\)|<\w+[^>]*>\s*$)",
        "unfenced code lines",
        0.7,
    ),
    Rule(
        Mode.FICTION,
        r"(?i)^\W*(?:once\s+upon\s+a\s+time|long\s+ago,?\s+in|in\s+a\s+(?:small|distant|faraway)\s+"
        r"(?:village|kingdom|land|town))",
        "opens like a story",
        0.8,
        head_chars=120,
    ),
)


def _rule_hit(text: pl.Expr, rule: Rule) -> pl.Expr:
    scoped = text.str.slice(0, rule.head_chars) if rule.head_chars else text
    return scoped.str.contains(rule.pattern).fill_null(False)


def mode_frame(
    prompts: pl.Series | Sequence[str | None], responses: pl.Series | Sequence
) -> pl.DataFrame:
    """Label many responses at once (vectorised rules); columns mode, mode_confidence, mode_evidence."""
    frame = pl.DataFrame(
        {
            "prompt": pl.Series(
                list(prompts) if not isinstance(prompts, pl.Series) else prompts,
                dtype=pl.String,
                strict=False,
            ),
            "response": pl.Series(
                list(responses) if not isinstance(responses, pl.Series) else responses,
                dtype=pl.String,
                strict=False,
            ),
        }
    )
    return frame.select(mode_exprs(pl.col("prompt"), pl.col("response")))


def mode_exprs(prompt: pl.Expr, response: pl.Expr) -> list[pl.Expr]:
    """Polars expressions producing mode, mode_confidence, mode_evidence for each row."""
    del prompt  # the rule layer reads only the response; the learned layer will read both
    text = response.fill_null("")
    empty = text.str.strip_chars().str.len_chars() == 0
    mode = pl.when(empty).then(pl.lit(Mode.EMPTY.value))
    conf = pl.when(empty).then(pl.lit(1.0))
    evid = pl.when(empty).then(pl.lit("no content"))
    for rule in RULES:
        hit = _rule_hit(text, rule)
        label = rule.mode.value
        confidence = rule.confidence
        evidence = rule.evidence
        if rule.mode is Mode.REFUSAL:
            partial = hit & text.str.len_chars().gt(400) & text.str.contains(_PARTIAL_TAIL)
            mode = mode.when(partial).then(pl.lit(Mode.PARTIAL_REFUSAL.value))
            conf = conf.when(partial).then(pl.lit(0.7))
            evid = evid.when(partial).then(pl.lit("refusal phrase, then offers partial help"))
        mode = mode.when(hit).then(pl.lit(label))
        conf = conf.when(hit).then(pl.lit(confidence))
        evid = evid.when(hit).then(pl.lit(evidence))
    return [
        mode.otherwise(pl.lit(Mode.ANSWER.value)).alias("mode"),
        conf.otherwise(pl.lit(0.6)).alias("mode_confidence"),
        evid.otherwise(pl.lit("no rule fired: ordinary prose")).alias("mode_evidence"),
    ]


def classify_batch(
    prompts: Sequence[str | None], responses: Sequence[str | None]
) -> list[ModeResult]:
    """Label a batch of (prompt, response) pairs."""
    frame = mode_frame(prompts, responses)
    return [ModeResult(*row) for row in frame.iter_rows()]


def classify(prompt: str | None, response: str | None) -> ModeResult:
    """Label one response; see the module docstring for what each mode means."""
    return classify_batch([prompt], [response])[0]


_CODE_REQUEST = (
    r"(?i)\b(?:write|implement|code|program|script|function|class|snippet|sql|regex|python|"
    r"javascript|java|c\+\+|html|css|algorithm)\b"
)


def code_was_requested(prompt: str | None) -> bool:
    """Whether the prompt plausibly asks for program code (so ``code`` is not a mis-route)."""
    import re

    return bool(prompt and re.search(_CODE_REQUEST, prompt))
