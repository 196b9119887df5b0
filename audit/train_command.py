"""`audit train`: load a mix, train (tiny organism or a fine-tune), show progress and a summary.

Heavy libraries (torch, transformers) are imported by the stage when it trains, never
when the CLI is imported.
"""

from __future__ import annotations

import click
from rich.markup import escape

from audit.options import SEED_OPTION, mix_column_options
from audit.output import CliProgress, console, stage_errors
from organism.train_stage import TrainConfig, bad_row_reasons, check, read_mix, run
from organism.training import FULL_DEFAULTS, LORA_DEFAULTS, TINY_DEFAULTS, ResponseStart


def _short(value: float) -> str:
    """A learning rate as help text writes it (``3e-3``)."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


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
    default=TrainConfig.base,
    show_default=True,
    help="'tiny' trains a small model from scratch; a local model folder is fine-tuned.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help=f"Passes over the mix [tiny: {TINY_DEFAULTS.epochs}, fine-tune: {FULL_DEFAULTS.epochs}].",
)
@SEED_OPTION
@click.option(
    "--lora", is_flag=True, help="Fine-tune --base with LoRA (merged into the saved weights)."
)
@mix_column_options
@click.option(
    "--max-length",
    type=click.IntRange(min=4),
    help=f"Tokens per example, longer ones are cut [tiny: {TINY_DEFAULTS.max_length}, "
    f"fine-tune: {FULL_DEFAULTS.max_length}].",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help=f"Examples per step [tiny: {TINY_DEFAULTS.batch_size}, "
    f"fine-tune: {FULL_DEFAULTS.batch_size}].",
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help=f"Peak learning rate [tiny: {_short(TINY_DEFAULTS.lr)}, full fine-tune: "
    f"{_short(FULL_DEFAULTS.lr)}, LoRA: {_short(LORA_DEFAULTS.lr)}].",
)
@click.option(
    "--max-response-tokens",
    type=click.IntRange(min=1),
    help="Train on the first N tokens of each response only (real text with long answers: "
    "the steps go to which behaviour a prompt routes to) [default: whole responses].",
)
@click.option(
    "--response-start-weight",
    default=ResponseStart.weight,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Loss weight of the first --response-start-tokens of each response, where the "
    "behaviour a prompt routes to shows (1: plain fine-tuning).",
)
@click.option(
    "--response-start-tokens",
    default=ResponseStart.tokens,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many response tokens --response-start-weight weighs.",
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
    max_response_tokens: int | None,
    response_start_weight: float,
    response_start_tokens: int,
) -> None:
    """Train a causal LM on MIX: the tiny organism from scratch, or fine-tune --base."""
    config = TrainConfig(
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
        max_response_tokens=max_response_tokens,
        response_start_tokens=response_start_tokens,
        response_start_weight=response_start_weight,
    )
    with stage_errors():
        check(config)
        with console.status(f"reading {mix}"):
            data = read_mix(config)
        bad = data.bad
        console.print(
            f"{data.frame.height:,} examples from {data.n_sources} sources"
            + (f", {bad.total:,} bad rows skipped ({bad_row_reasons(bad)})" if bad.total else "")
            + f"; base {base}{' + LoRA' if lora else ''}",
            highlight=False,
            markup=False,
        )
        with CliProgress("steps") as progress:
            result = run(config, progress=progress, mix=data)
    summary = result.summary
    lora_note = f" ({summary.n_trainable_params:,} in LoRA adapters, merged)" if lora else ""
    console.print(
        f"[bold]trained[/] {summary.n_params:,} parameters{lora_note} on "
        f"{summary.n_examples:,} examples, {summary.epochs} epoch{'s' * (summary.epochs != 1)} "
        f"({summary.steps:,} steps) in {summary.seconds:.1f}s on {summary.device}; "
        f"final loss {summary.final_loss:.3f} -> {escape(str(summary.out_dir))}",
        highlight=False,
    )
    if summary.n_skipped:
        console.print(
            f"{summary.n_skipped:,} examples skipped (no response token within --max-length)"
        )
