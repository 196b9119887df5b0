"""Turn raw rows of any supported shape into normalised examples, counting the rows that cannot be.

A normalised example has ``example_id, source, prompt, response, messages``
(``messages`` is the JSON text of the whole conversation). Each row's *shape* is
detected on its own (``SHAPES``, first match wins), so a folder of files in
different shapes loads without a converter and the scan records each source's:

- ``messages``: a list of ``{role, content}`` (a JSON string of one is accepted too);
- ``sharegpt``: ``conversations`` as a list of ``{from, value}`` (``human``/``user``,
  ``gpt``/``assistant``, ``system``);
- ``columns``: the ``--prompt-column`` / ``--response-column`` pair when renamed;
- ``prompt_response``: ``prompt`` / ``response``;
- ``alpaca``: ``instruction`` [+ ``input``] / ``output`` or ``response``;
- ``question_answer``: ``question`` / ``answer``;
- ``prompt_completion``: ``prompt`` / ``completion``;
- ``preference``: ``prompt`` / ``chosen`` (a string, or a conversation whose last
  assistant turn is the answer).

In a conversation the prompt is the first user turn and the response the assistant
turn answering it (the architecture's normalised example).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import orjson

NORMALISED_COLUMNS = ("example_id", "source", "prompt", "response", "messages")
#: What the scan reads: the text only (no ids, no conversation JSON to rebuild).
TEXT_COLUMNS = ("source", "prompt", "response")

# Why a row could not be normalised (the values land in bad_rows.reason).
INVALID_JSON = "invalid_json"
NON_UTF8 = "non_utf8"
NOT_AN_OBJECT = "not_an_object"
MISSING_MESSAGES = "missing_messages"
BAD_MESSAGES = "bad_messages_type"
NO_USER_TURN = "no_user_turn"
NO_ASSISTANT_TURN = "no_assistant_turn"
NON_STRING_CONTENT = "non_string_content"
EMPTY_TEXT = "empty_text"

SHAPE_MESSAGES = "messages"
SHAPE_SHAREGPT = "sharegpt"
SHAPE_COLUMNS = "columns"
SHAPE_PROMPT_RESPONSE = "prompt_response"
SHAPE_ALPACA = "alpaca"
SHAPE_QUESTION_ANSWER = "question_answer"
SHAPE_PROMPT_COMPLETION = "prompt_completion"
SHAPE_PREFERENCE = "preference"
#: Every shape a row is read in, in the order they are tried.
SHAPES = (
    SHAPE_MESSAGES,
    SHAPE_SHAREGPT,
    SHAPE_COLUMNS,
    SHAPE_PROMPT_RESPONSE,
    SHAPE_ALPACA,
    SHAPE_QUESTION_ANSWER,
    SHAPE_PROMPT_COMPLETION,
    SHAPE_PREFERENCE,
)
#: The columns each column shape reads (for the message on rows that match none).
SHAPE_COLUMNS_HELP = (
    "messages | conversations (from/value) | prompt+response | instruction(+input)+output "
    "or +response | question+answer | prompt+completion | prompt+chosen"
)
#: ShareGPT speaker names and the roles they stand for.
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "model": "assistant",
    "bing": "assistant",
    "system": "system",
}

REASON_TEXT = {
    INVALID_JSON: "line is not valid JSON",
    NON_UTF8: "bytes are not valid UTF-8",
    NOT_AN_OBJECT: "row is not a JSON object",
    MISSING_MESSAGES: f"matches no known shape ({SHAPE_COLUMNS_HELP})",
    BAD_MESSAGES: "messages is not a list of {role, content} objects",
    NO_USER_TURN: "conversation has no user turn",
    NO_ASSISTANT_TURN: "no assistant turn answers the first user turn",
    NON_STRING_CONTENT: "prompt or response content is not a string",
    EMPTY_TEXT: "prompt or response is empty",
}

EXAMPLE_CHARS = 300


@dataclass
class BadRows:
    """Mergeable tally of rejected rows: a count per reason and the first example of each."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, example: str) -> None:
        """Count one row rejected for ``reason`` (the first example of a reason is kept)."""
        self.counts[reason] += 1
        self.examples.setdefault(reason, example[:EXAMPLE_CHARS])

    def __add__(self, other: BadRows) -> BadRows:
        """Both tallies merged (the earlier tally's examples win)."""
        examples = dict(self.examples)
        for reason, example in other.examples.items():
            examples.setdefault(reason, example)
        return BadRows(self.counts + other.counts, examples)

    @property
    def total(self) -> int:
        """Rows rejected, all reasons together."""
        return sum(self.counts.values())

    def rows(self) -> list[dict[str, str | int]]:
        """One row per reason (reason, n, example), the most frequent first: the bad_rows table."""
        return [
            {"reason": reason, "n": n, "example": self.examples.get(reason, "")}
            for reason, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]


