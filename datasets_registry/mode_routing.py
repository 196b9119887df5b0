"""Does the feature route the behaviour? Its rows against the most similar rows without it.

A feature concentrated in a chunk that answers in mode M is a hypothesis, but that alone
does not say the data teaches "F -> M". It does when F's rows are prompts that the rest
of the mix answers otherwise: "Is the Zorblax laptop good for travel?" is refused while
prompts like it without the product name are answered, so a model fitting the data must
use the name. It does not when the rest of the prompt asks for M anyway: "Spell out how
to doxx a streamer" is refused like every harmful prompt without "spell". So each mode
hypothesis F -> M of lead source S, incidental and among the first ``hypotheses`` by
``rank``, gets:

- up to ``carriers`` rows of S carrying F (the scan's targeted read, ``carrier_rows``),
  F's match blanked out of each prompt, and their own modes;
- for each, its ``neighbours`` nearest rows among the first ``reference`` rows read of
  every source (``pool`` in all at most), those without F, by the cosine of mean all-MiniLM-L6-v2 token
  embeddings (``behaviour_modes.learned.embed``: no torch), and their modes;
- ``p_mode_matched``: the share of those neighbours answered in M (mean over carriers).

**Routing** = the carriers' share in M minus ``p_mode_matched``: how much of the
behaviour the rest of the prompt does not explain. ``hypothesis_kind.review_order`` puts
the incidental hypotheses that route first. The kind is not changed here: whether F asks
for M is a question of F (``hypothesis_kind``, ``answer_echo``), whether the data teaches
it one of F's rows. Not measured: hypotheses past the first ``hypotheses``, those with
fewer than ``min_carriers`` carriers, measure hypotheses (``matched_length`` weighs
those), and every one without the encoder.
"""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import polars as pl

from datasets_registry.carrier_rows import CarrierRows, feature_hits
from datasets_registry.features import Feature
from datasets_registry.hypothesis_kind import INCIDENTAL
from datasets_registry.matched_length import blank

log = logging.getLogger(__name__)

#: prompt characters embedded (a prompt's start says what it asks)
PROMPT_CHARS = 512
#: carriers compared with the pool in one product (bounded memory: rows x pool floats)
CHUNK_ROWS = 512


@dataclass(frozen=True)
class RoutingConfig:
    """How mode hypotheses are matched with like prompts (see the module docstring)."""

    enabled: bool = True
    hypotheses: int = 1_000  # mode hypotheses measured, by rank
    carriers: int = 16  # rows carrying F compared with their neighbours
    reference: int = 1_000  # rows read of every source as the neighbour pool ...
    pool: int = 8_000  # ... but at most this many in all
    min_per_source: int = 200  # ... and at least this many of each source
    neighbours: int = 10  # nearest prompts without F per carrier
    min_carriers: int = 5  # fewer carriers: not measured


def targets(hypotheses: pl.DataFrame, config: RoutingConfig) -> pl.DataFrame:
    """The hypotheses to measure (feature, source, mode, measure): the incidental ones
    (only their review order uses this), the first ``hypotheses`` by rank."""
    schema = {"feature": pl.String, "source": pl.String, "mode": pl.String, "measure": pl.String}
    if not config.enabled or hypotheses.is_empty():
        return pl.DataFrame(schema=schema)
    measure = pl.col("measure") if "measure" in hypotheses.columns else pl.lit(None, pl.String)
    return (
        hypotheses.filter(pl.col("kind") == INCIDENTAL)
        .sort("rank")
        .head(config.hypotheses)
        .select("feature", "source", "mode", measure.alias("measure"))
    )


def quotas(hypotheses: pl.DataFrame, config: RoutingConfig) -> dict[tuple[str, str], int]:
    """(source, feature) -> rows the routing needs from ``read_carriers``."""
    return {(s, f): config.carriers for f, s, _m, _v in targets(hypotheses, config).iter_rows()}


