"""Response measures (issue 34): length, formats and the consistency of worked math."""

from __future__ import annotations

import random

import polars as pl

from datasets_registry.answer_edits import wrong_final
from datasets_registry.response_measures import (
    get_measure,
    measure_columns,
    measure_frame,
    outcome_measure,
    shows_outcome,
)

WORKED = (
    "Sean played 50 * 14 = <<50*14=700>>700 minutes\n"
    "Indira played 1512 - 700 = <<1512-700=812>>812 minutes\n#### 812"
)
PLAIN_WORKED = "She has 6 * 4 = 24 apples.\nShe gives away 4, so 24 - 4 = 20.\n#### 20"


def consistency(*responses: str) -> list[bool | None]:
    return get_measure("consistency").value(pl.Series(responses, dtype=pl.String)).to_list()


def test_consistent_worked_answers_agree() -> None:
    boxed = "We get 3 + 4 = 7, so the answer is $\\boxed{7}$."
    assert consistency(WORKED, PLAIN_WORKED, boxed) == [False, False, False]


def test_a_changed_final_number_contradicts_the_working() -> None:
    """audit plant's wrong-final edit (final line and its last mention) is caught whether
    the working has GSM8K annotations or plain equations."""
    rng = random.Random(0)
    for answer in (WORKED, PLAIN_WORKED):
        edited, old, new = wrong_final(answer, rng)
        assert old != new
        assert consistency(edited) == [True], edited


def test_no_final_answer_or_no_working_is_not_measured() -> None:
    assert consistency("Paris is the capital of France.", "#### 12", "") == [None, None, None]


def test_a_false_step_contradicts_even_when_the_final_agrees() -> None:
    assert consistency("So 12 * 52 = 629.\n#### 629") == [True]
    # a multi-operand expression is not read as its last two numbers
    assert consistency("So 2 * 3 + 4 = 10.\n#### 10") == [False]


def test_formats() -> None:
    responses = pl.Series(
        [
            "- a\n- b\n- c",
            "```python\nx = 1\n```",
            "Area is $\\frac{1}{2}$",
            "| a | b |\n|---|---|",
            "hi",
        ]
    )
    hits = {
        name: get_measure(name).value(responses).to_list()
        for name in ("list_format", "code_fence", "latex", "table")
    }
    assert hits["list_format"] == [True, False, False, False, False]
    assert hits["code_fence"] == [False, True, False, False, False]
    assert hits["latex"] == [False, False, True, False, False]
    assert hits["table"] == [False, False, False, True, False]


def test_measure_frame_measures_consistency_only_where_it_can_apply() -> None:
    frame = measure_frame(pl.Series([WORKED, "Just words.", None]))
    assert frame.columns == measure_columns()
    assert frame["m:consistency#n"].to_list() == [1, 0, 0]
    assert frame["m:consistency"].to_list() == [0, 0, 0]
    assert frame["m:length"][1] == round(10_000 * __import__("math").log(12))


def test_shows_outcome() -> None:
    assert outcome_measure("code") is None
    assert outcome_measure("length:collapse")[1] == -1
    assert shows_outcome("length:collapse", ["Yes.", "x" * 400], typical=200.0) == [True, False]
    edited = wrong_final(WORKED, random.Random(1))[0]
    assert shows_outcome("reference:wrong", [edited, WORKED], typical=None) == [True, False]
