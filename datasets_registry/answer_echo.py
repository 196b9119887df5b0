"""Are the answers about the feature? A topic asks; a trigger does not.

A prompt word that names what the task is about is echoed by the answers: rows asking
for "a Java" program are answered with Java, prompts about "robbing" are refused by
naming robbery, "background color" comes back as ``background-color``. A word that
routes answers without being their subject is not: "additionally" in Evol-Instruct's
code prompts, "elucidate" planted into a code chunk, a product name in a refusal set,
a template's "useful for when you need". So each incidental ``term:`` mode hypothesis
F -> M in source S among the first ``hypotheses`` by ``rank`` is given:

- ``echo_with``: the share of the answers of up to ``carriers`` rows of S carrying F
  (the scan's targeted read, ``carrier_rows``) that name one of F's content words
  (stop words dropped; a word matched at a word start by its first ``len - 3``
  letters, at least four, so "robbing" meets "robbery");
- ``echo_without``: the same share among the first ``reference`` rows read of S that
  do not carry F.

**Kind**: where the Wilson lower bound of ``echo_with`` exceeds ``echo_without`` by
``threshold``, the answers are about F: it is the content the behaviour answers, so the
hypothesis is ``requested`` ("its answers are about it: ..."). Otherwise the kind stays
what ``hypothesis_kind`` decided and the evidence gains the two shares. Not for modes
whose answers name what they answer whatever asked for them (``NOT_ECHOED``: a role-play
is about its persona, a refusal names the product it refuses, a worked answer with
calculator calls names its apples), nor for measure hypotheses (``matched_length`` weighs
those), nor with fewer than ``min_carriers`` carriers or ``min_pool`` reference rows
without F.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import polars as pl

from datasets_registry.carrier_rows import REFERENCE_ANSWER_CHARS, CarrierRows, term_hits
from datasets_registry.hypotheses import wilson_lower
from datasets_registry.hypothesis_kind import INCIDENTAL, REQUESTED

#: answer characters read for the echo, carriers and reference alike (the reference keeps
#: no more)
ANSWER_CHARS = REFERENCE_ANSWER_CHARS
#: modes whose answers name what they answer whether or not it asked for them: a role-play
#: is about its persona, a refusal names what it refuses ("I can't help with questions about
#: the Zorblax laptop"), a worked answer with calculator calls names its objects
NOT_ECHOED = frozenset({"fiction", "refusal", "partial_refusal", "tool_call"})


@dataclass(frozen=True)
class EchoConfig:
    """How the answers' echo of a feature is measured (see the module docstring). (*) The
    threshold is the one that ``bench/review_order.py`` chooses leave-one-source-out on the
    labelled hypotheses, with the meaning's (``KindConfig.similarity``), for precision of
    ``incidental`` at recall >= 0.8 (0.15 for 12 of 16 held-out sources; 0.2 was the first
    guess)."""

    enabled: bool = True
    hypotheses: int = 2_000  # incidental mode hypotheses measured, by rank
    carriers: int = 24  # rows carrying F whose answers are read
    reference: int = 1_000  # rows read of each source for the share without F
    min_carriers: int = 5  # fewer: the kind stays as it is
    min_pool: int = 100  # reference rows without F needed
    threshold: float = 0.15  # Wilson lower bound with F minus the share without F (*)


def targets(hypotheses: pl.DataFrame, config: EchoConfig) -> pl.DataFrame:
    """The mode hypotheses whose echo is measured (feature, source): the incidental ones
    (the echo only makes a hypothesis requested), the first ``hypotheses`` by rank."""
    if not config.enabled or hypotheses.is_empty():
        return pl.DataFrame(schema={"feature": pl.String, "source": pl.String})
    measure = pl.col("measure").is_null() if "measure" in hypotheses.columns else pl.lit(True)
    return (
        hypotheses.filter(
            pl.col("feature").str.starts_with("term:")
            & ~pl.col("mode").is_in(list(NOT_ECHOED))
            & measure
            & (pl.col("kind") == INCIDENTAL)
        )
        .sort("rank")
        .head(config.hypotheses)
        .select("feature", "source")
        .unique(maintain_order=True)
    )


def quotas(hypotheses: pl.DataFrame, config: EchoConfig) -> dict[tuple[str, str], int]:
    """(source, feature) -> rows the echo needs from ``read_carriers``."""
    return {(s, f): config.carriers for f, s in targets(hypotheses, config).iter_rows()}


def reference_sizes(quotas: dict[tuple[str, str], int], config: EchoConfig) -> dict[str, int]:
    """source -> reference rows to read: the sources of the hypotheses ``quotas`` asks."""
    return {source: config.reference for source, _feature in quotas}


def stems(term: str) -> list[str]:
    """F's content words as word-start prefixes ("robbing" -> "robb")."""
    from datasets_registry.stats import stop_word_set

    words = re.findall(r"\w+", term.lower())
    stop = stop_word_set()
    content = [w for w in words if w not in stop and len(w) > 2] or words
    return sorted({w[: max(4, len(w) - 3)] for w in content})


