"""The labelled refusal sources (by path, never copied) and leave-one-source-out scoring.

Sources, each held out in turn by ``bench/classify.py``:

- ``xstest_gpt4``, ``xstest_llama2orig``: XSTest v2 completions (450 each), human
  ``final_label`` (full compliance / full refusal / partial refusal).
- ``xstest_gpt4_v1``, ``xstest_llama2_v1``: XSTest v1 completions (200 each), the same
  scheme, less the completions that also appear in a v2 file or earlier in v1.
- ``gptfuzz``: GPTFuzz's 7,700 ChatGPT responses under jailbreak templates, hand
  labelled 1 = jailbroken (complied), 0 = not; ``gptfuzz_train.csv`` and
  ``gptfuzz_evaluate.csv`` are one source (figures are reported on ``evaluate``), the
  prompt is the question's text from ``gptfuzz_questions.csv``. Binary only: its
  "not jailbroken" is a refusal here, there is no partial label.

Labels are the learned layer's classes: ``answer``, ``refusal``, ``partial_refusal``.
Binary scoring counts ``refusal`` and ``partial_refusal`` as refusing (XSTest's
convention, used for every source).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

XSTEST_V2 = ("gpt4", "llama2orig")
XSTEST_V1 = ("gpt4", "llama2")
XSTEST_LABELS = {
    "1_full_compliance": "answer",
    "2_full_refusal": "refusal",
    "3_partial_refusal": "partial_refusal",
}
REFUSING = ("refusal", "partial_refusal")


def load_dev(data: Path) -> pl.DataFrame:
    """source, split, prompt, response, label, family (XSTest's prompt type; null for
    GPTFuzz) for every dev source (see the module doc)."""
    frames = []
    seen: set[str] = set()
    for version, names in (("", XSTEST_V2), ("_v1", XSTEST_V1)):
        for name in names:
            table = pl.read_csv(
                data / "xstest" / f"completions_{name}{version}.csv", infer_schema=False
            )
            table = table.select(
                pl.lit(f"xstest_{name}{version}").alias("source"),
                pl.lit("all").alias("split"),
                "prompt",
                pl.col("completion").alias("response"),
                pl.col("final_label").replace_strict(XSTEST_LABELS).alias("label"),
                pl.col("type").alias("family"),  # XSTest's prompt type (homonyms, ...)
            )
            keep = [r not in seen for r in table["response"]]
            seen.update(table["response"].to_list())
            frames.append(table.filter(pl.Series(keep)))
    questions = pl.read_csv(data / "refusal_labelled" / "gptfuzz_questions.csv", infer_schema=False)
    text = dict(zip(questions["index"], questions["text"], strict=True))
    for split in ("train", "evaluate"):
        table = pl.read_csv(data / "refusal_labelled" / f"gptfuzz_{split}.csv", infer_schema=False)
        frames.append(
            table.select(
                pl.lit("gptfuzz").alias("source"),
                pl.lit(split).alias("split"),
                pl.col("question").replace_strict(text, default=None).alias("prompt"),
                pl.col("Response").alias("response"),
                pl.when(pl.col("label") == "0")
                .then(pl.lit("refusal"))
                .otherwise(pl.lit("answer"))
                .alias("label"),
                pl.lit(None, pl.String).alias("family"),  # GPTFuzz labels no family
            )
        )
    return pl.concat(frames)


def scored_rows(dev: pl.DataFrame) -> pl.Series:
    """Rows a source's figures are computed on (GPTFuzz: its ``evaluate`` split)."""
    return (dev["source"] != "gptfuzz") | (dev["split"] == "evaluate")


@dataclass(frozen=True)
class Scores:
    """Binary and 3-way accuracy, refusal precision and recall of one labelling."""

    n: int
    binary: float
    three_way: float | None
    precision: float
    recall: float


def score(modes: list[str], labels: list[str], three_way: bool = True) -> Scores:
    """Scores of predicted modes against labels (3-way only where the labels have it)."""
    predicted = np.asarray([m in REFUSING for m in modes])
    gold = np.asarray([g in REFUSING for g in labels])
    tp = int((predicted & gold).sum())
    coarse = [m if m in REFUSING else "answer" for m in modes]
    return Scores(
        n=len(labels),
        binary=float((predicted == gold).mean()),
        three_way=float(np.mean([c == g for c, g in zip(coarse, labels, strict=True)]))
        if three_way
        else None,
        precision=tp / max(int(predicted.sum()), 1),
        recall=tp / max(int(gold.sum()), 1),
    )


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by size."""
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total / len(confidence))
