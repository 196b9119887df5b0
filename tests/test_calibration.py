"""Calibrated ``mode_confidence``: rules' priors replaced by how often each rule's refusal
call was right on the labelled sets (``behaviour_modes/calibration.py``)."""

from __future__ import annotations

import pytest

from behaviour_modes import calibration
from behaviour_modes.modes import classify


def test_each_source_weighs_the_same_and_the_prior_counts_as_ten_rows() -> None:
    modes = ["refusal"] * 110
    priors = [0.85] * 110
    labels = ["refusal"] * 100 + ["answer"] * 10  # source a: all right, b: all wrong
    sources = ["a"] * 100 + ["b"] * 10
    (row,) = calibration.fit(modes, priors, labels, sources)
    assert row["key"] == "refusal@0.85" and row["n"] == 110
    assert row["correct"] == pytest.approx(0.5)  # not 100/110
    assert row["confidence"] == pytest.approx((110 * 0.5 + 10 * 0.85) / 120, abs=1e-4)


def test_modes_the_refusal_sets_cannot_judge_are_not_fitted() -> None:
    rows = calibration.fit(["code", "answer"], [0.9, 0.6], ["answer", "answer"], ["a", "a"])
    assert [r["key"] for r in rows] == ["answer@0.60"]


def test_labels_carry_the_committed_table_and_other_modes_their_priors() -> None:
    table = calibration.table()
    assert table, "behaviour_modes/weights/confidence.json is missing"
    plain = classify("What is the capital of France?", "Paris is the capital of France.")
    assert plain.mode == "answer"
    assert plain.confidence == pytest.approx(table["answer@0.60"]) and plain.confidence > 0.9
    code = classify("Sort a list", "```python\ndef f(xs):\n    return sorted(xs)\n```")
    assert code.mode == "code" and code.confidence == pytest.approx(0.9)  # a prior
