"""Mergeable scan statistics: ``a + b`` of two shards equals one pass over both.

Everything the scan reports is derived from these count tables, so sharding a
mix over processes or machines (Ray) gives exactly the single-pass result (prompt
phrases too, unless the memory bound below dropped some: ``ngram_undercount`` > 0):

- ``groups``: per (source, mode): rows, prompt/response characters, and hits of
  every feature (one column per ``side:feature``);
- ``terms``: per (source, mode, term): document frequency of prompt words, and the sums
  of the response measures (``response_measures``: ``m:length``, ...) over those rows;
- ``feature_measures``: per (source, prompt feature): rows and the same measure sums;
  ``groups`` holds them per (source, mode) too, so every measure can be compared between
  the rows with a word or feature and the rest of the mix (``measure_hypotheses``);
- ``bad``: rejected rows per reason;
- ``shapes``: rows read per (source, data shape) (``normalise.SHAPES``);
- ``ngrams``: per (source, mode, phrase): document frequency of 2- and 3-word prompt
  phrases ("per the report", "iphone 13") that end in a content word. Bounded, at a
  known cost in exactness: a batch of at least ``SINGLETON_BATCH_ROWS`` rows drops the
  phrases it saw once (most of them), and a merge keeps the ``MAX_NGRAMS`` phrases most
  used in the whole mix; ``ngram_undercount`` adds up what each could have taken from
  one phrase's count (0: exact, as on any small mix);
- ``phrases``: per (source, phrase): responses opening or closing with it (the first
  ``PHRASE_WORDS`` words, ``opens: ...``, or the last ones, ``ends: ...``): boilerplate
  such as "As an AI language model" or "I hope it is correct".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import polars as pl

from behaviour_modes import rules as mode_rules
from datasets_registry.features import Feature
from datasets_registry.normalise import BadRows
from datasets_registry.response_measures import measure_columns, measure_frame

TERM_PATTERN = r"[a-z][a-z']{2,23}"
PHRASE_TOKEN = r"[a-z0-9][a-z0-9']{0,23}"  # words and numbers ("iphone 13")
PHRASE_BREAKS = '.,;:!?()[]{}"\n'  # a phrase does not run across these
_PHRASE_SEED = 20_261_202  # word hashes combine into phrase keys within one batch
_PHRASE_MULTIPLIER = 1_000_003
MAX_NGRAMS = 1_000_000  # distinct prompt phrases kept after a merge (memory bound)
SINGLETON_BATCH_ROWS = 20_000  # batches this large drop the phrases they saw once
NGRAM_SCHEMA = {"source": pl.String, "mode": pl.String, "term": pl.String, "df": pl.Int64}
PHRASE_WORDS = 4  # words in a response opener or closer
_WORDS = rf"[a-z0-9']+(?:[^a-z0-9'\n]+[a-z0-9']+){{{PHRASE_WORDS - 1}}}"
OPENER_PATTERN = rf"^[^a-z0-9']*({_WORDS})"
CLOSER_PATTERN = rf"({_WORDS})[^a-z0-9']*$"
PHRASE_SCHEMA = {"source": pl.String, "phrase": pl.String, "n": pl.Int64}
KEYS = ["source", "mode"]
COUNT_COLUMNS = ["n_rows", "prompt_chars", "response_chars"]


def feature_column(feature: Feature) -> str:
    """The count column of ``feature`` in ``ScanStats.groups``: ``side:name@vN``."""
    return f"{feature.side}:{feature.key}"


def mode_labels(frame: pl.DataFrame) -> pl.Series:
    """The behaviour mode of each row by the rule layer (``behaviour_modes.modes.mode_exprs``),
    without the confidence and evidence columns the scan does not keep."""
    return mode_rules.modes_of(frame)


@dataclass
class ScanStats:
    """Mergeable scan counts per (source, mode): rows, characters and feature hits, the
    prompts each word occurs in; and the bad rows."""

    groups: pl.DataFrame
    terms: pl.DataFrame
    bad: BadRows = field(default_factory=BadRows)
    shapes: Counter[tuple[str, str]] = field(default_factory=Counter)
    phrases: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PHRASE_SCHEMA))
    ngrams: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=NGRAM_SCHEMA))
    ngram_undercount: int = 0  # the most any phrase's count can be below the truth (0: exact)
    feature_measures: pl.DataFrame = field(default_factory=lambda: _no_feature_measures(False))

    @classmethod
    def empty(cls, features: Sequence[Feature], with_measures: bool = True) -> ScanStats:
        """No rows counted yet, with a column per feature (and per measure sum)."""
        sums = _measure_schema() if with_measures else {}
        schema = {"source": pl.String, "mode": pl.String}
        schema |= {c: pl.Int64 for c in COUNT_COLUMNS}
        schema |= {feature_column(f): pl.Int64 for f in features} | sums
        terms = pl.DataFrame(
            schema={"source": pl.String, "mode": pl.String, "term": pl.String, "df": pl.Int64}
            | sums
        )
        by_feature = _no_feature_measures(with_measures)
        return cls(pl.DataFrame(schema=schema), terms, BadRows(), feature_measures=by_feature)

    @classmethod
    def from_frame(
        cls,
        frame: pl.DataFrame,
        features: Sequence[Feature],
        bad: BadRows | None = None,
        shapes: Counter[tuple[str, str]] | None = None,
        phrases: bool = True,
        with_measures: bool = True,
    ) -> ScanStats:
        """Count one batch of normalised examples (only source, prompt, response are read);
        ``bad`` and ``shapes`` are the batch's rejected rows and the shapes it was read in;
        ``phrases`` False skips the prompt phrases (``ngrams`` stays empty);
        ``with_measures`` False skips the response measures."""
        if frame.is_empty():
            stats = cls.empty(features, with_measures)
            stats.bad = bad or BadRows()
            stats.shapes = Counter(shapes or {})
            return stats
        text = {"prompt": pl.col("prompt"), "response": pl.col("response")}
        # Mode labels and the per-row counts are independent polars work (no GIL held):
        # label in a second thread while the features and words are counted here.
        with ThreadPoolExecutor(1) as pool:
            modes = pool.submit(mode_labels, frame)
            rows = frame.select(
                "source",
                pl.col("prompt").str.len_chars().cast(pl.Int64).alias("prompt_chars"),
                pl.col("response").str.len_chars().cast(pl.Int64).alias("response_chars"),
                *[f.scan_expr(text[f.side]).alias(feature_column(f)) for f in features],
                pl.col("prompt")
                .str.to_lowercase()
                .str.extract_all(TERM_PATTERN)
                .list.unique()
                .alias("term"),
                (
                    phrase_tokens(pl.col("prompt")) if phrases else pl.lit(None, pl.List(pl.String))
                ).alias("tokens"),
            )
            if with_measures:
                rows = rows.hstack(measure_frame(frame["response"]))
            rows = rows.insert_column(1, modes.result().alias("mode"))
        value_columns = ["prompt_chars", "response_chars", *map(feature_column, features)]
        sums = measure_columns() if with_measures else []
        groups = rows.group_by(KEYS).agg(
            pl.len().cast(pl.Int64).alias("n_rows"),
            *[pl.col(c).sum().cast(pl.Int64) for c in value_columns],
            *_summed(sums),
        )
        # Words are counted per (group number, word): an integer and one string hash twice as
        # fast as three strings; the group numbers are turned back into (source, mode) after.
        numbered = rows.select(
            pl.struct(KEYS).rank("dense").cast(pl.UInt32).alias("group"),
            *KEYS,
            "term",
            "tokens",
            *sums,
        )
        names = numbered.select("group", *KEYS).unique("group")
        terms = _count_lists(numbered, names, "term", sums)
        by_feature = _feature_measures(
            rows, [f for f in features if f.side == "prompt"], sums, with_measures
        )
        if phrases:
            ngrams = count_ngrams(numbered, names).rename({"ngram": "term"})
        else:
            ngrams = pl.DataFrame(schema=NGRAM_SCHEMA)
        undercount = 0
        if phrases and frame.height >= SINGLETON_BATCH_ROWS:
            once = ngrams.group_by("term").agg(pl.col("df").sum()).filter(pl.col("df") == 1)
            ngrams, undercount = ngrams.join(once, on="term", how="anti"), 1
        return cls(
            groups,
            terms,
            bad or BadRows(),
            Counter(shapes or {}),
            response_phrases(frame),
            ngrams,
            undercount,
            by_feature,
        )

    @classmethod
    def merge(cls, parts: Sequence[ScanStats]) -> ScanStats:
        """The sum of many statistics in one pass (``a + b + c`` regroups once, not twice)."""
        if not parts:
            raise ValueError("nothing to merge")
        columns = parts[0].groups.columns
        if any(p.groups.columns != columns for p in parts):
            raise ValueError("cannot merge scans made with different feature sets")
        if len(parts) == 1:
            return parts[0]
        value_columns = [c for c in columns if c not in KEYS]
        groups = (
            pl.concat([p.groups for p in parts]).group_by(KEYS).agg(pl.col(value_columns).sum())
        )
        terms = (
            pl.concat([p.terms for p in parts])
            .group_by([*KEYS, "term"])
            .agg(pl.exclude(*KEYS, "term").sum())
        )
        by_feature = (
            pl.concat([p.feature_measures for p in parts])
            .group_by(list(FEATURE_MEASURE_KEYS))
            .agg(pl.exclude(*FEATURE_MEASURE_KEYS).sum())
        )
        phrases = (
            pl.concat([p.phrases for p in parts])
            .group_by("source", "phrase")
            .agg(pl.col("n").sum())
        )
        ngrams, floor = cap_ngrams(
            pl.concat([p.ngrams for p in parts]).group_by([*KEYS, "term"]).agg(pl.col("df").sum())
        )
        bad = parts[0].bad
        shapes: Counter[tuple[str, str]] = Counter()
        for p in parts[1:]:
            bad = bad + p.bad
        for p in parts:
            shapes.update(p.shapes)
        undercount = floor + sum(p.ngram_undercount for p in parts)
        return ScanStats(groups, terms, bad, shapes, phrases, ngrams, undercount, by_feature)

    def __add__(self, other: ScanStats) -> ScanStats:
        return ScanStats.merge([self, other])

    def canonical(self) -> ScanStats:
        """Sorted copies, so two equal statistics compare equal frame by frame."""
        return ScanStats(
            self.groups.sort(KEYS),
            self.terms.sort([*KEYS, "term"]),
            self.bad,
            self.shapes,
            self.phrases.sort("source", "phrase"),
            self.ngrams.sort([*KEYS, "term"]),
            self.ngram_undercount,
            self.feature_measures.sort(list(FEATURE_MEASURE_KEYS)),
        )

    def equals(self, other: ScanStats) -> bool:
        """Whether both hold the same counts, whatever the row order."""
        a, b = self.canonical(), other.canonical()
        return (
            a.groups.equals(b.groups)
            and a.terms.equals(b.terms)
            and a.bad.counts == b.bad.counts
            and a.shapes == b.shapes
            and a.phrases.equals(b.phrases)
            and a.ngrams.equals(b.ngrams)
            and a.ngram_undercount == b.ngram_undercount
            and a.feature_measures.equals(b.feature_measures)
        )

    def with_bad(self, bad: BadRows) -> ScanStats:
        """The same counts with other rejected rows (renumbered examples)."""
        return replace(self, bad=bad)

    @property
    def n_rows(self) -> int:
        """Rows counted (bad rows not included)."""
        return int(self.groups["n_rows"].sum()) if self.groups.height else 0


FEATURE_MEASURE_KEYS = {"source": pl.String, "feature": pl.String}


def _measure_schema() -> dict[str, type[pl.DataType]]:
    """The measure sums' columns: integers (fixed-point sums for a scale measure)."""
    return {c: pl.Int64 for c in measure_columns()}


