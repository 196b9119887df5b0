"""The scan stage: stream a mix, count mergeable statistics, derive the scan tables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import polars as pl

from datasets_registry.answer_echo import EchoConfig
from datasets_registry.features import Feature, catalog
from datasets_registry.hypotheses import joint_counts, rank_hypotheses
from datasets_registry.hypothesis_kind import KindConfig, hypothesis_kinds, review_order
from datasets_registry.keyness import DEFAULT_ALPHA0, keyness
from datasets_registry.loading import Batch, Mix
from datasets_registry.matched_length import MatchConfig
from datasets_registry.measure_hypotheses import (
    IMPLIED_BY_MODES,
    MEASURE_COLUMNS,
    MeasureConfig,
    measure_hypotheses,
    measure_sums,
)
from datasets_registry.mode_routing import RoutingConfig
from datasets_registry.normalise import TEXT_COLUMNS, Columns
from datasets_registry.prefetch import prefetch, switch_interval
from datasets_registry.stats import KEYS, ScanStats, feature_column, stop_words
from datasets_registry.template_twins import TwinConfig

MERGE_MIN_ROWS = 2_000_000  # term rows left unmerged before the first merge
GIL_TURN_S = 0.0005  # while the reader thread runs (see prefetch)
FIRST_BATCH_ROWS = 4_000  # then 8k, 16k, ... up to batch_rows: counting starts sooner

SCAN_TABLES = (
    "bad_rows",
    "scan_sources",
    "feature_concentration",
    "keyness",
    "mode_rates",
    "trigger_hypotheses",
    "response_phrases",
)


@dataclass
class ScanConfig:
    """What `audit scan` reads and how it counts; every default lives here only."""

    mix: str = ""  # registered name, hub dataset id, or local file or folder
    columns: Columns = field(default_factory=Columns)  # where prompts, responses, sources are
    features: list[Feature] = field(default_factory=catalog)  # the catalog plus user features
    batch_rows: int = 50_000  # rows counted per batch
    top_terms: int = 50  # keyness rows kept per source
    min_df: int = 3  # a keyness word must occur in this many prompts of a source
    min_support: int = 5  # a hypothesis needs this many rows with the feature (words too)
    max_p: float = 0.01  # one-sided Fisher p-value a hypothesis must reach
    top_hypotheses: int = 10_000  # hypotheses kept (every word and phrase is a candidate)
    top_measure_hypotheses: int = 1_000  # measure hypotheses kept besides them
    phrases: bool = True  # 2-3-word prompt phrases as candidates (about doubles counting)
    phrase_margin: float = 0.05  # a phrase must outscore each of its words by this much
    alpha0: float = DEFAULT_ALPHA0  # keyness Dirichlet prior strength
    kinds: KindConfig = field(default_factory=KindConfig)  # requested vs incidental
    phrase_share: float = 0.05  # a response phrase kept opens/ends this share of its source
    phrase_concentration: float = 0.5  # ... with at least this share of its uses there
    top_phrases: int = 20  # response phrases kept per source
    examples: bool = True  # keyword-in-context rows per hypothesis (a second, bounded read)
    measures: bool = True  # response measures (length, formats, consistency) and their hypotheses
    min_length_ratio: float = 2.0  # a length hypothesis at least halves the answers
    matched: MatchConfig = field(default_factory=MatchConfig)  # length vs the nearest prompts
    echo: EchoConfig = field(default_factory=EchoConfig)  # are the answers about the feature?
    routing: RoutingConfig = field(default_factory=RoutingConfig)  # F's rows vs like prompts
    twins: TwinConfig = field(default_factory=TwinConfig)  # hypotheses on the same rows
    workers: int = 1  # local processes that count pieces of the mix (1: this process only)
    ray_address: str | None = None  # scan on Ray: "local", "auto", "ray://host:10001", ...
    ray_shards: int | None = None  # pieces for Ray [default: 4 per CPU of the cluster]

    def with_routing(self, enabled: bool) -> ScanConfig:
        """This config with the review order's reading of rows (answers' echo, like
        prompts, template twins) on or off (``audit scan --no-routing``)."""
        return replace(
            self,
            echo=replace(self.echo, enabled=enabled),
            routing=replace(self.routing, enabled=enabled),
            twins=replace(self.twins, enabled=enabled),
        )


def count_batches(
    batches: Iterable[Batch],
    features: Sequence[Feature],
    on_batch: Callable[[Batch], None] | None = None,
    phrases: bool = True,
    with_measures: bool = True,
) -> ScanStats:
    """Fold batches into one ScanStats (one process; shards merge the same way).

    Batches are read one ahead in a thread (see ``prefetch``). Counts are merged
    when the unmerged ones outgrow the merged table, so merging costs about twice
    the final table, not once per batch, and memory stays within a small multiple
    of it.
    """
    merged = ScanStats.empty(features, with_measures)
    pending: list[ScanStats] = []
    pending_rows = 0
    with switch_interval(GIL_TURN_S):
        for batch in prefetch(batches):
            stats = ScanStats.from_frame(
                batch.frame, features, batch.bad, batch.shapes, phrases, with_measures
            )
            pending.append(stats)
            pending_rows += stats.terms.height + stats.ngrams.height
            if pending_rows >= max(merged.terms.height + merged.ngrams.height, MERGE_MIN_ROWS):
                merged, pending, pending_rows = ScanStats.merge([merged, *pending]), [], 0
            if on_batch is not None:
                on_batch(batch)
    return ScanStats.merge([merged, *pending])


def scan_mix(
    mix: Mix, config: ScanConfig, on_batch: Callable[[Batch], None] | None = None
) -> ScanStats:
    """Count one opened mix in this process."""
    batches = mix.batches(config.batch_rows, TEXT_COLUMNS, first_rows=FIRST_BATCH_ROWS)
    return count_batches(batches, config.features, on_batch, config.phrases, config.measures)


def scan_tables(stats: ScanStats, config: ScanConfig) -> dict[str, pl.DataFrame]:
    """Everything the scan writes, derived from merged statistics only."""
    groups = stats.groups
    by_source = groups.group_by("source").agg(pl.all().exclude("mode").sum()).sort("source")
    tables: dict[str, pl.DataFrame] = {}
    tables["bad_rows"] = pl.DataFrame(
        stats.bad.rows(), schema={"reason": pl.String, "n": pl.Int64, "example": pl.String}
    )
    tables["scan_sources"] = by_source.select(
        "source",
        "n_rows",
        (pl.col("prompt_chars") / pl.col("n_rows")).alias("mean_prompt_chars"),
        (pl.col("response_chars") / pl.col("n_rows")).alias("mean_response_chars"),
    ).join(source_shapes(stats.shapes), on="source", how="left")
    tables["feature_concentration"] = _concentration(by_source, config.features)
    tables["mode_rates"] = (
        groups.select("source", "mode", pl.col("n_rows").alias("n"))
        .with_columns((pl.col("n") / pl.col("n").sum().over("source")).alias("share"))
        .sort(["source", "n"], descending=[False, True])
    )
    key = keyness(stats.terms, config.top_terms, config.min_df, config.alpha0)
    tables["keyness"] = key.group_by("source", maintain_order=True).head(config.top_terms)
    words = trigger_candidates(stats.terms, config.min_support)
    term_joint = pl.concat(
        [
            stats.terms.select(*KEYS, "term", "df").join(words, on="term"),
            stats.ngrams.join(phrase_candidates(stats.ngrams, config.min_support), on="term"),
        ]
    )
    prompt_features = [f for f in config.features if f.side == "prompt"]
    names = {feature_column(f): f.key for f in prompt_features}
    joint = joint_counts(groups, list(names), names, term_joint)
    ranked = rank_hypotheses(
        groups,
        joint,
        config.min_support,
        config.max_p,
        config.top_hypotheses,
        prune=lambda scored: drop_redundant_phrases(scored, config.phrase_margin),
    )
    hypotheses = hypothesis_kinds(ranked, joint, groups, config.kinds)
    if config.measures and "m:length" in stats.terms.columns:
        sums = measure_sums(stats.terms, words, stats.feature_measures)
        thresholds = MeasureConfig(config.min_support, config.max_p, config.min_length_ratio)
        measured = measure_hypotheses(sums, groups, thresholds, config.kinds)
        hypotheses = rank_together(hypotheses, measured, config.top_measure_hypotheses)
    tables["trigger_hypotheses"] = hypotheses
    tables["response_phrases"] = boilerplate(stats.phrases, by_source, config)
    return tables


def rank_together(modes: pl.DataFrame, measured: pl.DataFrame, top_measures: int) -> pl.DataFrame:
    """Mode and measure hypotheses in one ``rank`` (by score) and ``review_rank``; mode
    hypotheses have no ``measure`` columns (null). Measure hypotheses never displace mode
    ones: the best ``top_measures`` are added to them. Left out: a format hypothesis that a
    mode hypothesis of the same feature implies (``IMPLIED_BY_MODES``), and one on exactly
    the rows of a better one (a template's other words: "premise", "hypothesis")."""
    implied = pl.DataFrame(
        [(o, m) for o, ms in IMPLIED_BY_MODES.items() for m in ms],
        schema={"outcome": pl.String, "by": pl.String},
        orient="row",
    )
    said = modes.select("feature", "mode").join(implied, left_on="mode", right_on="by")
    measured = (
        measured.join(
            said.select("feature", pl.col("outcome").alias("mode")),
            on=["feature", "mode"],
            how="anti",
        )
        .sort("rank")
        .unique(["mode", "source", "support", "value_with", "value_without"], keep="first")
        .sort("rank")
        .head(top_measures)
    )
    modes = modes.drop("review_rank", "review_score", "same_rows_as", strict=False).with_columns(
        *[pl.lit(None, dtype).alias(c) for c, dtype in MEASURE_COLUMNS.items()]
    )
    both = pl.concat([modes, measured.select(modes.columns)], how="vertical_relaxed")
    ranked = both.sort(
        ["score", "support", "feature", "mode"], descending=[True, True, False, False]
    ).with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("rank"))
    return review_order(ranked)


