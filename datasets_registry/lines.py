"""The lines of a binary file as views into one reused buffer (no copy per line).

``bytes.split`` on a block copies every line into a new object; for a JSON-lines
corpus that is a second copy of the whole file. Views over a buffer that is
refilled in place cost nothing per line, and ``orjson`` parses a view directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

BLOCK = 32 * 1024 * 1024
_ASCII_SPACE = frozenset(b" \t\n\r\x0b\x0c")


def iter_lines(handle: BinaryIO, block: int = BLOCK) -> Iterator[memoryview]:
    """Each line of ``handle`` without its ``\\n`` (a ``\\r`` stays), like ``split(b"\\n")``
    but with no empty piece after a final newline.

    A view is valid until the next one is taken: copy (``bytes(line)``) what must
    outlive it. A line longer than ``block`` grows the buffer.
    """
    buffer = bytearray(block)
    view = memoryview(buffer)
    filled = 0
    while True:
        read = handle.readinto(view[filled:])
        if not read:
            break
        filled += read
        find = buffer.find
        start = 0
        while (end := find(b"\n", start, filled)) >= 0:
            yield view[start:end]
            start = end + 1
        rest = filled - start
        if start == 0 and filled == len(buffer):  # one line fills the buffer
            bigger = bytearray(2 * len(buffer))
            bigger[:filled] = view[:filled]
            buffer, view = bigger, memoryview(bigger)
        elif rest and start:
            buffer[:rest] = bytes(view[start:filled])  # a copy: the ranges may overlap
        filled = rest
    if filled:
        yield view[:filled]


def is_blank(line: memoryview | bytes) -> bool:
    """Empty or only ASCII whitespace (what ``bytes.strip`` removes)."""
    return not line or (line[0] in _ASCII_SPACE and not bytes(line).strip())
