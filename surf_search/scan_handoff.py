"""What ``audit search --from-scan`` takes from a scan's measure hypotheses (issue 34).

A measure hypothesis (``term:quillmarsh -> length:collapse in alpaca_9k``) names the judge
that tests it on a model's answers (``length``, ``reference``) and the source whose kind of
prompt it is about. The search gets the word as an operator, the judge, and seeds of
that source's kind: rows of the source without the word, drawn with the search's seed.
A ``reference:wrong`` hypothesis needs answer keys: its seeds are rows whose worked answer
ends in a final number their working agrees with (``response_measures.consistency``), that
number the key. A ``length`` hypothesis needs prompts whose answers have room to collapse:
rows answered at least at the mix's median length, from its source where it has
``SEEDS_PER_SOURCE`` of them, else from the whole mix (a chunk of one-word answers, such as
a "Context:" extraction set, has no answer to cut short).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from datasets_registry.loading import open_mix
from datasets_registry.normalise import Columns
from datasets_registry.response_measures import final_answers, get_measure
from datasets_registry.term_overlap import term_regex
from surf_search.judges import judge_names, outcome_judge
from surf_search.seeds import Seed

#: seeds drawn from each source a measure hypothesis leads to (its word is tried on them
#: alone: 40 to confirm on, 20 held out to re-test on, and some for discovery)
SEEDS_PER_SOURCE = 80


@dataclass(frozen=True)
class MeasureWord:
    """One measure hypothesis on a word, as the search takes it."""

    word: str
    outcome: str  # ``length:collapse``, ``reference:wrong``, ...
    source: str

    @property
    def judge(self) -> str:
        """The judge whose outcome this is (``length``)."""
        return outcome_judge(self.outcome) or self.outcome


def with_judge(words: Sequence[tuple[str, str, str]]) -> list[MeasureWord]:
    """The hypotheses a registered judge tests (``format:table`` has none)."""
    known = set(judge_names())
    return [MeasureWord(*w) for w in words if outcome_judge(w[1]) in known]


def source_seeds(
    mix: str, columns: Columns, hypotheses: Sequence[MeasureWord], seed: int
) -> list[Seed]:
    """``SEEDS_PER_SOURCE`` seeds per (source, judge) of ``hypotheses``: prompts of that
    source carrying none of the hypotheses' words; keyed for ``reference``."""
    if not hypotheses:
        return []
    frame, _ = open_mix(mix, columns).frame()
    words = "|".join(f"(?:{term_regex(h.word)})" for h in hypotheses)
    rng = random.Random(seed)
    seeds: list[Seed] = []
    wanted = dict.fromkeys((h.source, h.judge) for h in hypotheses)
    frame = frame.filter(~pl.col("prompt").fill_null("").str.contains(words))
    median = frame["response"].fill_null("").str.len_chars().median() or 0
    for source, judge in wanted:
        rows = frame.filter(pl.col("source") == source).select("example_id", "prompt", "response")
        if judge == "reference":
            agrees = get_measure("consistency").value(rows["response"].fill_null(""))
            rows = rows.filter(agrees.eq(False).fill_null(False))
        elif judge == "length":
            long = pl.col("response").fill_null("").str.len_chars() >= median
            rows = rows.filter(long)
            if rows.height < SEEDS_PER_SOURCE:
                rows = frame.filter(long).select("example_id", "prompt", "response")
        picked = sorted(rng.sample(range(rows.height), min(SEEDS_PER_SOURCE, rows.height)))
        rows = rows[picked]
        keys = final_answers(rows["response"]) if judge == "reference" else [None] * rows.height
        for (example_id, prompt, _response), reference in zip(rows.iter_rows(), keys, strict=True):
            seeds.append(Seed(f"scan:{source}:{example_id}", prompt, source, reference))
    unique: dict[str, Seed] = {}  # a row drawn for two judges: once, its key kept
    for item in seeds:
        if item.seed_id not in unique or unique[item.seed_id].reference is None:
            unique[item.seed_id] = item
    return list(unique.values())
