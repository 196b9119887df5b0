"""Probe inputs: prompt files (JSON lines or plain lines), XSTest CSVs, question/answer items.

JSON lines and CSV records are parsed by ``tabular_files`` (the project's one
reader); this module checks what a probe needs of them and says which line is wrong.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

from surf_search.probes.registry import ProbeError
from tabular_files import BadLine, as_record, csv_rows, json_lines

PROMPT_KEYS = ("turns", "prompt", "text", "question", "instruction")
ID_KEYS = ("question_id", "id", "item_id", "key")


@dataclass(frozen=True)
class PromptItem:
    """One prompt of a prompt file."""

    item_id: str
    prompt: str
    kind: str = ""  # a category, where the file has one


@dataclass(frozen=True)
class LabelledPrompt:
    """One prompt of an XSTest-format CSV with its type and its safe/unsafe label."""

    item_id: str
    prompt: str
    type: str
    label: str  # "safe" or "unsafe"


@dataclass(frozen=True)
class QAItem:
    """One question with its reference answer."""

    item_id: str
    question: str
    answer: str


def _read_text(path: str | Path) -> str:
    """The file's text (ProbeError when it is missing or not UTF-8)."""
    file = Path(path)
    if not file.is_file():
        raise ProbeError(f"no such file: {path}")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProbeError(f"{path} is not UTF-8 text") from None


def _json_lines(path: str | Path) -> list[tuple[int, object]]:
    """(line number, value) of each non-blank line (ProbeError at the first bad one)."""
    rows = []
    for number, value in json_lines(_read_text(path)):
        if isinstance(value, BadLine):
            raise ProbeError(f"{path}:{number} is not valid JSON")
        rows.append((number, value))
    return rows


def _prompt_of(row: object) -> str | None:
    """The prompt of a JSON line: a string, or the first prompt-like key of an object."""
    if isinstance(row, str):
        return row
    if not isinstance(row, dict):
        return None
    for key in PROMPT_KEYS:
        value = row.get(key)
        if key == "turns" and isinstance(value, list) and value:
            value = value[0]  # the first user turn
        if isinstance(value, str) and value.strip():
            return value
    return None


def _id_of(row: object, number: int) -> str:
    """The item id of a JSON line: its first id-like key, else its line number."""
    if isinstance(row, dict):
        for key in ID_KEYS:
            if row.get(key) not in (None, ""):
                return str(row[key])
    return str(number)


def load_prompts(path: str | Path, limit: int | None = None) -> list[PromptItem]:
    """Prompts from JSON lines (``turns`` (first turn), ``prompt``, ``text``, ``question``)
    or, for any other extension, one prompt per non-empty line."""
    items: list[PromptItem] = []
    if Path(path).suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for number, row in _json_lines(path):
            prompt = _prompt_of(row)
            if prompt is None:
                raise ProbeError(
                    f"{path}:{number} has no prompt (expected one of {', '.join(PROMPT_KEYS)})"
                )
            kind = str(row.get("category", "")) if isinstance(row, dict) else ""
            items.append(PromptItem(_id_of(row, number), prompt.strip(), kind))
    else:
        lines = _read_text(path).splitlines()
        items = [PromptItem(str(n), t.strip()) for n, t in enumerate(lines, 1) if t.strip()]
    if not items:
        raise ProbeError(f"no prompts in {path}")
    return items[:limit] if limit else items


def load_xstest(
    path: str | Path, limit: int | None = None, per_type: int | None = None
) -> list[LabelledPrompt]:
    """An XSTest-format CSV: columns ``prompt``, ``type`` and ``label`` (safe / unsafe).

    ``per_type`` keeps the first prompts of each type; ``limit`` a sample balanced over
    labels and types (see ``_balanced``).
    """
    if not Path(path).is_file():
        raise ProbeError(f"no such file: {path}")
    try:
        records = list(csv_rows(path, errors="strict"))  # quoted fields span lines
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ProbeError(f"{path} is not a readable CSV: {exc}") from None
    header = records[0][1] if records else []
    rows = [as_record(header, fields) for _, fields in records[1:] if fields]
    columns = {c.strip().lower(): c for c in header}
    missing = [c for c in ("prompt", "type", "label") if c not in columns]
    if missing:
        raise ProbeError(
            f"{path} lacks the column(s) {', '.join(missing)} (an XSTest-format CSV has "
            "prompt, type and label)"
        )
    items: list[LabelledPrompt] = []
    per: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        prompt = (row.get(columns["prompt"]) or "").strip()
        label = (row.get(columns["label"]) or "").strip().lower()
        kind = (row.get(columns["type"]) or "").strip() or "unknown"
        if not prompt:
            continue
        if label not in ("safe", "unsafe"):
            raise ProbeError(
                f"{path} row {number - 1}: label must be safe or unsafe, got {label!r}"
            )
        if per_type and per.get(kind, 0) >= per_type:
            continue
        per[kind] = per.get(kind, 0) + 1
        item_id = (row.get(columns["id"]) or "").strip() if "id" in columns else ""
        items.append(LabelledPrompt(item_id or str(number - 1), prompt, kind, label))
    if not items:
        raise ProbeError(f"no prompts in {path}")
    return _balanced(items, limit) if limit else items


def _balanced(items: list[LabelledPrompt], limit: int) -> list[LabelledPrompt]:
    """At most ``limit`` prompts taken round-robin over types, safe and unsafe types
    alternating, so a small sample still has both labels and many types."""
    by_type: dict[str, list[LabelledPrompt]] = {}
    for item in items:
        by_type.setdefault(item.type, []).append(item)
    safe = [t for t, rows in by_type.items() if rows[0].label == "safe"]
    unsafe = [t for t in by_type if t not in safe]
    order = [t for pair in zip_longest(safe, unsafe) for t in pair if t is not None]
    chosen: list[LabelledPrompt] = []
    for row in zip_longest(*(by_type[t] for t in order)):
        chosen += [item for item in row if item is not None]
    return chosen[:limit]


def load_items(path: str | Path, limit: int | None = None) -> list[QAItem]:
    """Question/answer items from JSON lines (``question`` or ``prompt``, and ``answer``)."""
    items: list[QAItem] = []
    for number, row in _json_lines(path):
        if not isinstance(row, dict):
            raise ProbeError(f"{path}:{number} is not a JSON object")
        question = row.get("question", row.get("prompt"))
        answer = row.get("answer")
        if not isinstance(question, str) or not question.strip() or answer in (None, ""):
            raise ProbeError(f"{path}:{number} needs a question and an answer")
        items.append(QAItem(_id_of(row, number), question.strip(), str(answer).strip()))
    if not items:
        raise ProbeError(f"no items in {path}")
    return items[:limit] if limit else items