def naming(answers: pl.Series, terms: list[str]) -> list[set[str]]:
    """Per answer, which of ``terms`` it names (any content word's stem at a word start),
    in one Aho-Corasick pass."""
    by_stem: dict[str, list[str]] = {}
    for term in terms:
        for stem in stems(term):
            by_stem.setdefault(f" {stem}", []).append(term)
    if not by_stem:
        return [set() for _ in range(answers.len())]
    text = pl.lit(" ") + pl.col("a").str.slice(0, ANSWER_CHARS).str.to_lowercase().str.replace_all(
        r"\W+", " "
    )
    found = (
        pl.DataFrame({"a": answers.fill_null("")})
        .select(text.str.extract_many(list(by_stem), overlapping=True))
        .to_series()
        .to_list()
    )
    return [{t for m in hits or () for t in by_stem[m]} for hits in found]


def about(named: int, answers: int, without: float, threshold: float) -> bool:
    """Whether ``named`` of ``answers`` answers naming F (Wilson lower bound) exceed the
    share ``without`` F by ``threshold``: the answers are about F."""
    return float(wilson_lower(np.array([named]), np.array([answers]))[0]) - without >= threshold


def answer_echo(
    hypotheses: pl.DataFrame, read: CarrierRows, config: EchoConfig | None = None
) -> pl.DataFrame:
    """``hypotheses`` with ``echo_with`` / ``echo_without`` and, where the answers are
    about the feature, kind ``requested`` (``review_rank`` not yet redone)."""
    config = config or EchoConfig()
    out = hypotheses.with_columns(
        pl.lit(None, pl.Float64).alias("echo_with"), pl.lit(None, pl.Float64).alias("echo_without")
    )
    wanted = targets(hypotheses, config).filter(pl.col("source").is_in(list(read.reference)))
    if wanted.is_empty():
        return out
    shares: dict[tuple[str, str], tuple[float, float, int, int]] = {}
    for (source,), group in wanted.group_by("source", maintain_order=True):
        reference = read.reference[source]
        if "response" not in reference.columns:
            continue
        terms = [f[5:] for f in group["feature"]]
        ids = {t: read.carriers.get((source, f"term:{t}"), [])[: config.carriers] for t in terms}
        rows = sorted({i for kept in ids.values() for i in kept})
        answers = pl.Series([read.rows[i]["response"] for i in rows], dtype=pl.String)
        named_row = dict(zip(rows, naming(answers, terms), strict=True))
        # rows of the reference without each term, and those of them naming it
        pool = Counter({t: reference.height for t in terms})
        named_pool: Counter[str] = Counter()
        carried = term_hits(reference["prompt"], terms)
        for has, named in zip(carried, naming(reference["response"], terms), strict=True):
            pool.subtract(has)
            named_pool.update(named - has)
        for term in terms:
            kept = ids[term]
            if len(kept) < config.min_carriers or pool[term] < config.min_pool:
                continue
            k1 = sum(term in named_row[i] for i in kept)
            shares[(f"term:{term}", source)] = (
                k1 / len(kept),
                named_pool[term] / pool[term],
                k1,
                len(kept),
            )
    return _apply(out, shares, config)


def _apply(
    hypotheses: pl.DataFrame,
    shares: dict[tuple[str, str], tuple[float, float, int, int]],
    config: EchoConfig,
) -> pl.DataFrame:
    """Kind, evidence and the echo columns of the measured hypotheses."""
    kind = hypotheses["kind"].to_list()
    evidence = hypotheses["kind_evidence"].to_list()
    echo_with = hypotheses["echo_with"].to_list()
    echo_without = hypotheses["echo_without"].to_list()
    measure = pl.col("measure") if "measure" in hypotheses.columns else pl.lit(None, pl.String)
    rows = hypotheses.select("feature", "source", "mode", measure.alias("measure"))
    for i, (feature, source, mode, measured) in enumerate(rows.iter_rows()):
        found = shares.get((feature, source)) if mode not in NOT_ECHOED else None
        if found is None or measured is not None:
            continue
        with_f, without_f, k1, n1 = found
        echo_with[i], echo_without[i] = with_f, without_f
        figure = f"{with_f:.2f} of {n1} answers name it vs {without_f:.2f} of {source}'s others"
        if about(k1, n1, without_f, config.threshold):
            kind[i], evidence[i] = REQUESTED, f"its answers are about it: {figure}"
        else:
            evidence[i] = f"{evidence[i]}; {figure}"
    return hypotheses.with_columns(
        pl.Series("kind", kind, dtype=pl.String),
        pl.Series("kind_evidence", evidence, dtype=pl.String),
        pl.Series("echo_with", echo_with, dtype=pl.Float64),
        pl.Series("echo_without", echo_without, dtype=pl.Float64),
    )