def boilerplate(phrases: pl.DataFrame, by_source: pl.DataFrame, config: ScanConfig) -> pl.DataFrame:
    """Response openers and closers concentrated in one source: source, phrase, n,
    share_in_source (of its responses), share_of_hits (of the phrase's uses), top first."""
    return (
        phrases.join(by_source.select("source", "n_rows"), on="source")
        .with_columns(
            (pl.col("n") / pl.col("n_rows")).alias("share_in_source"),
            (pl.col("n") / pl.col("n").sum().over("phrase")).alias("share_of_hits"),
        )
        .filter(
            (pl.col("n") >= config.min_support)
            & (pl.col("share_in_source") >= config.phrase_share)
            & (pl.col("share_of_hits") >= config.phrase_concentration)
        )
        .sort(["source", "share_in_source", "phrase"], descending=[False, True, False])
        .group_by("source", maintain_order=True)
        .head(config.top_phrases)
        .select("source", "phrase", "n", "share_in_source", "share_of_hits")
    )


def trigger_candidates(terms: pl.DataFrame, min_support: int) -> pl.DataFrame:
    """Every prompt word in at least ``min_support`` rows that is not a function word (the
    stop-word list of scikit-learn, ``stats.stop_words``): column ``term``."""
    supported = phrase_candidates(terms, min_support)
    return supported.filter(~pl.col("term").is_in(stop_words().implode()))


