"""`audit train`: load a mix, train (tiny organism or a fine-tune), show progress and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from audit.output import CliError, console, progress_bar
from datasets_registry.loading import MixError, open_mix
from datasets_registry.normalise import Columns

if TYPE_CHECKING:
    from organism.training import TrainResult


def run_train_command(
    *,
    mix: str,
    out: str,
    base: str,
    epochs: int | None,
    seed: int,
    lora: bool,
    source_column: str,
    prompt_column: str,
    response_column: str,
    max_length: int | None,
    batch_size: int | None,
    lr: float | None,
) -> TrainResult:
    from organism.training import TINY, TrainingError, TrainProgress, train_model

    if base == TINY and lora:
        raise CliError("--lora fine-tunes an existing model: pass --base PATH")
    if base != TINY:
        from organism.training import check_base

        try:
            check_base(base)
        except TrainingError as exc:
            raise CliError(f"--base: {exc}") from None
    columns = Columns(source=source_column, prompt=prompt_column, response=response_column)
    try:
        opened = open_mix(mix, columns)
        with console.status(f"reading {mix}"):
            frame, bad = opened.frame()
    except MixError as exc:
        raise CliError(str(exc)) from None
    if frame.height == 0:
        detail = f" ({bad.total:,} bad rows: {_reasons(bad.counts)})" if bad.total else ""
        raise CliError(f"{mix} has no usable rows to train on{detail}")
    console.print(
        f"{frame.height:,} examples from {frame['source'].n_unique()} sources"
        + (f", {bad.total:,} bad rows skipped ({_reasons(bad.counts)})" if bad.total else "")
        + f"; base {base}{' + LoRA' if lora else ''}",
        highlight=False,
        markup=False,
    )
    try:
        with progress_bar("steps") as bar:
            task = bar.add_task("train", total=None, status="preparing")

            def report(p: TrainProgress) -> None:
                bar.update(
                    task,
                    completed=p.step,
                    total=p.total_steps,
                    status=f"epoch {p.epoch}/{p.epochs} loss {p.loss:.3f}",
                )

            result = train_model(
                frame,
                Path(out),
                base=base,
                epochs=epochs,
                seed=seed,
                lora=lora,
                max_length=max_length,
                batch_size=batch_size,
                lr=lr,
                progress=report,
                mix=mix,
            )
    except TrainingError as exc:
        raise CliError(str(exc)) from None
    lora_note = f" ({result.n_trainable_params:,} in LoRA adapters, merged)" if lora else ""
    console.print(
        f"[bold]trained[/] {result.n_params:,} parameters{lora_note} on "
        f"{result.n_examples:,} examples, {result.epochs} epoch{'s' * (result.epochs != 1)} "
        f"({result.steps:,} steps) in {result.seconds:.1f}s on {result.device}; "
        f"final loss {result.final_loss:.3f} -> {escape(str(result.out_dir))}",
        highlight=False,
    )
    if result.n_skipped:
        console.print(
            f"{result.n_skipped:,} examples skipped (no response token within --max-length)"
        )
    return result


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n:,}" for reason, n in sorted(counts.items()))


@click.command("train")
@click.argument("mix")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the trained model (a Hugging Face model folder plus training.json).",
)
@click.option(
    "--base",
    default="tiny",
    show_default=True,
    help="'tiny' trains a small model from scratch; a local model folder is fine-tuned.",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), help="Passes over the mix [tiny: 4, fine-tune: 2]."
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--lora", is_flag=True, help="Fine-tune --base with LoRA (merged into the saved weights)."
)
@click.option(
    "--source-column",
    default="source",
    show_default=True,
    help="Column naming each row's source chunk (files without it use their stem).",
)
@click.option("--prompt-column", default="prompt", show_default=True)
@click.option("--response-column", default="response", show_default=True)
@click.option(
    "--max-length",
    type=click.IntRange(min=4),
    help="Tokens per example, longer ones are cut [tiny: 256, fine-tune: 1024].",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), help="Examples per step [tiny: 32, fine-tune: 8]."
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help="Peak learning rate [tiny: 3e-3, full fine-tune: 5e-5, LoRA: 2e-4].",
)
def train_command(
    mix: str,
    out: str,
    base: str,
    epochs: int | None,
    seed: int,
    lora: bool,
    source_column: str,
    prompt_column: str,
    response_column: str,
    max_length: int | None,
    batch_size: int | None,
    lr: float | None,
) -> None:
    """Train a causal LM on MIX: the tiny organism from scratch, or fine-tune --base."""
    from audit.train_command import run_train_command

    run_train_command(
        mix=mix,
        out=out,
        base=base,
        epochs=epochs,
        seed=seed,
        lora=lora,
        source_column=source_column,
        prompt_column=prompt_column,
        response_column=response_column,
        max_length=max_length,
        batch_size=batch_size,
        lr=lr,
    )