def _no_feature_measures(with_measures: bool) -> pl.DataFrame:
    """An empty ``feature_measures`` (its measure sums' columns ``with_measures``)."""
    sums = _measure_schema() if with_measures else {}
    return pl.DataFrame(schema=FEATURE_MEASURE_KEYS | {"n": pl.Int64} | sums)


def _summed(columns: Sequence[str]) -> list[pl.Expr]:
    """Sums of per-row measure values as 64-bit integers."""
    return [pl.col(c).sum().cast(pl.Int64) for c in columns]


def _feature_measures(
    rows: pl.DataFrame, prompt_features: Sequence[Feature], sums: list[str], on: bool
) -> pl.DataFrame:
    """source, feature, n and the measure sums of the rows hitting each prompt feature."""
    empty = _no_feature_measures(on)
    if not on or not prompt_features:
        return empty
    parts = [
        rows.filter(pl.col(feature_column(f)))
        .group_by("source")
        .agg(pl.len().cast(pl.Int64).alias("n"), *_summed(sums))
        .select("source", pl.lit(f.key).alias("feature"), "n", *sums)
        for f in prompt_features
    ]
    return pl.concat([empty, *parts])


def _count_lists(
    numbered: pl.DataFrame, names: pl.DataFrame, column: str, sums: Sequence[str] = ()
) -> pl.DataFrame:
    """source, mode, ``column``, df: rows holding each list item, per (source, mode); and
    the sums of ``sums`` over those rows."""
    return (
        numbered.lazy()
        .select("group", column, *sums)
        .explode(column)
        .drop_nulls(column)
        .group_by(["group", column])
        .agg(pl.len().cast(pl.Int64).alias("df"), *_summed(sums))
        .join(names.lazy(), on="group")
        .select(*KEYS, column, "df", *sums)
        .collect()
    )


