"""Measure hypotheses: prompt feature F -> its rows' answers differ in a response measure.

Beside the mode hypotheses (``hypotheses``), the scan compares every candidate word and
prompt feature on each response measure (``response_measures``) between the rows that
carry it and the rest of the mix, as the mode hypotheses compare P(M | F) with
P(M | not F):

- a **scale** measure (``length``: log characters) by its mean. ``ratio`` is
  exp(mean with F - mean without): the geometric-mean length ratio ("x0.2"). A collapse
  (``length:collapse``) is kept at a ratio of at most 1 / ``min_ratio``, a blow-up at
  ``min_ratio`` or more; ``score`` is the share of length lost (or gained, as 1 - 1/r)
  at the 95% bound of a Welch interval, 1 - exp(upper bound of the log difference), so a
  few rows cannot top the list, as the Wilson bound does for modes; ``p_value`` is the
  one-sided Welch z test. The same contrast is made within the lead source (F's rows
  there against the source's other rows), and the stronger bound counts: a chunk whose
  answers are all short ("Context:" extraction) shows against the mix, a trigger inside
  a chunk of long answers in a mix of short ones against its chunk (``kind_evidence``
  then ends "against the rest of <source>", and ``value_without`` is that rest);
- a **rate** measure (formats; ``consistency``: final answers their working
  contradicts) by its share among the rows it applies to, exactly as a mode: Wilson lower
  bound minus the rate without F, one-sided Fisher p-value.

``mode`` is the judge outcome that tests the same thing on a model's answers
(``length:collapse``, ``reference:wrong``), ``measure`` the measure's name;
``value_with`` / ``value_without`` the geometric-mean characters (scale) or the rates
(rate). ``source`` is where most rows with F come from, as for modes. ``kind``: the
same evidence as ``hypothesis_kind`` (does F shift the measure outside its lead source
too; else does the word mean asking for it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from datasets_registry.hypotheses import (
    HYPOTHESIS_SCHEMA,
    Z95,
    upper_tail_above_mean,
    wilson_lower,
)
from datasets_registry.hypothesis_kind import (
    INCIDENTAL,
    MODE_EXEMPLARS,
    REQUESTED,
    KindConfig,
    similarity,
)
from datasets_registry.response_measures import FIXED_POINT, ResponseMeasure, measures

MEASURE_COLUMNS = {
    "measure": pl.String,
    "value_with": pl.Float64,
    "value_without": pl.Float64,
    "value_matched": pl.Float64,  # set after the scan's read (``matched_length``)
}
MEASURE_SCHEMA = (
    HYPOTHESIS_SCHEMA | MEASURE_COLUMNS | {"kind": pl.String, "kind_evidence": pl.String}
)
#: Words that ask for each outcome (``hypothesis_kind.similarity``).
MEASURE_EXEMPLARS: dict[str, str] = {
    "length:collapse": "brief short concise terse one word answer only yes no classify label "
    "category categorize antonym synonym translate choose option pick rewrite rephrase "
    "sentence tense noun verb adjective spelling grammar",
    "length:blowup": "essay detailed long explain elaborate depth comprehensive story article "
    "report",
    "length:list": "list ways examples steps ideas tips reasons items bullet points",
    "length:code_fence": MODE_EXEMPLARS["code"],
    "length:latex": "math equation formula latex integral derivative fraction solve algebra",
    "format:table": "table rows columns tabulate spreadsheet",
    "reference:wrong": "wrong incorrect mistake",
}


#: Modes whose answers show a format by definition: a feature's format hypothesis says no
#: more than its hypothesis on such a mode (code comes fenced).
IMPLIED_BY_MODES: dict[str, tuple[str, ...]] = {"length:code_fence": ("code", "tool_call")}


@dataclass(frozen=True)
class MeasureConfig:
    """Thresholds of the measure hypotheses."""

    min_support: int = 5  # rows with the feature (where the measure applies)
    max_p: float = 0.01  # one-sided p-value to reach
    min_ratio: float = 2.0  # a length hypothesis halves (or doubles) the length at least


def measure_sums(
    terms: pl.DataFrame, candidates: pl.DataFrame, feature_measures: pl.DataFrame
) -> pl.DataFrame:
    """feature, source, n and the measure sums of the rows with each candidate word
    (``term:<word>``) or prompt feature, per source."""
    sums = [c for m in measures() for c in m.count_columns]
    words = (
        terms.join(candidates, on="term")
        .group_by("term", "source")
        .agg(pl.col("df").sum().alias("n"), *[pl.col(c).sum() for c in sums])
        .select((pl.lit("term:") + pl.col("term")).alias("feature"), "source", "n", *sums)
    )
    features = feature_measures.filter(pl.col("n") > 0).select("feature", "source", "n", *sums)
    return pl.concat([words, features])


def measure_hypotheses(
    sums: pl.DataFrame,
    groups: pl.DataFrame,
    config: MeasureConfig | None = None,
    kinds: KindConfig | None = None,
) -> pl.DataFrame:
    """Every (feature, measure outcome) that passes ``config``, best score first, in
    ``MEASURE_SCHEMA`` (``rank`` within this table; the scan ranks it with the modes)."""
    config = config or MeasureConfig()
    kinds = kinds or KindConfig()
    if sums.is_empty() or groups.is_empty():
        return pl.DataFrame(schema=MEASURE_SCHEMA)
    columns = [c for m in measures() for c in m.count_columns]
    per_source = groups.group_by("source").agg(
        pl.col("n_rows").sum().alias("n"), *[pl.col(c).sum() for c in columns]
    )
    total = per_source.select(pl.col("n", *columns).sum())
    lead = (
        sums.sort(["n", "source"], descending=[True, False])
        .group_by("feature", maintain_order=True)
        .agg(
            pl.col("source").first(),
            (pl.col("n").first() / pl.col("n").sum()).alias("share_of_hits"),
        )
    )
    with_f = sums.group_by("feature").agg(pl.col("n", *columns).sum())
    # the rows outside the lead source: with F there, and every row there
    in_lead = sums.join(lead.select("feature", "source"), on=["feature", "source"])
    lead_all = lead.select("feature", "source").join(per_source, on="source")
    table = (
        with_f.join(lead, on="feature")
        .join(
            in_lead.select("feature", *[pl.col(c).alias(f"{c}|lead") for c in ["n", *columns]]),
            on="feature",
        )  # fmt: skip
        .join(
            lead_all.select("feature", *[pl.col(c).alias(f"{c}|src") for c in ["n", *columns]]),
            on="feature",
        )  # fmt: skip
    )
    parts = [
        part for m in measures() for part in _score(m, table, total, config) if not part.is_empty()
    ]
    if not parts:
        return pl.DataFrame(schema=MEASURE_SCHEMA)
    scored = (
        pl.concat(parts)
        .sort(["score", "support", "feature"], descending=[True, True, False])
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.Int32))
    )
    kind, evidence = _kinds(scored, kinds)
    against = [
        f"{e}; against the rest of {src}" if w else e
        for e, w, src in zip(evidence, scored["_within"], scored["source"], strict=True)
    ]
    return scored.with_columns(
        pl.Series("kind", kind, dtype=pl.String),
        pl.Series("kind_evidence", against, dtype=pl.String),
    ).select(*MEASURE_SCHEMA)


def _score(
    measure: ResponseMeasure, table: pl.DataFrame, total: pl.DataFrame, config: MeasureConfig
) -> list[pl.DataFrame]:
    """The hypotheses of one measure (a collapse and a blow-up for a scale measure)."""
    s1, s2, hits = measure.sum_column, f"m:{measure.name}^2", measure.sum_column
    applies = measure.applies_column or "n"
    if measure.kind == "scale":
        n_f = table["n"].to_numpy().astype(float)

        def fixed(column: str, power: int) -> tuple[np.ndarray, ...]:
            """A fixed-point sum with F, in its lead source, in that source and overall."""
            scale = float(FIXED_POINT) ** power
            return tuple(
                np.asarray(values, dtype=float) / scale
                for values in (table[column], table[f"{column}|lead"], table[f"{column}|src"], total[column][0])
            )  # fmt: skip

        (f1, lead1, src1, all1), (f2, lead2, src2, all2) = fixed(s1, 1), fixed(s2, 2)
        n_all = float(total["n"][0])
        diff, se, mean_f, mean_rest = _welch(n_f, f1, f2, n_all, all1, all2)
        out_diff, out_se, _, _ = _welch(
            n_f - table["n|lead"].to_numpy(), f1 - lead1, f2 - lead2,
            n_all - table["n|src"].to_numpy(), all1 - src1, all2 - src2,
        )  # fmt: skip
        from scipy.special import ndtr

        # the same contrast within the lead source: F's rows there against the source's
        # other rows (a chunk's own short answers are no contrast there; a trigger inside a
        # chunk is, where the rest of the mix answers at another length)
        n_lead = table["n|lead"].to_numpy().astype(float)
        diff_in, se_in, mean_f_in, mean_rest_in = _welch(
            n_lead, lead1, lead2, table["n|src"].to_numpy(), src1, src2
        )
        parts = []
        for sign, outcome in ((-1.0, measure.outcomes[0]), (1.0, measure.outcomes[1])):
            if outcome is None:
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                # the shift's 95% lower bound in its direction, against the mix / the source
                bound_mix = sign * diff - Z95 * se
                bound_in = sign * diff_in - Z95 * se_in
                within = bound_in > bound_mix
                bound = np.where(within, bound_in, bound_mix)
                shift = np.where(within, diff_in, diff)
                p = ndtr(-(sign * shift) / np.where(within, se_in, se))
                out_bound = sign * out_diff - Z95 * out_se
            keep = (
                (np.where(within, n_lead, n_f) >= config.min_support)
                & (sign * shift >= np.log(config.min_ratio))
                & (bound > 0)
                & (p <= config.max_p)
            )
            parts.append(
                _frame(
                    table,
                    keep,
                    measure,
                    outcome,
                    1 - np.exp(-bound),
                    p,
                    np.exp(np.where(within, mean_f_in, mean_f)) - 1,
                    np.exp(np.where(within, mean_rest_in, mean_rest)) - 1,
                    None,
                    None,
                    1 - np.exp(-out_bound),
                    np.abs(out_diff) <= np.log(1.25),
                    n_f - n_lead,
                    within,
                )  # fmt: skip
            )
        return parts
    outcome = measure.outcomes[0]
    if outcome is None:
        return []
    a = table[hits].to_numpy().astype(float)
    s = table[applies].to_numpy().astype(float)
    c, n = float(total[hits][0]), float(total[applies][0])
    rest = np.maximum(n - s, 1.0)
    p0 = np.clip((c - a) / rest, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1 = np.where(s > 0, a / np.maximum(s, 1), 0.0)
    score = wilson_lower(a, s) - p0
    a_out = a - table[f"{hits}|lead"].to_numpy()
    s_out = s - table[f"{applies}|lead"].to_numpy()
    c_out = c - table[f"{hits}|src"].to_numpy()
    n_out = n - table[f"{applies}|src"].to_numpy()
    p0_out = np.clip((c_out - a_out) / np.maximum(n_out - s_out, 1.0), 0.0, 1.0)
    out_gain = wilson_lower(a_out, s_out) - p0_out
    with np.errstate(divide="ignore", invalid="ignore"):
        p_out = np.where(s_out > 0, a_out / np.maximum(s_out, 1), 0.0)
    candidate = (s >= config.min_support) & (score > 0)
    p = np.ones(len(a))
    if candidate.any():
        p[candidate] = upper_tail_above_mean(a[candidate], int(n), np.full(candidate.sum(), c), s[candidate])  # fmt: skip
    keep = candidate & (p <= config.max_p)
    lift = p1 / np.maximum(p0, 0.5 / rest)
    return [
        _frame(
            table,
            keep,
            measure,
            outcome,
            score,
            p,
            p1,
            p0,
            p1,
            lift,
            out_gain,
            p_out <= np.maximum(2 * p0_out, p0_out + 0.05),
            s_out,
            np.zeros(len(a), dtype=bool),
        )  # fmt: skip
    ]


def _welch(
    n_f: np.ndarray, s1_f: np.ndarray, s2_f: np.ndarray, n: object, s1: object, s2: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean difference (with F minus without), its standard error, and both means, from
    the rows' counts, sums and sums of squares (the rest: all rows minus those with F)."""
    n_r = np.asarray(n, dtype=float) - n_f
    s1_r = np.asarray(s1, dtype=float) - s1_f
    s2_r = np.asarray(s2, dtype=float) - s2_f
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_f = s1_f / np.maximum(n_f, 1)
        mean_r = s1_r / np.maximum(n_r, 1)
        var_f = np.maximum(s2_f / np.maximum(n_f, 1) - mean_f**2, 0) * n_f / np.maximum(n_f - 1, 1)
        var_r = np.maximum(s2_r / np.maximum(n_r, 1) - mean_r**2, 0) * n_r / np.maximum(n_r - 1, 1)
        se = np.sqrt(var_f / np.maximum(n_f, 1) + var_r / np.maximum(n_r, 1))
    se = np.where((n_f > 1) & (n_r > 1), np.maximum(se, 1e-9), np.inf)
    return mean_f - mean_r, se, mean_f, mean_r


