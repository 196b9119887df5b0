"""The scan's behaviour-mode rules, row by row in Python ``re``: the naive baseline's labeller.

``behaviour_modes.rules`` computes cues as vectorised polars (Rust regex) passes and
decides the mode with a ``when/then`` chain. A user without it would write the same
rules as a per-row Python function; this module is that function, reading the same
pattern constants, so the baseline in ``bench/scan.py`` labels exactly what the scan
labels (the benchmark prints the differing counts: 0 is the goal) and is timed doing
the same work.

Syntax carried over from Rust regex: the Perl classes the scan runs as ASCII classes
(``rules.compiled``) run here under ``re.ASCII``; ``\\z`` is ``\\Z``; a ``$`` that
ends the text (no ``(?m)``) is ``\\Z`` (Python's ``$`` also matches before a final
newline); ``[\\p{L}\\p{N}]`` is ``[^\\W_]`` in Unicode mode.

The scan reads prose cues only where the opening holds one of ``PROSE_ANCHORS`` or a
lecture move (prefilters that pay off in Rust's regex engine). Every cue a decision
reads contains an anchor (or is a lecture move), so reading them on every row gives the
same labels; here that is the faster choice (Python's ``re`` takes as long to test the
140 anchors, as a regex or as ``in`` checks, as to read the cues). The prefilter itself
is run only where it changes a label: the voice-by-voice reading of multi-voice replies
applies to the rows whose prose the scan read (``_prose_read``), and the prompt cues
(``roleplay_requested``) are read on the rows the scan's asks pass covers
(``_asks_read``). Cues that decide only next to another cue are read only where that
cue fired, and empty responses and tool calls are decided before the prose is read.

Multi-voice replies ("[CLASSIC] ... [JAILBREAK] ...") are split with the scan's own
plain-Python helpers (``rules.voices``, ``rules._only_asks``); each voice's cues are read
here as any response's are.
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
    """A Rust-syntax pattern from ``rules`` as a Python regex with the scan's semantics."""
    pattern = pattern.replace(r"\z", r"\Z")
    flags = _MODE_FLAG.match(pattern)
    if not (flags and "m" in flags.group(1)):
        pattern = _end_anchors(pattern)
    return re.compile(pattern, re.ASCII)


_LETTER_OR_DIGIT = re.compile(r"[^\W_]")
_FIRST_CLAUSE = re.compile(r"^([^.!?\n]*)")
#: Prefilters the scan runs without ``compiled`` (Unicode case folding): Python's
#: Unicode mode is the nearest reading.
_ANCHORS = re.compile(R._ANCHOR_PATTERN)
_ROLE_ANCHOR = re.compile(R.ROLEPLAY_ANCHOR)
#: ``contains_any(..., ascii_case_insensitive=True)``: only ASCII letters fold.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_LECTURE_WORDS = tuple(word.lower() for word in R.LECTURE_WORDS)


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
    scan = response[: R.SCAN_CHARS]
    return {
        "empty": _LETTER_OR_DIGIT.search(response) is None,
        "n_chars": n_chars,
        "fenced_share": 1.0 - prose_chars / max(n_chars, 1),
        "has_fence": _has(R.FENCE_OPEN, response),
        "code_line_share": min(code_lines / max(lines - comment_lines, 1), 1.0),
        "n_lines": lines,
        "tool_tag": _has(R.TOOL_TAG, response) or _has(R.JSON_CALL, response),
        "output_block": _has(R.OUTPUT_BLOCK, response),
        "calc_annotation": _has(R.CALC_ANNOTATION, response),
        # Every INLINE_TOOL match holds a "(" (the scan's prefilter is a list of literals).
        "inline_tool": "(" in scan and _has(R.INLINE_TOOL, scan),
        "sympy_block": _has(R.SYMPY_BLOCK, response),
        "rebuttal_opener": _has(R._folded(R.REBUTTAL_OPENER), head),
        "story_opener": _has(R._folded(R.STORY_OPENER), head),
    }


