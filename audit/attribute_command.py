"""`audit attribute`: link each confirmed finding's mis-routed responses to training examples.

Reads the latest ``search`` run (or ``--search-run``) from the database: every
confirmed finding and its mis-routed (prompt, response) pairs (``search_trials``
rows of that run and attribute that flipped into the finding's mode). Scores
them against the mix with the chosen methods and writes ``attributions`` and
``attributed_examples`` under a new ``attribute`` run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import click

from audit.ray_options import RAY_OPTION, require_ray_cli

METHOD_CHOICES = ("gradient", "saliency", "embedding", "lexical", "all")


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
    default="all",
    show_default=True,
    help="Attribution method (all = gradient, saliency, embedding and lexical).",
)
@click.option(
    "--top-k",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Training examples counted as hits per query.",
)
@click.option(
    "--proj-dim",
    default=512,
    show_default=True,
    type=click.IntRange(min=8),
    help="Dimension of the randomly projected gradients.",
)
@click.option(
    "--db",
    "db",
    default="audit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB file holding every table.",
)
@click.option("--search-run", help="The search run to attribute [default: the latest ok one].")
@click.option(
    "--keep",
    default=500,
    show_default=True,
    type=click.IntRange(min=1),
    help="Attributed examples stored per finding and method.",
)
@click.option(
    "--max-queries",
    default=200,
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
    default=4,
    show_default=True,
    type=click.IntRange(min=0),
    help="Gradient of the loss on the first N response tokens, where a response's behaviour "
    "is chosen (0: the whole response).",
)
@click.option(
    "--precondition", is_flag=True, help="TRAK-style (X^T X + lambda I)^-1 preconditioned scores."
)
@click.option("--embedding-model", help="sentence-transformers model [default: offline MiniLM].")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--source-column",
    default="source",
    show_default=True,
    help="Column naming each row's source chunk (files without it use their stem).",
)
@click.option("--id-column", default="id", show_default=True)
@RAY_OPTION
@click.option(
    "--ray-workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="CPU actors featurising the training set on Ray (a GPU cluster: one per GPU).",
)
def attribute_command(**options: Any) -> None:
    """Attribute each confirmed finding to the training examples and sources that taught it."""
    run_attribute_command(**options)


def run_attribute_command(
    *,
    mix: str,
    model: str,
    method: str,
    top_k: int,
    proj_dim: int,
    db: str,
    search_run: str | None,
    keep: int,
    max_queries: int,
    layers: int | None,
    lora: bool,
    response_tokens: int,
    precondition: bool,
    embedding_model: str | None,
    seed: int,
    source_column: str,
    id_column: str,
    ray: str | None = None,
    ray_workers: int = 2,
) -> str | None:
    from attribution.pipeline import METHODS
    from audit.output import CliError, console
    from datasets_registry.loading import MixError, open_mix
    from datasets_registry.normalise import Columns
    from duckdb_store.store import Store, StoreError

    if ray is not None:
        require_ray_cli()
    if not Path(db).is_file():
        raise CliError(f"no audit database at {db} (run `audit search` first or pass --db)")
    model_path = Path(model)
    if (
        not (model_path / "config.json").is_file()
        and not (model_path / "adapter_config.json").is_file()
    ):
        raise CliError(f"no model folder at {model} (config.json is missing)")
    try:
        store = Store(db)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        search_id = search_run or store.latest_run("search")
        if search_id is None:
            raise CliError(f"no finished `audit search` run in {db} (pass --search-run)")
        known = store.read(
            "SELECT 1 FROM runs WHERE run_id = ? AND command = 'search'", [search_id]
        )
        if known.is_empty():
            raise CliError(f"no search run {search_id!r} in {db}")
        findings = confirmed_findings(store, search_id, max_queries, seed)
        if not findings:
            console.print(
                f"No confirmed finding in search run {search_id}: nothing to attribute.",
                highlight=False,
            )
            return None
        try:
            frame, _ = open_mix(mix, Columns(source=source_column, id=id_column)).frame()
        except MixError as exc:
            raise CliError(str(exc)) from None
        if frame.height == 0:
            raise CliError(f"{mix} has no usable rows")
        return _attribute(
            store,
            frame,
            findings,
            search_id=search_id,
            mix=mix,
            model=model,
            methods=METHODS if method == "all" else (method,),
            top_k=top_k,
            proj_dim=proj_dim,
            db=db,
            keep=keep,
            layers=layers,
            lora=lora,
            response_tokens=response_tokens,
            precondition=precondition,
            embedding_model=embedding_model,
            seed=seed,
            ray=ray,
            ray_workers=ray_workers,
        )
    finally:
        store.close()


def confirmed_findings(
    store: Any, search_id: str, max_queries: int, seed: int
) -> list[tuple[dict[str, Any], list[Any]]]:
    """(finding row, its mis-routed queries) for each confirmed finding of a search run."""
    from attribution.methods import Query

    rows = store.read(
        "SELECT * FROM findings WHERE run_id = ? AND confirmed ORDER BY finding_id", [search_id]
    ).to_dicts()
    out = []
    for finding in rows:
        trials = store.read(
            "SELECT DISTINCT prompt, response, seed FROM search_trials WHERE run_id = ? "
            "AND attribute = ? AND flipped AND behaviour = ? AND response IS NOT NULL "
            "ORDER BY prompt, response, seed",
            [search_id, finding["attribute"], finding["mode"]],
        )
        queries = [Query(p, r, seed or None) for p, r, seed in trials.iter_rows() if p and r]
        if not queries and finding.get("example_prompt") and finding.get("example_response"):
            queries = [Query(finding["example_prompt"], finding["example_response"])]
        if len(queries) > max_queries:
            queries = random.Random(seed).sample(queries, max_queries)
        out.append((finding, queries))
    return out


def _attribute(
    store: Any,
    frame: Any,
    findings: list[tuple[dict[str, Any], list[Any]]],
    *,
    search_id: str,
    mix: str,
    model: str,
    methods: tuple[str, ...],
    top_k: int,
    proj_dim: int,
    db: str,
    keep: int,
    layers: int | None,
    lora: bool,
    response_tokens: int,
    precondition: bool,
    embedding_model: str | None,
    seed: int,
    ray: str | None = None,
    ray_workers: int = 2,
) -> str:
    import polars as pl

    from attribution.embedding import EmbeddingUnavailable
    from attribution.feature_store import store_root
    from attribution.gradients import ParamSelection
    from attribution.pipeline import AttributionConfig, Attributor
    from audit.output import CliError, progress_bar

    config = AttributionConfig(
        methods=methods,
        top_k=top_k,
        keep=keep,
        proj_dim=proj_dim,
        seed=seed,
        selection=ParamSelection(last_layers=layers, lora=lora),
        response_tokens=response_tokens or None,
        precondition=precondition,
        embedding_model=embedding_model,
        ray_address=ray,
        ray_workers=ray_workers,
    )
    args = {
        "mix": mix,
        "model": str(Path(model).resolve()),
        "methods": list(methods),
        "top_k": top_k,
        "proj_dim": proj_dim,
        "search_run": search_id,
        "keep": keep,
        "selection": config.selection.describe(),
        "precondition": precondition,
        "embedding_model": embedding_model,
        "seed": seed,
    }
    if ray is not None:
        args["ray"] = {"address": ray, "workers": ray_workers}
    run_id = store.start_run("attribute", args)
    results = []
    try:
        with store.finishing(run_id):
            with progress_bar("rows") as bar:
                tasks: dict[str, Any] = {}

                def progress(label: str, done: int, total: int) -> None:
                    if label not in tasks:
                        tasks[label] = bar.add_task(label, total=total, status="")
                    bar.update(tasks[label], completed=done, total=total)

                attributor = Attributor.build(
                    frame, model, config, store_root=store_root(db), progress=progress
                )
                if ray is not None:
                    record_ray_shards(store, run_id, args, attributor)
                task = bar.add_task("attribute findings", total=len(findings), status="")
                for finding, queries in findings:
                    bar.update(task, status=f"{finding['attribute']} -> {finding['mode']}")
                    results.append((finding, attributor.attribute(queries, seed=seed)))
                    bar.advance(task)
            sources, examples = [], []
            for finding, by_method in results:
                for name, result in by_method.items():
                    ids = {"finding_id": finding["finding_id"], "method": name}
                    sources.append(
                        result.sources.with_columns(**{k: pl.lit(v) for k, v in ids.items()})
                    )
                    examples.append(
                        result.examples.with_columns(**{k: pl.lit(v) for k, v in ids.items()})
                    )
            with store.transaction():
                store.write("attributions", pl.concat(sources), run_id)
                store.write("attributed_examples", pl.concat(examples), run_id)
            store.finish_run(run_id, "ok")
    except (EmbeddingUnavailable, ValueError, OSError) as exc:
        raise CliError(str(exc).strip().splitlines()[0]) from None
    summarise(results, attributor, run_id, db)
    return run_id


def record_ray_shards(store: Any, run_id: str, args: dict[str, Any], attributor: Any) -> None:
    """Add to the run's args how many feature-store shards were featurised on Ray."""
    import json

    method = attributor.methods.get("gradient")
    args["ray"]["shards"] = getattr(method, "ray_shards", 0)
    store.con.execute(
        "UPDATE runs SET args = ? WHERE run_id = ?", [json.dumps(args, default=str), run_id]
    )


def summarise(
    results: list[tuple[dict[str, Any], dict[str, Any]]], attributor: Any, run_id: str, db: str
) -> None:
    import polars as pl

    from audit.output import console, print_frame

    console.print(
        f"[bold]{run_id}[/]: {len(results)} finding{'s' * (len(results) != 1)} attributed "
        f"against {len(attributor.train):,} examples -> {db}",
        highlight=False,
    )
    for finding, by_method in results:
        n_queries = next(iter(by_method.values())).n_queries if by_method else 0
        rows = [
            result.sources.filter(pl.col("rank") <= 3).with_columns(method=pl.lit(name))
            for name, result in by_method.items()
        ]
        print_frame(
            pl.concat(rows),
            title=(
                f"{finding['finding_id']}: {finding['attribute']} -> {finding['mode']} "
                f"({n_queries} mis-routed response{'s' * (n_queries != 1)}): top sources"
            ),
            columns=[
                "method",
                "rank",
                "source",
                "hits",
                "share",
                "enrichment",
                "ci_low",
                "ci_high",
            ],
        )
    for name, method in attributor.methods.items():
        console.print(f"[dim]{name}: a hit is {method.hit_desc}[/]", highlight=False)