def _frame(
    table: pl.DataFrame,
    keep: np.ndarray,
    measure: ResponseMeasure,
    outcome: str,
    score: np.ndarray,
    p: np.ndarray,
    value_with: np.ndarray,
    value_without: np.ndarray,
    p1: np.ndarray | None,
    lift: np.ndarray | None,
    out_score: np.ndarray,
    out_none: np.ndarray,
    n_out: np.ndarray,
    within: np.ndarray,
) -> pl.DataFrame:
    support = table[measure.applies_column or "n"].to_numpy()
    ratio = value_with / np.maximum(value_without, 1e-12)
    columns = {
        "feature": table["feature"],
        "mode": [outcome] * table.height,
        "source": table["source"],
        "support": support.astype(np.int64),
        "p_mode_given_feature": p1 if p1 is not None else np.full(table.height, np.nan),
        "p_mode_without": (value_without if p1 is not None else np.full(table.height, np.nan)),
        "lift": lift if lift is not None else ratio,
        "p_value": np.clip(p, 0.0, 1.0),
        "score": score,
        "share_of_hits": table["share_of_hits"],
        "measure": [measure.name] * table.height,
        "value_with": value_with,
        "value_without": value_without,
        "value_matched": np.full(table.height, np.nan),
        "_out_score": out_score,
        "_out_none": out_none,
        "_n_out": n_out,
        "_within": within,
    }
    frame = pl.DataFrame(columns).filter(pl.Series(keep))
    return frame.with_columns(
        pl.col("p_mode_given_feature", "p_mode_without", "value_matched").fill_nan(None)
    )


