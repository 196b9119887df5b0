"""`audit classify`: label every response of a file with its behaviour mode.

A thin CLI over :mod:`behaviour_modes.classify_stage`: reads csv, jsonl (or a json
array) or parquet; writes the same rows plus ``mode``, ``mode_confidence`` and
``mode_evidence`` (format from the output's suffix); prints the distribution of
modes, the malformed lines skipped and the judge's calls.
"""

from __future__ import annotations

import click

from audit.output import console, print_frame, stage_errors
from behaviour_modes.classify_stage import ClassifyConfig, ClassifyResult


def print_result(config: ClassifyConfig, result: ClassifyResult) -> None:
    """What `audit classify` prints after labelling."""
    if not result.has_prompts:
        console.print(
            f"[yellow]note:[/] no column {config.prompt_column!r}: labelling without prompts "
            "(code or stories asked for cannot be recognised)"
        )
    title = f"{result.source}: {result.frame.height:,} responses"
    print_frame(result.distribution, title=title)
    if result.bad_lines:
        console.print(f"[yellow]{result.bad_lines} malformed line(s) skipped[/] (not JSON objects)")
    stats = result.judge
    if stats is not None:
        console.print(
            f"judge {result.judge_model}: {stats.calls - stats.failed} of {stats.calls} "
            "calls answered"
        )
        if stats.failed:
            console.print(
                f"[red]{stats.failed} judge call(s) failed[/] (rule labels kept, marked "
                f"'judge failed' in mode_evidence): {stats.errors[0]}"
            )
    if result.output:
        console.print(f"wrote {result.output}")
    else:
        console.print("[dim]add --output FILE to write the rows with their modes[/]")


@click.command("classify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prompt-column", default=ClassifyConfig.prompt_column, show_default=True)
@click.option("--response-column", default=ClassifyConfig.response_column, show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=ClassifyConfig.output,
    help="Write the rows plus mode, mode_confidence, mode_evidence (csv, jsonl, json, parquet).",
)
@click.option(
    "--learned",
    is_flag=True,
    default=ClassifyConfig.learned,
    help="Also run the learned layer (MiniLM token embeddings + logistic regression) where "
    "the rules are unsure.",
)
@click.option(
    "--judge-url",
    default=ClassifyConfig.judge_url,
    help="OpenAI-compatible base URL of an LLM judge (optional).",
)
@click.option(
    "--judge-model", default=ClassifyConfig.judge_model, help="Model name for the LLM judge."
)
def classify_command(
    file: str,
    prompt_column: str,
    response_column: str,
    output: str | None,
    learned: bool,
    judge_url: str | None,
    judge_model: str | None,
) -> None:
    """Label each response in FILE (csv, jsonl, parquet) with its behaviour mode."""
    from behaviour_modes.classify_stage import run

    config = ClassifyConfig(
        file=file,
        prompt_column=prompt_column,
        response_column=response_column,
        output=output,
        learned=learned,
        judge_url=judge_url,
        judge_model=judge_model,
    )
    with stage_errors():  # labelling is one pass: no progress to show
        result = run(config)
    print_result(config, result)
