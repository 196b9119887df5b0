"""`audit scan`: progress, store writes and the console summary around the scan stage."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING

import click
import polars as pl

from audit.options import DB_OPTION
from audit.output import CliError, console, print_frame, progress_bar
from audit.ray_options import RAY_OPTION, require_ray_cli
from datasets_registry.features import Feature, catalog, parse_feature_option
from datasets_registry.loading import Batch, Mix, MixError, open_mix
from datasets_registry.normalise import REASON_TEXT, Columns
from datasets_registry.scan import SCAN_TABLES, ScanConfig, scan_mix, scan_tables
from datasets_registry.stats import ScanStats

if TYPE_CHECKING:
    from datasets_registry.pieces import Piece
from datasets_registry.user_features import FeatureFileError, load_feature_file
from duckdb_store.store import Store, StoreError


def collect_features(options: Sequence[str], feature_file: str | None) -> list[Feature]:
    features = catalog()
    try:
        extra = [parse_feature_option(o) for o in options]
        if feature_file:
            extra += load_feature_file(feature_file)
    except (ValueError, FeatureFileError) as exc:
        raise CliError(str(exc)) from None
    keys = {f.key for f in features}
    for f in extra:
        if f.key in keys:
            raise CliError(f"feature {f.name!r} is defined twice (or shadows a built-in)")
        keys.add(f.key)
    return features + extra


def run_scan_command(
    *,
    mix: str,
    db: str,
    source_column: str,
    prompt_column: str,
    response_column: str,
    id_column: str,
    feature_options: Sequence[str],
    feature_file: str | None,
    batch_rows: int,
    min_support: int,
    show: int,
    ray_address: str | None = None,
    ray_shards: int | None = None,
) -> str:
    if ray_address is not None:
        require_ray_cli()  # before anything is opened: a missing extra is a usage error
    features = collect_features(feature_options, feature_file)
    columns = Columns(
        source=source_column, prompt=prompt_column, response=response_column, id=id_column
    )
    try:
        opened = open_mix(mix, columns)
    except MixError as exc:
        raise CliError(str(exc)) from None
    config = ScanConfig(features=features, batch_rows=batch_rows, min_support=min_support)
    try:
        store = Store(db)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    args = {
        "mix": mix,
        "source_column": source_column,
        "prompt_column": prompt_column,
        "response_column": response_column,
        "features": [f.key for f in features],
    }
    with ExitStack() as stack:
        stack.callback(store.close)  # last out: after a Ray this command started is shut down
        pieces = None
        if ray_address is not None:
            pieces = _start_ray(stack, opened, ray_address, ray_shards)
            args["ray"] = {"address": ray_address, "shards": len(pieces)}
        run_id = store.start_run("scan", args)
        try:
            with store.finishing(run_id):
                stats = _count(opened, config, mix, pieces)
                tables = scan_tables(stats, config)
                with store.transaction():
                    for name in SCAN_TABLES:
                        store.write(name, tables[name], run_id)
                store.finish_run(run_id, "ok")
        except MixError as exc:
            raise CliError(str(exc)) from None
    summarise(tables, run_id, db, show)
    return run_id


def _count(opened: Mix, config: ScanConfig, mix: str, pieces: list[Piece] | None) -> ScanStats:
    """The merged statistics: one pass here, or one Ray task per piece."""
    rows_done = 0
    with progress_bar(opened.unit) as bar:
        if pieces is not None:
            from datasets_registry.ray_scan import scan_pieces_ray

            task = bar.add_task(
                f"scan {mix} on Ray", total=opened.total or None, status=f"0/{len(pieces)} pieces"
            )
            finished = 0

            def piece_done(piece: Piece) -> None:
                nonlocal finished
                finished += 1
                bar.update(task, advance=piece.size, status=f"{finished}/{len(pieces)} pieces")

            return scan_pieces_ray(pieces, opened.columns, config, piece_done).stats
        task = bar.add_task(f"scan {mix}", total=opened.total or None, status="")

        def advance(batch: Batch) -> None:
            nonlocal rows_done
            rows_done += batch.frame.height
            bar.update(
                task,
                advance=batch.progress,
                status=f"{rows_done:,} rows, {batch.bad.total:,} bad",
            )

        return scan_mix(opened, config, advance)


def _start_ray(stack: ExitStack, opened: Mix, address: str, shards: int | None) -> list[Piece]:
    """Start (or join) Ray for the rest of the command and cut the mix into pieces."""
    from datasets_registry.pieces import plan_pieces
    from datasets_registry.ray_cluster import cluster_cpus, ray_session

    with console.status(f"starting Ray ({address})"):
        ray = stack.enter_context(ray_session(address))
    try:
        return plan_pieces(opened, shards or 4 * cluster_cpus(ray))
    except MixError as exc:
        raise CliError(str(exc)) from None


def summarise(tables: dict[str, pl.DataFrame], run_id: str, db: str, show: int) -> None:
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
    rates = tables["mode_rates"].filter(pl.col("mode") != "answer")
    if rates.height:
        top_mode = (
            rates.sort("share", descending=True).group_by("source", maintain_order=True).first()
        )
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
    if show and hyps.height:
        print_frame(
            hyps.select(
                "rank",
                "feature",
                "mode",
                "source",
                "support",
                pl.col("p_mode_given_feature").alias("P(M|F)"),
                pl.col("p_mode_without").alias("P(M|¬F)"),
                "lift",
                pl.col("p_value").alias("p"),
            ),
            title="Top trigger hypotheses: prompt feature F -> response mode M",
            max_rows=show,
        )
        console.print(
            f'All {hyps.height} hypotheses: audit query "SELECT * FROM trigger_hypotheses '
            f"WHERE run_id = '{run_id}' ORDER BY rank\" --db {db}",
            highlight=False,
            markup=False,
        )
    elif not hyps.height:
        console.print("No trigger hypotheses passed the support and significance filters.")


@click.command("scan")
@click.argument("mix")
@DB_OPTION
@click.option(
    "--source-column",
    default="source",
    show_default=True,
    help="Column naming each row's source chunk (files without it use their stem).",
)
@click.option("--prompt-column", default="prompt", show_default=True)
@click.option("--response-column", default="response", show_default=True)
@click.option("--id-column", default="id", show_default=True)
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
@click.option("--batch-rows", default=50_000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--min-support",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows a feature needs before it can form a hypothesis.",
)
@click.option(
    "--show",
    default=15,
    show_default=True,
    type=click.IntRange(min=0),
    help="Hypotheses printed at the end.",
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
    show: int,
    ray: str | None,
    ray_shards: int | None,
) -> None:
    """Index MIX and rank trigger hypotheses (feature -> mode, concentrated in a source).

    With --ray the mix is cut into pieces scanned as Ray tasks (a local Ray, or the cluster
    at ADDRESS) and merged: the tables are the same as a single-process scan's.
    """
    from audit.scan_command import run_scan_command

    run_scan_command(
        mix=mix,
        db=db,
        source_column=source_column,
        prompt_column=prompt_column,
        response_column=response_column,
        id_column=id_column,
        feature_options=feature_options,
        feature_file=feature_file,
        batch_rows=batch_rows,
        min_support=min_support,
        show=show,
        ray_address=ray,
        ray_shards=ray_shards,
    )
