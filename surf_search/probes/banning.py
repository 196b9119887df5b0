"""Which vocabulary ids a banned text covers: every id that decodes to the text, with or
without a leading space, and with its first letter in either case."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from surf_search.probes.registry import ProbeError


class Vocabulary(Protocol):
    """What ban lookup needs of a tokenizer: its size, special ids and batch decoding."""

    all_special_ids: list[int]

    def __len__(self) -> int:
        """The vocabulary size."""
        ...

    def batch_decode(self, sequences: Sequence[Sequence[int]], **kwargs: bool) -> list[str]:
        """The text of each id sequence."""
        ...


def ban_variants(text: str) -> set[str]:
    """``the`` -> {the, The, " the", " The"}."""
    base = text.strip()
    if not base:
        raise ProbeError("--ban needs a non-empty text")
    cases = {base, base[:1].upper() + base[1:], base[:1].lower() + base[1:]}
    return cases | {" " + c for c in cases}


def banned_ids(tokenizer: Vocabulary, text: str) -> tuple[int, ...]:
    """Every non-special vocabulary id whose decoded text is a variant of ``text``.

    Raises ProbeError when none is: the text is not one token of this vocabulary.
    """
    variants = ban_variants(text)
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    ids = [i for i in range(len(tokenizer)) if i not in special]
    decoded = tokenizer.batch_decode([[i] for i in ids], clean_up_tokenization_spaces=False)
    found = tuple(i for i, d in zip(ids, decoded, strict=True) if d in variants)
    if not found:
        raise ProbeError(
            f"--ban {text.strip()!r} maps to no token of this vocabulary (it must be one token, "
            "with or without a leading space)"
        )
    return found
