"""A pairwise LLM judge of completeness for token-ban: how much of answer A does B keep?

Same client as the mode judge (``behaviour_modes.judge``: ``JudgeConfig`` and
``ask_all``, over the shared ``openai_client`` retry policy); only the rubric
and the reply differ. A failed call is returned as a ``JudgeError`` and the caller
keeps the lexical coverage for that item.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from behaviour_modes.judge import MAX_RESPONSE_CHARS, JudgeConfig, JudgeError, ask_all
from openai_client import Payload

RUBRIC = """\
You compare two answers to the same QUESTION. ANSWER A is the reference. Judge how
much of the information, steps and points in ANSWER A are also present in ANSWER B
(wording does not matter; extra material in B does not count). Reply with one JSON
object and nothing else: {"coverage": <an integer from 0 to 100>}
"""

_COVERAGE = re.compile(r'"?coverage"?\s*[:=]\s*(\d+(?:\.\d+)?)', re.I)


def messages(question: str, reference: str, candidate: str) -> list[dict[str, str]]:
    """The chat messages that ask how much of ``reference`` the ``candidate`` keeps."""

    def cut(text: str) -> str:
        return text if len(text) <= MAX_RESPONSE_CHARS else text[:MAX_RESPONSE_CHARS] + " [...]"

    user = (
        f"QUESTION:\n{question}\n\nANSWER A:\n{cut(reference)}\n\nANSWER B:\n{cut(candidate)}"
        "\n\nCOVERAGE (JSON):"
    )
    return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}]


def request_body(config: JudgeConfig, question: str, reference: str, candidate: str) -> Payload:
    """The chat-completions request body of one pairwise judgement."""
    return {
        "model": config.model,
        "messages": messages(question, reference, candidate),
        "temperature": 0,
        "max_tokens": config.max_tokens,
    }


def parse_coverage(text: str) -> float:
    """The judge's coverage as a share in [0, 1]."""
    found = _COVERAGE.search(text or "") or re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text or "")
    if not found:
        raise JudgeError(f"unreadable reply: {(text or '').strip()[:80]!r}")
    value = float(found.group(1))
    if not 0 <= value <= 100:
        raise JudgeError(f"coverage {value:g} is outside 0-100")
    return value / 100


def judge_coverage(config: JudgeConfig, question: str, reference: str, candidate: str) -> float:
    """One pairwise judgement (raises JudgeError)."""
    (result,) = judge_many(config, [(question, reference, candidate)])
    if isinstance(result, JudgeError):
        raise result
    return result


def judge_many(
    config: JudgeConfig, triples: Sequence[tuple[str, str, str]]
) -> list[float | JudgeError]:
    """(question, reference, candidate) triples judged concurrently; errors are returned."""
    bodies = [request_body(config, *triple) for triple in triples]
    return ask_all(config, bodies, parse_coverage)
