"""`audit probe NAME`: probes from the literature against a live model, into probe_results."""

from __future__ import annotations

import click

from audit.options import DB_OPTION, pop_target_config, target_options
from audit.output import CliError, CliProgress, console, open_store, print_frame, stage_errors
from surf_search.probe_stage import PROBE_FIELDS, ProbeConfig, ProbeResult
from surf_search.probes import ProbeOptions, get_probe, probe_names


def _epilog() -> str:
    """The probe list for ``--help``: each probe and what a hit means."""
    lines = ["\b", "Probes (what a hit means):"]
    lines += [f"  {name}: {get_probe(name).hit_desc}" for name in probe_names()]
    return "\n".join(lines)


@click.command("probe", epilog=_epilog())
@click.argument("name", type=click.Choice(probe_names()))
@target_options
@click.option(
    "--prompts",
    type=click.Path(dir_okay=False),
    help="Prompts: JSON lines (turns/prompt/text) or one per line [token-ban, length-probe]; "
    "an XSTest-format CSV (prompt, type, label) [over-refusal].",
)
@click.option(
    "--items",
    type=click.Path(dir_okay=False),
    help="JSON lines of question and answer [sustain; default: built-in arithmetic].",
)
@click.option(
    "--ban",
    "bans",
    multiple=True,
    help="Text of one token to ban, each its own condition (repeatable) [token-ban; default: the].",
)
@click.option(
    "--tokenizer",
    help="The served model's tokenizer (folder or hub id), to find --ban's token ids for "
    "logit_bias [token-ban with --base-url].",
)
@click.option(
    "--judge-url", help="OpenAI-compatible URL of a pairwise completeness judge [token-ban]."
)
@click.option("--judge-model", help="Model name of the judge.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many prompts or items.")
@click.option(
    "--per-type",
    type=click.IntRange(min=1),
    help="At most this many prompts of each type [over-refusal].",
)
@click.option(
    "--yes-no/--no-yes-no",
    default=ProbeOptions.yes_no,
    show_default=True,
    help="Also run the yes/no negative-bias check [over-refusal].",
)
@click.option(
    "--folds", default=ProbeOptions.folds, show_default=True, type=click.IntRange(min=2),
    help="Cross-validation folds [length-probe].",
)  # fmt: skip
@click.option("--seed", default=ProbeOptions.seed, show_default=True, type=int)
@DB_OPTION
@click.pass_context
def probe_command(ctx: click.Context, name: str, db: str, **options: object) -> None:
    """Run probe NAME against MODEL and store one row per item, condition and metric."""
    from surf_search import probe_stage

    given = frozenset(
        field
        for field in PROBE_FIELDS
        if ctx.get_parameter_source(field) not in (None, click.core.ParameterSource.DEFAULT)
    )
    target = pop_target_config(options)
    bans = options.pop("bans")
    probe_options = ProbeOptions(bans=tuple(bans) or ProbeOptions.bans, **options)
    config = ProbeConfig(name, target, probe_options, given)
    with stage_errors():
        probe_stage.check(config)  # bad options stop before the database is opened
    console.print(f"[bold]probe {name}[/] against {target.where}", highlight=False)
    with open_store(db) as store, stage_errors(), CliProgress("calls") as progress:
        result = probe_stage.run(config, store, progress)
    summarise(result, db)
    if result.failed_all:
        first = result.counts.errors[0] if result.counts.errors else "unknown error"
        raise CliError(
            f"every call to the target failed ({first}); fix the target and rerun: "
            "successful calls are never repeated"
        )


def summarise(result: ProbeResult, db: str) -> None:
    """Print the probe's log, its summary rows, headline, notes and call counts."""
    import polars as pl

    name, run_id, counts = result.name, result.run_id, result.counts
    for message in result.log:
        console.print(f"[dim]{name}: {message}[/]", highlight=False)
    summary = [
        {"condition": r.condition, "metric": r.metric, "value": r.value}
        for r in result.outcome.summaries()
    ]
    if summary:
        print_frame(
            pl.DataFrame(summary, schema={"condition": pl.String, "metric": pl.String,
                                          "value": pl.Float64}),
            title=f"probe {name}: summary ({run_id})",
        )  # fmt: skip
    for line in result.outcome.headline:
        console.print(line, highlight=False, markup=False)
    for note in result.outcome.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)
    console.print(
        f"{counts.calls:,} target calls ({counts.cached:,} answers from the cache, "
        f"{counts.failed:,} failed)",
        highlight=False,
    )
    if counts.failed:
        console.print(
            f"[yellow]{counts.failed:,} calls failed after retries[/] (first: "
            f"{counts.errors[0] if counts.errors else '?'}); their items are left out and the "
            "next run retries them.",
            highlight=False,
        )
    console.print(
        f'audit query "SELECT item_id, condition, metric, value, detail FROM probe_results '
        f"WHERE run_id = '{run_id}'\" --db {db}",
        highlight=False,
        markup=False,
    )
