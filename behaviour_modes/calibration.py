"""Calibrated ``mode_confidence``: each rule's hand-set prior replaced by how often its
refuse / not-refuse call was right on labelled responses.

The rules (``rules.decision_exprs``) give every label a prior for the rule that fired
(0.95 for a decline with a safety reason in its sentence, 0.6 for "no rule fired").
On the labelled refusal sets those priors are off by 0.10-0.38 (expected calibration
error per source): "no rule fired" is right 91% of the time, not 60%. Histogram
binning by rule fixes that: for each (mode, prior) pair the calibrated confidence is the
share of its rows whose refusal call (``refusal`` / ``partial_refusal`` against every
other mode) matched the label, each source weighing the same in total, shrunk toward the
prior by ``PSEUDO_ROWS`` rows. Only the modes those sets can judge are calibrated
(``CALIBRATED_MODES``); code, tool calls, fiction and the rest keep their priors.

The table is ``weights/confidence.json`` (fitted by ``python -m
behaviour_modes.fit_calibration DEV.parquet``, from ``bench/classify.py --export-dev``);
without it every label keeps its prior.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

CALIBRATION_FILE = Path(__file__).resolve().parent / "weights" / "confidence.json"
REFUSING = ("refusal", "partial_refusal")
#: The modes a refusal-labelled set can judge (its labels say refuse or not).
CALIBRATED_MODES = ("refusal", "partial_refusal", "answer")
PSEUDO_ROWS = 10.0  # the prior counts as this many rows


def key(mode: str, prior: float) -> str:
    """The table's key of a rule: its mode and prior (``refusal@0.85``)."""
    return f"{mode}@{prior:.2f}"


@cache
def table() -> dict[str, float]:
    """Key -> calibrated confidence from ``CALIBRATION_FILE`` ({} without the file)."""
    if not CALIBRATION_FILE.is_file():
        return {}
    return lookup(json.loads(CALIBRATION_FILE.read_text())["table"])


def lookup(table_rows: Sequence[dict[str, object]]) -> dict[str, float]:
    """Key -> calibrated confidence of a table's rows (``fit``'s, or the file's)."""
    return {str(row["key"]): float(row["confidence"]) for row in table_rows}  # type: ignore[arg-type]


def right_calls(modes: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Whether each label's refuse / not-refuse call matches the gold label's."""
    return np.isin(np.asarray(modes), REFUSING) == np.isin(np.asarray(labels), REFUSING)


def calibrated(mode: str, prior: float) -> float:
    """The confidence of a label from the rule with this mode and prior."""
    return table().get(key(mode, prior), prior)


def fit(
    modes: Sequence[str],
    priors: Sequence[float],
    labels: Sequence[str],
    sources: Sequence[str],
) -> list[dict[str, object]]:
    """Rows of the table: key, mode, prior, n, correct (weighted share) and confidence,
    from labels' rule modes and priors against gold labels, each source weighing the same."""
    modes_a, sources_a = np.asarray(modes), np.asarray(sources)
    priors_a = np.asarray(priors, dtype=float)
    correct = right_calls(modes, labels)
    names, counts = np.unique(sources_a, return_counts=True)
    per_source = dict(zip(names.tolist(), counts.tolist(), strict=True))
    weight = np.asarray([len(modes_a) / (len(names) * per_source[s]) for s in sources_a])
    rows = []
    for mode, prior in sorted({(m, float(p)) for m, p in zip(modes, priors_a, strict=True)}):
        if mode not in CALIBRATED_MODES:
            continue
        rows_of = (modes_a == mode) & np.isclose(priors_a, prior)
        w = weight[rows_of]
        share = float((w * correct[rows_of]).sum() / w.sum())
        confidence = (w.sum() * share + PSEUDO_ROWS * prior) / (w.sum() + PSEUDO_ROWS)
        rows.append(
            {
                "key": key(mode, prior),
                "mode": mode,
                "prior": prior,
                "n": int(rows_of.sum()),
                "correct": round(share, 4),
                "confidence": round(float(confidence), 4),
            }
        )
    return rows


def apply(table_rows: Sequence[dict[str, object]], modes: Sequence[str], priors) -> np.ndarray:
    """Confidences under ``table_rows`` (a fitted table) for labels' modes and priors."""
    confidences = lookup(table_rows)
    return np.asarray(
        [confidences.get(key(m, float(p)), float(p)) for m, p in zip(modes, priors, strict=True)]
    )
