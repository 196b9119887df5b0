"""`audit attribute`: link each confirmed finding's mis-routed responses to training examples.

The work is :mod:`attribution.attribute_stage`; this module parses the options, opens
the database, shows progress and prints the top sources per finding and method.
"""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from attribution.attribute_stage import (
    METHOD_CHOICES,
    METHODS,
    AttributeConfig,
    AttributeResult,
    check_model,
    run,
)
from attribution.model_loading import PRECISIONS
from audit.options import DB_OPTION, ID_COLUMN_OPTION, SEED_OPTION, SOURCE_COLUMN_OPTION
from audit.output import CliError, CliProgress, console, open_store, print_frame, stage_errors
from audit.ray_options import RAY_OPTION, require_ray_cli

SOURCE_COLUMNS = ["method", "rank", "source", "hits", "share", "enrichment", "ci_low", "ci_high"]


@click.command("attribute")
@click.option("--mix", "mix", required=True, help="The training mix (name, file or folder).")
@click.option(
    "--model",
    "model",
    required=True,
    type=click.Path(),
    help="The trained model folder whose findings are attributed.",
)
@click.option(
    "--method",
    type=click.Choice(METHOD_CHOICES),
    default=AttributeConfig.method,
    show_default=True,
    help=f"Attribution method (all = {', '.join(METHODS[:-1])} and {METHODS[-1]}); the "
    "default has the best recall of planted rows in bench/lds.py.",
)
@click.option(
    "--top-k",
    default=AttributeConfig.top_k,
    show_default=True,
    type=click.IntRange(min=1),
    help="Training examples counted as hits per query.",
)
@click.option(
    "--proj-dim",
    default=AttributeConfig.proj_dim,
    show_default=True,
    type=click.IntRange(min=8),
    help="Bergson's per-module projection: each module's gradient becomes N x N numbers.",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=AttributeConfig.precision,
    show_default=True,
    help="Model weights for gradients (bf16 or fp16 on a GPU).",
)
@DB_OPTION
@click.option("--search-run", help="The search run to attribute [default: the latest ok one].")
@click.option(
    "--keep",
    default=AttributeConfig.keep,
    show_default=True,
    type=click.IntRange(min=1),
    help="Attributed examples stored per finding and method.",
)
@click.option(
    "--score-only",
    is_flag=True,
    help="Rank examples by score alone [default: examples whose response shows the "
    "finding's behaviour first; a response that does not show it cannot have taught it].",
)
@click.option(
    "--max-queries",
    default=AttributeConfig.max_queries,
    show_default=True,
    type=click.IntRange(min=1),
    help="Mis-routed pairs used per finding (a seeded sample when there are more).",
)
@click.option(
    "--layers",
    type=click.IntRange(min=1),
    help="Gradients for the last N layers only [default: all parameters].",
)
@click.option(
    "--lora", is_flag=True, help="Gradients for the LoRA adapters (--model is a PEFT folder)."
)
@click.option(
    "--response-tokens",
    default=AttributeConfig.response_tokens,
    show_default=True,
    type=click.IntRange(min=0),
    help="Gradient of the loss on the first N response tokens, where a response's behaviour "
    "is chosen (0: the whole response).",
)
@click.option(
    "--precondition", is_flag=True, help="TRAK-style (X^T X + lambda I)^-1 preconditioned scores."
)
@click.option("--embedding-model", help="sentence-transformers model [default: offline MiniLM].")
@SEED_OPTION
@SOURCE_COLUMN_OPTION
@ID_COLUMN_OPTION
@RAY_OPTION
@click.option(
    "--ray-workers",
    default=AttributeConfig.ray_workers,
    show_default=True,
    type=click.IntRange(min=1),
    help="CPU actors featurising the training set on Ray (a GPU cluster: one per GPU).",
)
def attribute_command(
    mix: str,
    model: str,
    method: str,
    top_k: int,
    proj_dim: int,
    precision: str,
    db: str,
    search_run: str | None,
    keep: int,
    score_only: bool,
    max_queries: int,
    layers: int | None,
    lora: bool,
    response_tokens: int,
    precondition: bool,
    embedding_model: str | None,
    seed: int,
    source_column: str,
    id_column: str,
    ray: str | None,
    ray_workers: int,
) -> None:
    """Attribute each confirmed finding to the training examples and sources that taught it."""
    config = AttributeConfig(
        mix=mix,
        model=model,
        method=method,
        top_k=top_k,
        proj_dim=proj_dim,
        precision=precision,
        search_run=search_run,
        keep=keep,
        behaviour_first=not score_only,
        max_queries=max_queries,
        layers=layers,
        lora=lora,
        response_tokens=response_tokens,
        precondition=precondition,
        embedding_model=embedding_model,
        seed=seed,
        source_column=source_column,
        id_column=id_column,
        ray=ray,
        ray_workers=ray_workers,
    )
    if ray is not None:
        require_ray_cli()
    if not Path(db).is_file():
        raise CliError(f"no audit database at {db} (run `audit search` first or pass --db)")
    with stage_errors():
        check_model(model)
    with open_store(db) as store, stage_errors(), CliProgress("rows") as progress:
        result = run(config, store, progress)
    if result.run_id is None:
        console.print(
            f"No confirmed finding in search run {result.search_run}: nothing to attribute.",
            highlight=False,
        )
        return
    summarise(result, db, config.behaviour_first)


def summarise(result: AttributeResult, db: str, behaviour_first: bool = True) -> None:
    """The run, then per finding the top three sources of every method, then what a hit is
    and how the stored examples are ordered."""
    n = len(result.findings)
    console.print(
        f"[bold]{result.run_id}[/]: {n} finding{'s' * (n != 1)} attributed "
        f"against {result.n_examples:,} examples -> {db}",
        highlight=False,
    )
    for item in result.findings:
        finding, n_queries = item.finding, item.n_queries
        rows = [
            method_result.sources.filter(pl.col("rank") <= 3).with_columns(method=pl.lit(name))
            for name, method_result in item.by_method.items()
        ]
        print_frame(
            pl.concat(rows),
            title=(
                f"{finding.finding_id}: {finding.attribute} -> {finding.mode} "
                f"({n_queries} mis-routed response{'s' * (n_queries != 1)}): top sources"
            ),
            columns=SOURCE_COLUMNS,
        )
    for name, hit_desc in result.hit_desc.items():
        console.print(f"[dim]{name}: a hit is {hit_desc}[/]", highlight=False)
    order = (
        "examples whose own response shows the finding's behaviour first, by score within "
        "each group (--score-only: by score alone)"
        if behaviour_first
        else "by score alone"
    )
    console.print(f"[dim]attributed_examples are ranked {order}[/]", highlight=False)
