"""`audit train`: load a mix, train (tiny organism or a fine-tune), show progress and a summary."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from organism.training import TINY, TrainingError, TrainProgress, TrainResult, train_model
from audit.output import CliError, console, progress_bar
from datasets_registry.loading import MixError, open_mix
from datasets_registry.normalise import Columns


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