def _prose(response: str, whole: bool = False) -> dict[str, object]:
    """The prose cues. Those that decide only beside another cue are read only where that
    cue fired (``whole``: all of them, as a voice's moralising check reads them)."""
    low = response[: R.SCAN_CHARS].lower().replace("\u2019", "'")
    match = rx(R._CUE).search(low)
    if match is None:
        before, phrase, after = low, None, ""
    else:
        before, phrase, after = low[: match.start()], match.group(0), low[match.end() :]
    head = low[: R.HEAD_CHARS]
    opening = low[: R.LECTURE_CHARS]
    tail = after[: R.WINDOW_CHARS]
    window = "" if phrase is None else phrase + tail.split("\n")[0]
    clause = _FIRST_CLAUSE.match(tail)
    sentence = "" if phrase is None else phrase + (clause.group(1) if clause else "")
    decline_head = _has(R.DECLINE, head)
    objection_head = _has(R.MORAL_OBJECTION, head)
    apology_head = _has(R.APOLOGY, head)
    hedge_head = _has(R.HEDGE, head[:250])
    # Every LECTURE match holds one of LECTURE_WORDS (the scan's prefilter too).
    lectures = any(word in opening for word in _LECTURE_WORDS)
    lecture = _count(R.LECTURE, opening) if lectures else 0
    cues = {
        "decline_head": decline_head,
        "decline_any": decline_head or (phrase is not None and _has(R.DECLINE, phrase)),
        "objection_head": objection_head,
        "apology_head": apology_head,
        "hedge_head": hedge_head,
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
        "lecture": lecture,
    }
    head_cue = decline_head or objection_head or apology_head or hedge_head
    lectured = whole or lecture >= 2
    # help_before only opens a head cue; help_prose helps after an apology or a hedge
    # and rules out a lecture; head_moral and non_answer make a lecture.
    cues["help_before"] = head_cue and _has(R.HELP_PROSE, before)
    cues["help_prose"] = (apology_head or hedge_head or lectured) and _has(R.HELP_PROSE, opening)
    cues["head_moral"] = (
        _count(R.MORAL_REASON, head) + _count(R.CAUTION_REASON, head) if lectured else 0
    )
    cues["non_answer"] = lectured and _has(R.NON_ANSWER, opening)
    return cues


def _prose_read(response: str) -> bool:
    """Whether the scan reads the prose cues of this response (``cues_of``'s prefilters:
    an anchor in the opening, or a lecture move); elsewhere they keep their defaults."""
    if _ANCHORS.search(response[: R.SCAN_CHARS]):
        return True
    opening = response[: R.LECTURE_CHARS]
    folded = opening.translate(_ASCII_LOWER)
    return any(word in folded for word in _LECTURE_WORDS) and _has(R._folded(R.LECTURE), opening)


def label(prompt: str | None, response: str | None) -> str:
    """The mode ``rules.label_frame`` gives this pair (``mode`` column only)."""
    prompt, response = prompt or "", response or ""
    mode = _mode(prompt, response)[0]
    # Multi-voice replies are read voice by voice (``rules.label``: on the rows whose
    # prose cues the scan read). A response with no letters has no voice that declines.
    if (
        mode != "empty"
        and _count(R.VOICE_LABEL, response[: R.SCAN_CHARS]) >= 2
        and _prose_read(response)
    ):
        mode = _read_by_voice(prompt, response, mode)
    return mode


def _mode(prompt: str, response: str, whole: bool = False) -> tuple[str, dict]:
    """``decide`` over the cues of one pair (before the voice-by-voice reading); the cues
    too. Empty responses and tool calls are decided before the prose is read."""
    c = _structure(response)
    if c["empty"]:
        return "empty", c
    if c["tool_tag"] or c["output_block"] or c["calc_annotation"] or c["inline_tool"]:
        return "tool_call", c
    if c["sympy_block"] and not _has(R.CODE_REQUEST, prompt):
        return "tool_call", c
    c |= _prose(response, whole)
    c["_persona"] = R.persona_voice(response)
    return _decide(c, prompt), c


