"""The rows behind the scan's hypotheses: one targeted read of the mix after the ranking.

Per (source, feature) the first rows of the source that carry the feature, up to a quota
(every ``term:`` feature of a source found in one Aho-Corasick pass over its prompts as
plain words; a catalog feature by its detector), and, for the sources asked, the first
``reference`` rows of each (any rows; their prompts, answer starts and answer lengths:
what rows without a feature look like). Reading stops once every quota and reference is
filled, or after ``MAX_ROWS_PER_SOURCE`` rows of a source. The keyword-in-context lines
(``hypothesis_examples``), the length hypotheses' matched contrast
(``matched_length``), the answers' echo of each feature (``answer_echo``), the like
prompts of the review order (``mode_routing``) and the template twins
(``template_twins``) are all made from this one read.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from behaviour_modes.rules import modes_of
from datasets_registry.features import Feature
from datasets_registry.loading import Batch

MAX_ROWS_PER_SOURCE = 10_000  # rows of a source read at most
REFERENCE_ANSWER_CHARS = 2_000  # answer characters kept of a reference row


@dataclass
class CarrierRows:
    """What the read kept."""

    #: example id -> {example_id, prompt, response} of every row some feature kept
    rows: dict[str, dict] = field(default_factory=dict)
    #: (source, feature) -> the ids of the first rows carrying it, in mix order
    carriers: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    #: source -> the first rows read of it: prompt, response (its first
    #: ``REFERENCE_ANSWER_CHARS``), response characters and, when asked, mode
    reference: dict[str, pl.DataFrame] = field(default_factory=dict)


def term_key(text: str) -> str:
    """A term as plain words: lower case, every run of non-word characters one space (the
    scan's word boundaries: ``term_regex`` allows any such run between words)."""
    return re.sub(r"\W+", " ", text.lower()).strip()


def term_hits(prompts: pl.Series, terms: Sequence[str]) -> list[set[str]]:
    """Per prompt, which of ``terms`` it carries, found in one Aho-Corasick pass over the
    prompts as plain words (no pass per term, no regex of thousands of words)."""
    if not terms:
        return [set() for _ in range(prompts.len())]
    by_pattern: dict[str, list[str]] = defaultdict(list)
    for term in set(terms):
        by_pattern[f" {term_key(term)} "].append(term)
    words = pl.lit(" ") + pl.col("prompt").str.to_lowercase().str.replace_all(r"\W+", " ") + " "
    found = (
        pl.DataFrame({"prompt": prompts})
        .select(words.str.extract_many(list(by_pattern), overlapping=True))
        .to_series()
    )
    return [
        {t for m in matches for t in by_pattern[m]} if matches is not None else set()
        for matches in found
    ]


def feature_hits(
    prompts: pl.Series, wanted: Iterable[str], features: Mapping[str, Feature]
) -> list[set[str]]:
    """Per prompt, which of the ``wanted`` features (``term:<word>`` or a catalog key) it
    carries."""
    wanted = set(wanted)
    terms = [f[5:] for f in wanted if f.startswith("term:")]
    hits = [{f"term:{t}" for t in found} for found in term_hits(prompts, terms)]
    catalog = {f: features[f].expr(pl.col("prompt")) for f in wanted if f in features}
    if catalog:
        flags = pl.DataFrame({"prompt": prompts}).select(**catalog)
        for name in catalog:
            for index, flag in enumerate(flags[name]):
                if flag:
                    hits[index].add(name)
    return hits


def read_carriers(
    batches: Iterable[Batch],
    quotas: Mapping[tuple[str, str], int],
    features: Sequence[Feature],
    reference: Mapping[str, int] | None = None,
    reference_modes: bool = False,
) -> CarrierRows:
    """The first rows carrying each (source, feature) up to its quota, and the first
    ``reference[source]`` rows of each source named there, from ``batches`` of the mix
    (normalised, with ``example_id``); ``reference_modes`` labels the reference rows'
    modes (column ``mode``) as the scan counts them."""
    reference = reference or {}
    if not quotas and not reference:
        return CarrierRows()  # nothing wanted: no batch is read
    by_key = {f.key: f for f in features if f.side == "prompt"}
    out = CarrierRows(carriers={key: [] for key in quotas})
    wanted: dict[str, list[str]] = defaultdict(list)  # source -> its features
    for source, feature in quotas:
        wanted[source].append(feature)
    kept: dict[str, list[pl.DataFrame]] = defaultdict(list)
    n_kept: dict[str, int] = defaultdict(int)
    read: dict[str, int] = defaultdict(int)
    sources = set(wanted) | set(reference)

    def open_features(source: str) -> list[str]:
        return [
            f
            for f in wanted.get(source, ())
            if len(out.carriers[(source, f)]) < quotas[(source, f)]
        ]

    def source_done(source: str) -> bool:
        return read[source] >= MAX_ROWS_PER_SOURCE or (
            not open_features(source) and n_kept[source] >= reference.get(source, 0)
        )

    for batch in batches:
        frame = batch.frame
        for source in sources:
            if source_done(source):
                continue
            part = frame.filter(pl.col("source") == source).head(MAX_ROWS_PER_SOURCE - read[source])
            read[source] += part.height
            if n_kept[source] < reference.get(source, 0):
                head = part.head(reference[source] - n_kept[source])
                ref = head.select(
                    "prompt",
                    pl.col("response").str.slice(0, REFERENCE_ANSWER_CHARS),
                    pl.col("response").str.len_chars().alias("response_chars"),
                )
                if reference_modes:
                    ref = ref.with_columns(modes_of(head).alias("mode"))
                kept[source].append(ref)
                n_kept[source] += ref.height
            items = open_features(source)
            if items:
                _keep(part, source, items, quotas, by_key, out)
        if all(source_done(s) for s in sources):
            break
    out.reference = {s: pl.concat(parts) for s, parts in kept.items()}
    return out


def _keep(
    part: pl.DataFrame,
    source: str,
    items: list[str],
    quotas: Mapping[tuple[str, str], int],
    features: Mapping[str, Feature],
    out: CarrierRows,
) -> None:
    """Give each open feature of ``source`` the rows of ``part`` that carry it."""
    ids = part["example_id"].to_list()
    for index, carried in enumerate(feature_hits(part["prompt"], items, features)):
        for feature in carried:
            ids_kept = out.carriers[(source, feature)]
            if len(ids_kept) < quotas[(source, feature)]:
                ids_kept.append(ids[index])
                if ids[index] not in out.rows:
                    row = part.row(index, named=True)
                    out.rows[ids[index]] = {k: row[k] for k in ("example_id", "prompt", "response")}