def phrase_candidates(ngrams: pl.DataFrame, min_support: int) -> pl.DataFrame:
    """Every counted prompt phrase (``stats.count_ngrams``; words too, given ``terms``) in
    at least ``min_support`` rows: column ``term``."""
    return (
        ngrams.group_by("term")
        .agg(pl.col("df").sum())
        .filter(pl.col("df") >= min_support)
        .select("term")
    )


COVER = 0.8  # a 3-word phrase in this share of a 2-word phrase's rows stands for it


def drop_redundant_phrases(ranked: pl.DataFrame, margin: float) -> pl.DataFrame:
    """``ranked`` without the phrase hypotheses (``term:`` with a space) that say no more
    than a feature inside or around them, for the same mode (rank order kept):

    - a phrase that does not beat every word in it by ``margin`` in score ("a function"
      says no more than "function");
    - a 2-word phrase that a 3-word phrase around it covers (in ``COVER`` of its rows,
      scoring within ``margin``): the longer reads as the framing it is ("per the report"
      over "the report");
    - otherwise a 3-word phrase that a 2-word phrase in it scores within ``margin`` of:
      the shorter says as much, on more rows ("space complexity" over "a space
      complexity").
    """
    phrase = pl.col("feature").str.strip_prefix("term:")
    is_phrase = pl.col("feature").str.starts_with("term:") & phrase.str.contains(" ")
    phrases = ranked.filter(is_phrase).select("feature", "mode", "score", "support")
    if phrases.is_empty():
        return ranked
    words = phrase.str.split(" ")
    word = [words.list.get(i, null_on_oob=True) for i in range(3)]
    parts = (
        phrases.with_columns(
            pl.concat_list(words, word[0] + " " + word[1], word[1] + " " + word[2]).alias("part")
        )
        .explode("part")
        .filter(pl.col("part").is_not_null() & (pl.col("part") != phrase))
        .with_columns(
            (pl.lit("term:") + pl.col("part")).alias("part"),
            pl.col("part").str.contains(" ").alias("part_is_phrase"),
        )
    )
    inside = parts.join(
        ranked.select(
            "feature", "mode", pl.col("score").alias("part_score"), pl.col("support").alias("n")
        ),
        left_on=["part", "mode"],
        right_on=["feature", "mode"],
        how="inner",
    )
    close = pl.col("part_score") + margin >= pl.col("score")
    covers = (
        pl.col("part_is_phrase")
        & (pl.col("support") >= COVER * pl.col("n"))
        & (pl.col("score") + margin >= pl.col("part_score"))
    )
    redundant = pl.concat(
        [
            inside.filter(~pl.col("part_is_phrase") & close).select("feature", "mode"),
            inside.filter(covers).select(pl.col("part").alias("feature"), "mode"),
            inside.filter(pl.col("part_is_phrase") & ~covers & close).select("feature", "mode"),
        ]
    ).unique()
    return ranked.join(redundant, on=["feature", "mode"], how="anti").sort("rank")


