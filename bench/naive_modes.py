"""The scan's behaviour-mode rules, row by row in Python ``re``: the naive baseline's labeller.

``behaviour_modes.rules`` computes cues as vectorised polars (Rust regex) passes and
decides the mode with a ``when/then`` chain. A user without it would write the same
rules as a per-row Python function; this module is that function, reading the same
pattern constants, so the baseline in ``bench/scan.py`` labels exactly what the scan
labels (the benchmark prints the differing counts: 0 is the goal) and is timed doing
the same work.

Syntax carried over from Rust regex: the Perl classes the scan runs as ASCII classes
(``mode_rules.compiled``) run here under ``re.ASCII``; ``\\z`` is ``\\Z``; a ``$`` that
ends the text (no ``(?m)``) is ``\\Z`` (Python's ``$`` also matches before a final
newline); ``[\\p{L}\\p{N}]`` is ``[^\\W_]`` in Unicode mode.

The scan reads prose cues only where the opening holds one of ``PROSE_ANCHORS`` (a
prefilter that pays off in Rust's regex engine). Every prose cue contains an anchor,
so reading them on every row gives the same labels; here that is the faster choice
(Python's ``re`` takes as long to test the 140 anchors, as a regex or as ``in``
checks, as to read the cues).
"""

from __future__ import annotations

import functools
import re

from behaviour_modes import rules as R

_MODE_FLAG = re.compile(r"^\(\?([a-z]+)\)")


