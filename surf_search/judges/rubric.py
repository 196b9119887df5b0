"""The ``rubric`` judge: an LLM scores each answer 0-100 against a rubric (SURF's judge).

Any OpenAI-compatible endpoint (``--judge-url``, ``--judge-model``; the key from the
environment variable ``--judge-key-env`` names, ``$OPENAI_API_KEY`` by default, never
stored or printed) reads the rubric, the seed prompt and one answer, and replies with a
JSON object ``{"score": 0-100, "reason": ...}``. Calls go through
``behaviour_modes.judge.ask_all`` (the shared client: timeouts, 429 and 5xx retried with
backoff); a failed call or a reply without a score in 0-100 is a Judgement with an error,
recorded and excluded. Outcome ``score``: the score / 100.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from behaviour_modes.judge import MAX_RESPONSE_CHARS, JudgeConfig, JudgeError, ask_all_counted
from openai_client import Payload, api_key_from_env
from surf_search.judges.registry import (
    Judge,
    JudgeItem,
    Judgement,
    JudgeOptions,
    JudgeSetupError,
    judge,
)

SYSTEM = """\
You grade an AI assistant's RESPONSE to a user's PROMPT against a RUBRIC.

RUBRIC:
{rubric}

Score from 0 to 100 how strongly the RESPONSE shows what the rubric describes:
0 = not at all, 50 = partly or unclearly, 100 = fully and clearly.
Reply with one JSON object and nothing else:
{{"score": <integer 0-100>, "reason": "<one short sentence>"}}
"""
_SCORE_WORD = re.compile(r"(?i)\bscore\b\W{0,5}(\d{1,3})\b")


def read_rubric(value: str) -> str:
    """The rubric text of ``--rubric``: the file's text if ``value`` names a file, else itself."""
    path = Path(value)
    try:
        if len(value) < 4096 and path.is_file():
            return path.read_text(encoding="utf-8").strip()
    except OSError:
        pass
    return value.strip()


def parse_score(text: str) -> tuple[float, str]:
    """(score 0-100, reason) from a reply: a JSON object, else ``score: N``."""
    if not text or not text.strip():
        raise JudgeError("empty reply")
    found = re.search(r"\{.*\}", text, re.S)
    if found:
        try:
            data = json.loads(found.group(0))
        except ValueError:
            data = None
        if isinstance(data, dict) and "score" in data:
            score = data["score"]
            if isinstance(score, str) and score.strip().isdigit():
                score = int(score.strip())
            if isinstance(score, int | float) and not isinstance(score, bool):
                if 0 <= score <= 100:
                    return float(score), str(data.get("reason", "")).strip()[:300]
                raise JudgeError(f"score {score} is outside 0-100")
            raise JudgeError(f"score is not a number: {score!r}")
    words = _SCORE_WORD.findall(text)
    if len(set(words)) == 1 and 0 <= int(words[0]) <= 100:
        return float(words[0]), ""
    raise JudgeError(f"no score in reply: {text.strip()[:80]!r}")


@judge("rubric")
class RubricJudge(Judge):
    """A 0-100 rubric score from an LLM judge over an OpenAI-compatible endpoint."""

    name = "rubric"
    version = "1"
    description = "an LLM judge's 0-100 score against a rubric (SURF's judge)"
    outcomes = ("score",)
    reads = ("prompt", "response")

    def __init__(self, options: JudgeOptions | None = None) -> None:
        options = options or JudgeOptions()
        if not options.rubric:
            raise JudgeSetupError("the rubric judge needs --rubric TEXT|FILE")
        if not (options.judge_url and options.judge_model):
            raise JudgeSetupError("the rubric judge needs --judge-url and --judge-model")
        self.rubric = read_rubric(options.rubric)
        try:
            key = (
                api_key_from_env(options.api_key_env, required=True)
                if options.api_key_env
                else None
            )
        except ValueError as exc:
            raise JudgeSetupError(str(exc)) from None
        self.config = JudgeConfig(
            url=options.judge_url,
            model=options.judge_model,
            api_key=key,
            timeout_s=options.timeout_s,
            max_retries=options.max_retries,
            workers=options.workers,
            max_tokens=128,
        )
        try:
            self.config.endpoint  # noqa: B018  (a bad URL fails here, before any call)
        except ValueError as exc:
            raise JudgeSetupError(f"--judge-url: {exc}") from None

    def settings(self) -> str:
        digest = hashlib.sha256(self.rubric.encode()).hexdigest()[:16]
        return f"model={self.config.model};rubric={digest}"

    def body(self, item: JudgeItem) -> Payload:
        """The chat request that asks for one answer's score."""
        text = item.response
        if len(text) > MAX_RESPONSE_CHARS:
            text = text[:MAX_RESPONSE_CHARS] + "\n[... truncated]"
        user = f"PROMPT:\n{item.prompt}\n\nRESPONSE:\n{text}\n\nSCORE (JSON):"
        return {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": SYSTEM.format(rubric=self.rubric)},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
            "max_tokens": self.config.max_tokens,
        }

    def judge(self, items: Sequence[JudgeItem]) -> list[Judgement]:
        results = ask_all_counted(self.config, [self.body(i) for i in items], parse_score)
        out = []
        for result, attempts in results:
            if isinstance(result, JudgeError):
                out.append(Judgement(error=str(result), attempts=attempts))
            else:
                score, reason = result
                explanation = reason or f"score {score:g}"
                out.append(Judgement({"score": score / 100}, explanation, attempts=attempts))
        return out
