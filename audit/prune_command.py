"""`audit prune`: recommendations per finding, and the pruned mix with a manifest of changes.

The work is :mod:`attribution.prune_stage`; this module parses the options, opens the
database, shows progress and prints the recommendations and what changed.
"""

from __future__ import annotations

import click
import polars as pl

from attribution.prune import EDIT_ACTIONS, PrunePolicy
from attribution.prune_stage import (
    METHOD_PREFERENCE,
    RECOMMENDATION_COLUMNS,
    PruneConfig,
    PruneResult,
    check,
    run,
)
from audit.options import DB_OPTION, SEED_OPTION, SOURCE_COLUMN_OPTION
from audit.output import CliProgress, console, open_store, print_frame, stage_errors


@click.command("prune")
@click.option("--mix", required=True, help="The mix the model was trained on (as for scan).")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Pruned mix to write (.jsonl or .parquet); a .manifest.json goes beside it.",
)
@click.option(
    "--max-fraction",
    default=PrunePolicy.max_fraction,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Most of the mix that may be removed, over all findings.",
)
@click.option(
    "--counter-ratio",
    default=PrunePolicy.counter_ratio,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Counter-examples per kept example that still pairs the attribute with the behaviour.",
)
@click.option(
    "--min-counter",
    default=PrunePolicy.min_counter,
    type=click.IntRange(min=0),
    help="Counter-examples per finding at least (times --counter-ratio), even when every "
    f"carrying example is removed [default: {PrunePolicy.min_counter}].",
)
@click.option(
    "--max-added-fraction",
    default=PrunePolicy.max_added_fraction,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Most counter-examples added, as a share of the mix.",
)
@click.option(
    "--method",
    type=click.Choice(METHOD_PREFERENCE),
    help=f"Whose ranking picks the examples [default: the first of "
    f"{', '.join(METHOD_PREFERENCE)} that the attribute run has].",
)
@click.option("--attribute-run", help="Use this attribute run [default: the latest].")
@SOURCE_COLUMN_OPTION
@SEED_OPTION
@DB_OPTION
def prune_command(
    mix: str,
    out: str,
    max_fraction: float,
    counter_ratio: float,
    min_counter: int,
    max_added_fraction: float,
    method: str | None,
    attribute_run: str | None,
    source_column: str,
    seed: int,
    db: str,
) -> None:
    """Recommend removals, down-weighting and counter-examples; write the pruned mix."""
    policy = PrunePolicy(
        max_fraction=max_fraction,
        counter_ratio=counter_ratio,
        min_counter=min_counter,
        max_added_fraction=max_added_fraction,
        seed=seed,
    )
    config = PruneConfig(
        mix=mix,
        out=out,
        method=method,
        attribute_run=attribute_run,
        source_column=source_column,
        policy=policy,
    )
    with stage_errors():
        check(config)
    with open_store(db) as store, stage_errors(), CliProgress("rows") as progress:
        result = run(config, store, progress)
    if result.run_id is None:
        console.print(f"{result.attribute_run} attributed no confirmed finding: nothing to prune.")
        return
    summarise(result, config)


def summarise(result: PruneResult, config: PruneConfig) -> None:
    """The recommendations, the size of the edit (removed, added, total), where it went."""
    recommendations = result.recommendations
    is_edit = pl.col("action").is_in(EDIT_ACTIONS)
    print_frame(
        recommendations.filter(~is_edit).select(RECOMMENDATION_COLUMNS),
        title=f"{result.run_id}: recommendations ({result.method} attributions)",
    )
    edit = recommendations.filter(is_edit).select(
        pl.col("action").str.strip_prefix("total_").alias("edit"),
        pl.col("n_examples").alias("rows"),
        (pl.col("fraction") * 100).round(2).alias("% of mix"),
        pl.col("detail").str.split("; ").list.last().alias("limit"),
    )
    print_frame(edit, title=f"the edit, as a share of the {result.rows_before:,}-row mix")
    console.print(
        f"removed {result.n_removed:,}, added {result.n_added:,} counter-examples -> "
        f"{config.out_path} ({result.rows_after:,} rows); what changed: {config.manifest_path}",
        highlight=False,
        markup=False,
    )
