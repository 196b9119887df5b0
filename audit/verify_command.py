"""`audit verify`: does a fix remove the confirmed triggers without breaking plain answers?"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from audit.options import DB_OPTION
from audit.output import CliProgress, console, open_store, print_frame, stage_errors

if TYPE_CHECKING:
    import polars as pl

from surf_search.verify_stage import DEFAULT_ARM, VerifyConfig, VerifyResult


@click.command("verify")
@click.option(
    "--before",
    "before_model",
    required=True,
    help="The model the search ran on (folder or hub id).",
)
@click.option(
    "--after",
    "after_models",
    required=True,
    multiple=True,
    help="The model after the fix (e.g. retrained on the pruned mix); repeat it for models "
    "retrained with different seeds: rates are then reported as mean and 95% interval.",
)
@click.option(
    "--arm",
    default=DEFAULT_ARM,
    show_default=True,
    help="A name for the models after (e.g. pruned, random-removal), stored with each row.",
)
@click.option("--search-run", help="Verify this search run's findings [default: the latest].")
@click.option(
    "--seeds",
    "seeds_file",
    type=click.Path(dir_okay=False),
    help="Seed prompts [default: the search run's, or the 230 built-in].",
)
@click.option(
    "--max-seeds",
    default=VerifyConfig.max_seeds,
    show_default=True,
    type=click.IntRange(min=5),
    help="Seeds per finding, taken from each kind in turn (the clean answer rate counts every "
    "seed).",
)
@click.option(
    "--batch-size", default=VerifyConfig.batch_size, show_default=True, type=click.IntRange(min=1)
)
@DB_OPTION
def verify_command(
    before_model: str,
    after_models: tuple[str, ...],
    arm: str,
    search_run: str | None,
    seeds_file: str | None,
    max_seeds: int,
    batch_size: int,
    db: str,
) -> None:
    """Re-run every confirmed finding's A/B on the model before and after a fix."""
    from surf_search import verify_stage

    config = VerifyConfig(
        before_model=before_model,
        after_model=after_models,
        search_run=search_run,
        seeds_file=seeds_file,
        max_seeds=max_seeds,
        batch_size=batch_size,
        arm=arm,
    )
    with open_store(db) as store, stage_errors(), CliProgress("calls") as progress:
        result = verify_stage.run(config, store, progress)
    summarise(result)


FEW_SEEDS = 10  # fewer held-out seeds than this cannot show a drop at the usual levels


def summarise(result: VerifyResult) -> None:
    """Print each confirmed trigger's rate before and after, and the plain-answer rates
    (over several models after: their mean and 95% interval)."""
    import polars as pl

    for finding_id, why in result.skipped.items():
        console.print(f"[yellow]{finding_id} not verified[/]: {why}", highlight=False)
    if result.run_id is None:
        if not result.skipped:
            console.print(f"{result.search_run} confirmed no trigger: nothing to verify.")
        return
    frame = result.verifications
    n_models = int(frame["n_after_models"].max())
    console.print(
        f"clean answer: the share of {int(frame['n_clean'].min()):,} seeds of every kind, "
        "unmutated, answered plainly (the same for every finding)",
        style="dim",
        highlight=False,
    )
    console.print(
        "trigger rates on seeds the search never asked with the attribute (held out), each "
        "also asked as it is (base); p: one-sided paired sign test (McNemar at one sample) "
        "that the per-seed effect fell; q: Benjamini-Hochberg across the findings",
        style="dim",
        highlight=False,
    )
    if n_models > 1:
        arm = frame["arm"][0]
        print_frame(
            frame.group_by("finding_id", maintain_order=True).first().select(
                "attribute", "mode", "n", "rate_before",
                _interval("rate_after").alias(f"rate after ({arm}: mean [95%])"),
                (1 - pl.col("rate_after_mean") / pl.col("rate_before")).alias("relative_drop"),
                "clean_answer_before",
                _interval("clean_answer_after").alias("clean answer after"),
                (pl.col("clean_answer_after_mean") - pl.col("clean_answer_before"))
                .alias("clean_change"),
            ),
            title=f"{result.run_id}: confirmed triggers before and after, over {n_models} "
            "retrained models",
        )  # fmt: skip
        return
    print_frame(
        result.verifications.with_columns(
            (1 - pl.col("rate_after") / pl.col("rate_before")).alias("drop"),
            (pl.col("clean_answer_after") - pl.col("clean_answer_before")).alias("clean_change"),
        ).select("attribute", "mode", "n", pl.col("rate_base_before").alias("base"),
                 pl.col("rate_before").alias("before"), pl.col("rate_base_after").alias(
                 "base after"), pl.col("rate_after").alias("after"), "drop",
                 pl.col("q_value").alias("q"), pl.col("clean_answer_before").alias("clean"),
                 pl.col("clean_answer_after").alias("clean after")),
        title=f"{result.run_id}: confirmed triggers before and after",
    )  # fmt: skip
    console.print(
        "n: held-out seeds the attribute fits (the search's own are left out: give --seeds "
        "with fresh prompts for more); base: the same seeds unmutated",
        style="dim",
        highlight=False,
    )
    few = frame.filter(pl.col("n") < FEW_SEEDS)["attribute"].to_list()
    if few:
        console.print(
            f"[yellow]only a few held-out seeds for {', '.join(few)}[/]: the search asked "
            "most seeds these attributes fit; verify them with --seeds FILE of fresh prompts",
            highlight=False,
        )


def _interval(column: str) -> pl.Expr:
    """``mean [low, high]`` of a verification column's arm statistics, as text."""
    import polars as pl

    return pl.format(
        "{} [{}, {}]",
        *(pl.col(f"{column}_{part}").round(3) for part in ("mean", "low", "high")),
    )