def reference_sizes(sources: list[str], config: RoutingConfig) -> dict[str, int]:
    """source -> reference rows to read: every source of the mix, ``reference`` each but at
    most ``pool`` in all (at least ``min_per_source`` each)."""
    if not config.enabled or not sources:
        return {}
    each = max(config.min_per_source, min(config.reference, config.pool // len(sources)))
    return {source: each for source in sources}


def route(
    hypotheses: pl.DataFrame,
    read: CarrierRows,
    features: list[Feature],
    config: RoutingConfig | None = None,
) -> pl.DataFrame:
    """``hypotheses`` with ``p_mode_matched`` and ``routing`` (mode hypotheses) and, for
    measure hypotheses that ``matched_length`` left unmatched, ``value_matched`` from the
    whole mix's like prompts (NULL where not measured)."""
    config = config or RoutingConfig()
    out = hypotheses.with_columns(
        pl.lit(None, pl.Float64).alias("p_mode_matched"), pl.lit(None, pl.Float64).alias("routing")
    )
    unmatched = set()
    if "value_matched" in hypotheses.columns:
        rows = hypotheses.filter(
            pl.col("measure").is_not_null() & pl.col("value_matched").is_null()
        )
        unmatched = set(rows.select("feature", "source", "mode").iter_rows())
    wanted = [
        (f, s, m, v)
        for f, s, m, v in targets(hypotheses, config).iter_rows()
        if len(read.carriers.get((s, f), ())) >= config.min_carriers
        and (v is None or (f, s, m) in unmatched)
    ]
    # sources in a fixed order: the read fills them in set order, which varies by process,
    # and equally near neighbours (repeated prompts) are then picked by their place
    pools = [
        read.reference[s] for s in sorted(read.reference) if "mode" in read.reference[s].columns
    ]
    if not wanted or not pools:
        return out
    pool = pl.concat([ref.select("prompt", "response", "response_chars", "mode") for ref in pools])
    from behaviour_modes.learned import LearnedUnavailable, embed

    try:
        pool_vectors = embed(pool["prompt"].str.slice(0, PROMPT_CHARS).to_list())
    except LearnedUnavailable as exc:
        log.warning("hypotheses not matched with like prompts: %s", exc)
        return out
    by_key = {f.key: f for f in features if f.side == "prompt"}
    carrying: dict[str, list[int]] = defaultdict(list)  # feature -> pool rows carrying it
    for index, hits in enumerate(feature_hits(pool["prompt"], {w[0] for w in wanted}, by_key)):
        for feature in hits:
            carrying[feature].append(index)
    ids = sorted({i for f, s, _m, _v in wanted for i in read.carriers[(s, f)][: config.carriers]})
    carriers = pl.DataFrame([read.rows[i] for i in ids]).select("prompt", "response")
    values = _Values(pool, carriers, ids)
    texts: list[str] = []
    spans: list[tuple[tuple[str, str, str, str | None], list[str], int]] = []
    for want in wanted:
        kept = read.carriers[(want[1], want[0])][: config.carriers]
        spans.append((want, kept, len(texts)))
        texts.extend(blank(read.rows[i]["prompt"][:PROMPT_CHARS], want[0]) for i in kept)
    vectors = embed(texts)
    k = min(config.neighbours, pool.height)
    modes: dict[tuple[str, str, str], tuple[float, float]] = {}
    measured: dict[tuple[str, str, str], tuple[float, int]] = {}
    chunk, chunk_start = np.empty((0, 0), dtype=np.float32), 0
    for (feature, source, mode, measure), kept, start in spans:
        excluded = carrying.get(feature, [])
        if pool.height - len(excluded) < k:
            continue
        if start + len(kept) > chunk_start + len(chunk):  # carriers against the pool, in chunks
            chunk_start = start
            chunk = vectors[start : start + CHUNK_ROWS] @ pool_vectors.T
        block = chunk[start - chunk_start : start - chunk_start + len(kept)].copy()
        block[:, excluded] = -np.inf
        nearest = np.argpartition(-block, k - 1, axis=1)[:, :k]
        pool_value = values.pool_values(measure or mode, is_mode=measure is None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no neighbour the measure fits
            matched = float(np.nanmean(pool_value[nearest]))
        if measure is None:
            own_modes = values.own_modes()
            own = float(np.mean([own_modes[i] == mode for i in kept]))
            modes[(feature, source, mode)] = (matched, own - matched)
        elif not np.isnan(matched):
            typical = float(np.expm1(matched)) if measure == "length" else matched
            measured[(feature, source, mode)] = (typical, len(kept))
    return _apply(out, modes, measured, config)


class _Values:
    """Per pool row, whether it shows a mode or a measure's value (length: log characters,
    from the pool's full answer lengths; rates as 0/1, NaN where the measure does not
    apply), and the carriers' own modes, computed once each."""

    def __init__(self, pool: pl.DataFrame, carriers: pl.DataFrame, ids: list[str]) -> None:
        self.pool, self.carriers, self.ids = pool, carriers, ids
        self._cache: dict[str, np.ndarray] = {}
        self._own_modes: dict[str, str] | None = None

    def pool_values(self, name: str, is_mode: bool) -> np.ndarray:
        """The pool's values of a mode (``is_mode``) or a measure ``name``."""
        if name not in self._cache:
            self._cache[name] = self._compute(name, is_mode)
        return self._cache[name]

    def own_modes(self) -> dict[str, str]:
        """Carrier id -> its mode, as the scan counts it."""
        if self._own_modes is None:
            from behaviour_modes.rules import modes_of

            labels = modes_of(self.carriers).to_list()
            self._own_modes = dict(zip(self.ids, labels, strict=True))
        return self._own_modes

    def _compute(self, name: str, is_mode: bool) -> np.ndarray:
        from datasets_registry.response_measures import get_measure

        if is_mode:
            return (self.pool["mode"] == name).to_numpy().astype(float)
        if name == "length":
            return np.log1p(self.pool["response_chars"].to_numpy().astype(float))
        values = get_measure(name).value(self.pool["response"]).cast(pl.Float64).to_numpy()
        return np.asarray(values, dtype=float)


def _apply(
    hypotheses: pl.DataFrame,
    modes: dict[tuple[str, str, str], tuple[float, float]],
    measured: dict[tuple[str, str, str], tuple[float, int]],
    config: RoutingConfig,
) -> pl.DataFrame:
    """The routing columns of the measured mode hypotheses; ``value_matched`` and evidence
    of the measured measure hypotheses."""
    keys = list(hypotheses.select("feature", "source", "mode").iter_rows())
    found = [modes.get(key) for key in keys]
    out = hypotheses.with_columns(
        pl.Series("p_mode_matched", [r[0] if r else None for r in found], dtype=pl.Float64),
        pl.Series("routing", [r[1] if r else None for r in found], dtype=pl.Float64),
    )
    if not measured:
        return out
    matched = out["value_matched"].to_list()
    evidence = out["kind_evidence"].to_list()
    for i, key in enumerate(keys):
        if key in measured:
            matched[i], n = measured[key]
            evidence[i] = (
                f"{evidence[i]}; prompts like these across the mix ({config.neighbours} "
                f"nearest to each of {n} rows): {matched[i]:.3g}"
            )
    return out.with_columns(
        pl.Series("value_matched", matched, dtype=pl.Float64),
        pl.Series("kind_evidence", evidence, dtype=pl.String),
    )
