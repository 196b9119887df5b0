"""`audit prune`: recommendations per finding, and the pruned mix with a manifest of changes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from audit.output import CliError, console, print_frame

METHOD_PREFERENCE = ("saliency", "gradient", "embedding", "lexical")


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
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Most of the mix that may be removed, over all findings.",
)
@click.option(
    "--counter-ratio",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Counter-examples per kept example that still pairs the attribute with the behaviour.",
)
@click.option(
    "--min-counter",
    type=click.IntRange(min=0),
    help="Counter-examples per finding at least (times --counter-ratio), even when every "
    "carrying example is removed [default: 24].",
)
@click.option(
    "--max-added-fraction",
    default=0.5,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Most counter-examples added, as a share of the mix.",
)
@click.option(
    "--method",
    type=click.Choice(METHOD_PREFERENCE),
    help="Whose ranking picks the examples [default: the first of saliency, gradient, "
    "embedding, lexical that the attribute run has].",
)
@click.option("--attribute-run", help="Use this attribute run [default: the latest].")
@click.option("--source-column", default="source", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--db", default="audit.duckdb", show_default=True, type=click.Path(dir_okay=False))
def prune_command(**options) -> None:  # noqa: ANN003 - click passes options by name
    """Recommend removals, down-weighting and counter-examples; write the pruned mix."""
    run_prune_command(**options)


def run_prune_command(
    *,
    mix: str,
    out: str,
    max_fraction: float,
    counter_ratio: float,
    max_added_fraction: float,
    method: str | None,
    attribute_run: str | None,
    source_column: str,
    seed: int,
    db: str,
    min_counter: int | None = None,
) -> str:
    import polars as pl

    from attribution.prune import PruneConfig, plan_prune, pruned_frame, write_mix
    from datasets_registry.loading import MixError, open_mix
    from datasets_registry.normalise import Columns
    from duckdb_store.store import Store, StoreError

    out_path = Path(out)
    if out_path.suffix not in (".jsonl", ".ndjson", ".parquet"):
        raise CliError(
            f"--out must end in .jsonl or .parquet, not {out_path.suffix or 'nothing'!r}"
        )
    try:
        store = Store(db)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        attribute_run = attribute_run or store.latest_run("attribute")
        if attribute_run is None:
            raise CliError("no finished attribute run in this database (run `audit attribute`)")
        methods = set(
            store.read(
                "SELECT DISTINCT method FROM attributed_examples WHERE run_id = ?", [attribute_run]
            )["method"]
        )
        method = method or next((m for m in METHOD_PREFERENCE if m in methods), None)
        if method is None or method not in methods:
            raise CliError(f"{attribute_run} has no {method or 'usable'} attributions")
        findings = _findings(store, attribute_run, method)
        if not findings:
            console.print(f"{attribute_run} attributed no confirmed finding: nothing to prune.")
            return ""
        try:
            frame, bad = open_mix(mix, Columns(source=source_column)).frame()
        except MixError as exc:
            raise CliError(str(exc)) from None
        if min_counter is None:
            min_counter = PruneConfig.min_counter
        config = PruneConfig(
            max_fraction=max_fraction,
            counter_ratio=counter_ratio,
            min_counter=min_counter,
            max_added_fraction=max_added_fraction,
            seed=seed,
        )
        run_id = store.start_run(
            "prune",
            {"mix": mix, "out": out, "attribute_run": attribute_run, "method": method,
             "max_fraction": max_fraction, "counter_ratio": counter_ratio,
             "min_counter": min_counter, "max_added_fraction": max_added_fraction,
             "seed": seed},
        )  # fmt: skip
        with console.status(f"planning the prune of {frame.height:,} examples"):
            plan = plan_prune(frame, findings, config, _surface_forms(store, findings))
            pruned = pruned_frame(frame, plan)
            write_mix(pruned, out_path)
        recommendations = pl.DataFrame(plan.recommendations)
        store.write("recommendations", recommendations, run_id)
        manifest = {
            "run_id": run_id,
            "mix": mix,
            "out": str(out_path),
            "attribute_run": attribute_run,
            "method": method,
            "rows_before": frame.height,
            "rows_after": pruned.height,
            "bad_rows_skipped": bad.total,
            "removed": plan.removed,
            "added": plan.added.select("example_id", "donor").to_dicts()
            if plan.added is not None
            else [],
            "recommendations": plan.recommendations,
        }
        manifest_path = out_path.with_name(out_path.stem + ".manifest.json")
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        store.finish_run(run_id, "ok")
    finally:
        store.close()
    n_removed = len(plan.removed_ids)
    n_added = plan.added.height if plan.added is not None else 0
    print_frame(
        recommendations.select("finding_id", "action", "source", "n_examples", "fraction"),
        title=f"{run_id}: recommendations ({method} attributions)",
    )
    console.print(
        f"removed {n_removed:,} examples ({n_removed / frame.height:.1%} of {frame.height:,}, "
        f"limit {max_fraction:.0%}), added {n_added:,} counter-examples -> {out_path} "
        f"({pruned.height:,} rows); what changed: {manifest_path}",
        highlight=False,
        markup=False,
    )
    return run_id


def _findings(store, attribute_run: str, method: str) -> list:  # noqa: ANN001
    from attribution.prune import PruneFinding

    rows = store.read(
        """
        SELECT f.finding_id, f.attribute, f.mode,
               list(e.example_id ORDER BY e.rank) AS ranked,
               any_value(a.source) AS top_source, any_value(a.enrichment) AS enrichment
        FROM (SELECT DISTINCT finding_id FROM attributed_examples WHERE run_id = $run) r
        JOIN findings f USING (finding_id)
        JOIN attributed_examples e ON e.finding_id = r.finding_id AND e.run_id = $run
             AND e.method = $method
        LEFT JOIN attributions a ON a.finding_id = r.finding_id AND a.run_id = $run
             AND a.method = $method AND a.rank = 1
        WHERE f.confirmed
        GROUP BY ALL ORDER BY f.finding_id
        """,
        {"run": attribute_run, "method": method},
    )
    return [
        PruneFinding(fid, attribute, mode, list(ranked), top, float(enrichment or 0.0))
        for fid, attribute, mode, ranked, top, enrichment in rows.iter_rows()
    ]


def _surface_forms(store, findings: list) -> dict[str, str]:  # noqa: ANN001
    """The scan words' spelling recorded by the search runs the findings come from."""
    forms: dict[str, str] = {}
    for search_run in {f.finding_id.rsplit(":f", 1)[0] for f in findings}:
        found = store.read("SELECT args FROM runs WHERE run_id = ?", [search_run])
        if found.height:
            forms |= json.loads(found["args"][0]).get("surface_forms") or {}
    return forms