def source_shapes(shapes: Counter[tuple[str, str]]) -> pl.DataFrame:
    """source, shape: the data shapes each source was read in, the most common first
    ("alpaca", or "messages+prompt_response" for a source mixing two)."""
    by_source: dict[str, list[tuple[int, str]]] = {}
    for (source, shape), n in shapes.items():
        by_source.setdefault(source, []).append((-n, shape))
    rows = [(s, "+".join(shape for _, shape in sorted(v))) for s, v in by_source.items()]
    return pl.DataFrame(rows, schema={"source": pl.String, "shape": pl.String}, orient="row")


def _concentration(by_source: pl.DataFrame, features: Sequence[Feature]) -> pl.DataFrame:
    rows = []
    for f in features:
        column = feature_column(f)
        total_hits = int(by_source[column].sum()) if by_source.height else 0
        for source, n_rows, hits in by_source.select("source", "n_rows", column).iter_rows():
            rows.append(
                {
                    "feature": f.key,
                    "side": f.side,
                    "source": source,
                    "n_rows": n_rows,
                    "n_hits": hits,
                    "share_in_source": hits / n_rows if n_rows else 0.0,
                    "share_of_hits": hits / total_hits if total_hits else 0.0,
                }
            )
    schema = {
        "feature": pl.String,
        "side": pl.String,
        "source": pl.String,
        "n_rows": pl.Int64,
        "n_hits": pl.Int64,
        "share_in_source": pl.Float64,
        "share_of_hits": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)
