"""The train stage: read a mix and train the tiny organism on it, or fine-tune a base model.

``run(config)`` reads the mix (``read_mix``, which a caller may do first to report on
the mix before training starts), trains with :func:`organism.training.train_model`
and returns what was trained. It writes no tables: the model folder (with its
``training.json``) is the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from datasets_registry.loading import MixError, open_mix
from datasets_registry.normalise import BadRows, Columns
from organism.training import (
    TINY,
    ResponseStart,
    TrainingError,
    TrainingSummary,
    TrainProgress,
    check_base,
    train_model,
)
from stage_kit import NO_PROGRESS, Progress, StageError

if TYPE_CHECKING:
    from duckdb_store.store import Store

LABEL = "train"


@dataclass(frozen=True)
class TrainConfig:
    """What to train on and how (unset hyperparameters: the defaults for the kind of run)."""

    mix: str  # the mix (name, file or folder)
    out: str | Path  # folder for the trained model (a Hugging Face folder plus training.json)
    base: str = TINY  # "tiny": a small model from scratch; else a local model folder to fine-tune
    epochs: int | None = None  # passes over the mix
    seed: int = 0
    lora: bool = False  # fine-tune ``base`` with LoRA (merged into the saved weights)
    source_column: str = Columns.source  # column naming each row's source chunk
    prompt_column: str = Columns.prompt
    response_column: str = Columns.response
    max_length: int | None = None  # tokens per example, longer ones are cut
    batch_size: int | None = None  # examples per step
    lr: float | None = None  # peak learning rate
    max_response_tokens: int | None = None  # train on the start of each response only
    response_start_tokens: int = ResponseStart.tokens  # the first response tokens ...
    response_start_weight: float = ResponseStart.weight  # ... weigh this much in the loss


@dataclass
class TrainMix:
    """The mix as read for training: its usable rows and the rows that were not."""

    frame: pl.DataFrame
    bad: BadRows

    @property
    def n_sources(self) -> int:
        """Distinct sources among the usable rows."""
        return self.frame["source"].n_unique()


@dataclass
class TrainResult:
    """The mix trained on and the summary of the training (also in ``training.json``)."""

    mix: TrainMix
    summary: TrainingSummary


def bad_row_reasons(bad: BadRows) -> str:
    """The reasons rows were rejected, with counts ("missing response 3, ...")."""
    return ", ".join(f"{reason} {n:,}" for reason, n in sorted(bad.counts.items()))


def check(config: TrainConfig) -> None:
    """Refuse a LoRA run without a base, or a base that is no model folder (StageError)."""
    if config.base == TINY and config.lora:
        raise StageError("--lora fine-tunes an existing model: pass --base PATH")
    if config.base != TINY:
        try:
            check_base(config.base)
        except TrainingError as exc:
            raise StageError(f"--base: {exc}") from None


def read_mix(config: TrainConfig) -> TrainMix:
    """The mix's usable rows (StageError when it cannot be read or has none)."""
    columns = Columns(
        source=config.source_column,
        prompt=config.prompt_column,
        response=config.response_column,
    )
    try:
        frame, bad = open_mix(config.mix, columns).frame()
    except MixError as exc:
        raise StageError(str(exc)) from None
    if frame.height == 0:
        detail = f" ({bad.total:,} bad rows: {bad_row_reasons(bad)})" if bad.total else ""
        raise StageError(f"{config.mix} has no usable rows to train on{detail}")
    return TrainMix(frame, bad)


def run(
    config: TrainConfig,
    store: Store | None = None,
    progress: Progress = NO_PROGRESS,
    *,
    mix: TrainMix | None = None,
) -> TrainResult:
    """Train on ``config.mix`` (or the already read ``mix``); ``store`` is not used."""
    check(config)
    mix = mix if mix is not None else read_mix(config)
    progress(LABEL, 0, None, "preparing")

    def report(p: TrainProgress) -> None:
        status = f"epoch {p.epoch}/{p.epochs} loss {p.loss:.3f}"
        progress(LABEL, p.step, p.total_steps, status)

    try:
        summary = train_model(
            mix.frame,
            Path(config.out),
            base=config.base,
            epochs=config.epochs,
            seed=config.seed,
            lora=config.lora,
            max_length=config.max_length,
            batch_size=config.batch_size,
            lr=config.lr,
            max_response_tokens=config.max_response_tokens,
            response_start=ResponseStart(
                config.response_start_tokens, config.response_start_weight
            ),
            progress=report,
            mix=config.mix,
        )
    except TrainingError as exc:
        raise StageError(str(exc)) from None
    return TrainResult(mix, summary)
