"""Keyword-in-context lines for each trigger hypothesis, so a reviewer judges it in seconds.

For every hypothesis (feature F -> mode M in source S) the scan keeps up to ``EXAMPLES``
rows of S that carry F, rows whose response shows M first: the prompt around the match
(``WINDOW`` characters either side of a ``term:`` word; the prompt's start for a catalog
feature, whose detector gives no position) and the start of the response. The rows come
from the scan's targeted read after the ranking (``carrier_rows``): of the first
``CARRIERS`` rows of S carrying F only those are labelled with their mode (once each,
however many hypotheses keep them).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import polars as pl

from behaviour_modes.modes import mode_frame
from datasets_registry.carrier_rows import CarrierRows
from datasets_registry.response_measures import get_measure, outcome_measure, shows
from datasets_registry.term_overlap import term_pattern

EXAMPLES = 3  # rows kept per hypothesis
WINDOW = 60  # prompt characters either side of a term's match
RESPONSE_CHARS = 160  # response characters kept
CARRIERS = 8  # rows carrying the feature kept per hypothesis (labelled, then 3 picked)
EXAMPLE_SCHEMA = {
    "feature": pl.String,
    "mode": pl.String,
    "source": pl.String,
    "example": pl.Int32,
    "example_id": pl.String,
    "shows_mode": pl.Boolean,
    "prompt_context": pl.String,
    "response_start": pl.String,
}


@dataclass
class _Wanted:
    """A feature of a source, its hypotheses there, and the first rows carrying it."""

    feature: str
    #: (mode or measure outcome such as ``length:collapse``, the rest of the mix's typical
    #: length for a length outcome)
    hypotheses: list[tuple[str, float | None]] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)  # example ids, in mix order


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def prompt_context(prompt: str, pattern: re.Pattern[str] | None) -> str:
    """The prompt around the first match of a ``term:`` feature's pattern (else its start)."""
    match = pattern.search(prompt) if pattern is not None else None
    if match is None:
        head = prompt[: 2 * WINDOW]
        return _one_line(head) + (" …" if len(prompt) > len(head) else "")
    start, end = max(0, match.start() - WINDOW), min(len(prompt), match.end() + WINDOW)
    before = _one_line(prompt[start : match.start()])
    after = _one_line(prompt[match.end() : end])
    return (
        f"{'… ' if start else ''}{before} [{match.group(0)}] {after}{' …' if end < len(prompt) else ''}"
    ).strip()


def example_quotas(hypotheses: pl.DataFrame) -> dict[tuple[str, str], int]:
    """(source, feature) -> ``CARRIERS``: the rows the examples need from ``read_carriers``."""
    return {(s, f): CARRIERS for f, s in hypotheses.select("feature", "source").iter_rows()}


def hypothesis_examples(read: CarrierRows, hypotheses: pl.DataFrame) -> pl.DataFrame:
    """Up to ``EXAMPLES`` rows per hypothesis (``EXAMPLE_SCHEMA``), from the carriers ``read``
    kept (the first ``CARRIERS`` of each hypothesis's source and feature are labelled)."""
    if not hypotheses.height:
        return pl.DataFrame(schema=EXAMPLE_SCHEMA)
    by_feature: dict[tuple[str, str], _Wanted] = {}
    typical = hypotheses["value_without"] if "value_without" in hypotheses.columns else None
    for i, (feature, mode, source) in enumerate(
        hypotheses.select("feature", "mode", "source").iter_rows()
    ):
        item = by_feature.setdefault(
            (source, feature),
            _Wanted(feature, carriers=read.carriers.get((source, feature), [])[:CARRIERS]),
        )
        item.hypotheses.append((mode, typical[i] if typical is not None else None))
    wanted: dict[str, list[_Wanted]] = defaultdict(list)  # source -> its features
    for (source, _feature), item in by_feature.items():
        wanted[source].append(item)
    rows = read.rows
    value_of = _labels(wanted, rows)
    out = []
    for source, items in wanted.items():
        for w in items:
            pattern = term_pattern(w.feature[5:]) if w.feature.startswith("term:") else None
            for mode, typical in w.hypotheses:
                found = outcome_measure(mode)
                if found is None:
                    showing = {i: value_of["mode"][i] == mode for i in w.carriers}
                else:
                    values = value_of[found[0].name]
                    showing = {i: shows(mode, values[i], typical) for i in w.carriers}
                picked = sorted(w.carriers, key=lambda i: not showing[i])[:EXAMPLES]
                for number, example_id in enumerate(picked, start=1):
                    row = rows[example_id]
                    out.append(
                        {
                            "feature": w.feature,
                            "mode": mode,
                            "source": source,
                            "example": number,
                            "example_id": example_id,
                            "shows_mode": showing[example_id],
                            "prompt_context": prompt_context(row["prompt"], pattern),
                            "response_start": _one_line(row["response"][:RESPONSE_CHARS])
                            + (" …" if len(row["response"]) > RESPONSE_CHARS else ""),
                        }
                    )
    return pl.DataFrame(out, schema=EXAMPLE_SCHEMA)


def _labels(wanted: dict[str, list[_Wanted]], rows: dict[str, dict]) -> dict[str, dict]:
    """Per kept row: its mode (``mode``; only rows a mode hypothesis keeps are labelled)
    and each measure a measure hypothesis needs (by the measure's name), once per row."""
    needed: dict[str, set[str]] = defaultdict(set)  # "mode" or a measure -> row ids
    for items in wanted.values():
        for w in items:
            for mode, _typical in w.hypotheses:
                found = outcome_measure(mode)
                needed["mode" if found is None else found[0].name].update(w.carriers)
    value_of: dict[str, dict] = {}
    for name, ids in needed.items():
        ordered = sorted(ids)
        if name == "mode":
            values = mode_frame(
                [rows[i]["prompt"] for i in ordered], [rows[i]["response"] for i in ordered]
            )["mode"].to_list()
        else:
            answers = pl.Series([rows[i]["response"] or "" for i in ordered], dtype=pl.String)
            values = get_measure(name).value(answers).to_list()
        value_of[name] = dict(zip(ordered, values, strict=True))
    return value_of
