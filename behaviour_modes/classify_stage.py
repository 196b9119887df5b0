"""The classify stage: ``run(ClassifyConfig) -> ClassifyResult``.

Reads a csv/tsv, jsonl/ndjson, json or parquet file, labels every response with
its behaviour mode (rules; the learned layer and an LLM judge when asked), and
writes the same rows plus ``mode``, ``mode_confidence`` and ``mode_evidence`` when
an output path is given. Bad values (missing, NaN, non-text, huge, invalid UTF-8)
are labelled, never a crash; lines that are not JSON objects are counted.
Classify keeps no state: it needs no store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from behaviour_modes.judge import JudgeConfig, JudgeStats
from behaviour_modes.modes import MODES, mode_frame
from stage_kit import NO_PROGRESS, Progress, StageError
from tabular_files import WRITABLE, TabularError, read_table, write_table

if TYPE_CHECKING:
    from duckdb_store import Store

__all__ = ["MODE_COLUMNS", "ClassifyConfig", "ClassifyResult", "distribution", "run"]

MODE_COLUMNS = ("mode", "mode_confidence", "mode_evidence")


@dataclass(frozen=True)
class ClassifyConfig:
    """What to label and where the labels go."""

    file: str  # the csv/tsv, jsonl/ndjson, json or parquet file to label
    prompt_column: str = "prompt"  # labelled without prompts when the file has no such column
    response_column: str = "response"
    output: str | None = None  # write the rows plus the mode columns here (format by suffix)
    learned: bool = False  # also run the learned layer where the rules are unsure
    judge_url: str | None = None  # OpenAI-compatible base URL of an LLM judge (with judge_model)
    judge_model: str | None = None  # the judge's model name (with judge_url)


@dataclass
class ClassifyResult:
    """The labelled rows, the distribution of modes, and what went wrong on the way."""

    frame: pl.DataFrame  # the file's rows plus mode, mode_confidence, mode_evidence
    distribution: pl.DataFrame  # mode, n, share, mean_confidence: every mode, most common first
    source: str  # the input file's name
    has_prompts: bool  # whether the file has the prompt column
    bad_lines: int  # lines (or array items) skipped as not JSON objects
    judge_model: str | None = None  # the judge asked, if any
    judge: JudgeStats | None = None  # its calls and failures, when a judge was asked
    output: str | None = None  # the file written, if any


def distribution(labels: pl.DataFrame) -> pl.DataFrame:
    """Rows, share and mean confidence per mode (every mode listed, most common first)."""
    total = max(labels.height, 1)
    counts = labels.group_by("mode").agg(
        pl.len().alias("n"), pl.col("mode_confidence").mean().alias("mean_confidence")
    )
    frame = (
        pl.DataFrame({"mode": list(MODES)})
        .join(counts, on="mode", how="left")
        .with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
        .with_columns((pl.col("n") / total).alias("share"))
        .sort(["n", "mode"], descending=[True, False])
    )
    return frame.select("mode", "n", "share", "mean_confidence")


def run(
    config: ClassifyConfig, store: Store | None = None, progress: Progress = NO_PROGRESS
) -> ClassifyResult:
    """Label every response of ``config.file``; write the rows with their modes if asked.

    ``store`` and ``progress`` are accepted for the common stage signature and unused:
    classify keeps no state and labels in one vectorised pass.
    """
    if bool(config.judge_url) != bool(config.judge_model):
        raise StageError("--judge-url and --judge-model go together")
    path = Path(config.file)
    if not path.is_file():
        raise StageError(f"no such file: {config.file}")
    try:
        table = read_table(path)
    except TabularError as exc:
        raise StageError(str(exc)) from None
    frame, raw = table.frame, table.raw
    if config.response_column not in frame.columns:
        raise StageError(
            f"{path.name} has no column {config.response_column!r} "
            f"(columns: {', '.join(frame.columns) or 'none'}); pick one with --response-column"
        )
    output = Path(config.output) if config.output else None
    if output is not None and output.suffix.lower() not in WRITABLE:
        raise StageError(f"--output {output}: use one of {', '.join(WRITABLE)}")
    has_prompts = config.prompt_column in frame.columns
    # JSON files label the values as parsed (a nested value is "not text", not its JSON)
    prompts: pl.Series | Sequence[object] | None = raw.get(config.prompt_column)
    if prompts is None:
        prompts = frame[config.prompt_column] if has_prompts else [None] * frame.height
    responses: pl.Series | Sequence[object] | None = raw.get(config.response_column)
    if responses is None:
        responses = frame[config.response_column]
    judge = None
    if config.judge_url and config.judge_model:
        judge = JudgeConfig(config.judge_url, config.judge_model)
    stats = JudgeStats() if judge is not None else None
    labels = mode_frame(prompts, responses, learned=config.learned, judge=judge, judge_stats=stats)
    result = frame.drop([c for c in MODE_COLUMNS if c in frame.columns]).hstack(labels)
    if output is not None:
        try:
            write_table(result, output)
        except TabularError as exc:
            raise StageError(str(exc)) from None
    return ClassifyResult(
        frame=result,
        distribution=distribution(labels),
        source=path.name,
        has_prompts=has_prompts,
        bad_lines=table.bad,
        judge_model=config.judge_model if judge is not None else None,
        judge=stats,
        output=config.output,
    )
