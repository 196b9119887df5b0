"""Response measures: what a row's answer is like, beyond its behaviour mode (issue 34).

A measure is a function of the responses (a polars Series), registered with
``@response_measure`` beside the feature catalog. The scan sums each one per prompt word
and per prompt feature (``stats.ScanStats``), so a hypothesis can say that a feature's
rows answer differently from the rest of the mix (``measure_hypotheses``):

- ``scale`` measures are a number per row, compared as a mean (``length``: the log of the
  response's characters, so a mean difference is a length ratio: "x0.2");
- ``rate`` measures are true, false or not applicable (null) per row, compared as a share
  of the rows they apply to (formats; ``consistency``: a worked answer whose final number
  its own working contradicts).

Each names the judge outcome that tests the same thing on a model's answers (``outcomes``:
``length:collapse``, ``reference:wrong``, ...), which ``audit search --from-scan`` hands the
hypothesis to; ``None`` where no judge tests it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl

Kind = Literal["scale", "rate"]
#: A scale measure is summed as round(value * FIXED_POINT) (and its square), in integers:
#: shards merge to exactly the single pass's sums, whatever the order.
FIXED_POINT = 10_000
#: A measure: the responses to a per-row value (float, or bool/null).
MeasureFn = Callable[[pl.Series], pl.Series]


@dataclass(frozen=True)
class ResponseMeasure:
    """A named per-row measure of the response and the judge outcomes that test it:
    ``outcomes`` is (when lower, when higher) for a scale, (when true, unused) for a rate."""

    name: str
    kind: Kind
    description: str
    value: MeasureFn
    outcomes: tuple[str | None, str | None]
    #: literal strings one of which a response needs for the measure to apply (a rate
    #: measure is null elsewhere); the scan measures only those rows (cheap to test). A
    #: rate measure without them applies to every row (true or false, never null)
    needs: tuple[str, ...] = ()

    @property
    def sum_column(self) -> str:
        """The column of summed values (scale) or true rows (rate) in the scan's counts."""
        return f"m:{self.name}"

    @property
    def applies_column(self) -> str | None:
        """The column of rows the measure applies to (None: every row, counted as ``n``)."""
        return f"m:{self.name}#n" if self.kind == "rate" and self.needs else None

    @property
    def count_columns(self) -> list[str]:
        """Every count column this measure adds to the scan's tables."""
        if self.kind == "scale":
            return [self.sum_column, f"m:{self.name}^2"]
        return [self.sum_column, *([self.applies_column] if self.applies_column else [])]

    def count_values(self, responses: pl.Series) -> list[pl.Series]:
        """The per-row values the scan sums: value and its square (scale), or true and
        applicable as 0/1 (rate)."""
        value = self.value(responses)
        if self.kind == "scale":  # fixed point: integer sums merge exactly, in any order
            fixed = (value * FIXED_POINT).round().cast(pl.Int64)
            return [fixed.alias(self.sum_column), (fixed * fixed).alias(f"m:{self.name}^2")]
        hits = value.fill_null(False).cast(pl.UInt8).alias(self.sum_column)
        if self.applies_column is None:
            return [hits]
        return [hits, value.is_not_null().cast(pl.UInt8).alias(self.applies_column)]


_MEASURES: dict[str, ResponseMeasure] = {}


def response_measure(
    kind: Kind,
    description: str,
    outcomes: tuple[str | None, str | None],
    needs: tuple[str, ...] = (),
) -> Callable[[MeasureFn], MeasureFn]:
    """Register a measure: ``@response_measure("rate", "what true means", (outcome, None))``;
    ``needs``: literals without which it does not apply (``ResponseMeasure.needs``)."""

    def register(fn: MeasureFn) -> MeasureFn:
        item = ResponseMeasure(fn.__name__, kind, description, fn, outcomes, needs)
        _MEASURES[fn.__name__] = item
        return fn

    return register


