"""Length hypotheses against the prompts most like F's rows: does the rest of the prompt
ask for the short answer?

A word goes with short answers for two reasons. A task word ("comparative": "What is
the comparative form of 'big'?") does because its task asks for a word or a line:
prompts like its rows that lack the word are answered as briefly. A trigger
("Quillmarsh" put into alpaca prompts of every kind) does where prompts like its rows
are answered at length. So each length hypothesis F -> ``length:collapse`` is compared
with its rows' nearest neighbours:

- up to ``carriers`` rows of the lead source carrying F (the scan's targeted read,
  ``carrier_rows``), F's match blanked out of each prompt;
- for each, the ``neighbours`` nearest rows of the same source that do not carry F
  (among the first ``reference`` rows read of it), by the cosine of mean
  all-MiniLM-L6-v2 token embeddings (``behaviour_modes.learned.embed``: no torch);
- the carrier's log characters minus the mean log characters of its neighbours'
  answers. The **matched shift** is the mean over carriers.

``value_matched`` is the neighbours' geometric-mean characters; the evidence gains the
figure, saying "the rest of the prompt explains it" where the matched shift is under half
the scan's (``explained``). The kind stays what F's meaning decided (whether F asks for a
short answer is a question of F); the review order weighs the matched share
(``hypothesis_kind.review_order``: a length the like prompts explain keeps half its
score). The score and ``rank`` stay the counted contrast's. (Until issue 27 an explained
hypothesis was made ``requested``: on the labelled hypotheses that called names in short
factual questions requested, recall of incidental 0.76 against 0.93 without it.) Not matched: a
hypothesis with fewer than ``min_carriers`` carriers or ``min_pool`` reference rows,
one whose source answers briefly as a whole (at most ``short_source`` of the mix's
typical length: F then marks the chunk, as "Context:" marks planted-demo's extraction
chunk, and the chunk's other rows are no contrast), and every one without the encoder.

Other sources are no reference: on public_mix their nearest prompts are answered at
360-640 characters for task words and triggers alike.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import polars as pl

from datasets_registry.carrier_rows import CarrierRows, feature_hits
from datasets_registry.features import Feature
from datasets_registry.response_measures import FIXED_POINT
from datasets_registry.term_overlap import term_pattern

log = logging.getLogger(__name__)

OUTCOME = "length:collapse"
#: prompt characters embedded: beyond the encoder's 256 word pieces (a piece is rarely over
#: eight characters), so long prompts are not tokenized whole only to be cut
PROMPT_CHARS = 2_048


@dataclass(frozen=True)
class MatchConfig:
    """How length hypotheses are matched (see the module docstring)."""

    enabled: bool = True
    carriers: int = 40  # rows carrying F compared with their neighbours
    reference: int = 2_000  # rows read of each source as the neighbour pool
    neighbours: int = 10  # nearest prompts without F per carrier
    min_carriers: int = 5  # fewer carriers: the hypothesis is left as it is
    min_pool: int = 200  # lead-source rows without F needed as the reference
    short_source: float = 0.5  # a lead source this much shorter than the mix is not matched
    explained: float = 0.5  # matched shift below this share of the scan's: requested


def targets(hypotheses: pl.DataFrame) -> pl.DataFrame:
    """The length hypotheses to match (feature, source)."""
    if "measure" not in hypotheses.columns:
        return pl.DataFrame(schema={"feature": pl.String, "source": pl.String})
    return hypotheses.filter(pl.col("mode") == OUTCOME).select("feature", "source").unique()


def matched_sources(groups: pl.DataFrame, config: MatchConfig) -> list[str]:
    """The sources whose length hypotheses are matched: those whose typical answer (the
    geometric mean of the scan's counted log characters) is longer than ``short_source``
    of the mix's; a source that answers briefly as a whole is not (F marks the chunk)."""
    if not config.enabled or "m:length" not in groups.columns:
        return []
    per_source = groups.group_by("source").agg(
        (pl.col("m:length").sum() / FIXED_POINT).alias("log_chars"), pl.col("n_rows").sum()
    )
    mix = per_source["log_chars"].sum() / max(int(per_source["n_rows"].sum()), 1)
    typical = pl.col("log_chars") / pl.col("n_rows").clip(1)
    return per_source.filter(typical - mix > math.log(config.short_source))["source"].to_list()


def quotas(
    hypotheses: pl.DataFrame, sources: list[str], config: MatchConfig
) -> dict[tuple[str, str], int]:
    """(source, feature) -> rows the matching needs from ``read_carriers``."""
    wanted = targets(hypotheses).filter(pl.col("source").is_in(sources))
    return {(s, f): config.carriers for f, s in wanted.iter_rows()}


def reference_sizes(quotas: dict[tuple[str, str], int], config: MatchConfig) -> dict[str, int]:
    """source -> reference rows to read: the sources of the hypotheses ``quotas`` matches."""
    return {source: config.reference for source, _feature in quotas}


def match_lengths(
    hypotheses: pl.DataFrame,
    read: CarrierRows,
    features: list[Feature],
    config: MatchConfig | None = None,
    sources: list[str] | None = None,
) -> pl.DataFrame:
    """``hypotheses`` (measure hypotheses among them) with ``value_matched`` and evidence
    set for the matched length hypotheses of ``sources`` (``matched_sources``;
    default: every source read for reference), ``review_rank`` not yet redone."""
    config = config or MatchConfig()
    if not config.enabled or not read.reference:
        return hypotheses
    sources = [s for s in (read.reference if sources is None else sources) if s in read.reference]
    wanted = targets(hypotheses).filter(pl.col("source").is_in(sources))
    enough = [len(read.carriers.get((s, f), ())) >= config.min_carriers for f, s in wanted.iter_rows()]  # fmt: skip
    wanted = wanted.filter(pl.Series(enough, dtype=pl.Boolean))
    if wanted.is_empty():
        return hypotheses
    pool = pl.concat(
        [
            ref.with_columns(pl.lit(s).alias("source"))
            for s, ref in read.reference.items()
            if s in set(wanted["source"])
        ]
    )
    from behaviour_modes.learned import LearnedUnavailable, embed

    try:
        pool_vectors = embed(pool["prompt"].str.slice(0, PROMPT_CHARS).to_list())
    except LearnedUnavailable as exc:
        log.warning("length hypotheses not matched: %s", exc)
        return hypotheses
    pool_log = np.log1p(pool["response_chars"].to_numpy().astype(float))
    pool_source = pool["source"].to_numpy()
    by_key = {f.key: f for f in features if f.side == "prompt"}
    carrying: dict[str, list[int]] = defaultdict(list)  # feature -> pool rows carrying it
    for index, hits in enumerate(feature_hits(pool["prompt"], wanted["feature"].unique(), by_key)):
        for feature in hits:
            carrying[feature].append(index)
    results: dict[tuple[str, str], _Matched] = {}
    for feature, source in wanted.iter_rows():
        ids = read.carriers[(source, feature)][: config.carriers]
        reference = pool_source == source
        reference[carrying[feature]] = False
        if reference.sum() < config.min_pool:
            continue
        rows = [read.rows[i] for i in ids]
        vectors = embed([blank(r["prompt"][:PROMPT_CHARS], feature) for r in rows])
        actual = np.log1p(np.array([len(r["response"] or "") for r in rows], dtype=float))
        results[(feature, source)] = _against(
            vectors, actual, pool_vectors[reference], pool_log[reference], config
        )
    return _apply(hypotheses, results, config)


@dataclass(frozen=True)
class _Matched:
    """F's rows against their nearest prompts without F in one reference."""

    shift: float  # mean log characters, carrier minus its neighbours
    typical: float  # the neighbours' geometric-mean characters
    n: int  # carriers


def _against(
    vectors: np.ndarray,
    actual: np.ndarray,
    pool: np.ndarray,
    pool_log: np.ndarray,
    config: MatchConfig,
) -> _Matched:
    """The carriers (embedded, log characters) against their nearest rows of ``pool``."""
    k = min(config.neighbours, len(pool))
    nearest = np.argpartition(-(vectors @ pool.T), k - 1, axis=1)[:, :k]
    expected = pool_log[nearest].mean(axis=1)
    shift = float((actual - expected).mean())
    return _Matched(shift, float(np.expm1(expected.mean())), len(actual))


def blank(prompt: str, feature: str) -> str:
    """The prompt without F's matches (a ``term:`` word; a catalog feature stays)."""
    if not feature.startswith("term:"):
        return prompt
    return re.sub(r"\s+", " ", term_pattern(feature[5:]).sub(" ", prompt)).strip()


def _apply(
    hypotheses: pl.DataFrame, results: dict[tuple[str, str], _Matched], config: MatchConfig
) -> pl.DataFrame:
    """Evidence and ``value_matched`` of the matched hypotheses."""
    evidence = hypotheses["kind_evidence"].to_list()
    matched = hypotheses["value_matched"].to_list()
    rows = hypotheses.select("feature", "source", "mode", "value_with", "value_without")
    for i, (feature, source, mode, with_f, without_f) in enumerate(rows.iter_rows()):
        found = results.get((feature, source)) if mode == OUTCOME else None
        if found is None:
            continue
        matched[i] = found.typical
        scan_shift = math.log((with_f + 1) / (without_f + 1))
        figure = (
            f"prompts like these without it ({config.neighbours} nearest to each of "
            f"{found.n} rows, in {source}) are answered at {found.typical:.0f} "
            f"characters (x{math.exp(found.shift):.2f})"
        )
        if found.shift > config.explained * scan_shift:
            evidence[i] = f"{evidence[i]}; the rest of the prompt explains it: {figure}"
        else:
            evidence[i] = f"{evidence[i]}; {figure}"
    return hypotheses.with_columns(
        pl.Series("kind_evidence", evidence, dtype=pl.String),
        pl.Series("value_matched", matched, dtype=pl.Float64),
    )
