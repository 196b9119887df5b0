"""JSON values from JSON-lines files and JSON documents, with bad lines named, not dropped.

One parser for every reader: ``orjson`` first (fast), then Python's ``json``, which
also reads ``NaN`` and ``Infinity`` (not with ``strict=True``, which the mix loader
uses: its bad-row counts are RFC 8259's). A line that still does not parse is a
:class:`BadLine` whose reason says whether its bytes are not UTF-8 (``non_utf8``)
or its text is not JSON (``invalid_json``). With ``lossy=True`` bytes that are not
UTF-8 are replaced (U+FFFD) and the line is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import orjson

INVALID_JSON = "invalid_json"
NON_UTF8 = "non_utf8"

#: A line or document: bytes (possibly a view into a buffer) or text.
Source = bytes | bytearray | memoryview | str


class BadLine(ValueError):
    """A line (or document) that is not JSON; ``reason`` is INVALID_JSON or NON_UTF8."""

    def __init__(self, reason: str, detail: str = "") -> None:
        """``detail``: the parser's own message (for documents)."""
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


def parse_json_line(line: Source, *, lossy: bool = False, strict: bool = False) -> object:
    """The JSON value of one line or document (raises BadLine).

    ``strict`` reads RFC 8259 JSON only (orjson alone: ``NaN`` or ``Infinity`` make
    a bad line). ``BadLine.detail`` is orjson's
    message about the (repaired) text.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        detail = str(exc)
    if strict and not lossy:
        reason = INVALID_JSON if isinstance(line, str) or _is_utf8(line) else NON_UTF8
        raise BadLine(reason, detail)
    if isinstance(line, str):
        text = line
    else:
        try:
            text = bytes(line).decode("utf-8")
        except UnicodeDecodeError:
            if not lossy:
                raise BadLine(NON_UTF8, detail) from None
            text = bytes(line).decode("utf-8", errors="replace")
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                detail = str(exc)
    if strict:
        raise BadLine(INVALID_JSON, detail)
    try:
        return json.loads(text)
    except ValueError:
        raise BadLine(INVALID_JSON, detail) from None


def _is_utf8(line: bytes | bytearray | memoryview) -> bool:
    """Whether the bytes decode as UTF-8."""
    try:
        bytes(line).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def json_lines(data: Source, *, lossy: bool = False) -> Iterator[tuple[int, object]]:
    """(line number from 1, value or BadLine) for each non-blank line of JSON lines."""
    lines = data.split("\n") if isinstance(data, str) else bytes(data).split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, parse_json_line(line, lossy=lossy)
        except BadLine as bad:
            yield number, bad


def document_rows(document: object, *, unwrap: bool = False) -> list[object]:
    """The rows of a JSON document: a list's items, else the document as one row.

    With ``unwrap``, an object holding exactly one list (``{"data": [...]}``) gives
    that list's items.
    """
    if isinstance(document, list):
        return document
    if unwrap and isinstance(document, dict):
        lists = [v for v in document.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return [document]