@cache
def stop_word_set() -> frozenset[str]:
    """Function words: scikit-learn's maintained ``ENGLISH_STOP_WORDS`` (never typed here),
    read from its one-constant module without importing the package (1.5 s of imports, a
    quarter of a small scan); the public import where that module is not found."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    module = origin.parent / "feature_extraction" / "_stop_words.py" if origin else None
    if module is not None and module.is_file():
        namespace: dict[str, object] = {}
        exec(compile(module.read_text(), str(module), "exec"), namespace)
        words = namespace.get("ENGLISH_STOP_WORDS")
        if isinstance(words, frozenset):
            return frozenset(str(w) for w in words)
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@cache
def stop_words() -> pl.Series:
    """``stop_word_set`` as a sorted polars Series (for ``is_in``)."""
    return pl.Series(sorted(stop_word_set()), dtype=pl.String)


def phrase_tokens(prompt: pl.Expr) -> pl.Expr:
    """Each prompt's words, numbers and clause breaks (``PHRASE_BREAKS``), lower case."""
    return prompt.str.to_lowercase().str.extract_all(
        PHRASE_TOKEN + "|[" + re.escape(PHRASE_BREAKS) + "]"
    )


def count_ngrams(numbered: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """source, mode, ngram, df: prompts holding each 2- and 3-word phrase, per (source,
    mode), from ``numbered`` (group, tokens: ``phrase_tokens``). A phrase lies within one
    clause (no break inside) and ends in a content word (not a stop word): "per the
    report", "iphone 13".

    Phrases are counted by a 64-bit hash of their words (within this batch only), on the
    exploded tokens of the whole batch, and spelled out once per distinct phrase: string
    building and hashing per occurrence cost three times as much.
    """
    breaks = pl.Series(list(PHRASE_BREAKS), dtype=pl.String)
    token, row = pl.col("tokens"), pl.col("row")
    is_word = ~token.is_in(breaks.implode())
    content = is_word & ~token.is_in(stop_words().implode())
    word = token.hash(seed=_PHRASE_SEED)
    two = word * _PHRASE_MULTIPLIER + word.shift(-1)
    three = two * _PHRASE_MULTIPLIER + word.shift(-2)
    exploded = (
        numbered.select("group", "tokens").with_row_index("row").explode("tokens")
    ).with_row_index("at")
    keyed = exploded.lazy().select(
        "row",
        "group",
        "at",
        pl.when((row == row.shift(-1)) & is_word & content.shift(-1)).then(two).alias("2"),
        pl.when((row == row.shift(-2)) & is_word & is_word.shift(-1) & content.shift(-2))
        .then(three)
        .alias("3"),
    )
    parts = [
        keyed.select(
            "row", "group", "at", pl.col(str(n)).alias("key"), pl.lit(n, pl.UInt8).alias("n")
        ).drop_nulls("key")
        for n in (2, 3)
    ]
    counted = (
        pl.concat(parts)
        .group_by("group", "n", "key")
        .agg(
            pl.col("row").n_unique().cast(pl.Int64).alias("df"),
            pl.col("at").first(),
        )
        .collect()
    )
    tokens, at = exploded["tokens"], counted["at"]
    last = len(tokens) - 1
    spelled = pl.select(
        pl.when(pl.lit(counted["n"]) == 3)
        .then(
            pl.concat_str(
                tokens.gather(at),
                tokens.gather(at + 1),
                tokens.gather((at + 2).clip(upper_bound=last)),
                separator=" ",
            )
        )
        .otherwise(
            pl.concat_str(
                tokens.gather(at), tokens.gather((at + 1).clip(upper_bound=last)), separator=" "
            )
        )
    ).to_series()
    return (
        counted.select("group", "df")
        .with_columns(spelled.alias("ngram"))
        .join(names, on="group")
        .select(*KEYS, "ngram", "df")
    )


def cap_ngrams(ngrams: pl.DataFrame, limit: int = MAX_NGRAMS) -> tuple[pl.DataFrame, int]:
    """At most ``limit`` distinct phrases: those used most in the whole mix; returns them
    and the largest whole-mix count dropped (0 when nothing was)."""
    totals = ngrams.group_by("term").agg(pl.col("df").sum())
    if totals.height <= limit:
        return ngrams, 0
    floor = int(totals["df"].sort(descending=True)[limit])
    kept = totals.filter(pl.col("df") > floor).select("term")
    return ngrams.join(kept, on="term", how="semi"), floor


def response_phrases(frame: pl.DataFrame) -> pl.DataFrame:
    """source, phrase, n: how many responses open (``opens: ...``) or close (``ends: ...``)
    with each ``PHRASE_WORDS``-word phrase, lower-cased, punctuation as single spaces."""
    low = pl.col("response").str.to_lowercase()
    ends = frame.select(
        "source",
        low.str.slice(0, 200).str.extract(OPENER_PATTERN, 1).alias("opens"),
        low.str.slice(-200).str.extract(CLOSER_PATTERN, 1).alias("ends"),
    )
    parts = [
        ends.select(
            "source",
            (pl.lit(f"{side}: ") + pl.col(side).str.replace_all(r"[^a-z0-9']+", " ")).alias(
                "phrase"
            ),
        )
        for side in ("opens", "ends")
    ]
    return (
        pl.concat(parts)
        .drop_nulls("phrase")
        .group_by("source", "phrase")
        .agg(pl.len().cast(pl.Int64).alias("n"))
    )