@dataclass(frozen=True)
class Columns:
    """Which raw columns hold what; defaults match Tulu-style mixes."""

    source: str = "source"
    messages: str = "messages"
    prompt: str = "prompt"
    response: str = "response"
    id: str = "id"


def stable_id(source: str, messages_json: str) -> str:
    """Content hash used when a row has no id of its own (identical rows share it)."""
    digest = hashlib.blake2b(f"{source}\x1f{messages_json}".encode(), digest_size=8)
    return digest.hexdigest()


def _pair_from_messages(messages: object) -> tuple[object, object, str | None]:
    """(prompt, response, reason) from a conversation list."""
    if isinstance(messages, str):
        try:
            messages = orjson.loads(messages)
        except orjson.JSONDecodeError:
            return None, None, BAD_MESSAGES
    if not isinstance(messages, list) or not messages:
        return None, None, BAD_MESSAGES
    user_index = None
    for index, turn in enumerate(messages):
        if not isinstance(turn, dict) or "role" not in turn or "content" not in turn:
            return None, None, BAD_MESSAGES
        if user_index is None and turn["role"] == "user":
            user_index = index
    if user_index is None:
        return None, None, NO_USER_TURN
    for turn in messages[user_index + 1 :]:
        if turn["role"] == "assistant":
            return messages[user_index]["content"], turn["content"], None
        if turn["role"] == "user":
            break
    return None, None, NO_ASSISTANT_TURN


def _sharegpt_messages(conversation: object) -> object:
    """ShareGPT ``[{from, value}]`` as ``[{role, content}]`` (unknown speakers kept as is,
    so the conversation check names what is wrong)."""
    if isinstance(conversation, str):
        try:
            conversation = orjson.loads(conversation)
        except orjson.JSONDecodeError:
            return conversation
    if not isinstance(conversation, list):
        return conversation
    out: list[object] = []
    for turn in conversation:
        if isinstance(turn, dict) and "from" in turn and "value" in turn:
            speaker = str(turn["from"]).strip().lower()
            out.append({"role": SHAREGPT_ROLES.get(speaker, speaker), "content": turn["value"]})
        else:
            out.append(turn)
    return out


Pair = tuple[object, object, str | None, object, str]  # prompt, response, reason, messages, shape


