"""The `audit` command. Heavy libraries are imported inside the commands that need them."""

from __future__ import annotations

import click

from audit.output import FORMATS, CliError, console, emit_frame
from audit.ray_options import RAY_OPTION

DB_OPTION = click.option(
    "--db",
    "db",
    default="audit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB file holding every table.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chunky-audit")
def main() -> None:
    """Audit post-training mixes for chunky failures (feature -> behaviour-mode triggers)."""


FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output as a table, CSV or JSON.",
)


@main.command("mixes")
@FORMAT_OPTION
def mixes_command(fmt: str) -> None:
    """List the named mixes `audit scan` understands."""
    import polars as pl

    from datasets_registry.registry import mixes

    rows = [
        {
            "name": m.name,
            "source": m.origin,
            "rows": m.rows,
            "sources": m.n_sources,
            "license": m.license,
            "description": m.description,
        }
        for m in mixes()
    ]
    emit_frame(pl.DataFrame(rows), fmt, title="Named mixes")
    if fmt == "table":
        console.print(
            "A MIX may also be a local file or folder (jsonl, json, parquet, csv) "
            "or a Hugging Face dataset id."
        )


@main.command("scan")
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


@main.command("query")
@click.argument("sql")
@DB_OPTION
@FORMAT_OPTION
def query_command(sql: str, db: str, fmt: str) -> None:
    """Run read-only SQL against the audit database."""
    from duckdb_store.store import ReadOnlyQueryError, query_readonly

    try:
        frame = query_readonly(db, sql)
    except ReadOnlyQueryError as exc:
        raise CliError(str(exc)) from None
    emit_frame(frame, fmt)


@main.command("demo")
@click.option(
    "--out",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the planted mix, the organism, the database and the report.",
)
@click.option(
    "--size",
    default=6000,
    show_default=True,
    type=click.IntRange(min=200),
    help="Conversations in the planted mix.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--epochs",
    default=None,
    type=click.IntRange(min=1),
    help="Organism training epochs (default: the trainer's).",
)
def demo_command(out: str, size: int, seed: int, epochs: int | None) -> None:
    """Run the whole audit on the planted organism (rerunning reuses what is done)."""
    from pathlib import Path

    from audit.demo import DemoPlan, run_demo

    run_demo(DemoPlan(Path(out), size=size, seed=seed, epochs=epochs))


@main.command("train")
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
    default="tiny",
    show_default=True,
    help="'tiny' trains a small model from scratch; a local model folder is fine-tuned.",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), help="Passes over the mix [tiny: 4, fine-tune: 2]."
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--lora", is_flag=True, help="Fine-tune --base with LoRA (merged into the saved weights)."
)
@click.option(
    "--source-column",
    default="source",
    show_default=True,
    help="Column naming each row's source chunk (files without it use their stem).",
)
@click.option("--prompt-column", default="prompt", show_default=True)
@click.option("--response-column", default="response", show_default=True)
@click.option(
    "--max-length",
    type=click.IntRange(min=4),
    help="Tokens per example, longer ones are cut [tiny: 256, fine-tune: 1024].",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), help="Examples per step [tiny: 32, fine-tune: 8]."
)
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help="Peak learning rate [tiny: 3e-3, full fine-tune: 5e-5, LoRA: 2e-4].",
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
) -> None:
    """Train a causal LM on MIX: the tiny organism from scratch, or fine-tune --base."""
    from audit.train_command import run_train_command

    run_train_command(
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
    )


@main.command("classify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prompt-column", default="prompt", show_default=True)
@click.option("--response-column", default="response", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the rows plus mode, mode_confidence, mode_evidence (csv, jsonl, json, parquet).",
)
@click.option(
    "--learned",
    is_flag=True,
    help="Also run the learned layer (MiniLM + logistic regression) where the rules are unsure.",
)
@click.option("--judge-url", help="OpenAI-compatible base URL of an LLM judge (optional).")
@click.option("--judge-model", help="Model name for the LLM judge.")
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
    from audit.classify_command import run_classify_command

    run_classify_command(
        file=file,
        prompt_column=prompt_column,
        response_column=response_column,
        output=output,
        learned=learned,
        judge_url=judge_url,
        judge_model=judge_model,
    )


from audit.report_command import report_command  # noqa: E402

main.add_command(report_command)


from audit.search_command import search_command  # noqa: E402

main.add_command(search_command)

from audit.attribute_command import attribute_command  # noqa: E402

main.add_command(attribute_command)

from audit.prune_command import prune_command  # noqa: E402
from audit.verify_command import verify_command  # noqa: E402

main.add_command(prune_command)
main.add_command(verify_command)

from audit.probe_command import probe_command  # noqa: E402

main.add_command(probe_command)