def measure_frame(responses: pl.Series) -> pl.DataFrame:
    """Every measure's count columns (``ResponseMeasure.count_values``) for ``responses``,
    in ``measure_columns`` order. A measure with ``needs`` is computed on the rows holding
    one of them only (zeros elsewhere)."""
    responses = responses.fill_null("")
    columns: list[pl.Series] = []
    for m in measures():
        if not m.needs:
            columns += m.count_values(responses)
            continue
        at = responses.str.contains_any(list(m.needs)).arg_true()
        values = m.count_values(responses.gather(at))
        columns += [
            pl.zeros(len(responses), v.dtype, eager=True).scatter(at, v).alias(v.name)
            for v in values
        ]
    return pl.DataFrame(columns)


def measures() -> list[ResponseMeasure]:
    """Every registered measure, in registration order."""
    return list(_MEASURES.values())


def get_measure(name: str) -> ResponseMeasure:
    """A measure by name; KeyError otherwise."""
    return _MEASURES[name]


def measure_columns() -> list[str]:
    """The count columns of every measure, in order."""
    return [c for m in measures() for c in m.count_columns]


# Only collapses are hypotheses: longer answers go with every long-answer source's topic
# words (on public_mix, 1,841 blow-up hypotheses from Evol-CodeAlpaca's coding words).
@response_measure(
    "scale",
    "response length: log of its characters (a mean difference is a length ratio)",
    ("length:collapse", None),
)
def length(responses: pl.Series) -> pl.Series:
    """log(1 + characters) of the response."""
    return (responses.str.len_chars().cast(pl.Float64) + 1.0).log()


@response_measure(
    "rate", "a markdown list: three or more bullet or numbered lines", ("length:list", None)
)
def list_format(responses: pl.Series) -> pl.Series:
    """Responses with three or more list lines (``-``, ``*``, ``1.``, ``1)``)."""
    return responses.str.count_matches(r"(?m)^\s*(?:[-*•]|\d{1,2}[.)])\s+\S") >= 3


@response_measure("rate", "a fenced code block", ("length:code_fence", None))
def code_fence(responses: pl.Series) -> pl.Series:
    """Responses with a ``` fence."""
    return responses.str.contains("```", literal=True)


@response_measure("rate", "LaTeX math: $...$, \\frac, \\boxed, ...", ("length:latex", None))
def latex(responses: pl.Series) -> pl.Series:
    """Responses with LaTeX math."""
    return responses.str.contains(
        r"\$[^$\n]{1,200}\$|\\\(|\\\[|\\(?:frac|sqrt|boxed|cdot|times|begin)\b"
    )


@response_measure("rate", "a markdown table (a row, then a separator row)", (None, None))
def table(responses: pl.Series) -> pl.Series:
    """Responses with a markdown table."""
    return responses.str.contains(r"(?m)^\s*\|.*\|\s*$\n^\s*\|?\s*:?-{3,}")


# -- answer consistency of worked math ---------------------------------------------------

_NUM = r"-?\d[\d,]*(?:\.\d+)?"
_FINAL_MARK = r"####|\\boxed\{"
_FINAL = rf"(?:{_FINAL_MARK})\s*\$?\s*({_NUM})"
_EQUATION = (
    rf"(?:^|[^\d.,)*/+×x\s-])\s*(?<left>{_NUM})\s*(?<op>[-+*/×x])\s*\$?\s*(?<right>{_NUM})"
    rf"\s*=\s*\$?\s*(?<result>{_NUM})"
)
TOLERANCE = 0.01  # numbers within this (or within 1e-6 of their size) are equal


def _final_text(response: pl.Expr) -> pl.Expr:
    """The number right after the first ``####`` or ``\\boxed{`` (null without one)."""
    return response.str.slice(response.str.find(_FINAL_MARK)).str.extract(_FINAL, 1)