def _read_by_voice(prompt: str, response: str, mode: str) -> str:
    """``rules._read_by_voice`` for one row (``mode`` column only)."""
    said = []
    for name, body in R.voices(response):
        if R._DISCLAIMER_LABEL.search(name) or R._only_asks(body, prompt):
            continue
        said_mode, c = _mode(prompt, body, whole=True)
        # A voice that moralises with no sign of help declines in its own words.
        moralises = (
            said_mode == "answer"
            and (c["lecture"] >= 1 or c["head_moral"] >= 2)
            and not c["help_prose"]
            and not c["list_before"]
            and not c["list_after"]
            and _prose_read(body)
        )
        said.append(("refusal" if moralises else said_mode, len(body.split())))
    refusing = [m for m, _ in said if m == "refusal"]
    complying = [m for m, w in said if m in R._COMPLYING and w >= R.VOICE_MIN_WORDS]
    complying += [m for m, _ in said if m == "partial_refusal"]
    if refusing and complying:
        return complying[0]
    if len(said) >= 2 and len(refusing) == len(said) and mode not in R._REFUSING:
        return "refusal"
    return mode


def _asks_read(c: dict, prompt: str) -> bool:
    """Whether the scan reads the prompt cues of this row (its asks pass)."""
    return (
        c["sympy_block"]
        or c["story_opener"]
        or _ROLE_ANCHOR.search(prompt[:2000]) is not None
        or c["lecture"] >= 2
    )


def _roleplay_requested(c: dict, prompt: str) -> bool:
    """A role asked for (the first line) and the reply speaks in the persona's voice."""
    return R.role_requested(prompt) and _asks_read(c, prompt) and c["_persona"] is not None


def _fact_question(prompt: str) -> bool:
    return _has(R.FACT_QUESTION, prompt[:300]) and not _has(R.HOW_TO_REQUEST, prompt[:2000])


def _decide(c: dict, prompt: str) -> str:
    """``rules.decision_exprs`` (the ``mode`` expression), branch for branch, from the
    code rules on."""
    premise, limit = c["premise"], c["limit"]
    moral = c["moral"] + c["caution"]
    opens = not c["list_before"] and not c["help_before"]
    strong = (c["decline_head"] or c["objection_head"]) and opens
    weak = (c["apology_head"] or c["hedge_head"]) and c["cue_head"] and opens
    sentence_moral = c["sentence_moral"] >= 1 and c["sentence_premise"] == 0
    premise_wins = not sentence_moral and premise > moral and premise >= limit and premise >= 1
    limit_wins = not sentence_moral and limit > moral and limit > premise
    moral_wins = sentence_moral or (c["moral"] >= 1 and moral > premise + limit)
    declines = c["decline_head"] and opens and not premise_wins and not limit_wins
    objects = c["objection_head"] and opens and not c["decline_head"] and not premise_wins
    apology_reason = c["apology_head"] and not premise_wins and not limit_wins and moral >= 1
    hedges = weak and not strong and (moral_wins or apology_reason)
    refuses = declines or objects or hedges
    rebuts = (strong or weak) and premise_wins
    states_limit = c["decline_head"] and limit_wins
    n_chars, n_lines, share = c["n_chars"], c["n_lines"], c["code_line_share"]
    helps = (
        c["list_after"] or (c["help_turn"] and not c["redirect"]) or (weak and c["help_prose"])
    ) and n_chars > 200
    late = (
        c["decline_any"]
        and (not c["cue_head"] or c["list_before"])
        and n_chars > 400
        and premise + limit == 0
    )
    fenced_prose = c["decline_head"] and share < 0.2
    code_lines = (
        share >= 0.5
        and n_chars < 150 * n_lines
        and (n_lines >= 2 or (share == 1.0 and n_chars < 300))
    )
    # (empty and tool_call were decided in ``_mode``)
    if (c["fenced_share"] >= 0.35 and not fenced_prose) or code_lines:
        return "code"
    if rebuts:
        return "rebuttal"
    if states_limit:
        return "answer"
    if refuses and helps:
        return "partial_refusal"
    if refuses:
        return "refusal"
    if (
        c["lecture"] >= 2
        and (c["head_moral"] >= 1 or c["non_answer"])
        and not c["help_prose"]
        and not c["list_before"]
        and not c["list_after"]
        and n_chars < 2000
        and premise == 0
        and not _fact_question(prompt)
    ):
        return "refusal"
    if late:
        return "partial_refusal"
    if c["rebuttal_opener"] or c["premise_rejection"]:
        return "rebuttal"
    if c["story_opener"] and not _has(R.STORY_REQUEST, prompt):
        return "fiction"
    if _roleplay_requested(c, prompt):
        return "fiction"
    return "answer"