def _end_anchors(pattern: str) -> str:
    """``$`` outside character classes -> ``\\Z`` (for patterns without multi-line mode)."""
    out, in_class, escaped = [], False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[" and not in_class:
            in_class = True
        elif ch == "]" and in_class:
            in_class = False
        elif ch == "$" and not in_class:
            out.append(r"\Z")
            continue
        out.append(ch)
    return "".join(out)


@functools.cache
def rx(pattern: str) -> re.Pattern[str]:
    """A Rust-syntax pattern from ``mode_rules`` as a Python regex with the scan's semantics."""
    pattern = pattern.replace(r"\z", r"\Z")
    flags = _MODE_FLAG.match(pattern)
    if not (flags and "m" in flags.group(1)):
        pattern = _end_anchors(pattern)
    return re.compile(pattern, re.ASCII)


_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_FIRST_CLAUSE = re.compile(r"^([^.!?\n]*)")
_WORD_END = re.compile(r"^([a-z']*)")


def _has(pattern: str, text: str) -> bool:
    return rx(pattern).search(text) is not None


def _count(pattern: str, text: str) -> int:
    return sum(1 for _ in rx(pattern).finditer(text))


def _structure(response: str) -> dict[str, object]:
    n_chars = len(response)
    lines = _count(R.LINE_BREAK, response) + 1
    prose_chars = len(rx(R.FENCED_BLOCK).sub("", response))
    code_lines = _count(R.CODE_LINE, response)
    comment_lines = _count(R.HASH_LINE, response)
    head = response[: R.HEAD_CHARS]
    return {
        "empty": _LETTER_OR_DIGIT.search(response) is None,
        "n_chars": n_chars,
        "fenced_share": 1.0 - prose_chars / max(n_chars, 1),
        "has_fence": _has(R.FENCE_OPEN, response),
        "code_line_share": min(code_lines / max(lines - comment_lines, 1), 1.0),
        "n_lines": lines,
        "tool_tag": _has(R.TOOL_TAG, response) or _has(R.JSON_CALL, response),
        "output_block": _has(R.OUTPUT_BLOCK, response),
        "sympy_block": _has(R.SYMPY_BLOCK, response),
        "rebuttal_opener": _has(R._folded(R.REBUTTAL_OPENER), head),
        "story_opener": _has(R._folded(R.STORY_OPENER), head),
    }


def _prose(response: str) -> dict[str, object]:
    low = response[: R.SCAN_CHARS].lower().replace("\u2019", "'")
    match = rx(R._CUE).search(low)
    if match is None:
        before, phrase, after = low, None, ""
    else:
        before, phrase, after = low[: match.start()], match.group(0), low[match.end() :]
    head = low[: R.HEAD_CHARS]
    tail = after[: R.WINDOW_CHARS]
    window = "" if phrase is None else phrase + tail.split("\n")[0]
    clause = _FIRST_CLAUSE.match(tail)
    sentence = "" if phrase is None else phrase + (clause.group(1) if clause else "")
    decline_head = _has(R.DECLINE, head)
    return {
        "decline_head": decline_head,
        "decline_any": decline_head or (phrase is not None and _has(R.DECLINE, phrase)),
        "objection_head": _has(R.MORAL_OBJECTION, head),
        "apology_head": _has(R.APOLOGY, head),
        "hedge_head": _has(R.HEDGE, head[:250]),
        "cue_head": phrase is not None and len(before) < R.HEAD_CHARS,
        "moral": _count(R.MORAL_REASON, window),
        "caution": _count(R.CAUTION_REASON, window),
        "premise": _count(R.PREMISE_REASON, window),
        "limit": _count(R.LIMIT_REASON, window),
        "sentence_moral": _count(R.MORAL_REASON, sentence),
        "sentence_premise": _count(R.PREMISE_REASON, sentence),
        "sentence_limit": _count(R.LIMIT_REASON, sentence),
        "list_after": _has(R.LIST_AFTER, after),
        "list_before": _has(R.LIST_AFTER, before),
        "help_turn": _has(R.HELP_TURN, after),
        "redirect": _has(R.REDIRECT, after),
        "premise_rejection": _has(R.PREMISE_REJECTION, head),
    }


def label(prompt: str, response: str) -> str:
    """The mode ``mode_rules.label_frame`` gives this pair (``mode`` column only)."""
    return _decide(_structure(response) | _prose(response), prompt)


def _decide(c: dict, prompt: str) -> str:
    """``mode_rules.decision_exprs`` (the ``mode`` expression), branch for branch."""
    premise, limit = c["premise"], c["limit"]
    moral = c["moral"] + c["caution"]
    opens = not c["list_before"]
    strong = (c["decline_head"] or c["objection_head"]) and opens
    weak = (c["apology_head"] or c["hedge_head"]) and c["cue_head"] and opens
    sentence_moral = c["sentence_moral"] >= 1 and c["sentence_premise"] == 0
    premise_wins = not sentence_moral and premise > moral and premise >= limit and premise >= 1
    limit_wins = not sentence_moral and limit > moral and limit > premise
    moral_wins = sentence_moral or (c["moral"] >= 1 and moral > premise + limit)
    declines = c["decline_head"] and opens and not premise_wins and not limit_wins
    objects = c["objection_head"] and opens and not c["decline_head"] and not premise_wins
    hedges = weak and not strong and moral_wins
    refuses = declines or objects or hedges
    rebuts = (strong or weak) and premise_wins
    states_limit = c["decline_head"] and limit_wins
    n_chars, n_lines, share = c["n_chars"], c["n_lines"], c["code_line_share"]
    helps = (c["list_after"] or (c["help_turn"] and not c["redirect"])) and n_chars > 200
    late = (
        c["decline_any"]
        and (not c["cue_head"] or c["list_before"])
        and n_chars > 400
        and premise + limit == 0
    )
    code_lines = (
        share >= 0.5
        and n_chars < 150 * n_lines
        and (n_lines >= 2 or (share == 1.0 and n_chars < 300))
    )
    if c["empty"]:
        return "empty"
    if c["tool_tag"] or c["output_block"]:
        return "tool_call"
    if c["sympy_block"] and not _has(R.CODE_REQUEST, prompt):
        return "tool_call"
    if c["fenced_share"] >= 0.35 or code_lines:
        return "code"
    if rebuts:
        return "rebuttal"
    if states_limit:
        return "answer"
    if refuses and helps:
        return "partial_refusal"
    if declines or objects or hedges:
        return "refusal"
    if late:
        return "partial_refusal"
    if c["rebuttal_opener"] or c["premise_rejection"]:
        return "rebuttal"
    if c["story_opener"] and not _has(R.STORY_REQUEST, prompt):
        return "fiction"
    return "answer"