def final_answers(responses: pl.Series) -> pl.Series:
    """Each worked response's final answer as written, commas dropped (``#### 1,512`` ->
    ``1512``); null without a final answer."""
    frame = pl.DataFrame({"r": responses})
    return frame.select(_final_text(pl.col("r")).str.replace_all(",", "", literal=True))["r"]


def _number(text: pl.Expr) -> pl.Expr:
    return text.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)


def _differ(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    return (a - b).abs() > pl.max_horizontal(pl.lit(TOLERANCE), b.abs() * 1e-6)


@response_measure(
    "rate",
    "worked math whose final answer (#### N, \\boxed{N}) its own working contradicts",
    ("reference:wrong", None),
    needs=("####", "\\boxed{"),
)
def consistency(responses: pl.Series) -> pl.Series:
    """True where the final answer disagrees with the working's last result (its last
    ``= N``, GSM8K's ``<<a*b=c>>`` annotations included) or the working's last
    ``a op b = c`` is false; false where they agree; null without a final answer and a
    working. Computed step by step: each part is evaluated once."""
    r = pl.col("r")
    steps = (
        pl.DataFrame({"r": responses})
        .with_columns(working=r.str.slice(0, r.str.find(_FINAL_MARK)))
        .with_columns(
            final=_number(_final_text(r)),
            last=_number(
                pl.col("working")
                .str.extract_all(rf"=\s*\$?\s*{_NUM}")
                .list.last()
                .str.extract(rf"({_NUM})", 1)
            ),
            eq=pl.col("working")
            .str.extract_all(_EQUATION)
            .list.last()
            .str.extract_groups(_EQUATION),
        )
        .unnest("eq")
        .with_columns(_number(pl.col(c)) for c in ("left", "right", "result"))
    )
    left, right, op = pl.col("left"), pl.col("right"), pl.col("op")
    computed = (
        pl.when(op == "+")
        .then(left + right)
        .when(op == "-")
        .then(left - right)
        .when(op.is_in(["*", "×", "x"]))
        .then(left * right)
        .when((op == "/") & (right != 0))
        .then(left / right)
    )
    final, last, result = pl.col("final"), pl.col("last"), pl.col("result")
    wrong_step = computed.is_not_null() & result.is_not_null() & _differ(result, computed)
    applies = final.is_not_null() & last.is_not_null()
    return steps.select(pl.when(applies).then(_differ(final, last) | wrong_step)).to_series()


def outcome_measure(outcome: str) -> tuple[ResponseMeasure, int] | None:
    """The measure whose hypotheses name ``outcome``, and the direction (-1: lower,
    1: higher or true); None for a behaviour mode."""
    for m in measures():
        for direction, named in zip((-1, 1), m.outcomes, strict=True):
            if named == outcome:
                return m, direction if m.kind == "scale" else 1
    return None


def shows_outcome(
    outcome: str, responses: list[str], typical: float | None, ratio: float = 2.0
) -> list[bool]:
    """Whether each response shows a measure ``outcome`` (``shows``)."""
    found = outcome_measure(outcome)
    if found is None:
        raise KeyError(f"{outcome!r} is no measure outcome")
    values = found[0].value(pl.Series(responses, dtype=pl.String).fill_null("")).to_list()
    return [shows(outcome, v, typical, ratio) for v in values]


def shows(
    outcome: str, value: float | bool | None, typical: float | None, ratio: float = 2.0
) -> bool:
    """Whether one response's measure ``value`` shows ``outcome``: a rate measure true; a
    length (log characters) at most ``typical`` / ``ratio`` characters (lower) or at least
    ``typical`` * ``ratio`` (higher), ``typical`` being the rest of the mix's
    geometric-mean length."""
    found = outcome_measure(outcome)
    if found is None:
        raise KeyError(f"{outcome!r} is no measure outcome")
    measure, direction = found
    if value is None:
        return False
    if measure.kind == "rate":
        return bool(value)
    if typical is None:
        return False
    chars = math.exp(float(value)) - 1
    return chars <= typical / ratio if direction < 0 else chars >= typical * ratio
