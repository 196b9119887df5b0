"""A pairwise LLM judge of completeness for token-ban: how much of answer A does B keep?

Same client as the mode judge (``behaviour_modes.judge``: ``JudgeConfig``, its
endpoint, API key and retries); only the rubric and the reply differ. A failed call is
returned as a ``JudgeError`` and the caller keeps the lexical coverage for that item.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from behaviour_modes.judge import MAX_RESPONSE_CHARS, JudgeConfig, JudgeError

RUBRIC = """\
You compare two answers to the same QUESTION. ANSWER A is the reference. Judge how
much of the information, steps and points in ANSWER A are also present in ANSWER B
(wording does not matter; extra material in B does not count). Reply with one JSON
object and nothing else: {"coverage": <an integer from 0 to 100>}
"""

_COVERAGE = re.compile(r'"?coverage"?\s*[:=]\s*(\d+(?:\.\d+)?)', re.I)


def messages(question: str, reference: str, candidate: str) -> list[dict[str, str]]:
    def cut(text: str) -> str:
        return text if len(text) <= MAX_RESPONSE_CHARS else text[:MAX_RESPONSE_CHARS] + " [...]"

    user = (
        f"QUESTION:\n{question}\n\nANSWER A:\n{cut(reference)}\n\nANSWER B:\n{cut(candidate)}"
        "\n\nCOVERAGE (JSON):"
    )
    return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}]


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
    body = json.dumps(
        {
            "model": config.model,
            "messages": messages(question, reference, candidate),
            "temperature": 0,
            "max_tokens": config.max_tokens,
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    key = config.api_key or os.environ.get("OPENAI_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    last: JudgeError | None = None
    for _ in range(config.max_retries + 1):
        request = urllib.request.Request(config.endpoint, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=config.timeout_s) as reply:
                payload = json.loads(reply.read().decode("utf-8", errors="replace"))
            return parse_coverage(payload["choices"][0]["message"]["content"])
        except JudgeError:
            raise
        except urllib.error.HTTPError as exc:
            last = JudgeError(f"HTTP {exc.code} from {config.endpoint}")
            if exc.code < 500 and exc.code != 429:
                break
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = JudgeError(f"cannot reach {config.endpoint}: {getattr(exc, 'reason', exc)}")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            last = JudgeError(f"malformed API reply: {exc}")
            break
    raise last or JudgeError("judge call failed")


def judge_many(
    config: JudgeConfig, triples: Sequence[tuple[str, str, str]]
) -> list[float | JudgeError]:
    """(question, reference, candidate) triples judged concurrently; errors are returned."""

    def one(triple: tuple[str, str, str]) -> float | JudgeError:
        try:
            return judge_coverage(config, *triple)
        except JudgeError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
        return list(pool.map(one, triples))
