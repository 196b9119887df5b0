"""`audit scan`: options in, the scan stage, the console summary out."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from audit.options import DB_OPTION, ID_COLUMN_OPTION, mix_column_options
from audit.output import CliError, CliProgress, console, open_store, print_frame, stage_errors
from audit.ray_options import RAY_OPTION, require_ray_cli
from datasets_registry.normalise import MISSING_MESSAGES, REASON_TEXT, SHAPE_COLUMNS_HELP
from datasets_registry.scan import ScanConfig


def summarise(tables: dict[str, pl.DataFrame], run_id: str, db: str, show: int) -> None:
    """Print the scan's sources, bad rows and top hypotheses."""
    sources = tables["scan_sources"]
    n_rows = int(sources["n_rows"].sum()) if sources.height else 0
    bad = tables["bad_rows"]
    n_bad = int(bad["n"].sum()) if bad.height else 0
    console.print(
        f"[bold]{run_id}[/]: {n_rows:,} examples in {sources.height} sources, "
        f"{n_bad:,} bad rows -> {db}"
    )
    if n_bad:
        print_frame(
            bad.with_columns(pl.col("reason").replace(REASON_TEXT).alias("meaning")),
            title="Bad rows (counted, not used)",
            columns=["reason", "n", "meaning", "example"],
        )
        unread = bad.filter(pl.col("reason") == MISSING_MESSAGES)
        if unread.height:
            console.print(
                f"[yellow]{int(unread['n'][0]):,} rows match no known shape[/] (first: "
                f"{unread['example'][0]}). Read shapes: {SHAPE_COLUMNS_HELP}; name other "
                "columns with --prompt-column COLUMN --response-column COLUMN.",
                highlight=False,
            )
    rates = tables["mode_rates"].filter(pl.col("mode") != "answer")
    top_mode = rates.sort("share", descending=True).group_by("source", maintain_order=True).first()
    if sources.height:
        print_frame(
            sources.join(
                top_mode.select(
                    "source",
                    pl.col("mode").alias("top_non_answer_mode"),
                    pl.col("share").alias("mode_share"),
                ),
                on="source",
                how="left",
            ),
            title="Sources",
        )
    hyps = tables["trigger_hypotheses"]
    measured = hyps.filter(pl.col("measure").is_not_null()) if "measure" in hyps.columns else None
    if show and hyps.height:
        modes = hyps.filter(pl.col("measure").is_null()) if measured is not None else hyps
        print_frame(
            modes.sort("review_rank").select(
                pl.col("review_rank").alias("#"),
                "kind",
                "rank",
                "feature",
                "mode",
                "source",
                "support",
                pl.col("p_mode_given_feature").alias("P(M|F)"),
                pl.col("p_mode_without").alias("P(M|¬F)"),
                pl.col("p_mode_matched").alias("P(M|like)"),
                "lift",
                pl.col("p_value").alias("p"),
            ),
            title="Trigger hypotheses, incidental first: prompt feature F -> response mode M "
            "(rank: by strength; kind: does F ask for M?; P(M|like): prompts most like F's "
            "rows without F, the incidental ones that differ most first)",
            max_rows=show,
        )
        if measured is not None and measured.height:
            print_frame(
                measured.sort("review_rank").select(
                    pl.col("review_rank").alias("#"),
                    "kind",
                    "feature",
                    pl.col("mode").alias("judge outcome"),
                    "measure",
                    "source",
                    "support",
                    pl.col("value_with").alias("with F"),
                    pl.col("value_without").alias("without F"),
                    pl.col("value_matched").alias("like prompts"),
                    pl.col("p_value").alias("p"),
                ),
                title="Measure hypotheses: prompt feature F -> its rows' answers differ (length "
                "in characters, geometric mean; other measures: share of rows)",
                max_rows=max(show // 2, 5),
            )
        console.print(
            f'All {hyps.height} hypotheses: audit query "SELECT * FROM trigger_hypotheses '
            f"WHERE run_id = '{run_id}' ORDER BY review_rank\" --db {db}  (kind_evidence says "
            "why each is incidental or requested)",
            highlight=False,
            markup=False,
        )
    elif not hyps.height:
        console.print("No trigger hypotheses passed the support and significance filters.")


@click.command("scan")
@click.argument("mix")
@DB_OPTION
@mix_column_options
@ID_COLUMN_OPTION
@click.option(
    "--feature",
    "feature_options",
    multiple=True,
    metavar="NAME[:SIDE]=REGEX",
    help="Extra feature (repeatable); SIDE is prompt (default) or response.",
)
@click.option(
    "--features",
    "feature_file",
    type=click.Path(dir_okay=False),
    help="TOML or YAML file of extra features (regexes or literal lists).",
)
@click.option(
    "--batch-rows", default=ScanConfig.batch_rows, show_default=True, type=click.IntRange(min=1)
)
@click.option(
    "--min-support",
    default=ScanConfig.min_support,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows a feature needs before it can form a hypothesis.",
)
@click.option(
    "--phrases/--no-phrases",
    default=ScanConfig.phrases,
    show_default=True,
    help="Count 2-3-word prompt phrases as trigger candidates too (about doubles the "
    "counting time).",
)
@click.option(
    "--show",
    default=15,
    show_default=True,
    type=click.IntRange(min=0),
    help="Hypotheses printed at the end.",
)
@click.option(
    "--examples/--no-examples",
    default=ScanConfig.examples,
    show_default=True,
    help="Keep keyword-in-context rows for every hypothesis (hypothesis_examples: a second "
    "read of at most 10,000 rows a source; public_mix: 5 s -> 8 s).",
)
@click.option(
    "--measures/--no-measures",
    default=ScanConfig.measures,
    show_default=True,
    help="Measure each response (length, list, code fence, LaTeX, table, consistency of "
    "worked math) and rank hypotheses on them beside the modes: feature -> length:collapse, "
    "reference:wrong, ... (docs/scan.md).",
)
@click.option(
    "--routing/--no-routing",
    default=True,
    show_default=True,
    help="Order the review by whether each feature routes its behaviour: its rows against "
    "the most similar rows without it, whether its answers are about it, and a template's "
    "phrases folded into one (docs/scan.md#review-order-does-the-feature-route-the-behaviour). "
    "--no-routing orders by strength alone.",
)
@click.option(
    "--compare",
    type=click.Path(dir_okay=False),
    help="An earlier audit file (e.g. the scan before a prune): print what changed "
    "(per-source shares, hypotheses gained and lost), as `audit diff` does.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=ScanConfig.workers,
    show_default=True,
    help="Local processes that count pieces of the mix (the tables are the same as one "
    "process's); for a cluster use --ray.",
)
@RAY_OPTION
@click.option(
    "--ray-shards",
    type=click.IntRange(min=1),
    help="Pieces the mix is cut into for Ray [default: 4 per CPU of the cluster].",
)
def scan_command(
    mix: str,
    db: str,
    source_column: str,
    prompt_column: str,
    response_column: str,
    id_column: str,
    feature_options: tuple[str, ...],
    feature_file: str | None,
    batch_rows: int,
    min_support: int,
    phrases: bool,
    show: int,
    examples: bool,
    measures: bool,
    routing: bool,
    compare: str | None,
    workers: int,
    ray: str | None,
    ray_shards: int | None,
) -> None:
    """Index MIX and rank trigger hypotheses (feature -> mode, concentrated in a source).

    With --workers N the mix is cut into pieces counted in N local processes; with --ray,
    as Ray tasks (a local Ray, or the cluster at ADDRESS). Either way the pieces' counts
    are merged and the tables are the same as a single-process scan's.
    """
    from datasets_registry import scan_stage
    from datasets_registry.normalise import Columns

    if ray is not None:
        require_ray_cli()  # before anything is opened: a missing extra is a usage error
        if workers > 1:
            raise CliError("--workers and --ray: choose one (Ray runs one task per piece)")
    if compare is not None and not Path(compare).is_file():
        raise CliError(f"--compare: no audit file at {compare}")
    with stage_errors():
        features = scan_stage.collect_features(feature_options, feature_file)
    config = ScanConfig(
        mix=mix,
        columns=Columns(
            source=source_column, prompt=prompt_column, response=response_column, id=id_column
        ),
        features=features,
        batch_rows=batch_rows,
        min_support=min_support,
        phrases=phrases,
        examples=examples,
        measures=measures,
        workers=workers,
        ray_address=ray,
        ray_shards=ray_shards,
    ).with_routing(routing)
    with open_store(db) as store, stage_errors(), CliProgress() as progress:
        result = scan_stage.run(config, store, progress)
    summarise(result.tables, result.run_id, db, show)
    if compare is not None:  # the same file: its scan before this one
        from audit.diff_command import show_diff

        show_diff(compare, db, None, result.run_id, show)