def _pair_from_columns(row: dict[str, object], cols: Columns) -> Pair | None:
    """(prompt, response, reason, messages or None, shape) for a row in a column shape."""
    if "conversations" in row:
        messages = _sharegpt_messages(row["conversations"])
        prompt, response, reason = _pair_from_messages(messages)
        return prompt, response, reason, messages, SHAPE_SHAREGPT
    if cols.prompt in row and cols.response in row:
        renamed = (cols.prompt, cols.response) != ("prompt", "response")
        shape = SHAPE_COLUMNS if renamed else SHAPE_PROMPT_RESPONSE
        return row[cols.prompt], row[cols.response], None, None, shape
    answer_column = "output" if "output" in row else "response" if "response" in row else None
    if "instruction" in row and answer_column is not None:  # Alpaca, CodeAlpaca, GPTeacher
        extra = row.get("input")
        prompt = row["instruction"]
        if isinstance(prompt, str) and isinstance(extra, str) and extra.strip():
            prompt = f"{prompt}\n\n{extra}"
        return prompt, row[answer_column], None, None, SHAPE_ALPACA
    if "question" in row and "answer" in row:  # GSM8K, QA sets
        return row["question"], row["answer"], None, None, SHAPE_QUESTION_ANSWER
    if "prompt" in row and "completion" in row:
        return row["prompt"], row["completion"], None, None, SHAPE_PROMPT_COMPLETION
    if "prompt" in row and "chosen" in row:  # preference data: keep the chosen answer
        chosen = row["chosen"]
        if isinstance(chosen, list):  # a conversation: the answer is its last assistant turn
            turns = [t for t in chosen if isinstance(t, dict) and t.get("role") == "assistant"]
            chosen = turns[-1].get("content") if turns else None
        return row["prompt"], chosen, None, None, SHAPE_PREFERENCE
    return None


def normalise_pair(
    row: object, default_source: str, cols: Columns, bad: BadRows, where: str
) -> tuple[str, str, str, object, str] | None:
    """One raw row -> (source, prompt, response, messages, shape), or None and a tally.

    Every check that can reject a row is here, so a reader that needs only the
    text (the scan) rejects exactly the rows ``normalise_row`` rejects.
    """
    if not isinstance(row, dict):
        bad.add(NOT_AN_OBJECT, f"{where}: {str(row)[:EXAMPLE_CHARS]}")
        return None
    messages = row.get(cols.messages)
    shape = SHAPE_MESSAGES
    if messages is not None:
        prompt, response, reason = _pair_from_messages(messages)
    else:
        pair = _pair_from_columns(row, cols)
        if pair is None:
            bad.add(MISSING_MESSAGES, f"{where}: columns {sorted(row)[:8]}")
            return None
        prompt, response, reason, messages, shape = pair
        if messages is None:
            messages = [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": response},
            ]
    if reason is None and not (isinstance(prompt, str) and isinstance(response, str)):
        reason = NON_STRING_CONTENT
    if reason is None and (_blank(prompt) or _blank(response)):
        reason = EMPTY_TEXT
    if reason is not None:
        bad.add(reason, f"{where}: {_snippet(row)}")
        return None
    source = row.get(cols.source)
    source = str(source) if source not in (None, "") else default_source
    return source, prompt, response, messages, shape


def normalise_row(
    row: object,
    default_source: str,
    cols: Columns,
    bad: BadRows,
    where: str,
    shapes: Counter[tuple[str, str]] | None = None,
) -> tuple[str, str, str, str, str] | None:
    """One raw row -> (example_id, source, prompt, response, messages_json), or None and a
    tally; ``shapes`` (when given) counts the row's (source, shape)."""
    pair = normalise_pair(row, default_source, cols, bad, where)
    if pair is None:
        return None
    source, prompt, response, messages, shape = pair
    if shapes is not None:
        shapes[(source, shape)] += 1
    messages_json = orjson.dumps(messages).decode() if not isinstance(messages, str) else messages
    raw_id = row.get(cols.id)
    example_id = str(raw_id) if raw_id not in (None, "") else stable_id(source, messages_json)
    return example_id, source, prompt, response, messages_json


def _blank(text: str) -> bool:
    """``not text.strip()`` without copying the text."""
    return not text or text.isspace()


def _snippet(row: dict[str, object]) -> str:
    try:
        return orjson.dumps(row, default=str).decode()[:EXAMPLE_CHARS]
    except TypeError:
        return str(row)[:EXAMPLE_CHARS]