def _kinds(scored: pl.DataFrame, config: KindConfig) -> tuple[list[str | None], list[str | None]]:
    """requested / incidental per hypothesis, and why (``hypothesis_kind``'s evidence)."""
    kinds: list[str | None] = [None] * scored.height
    evidence: list[str | None] = [None] * scored.height
    rows = scored.select("mode", "source", "_out_score", "_out_none", "_n_out")
    for i, (mode, source, out_score, out_none, n_out) in enumerate(rows.iter_rows()):
        if n_out < config.min_outside:
            continue
        where = f"in {int(n_out):,} rows outside {source}"
        if out_score >= config.min_outside_gain:
            kinds[i], evidence[i] = REQUESTED, f"shifts {mode} elsewhere too ({where})"
        elif out_none:
            kinds[i], evidence[i] = INCIDENTAL, f"no {mode} shift elsewhere ({where})"
    undecided = [
        i for i, k in enumerate(kinds) if k is None and scored["feature"][i].startswith("term:")
    ]
    cos = similarity(scored, undecided, config, MEASURE_EXEMPLARS) if config.use_meaning else {}
    for i in range(scored.height):
        if kinds[i] is not None:
            continue
        mode = scored["mode"][i]
        if i in cos:
            if cos[i] >= config.similarity:
                kinds[i], evidence[i] = REQUESTED, f"means asking for {mode} (cos {cos[i]:.2f})"
            else:
                kinds[i], evidence[i] = INCIDENTAL, f"unrelated in meaning to {mode} (cos {cos[i]:.2f})"  # fmt: skip
        else:
            kinds[i], evidence[i] = INCIDENTAL, "a style or format feature, no evidence either way"
    return kinds, evidence
