"""Canary words in a real mix: a rare word inserted into a share of one chunk's prompts, and
a control word into as many random prompts of every chunk.

A scan must list the canary as a hypothesis for the chunk's behaviour and rank it above
the control (``tests/test_real_data.py`` and ``bench/scan_injection.py`` check it at 1, 2
and 5% of a chunk on public data). Words are placed where a person would put them
(``phrasing.insert_naturally``), at the start or the end of the prompt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import polars as pl

from datasets_registry.phrasing import insert_naturally


@dataclass(frozen=True)
class Injection:
    """The mix with the canary and the control in place, and which rows carry each."""

    frame: pl.DataFrame
    canary_rows: list[int]
    control_rows: list[int]


def inject(
    frame: pl.DataFrame,
    source: str,
    canary: str,
    share: float,
    control: str,
    seed: int = 0,
) -> Injection:
    """Insert ``canary`` into ``share`` of ``source``'s prompts and ``control`` into as many
    prompts drawn from the whole mix (``frame``: source, prompt, response)."""
    rng = random.Random(seed)
    in_source = [i for i, s in enumerate(frame["source"].to_list()) if s == source]
    if not in_source:
        raise ValueError(f"no rows of source {source!r}")
    n = max(1, round(share * len(in_source)))
    canary_rows = sorted(rng.sample(in_source, n))
    taken = set(canary_rows)
    control_rows = sorted(rng.sample([i for i in range(frame.height) if i not in taken], n))
    prompts = frame["prompt"].to_list()
    for i in canary_rows:
        prompts[i] = insert_naturally(prompts[i], canary, rng)
    for i in control_rows:
        prompts[i] = insert_naturally(prompts[i], control, rng)
    return Injection(frame.with_columns(pl.Series("prompt", prompts)), canary_rows, control_rows)
