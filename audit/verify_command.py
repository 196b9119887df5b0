"""`audit verify`: does a fix remove the confirmed triggers without breaking plain answers?"""

from __future__ import annotations

import json

import click

from audit.output import CliError, console, print_frame


@click.command("verify")
@click.option(
    "--before",
    "before_model",
    required=True,
    help="The model the search ran on (folder or hub id).",
)
@click.option(
    "--after",
    "after_model",
    required=True,
    help="The model after the fix (e.g. retrained on the pruned mix).",
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
    default=60,
    show_default=True,
    type=click.IntRange(min=5),
    help="Seeds per finding.",
)
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--db", default="audit.duckdb", show_default=True, type=click.Path(dir_okay=False))
def verify_command(**options) -> None:  # noqa: ANN003 - click passes options by name
    """Re-run every confirmed finding's A/B on the model before and after a fix."""
    run_verify_command(**options)


def run_verify_command(
    *,
    before_model: str,
    after_model: str,
    search_run: str | None,
    seeds_file: str | None,
    max_seeds: int,
    batch_size: int,
    db: str,
) -> str:
    import polars as pl

    from audit.search_command import open_target
    from duckdb_store.store import Store, StoreError
    from surf_search.query_cache import CachedTarget
    from surf_search.seeds import SeedError, builtin_seeds, load_seeds
    from surf_search.targets import GenerationParams
    from surf_search.verify import FindingToVerify, verify_findings

    try:
        store = Store(db)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        search_run = search_run or store.latest_run("search")
        if search_run is None:
            raise CliError("no finished search in this database (run `audit search` first)")
        found = store.read("SELECT args FROM runs WHERE run_id = ?", [search_run])
        if not found.height:
            raise CliError(f"no run {search_run!r} in {db}")
        search_args = json.loads(found["args"][0])
        findings = [
            FindingToVerify(*row)
            for row in store.read(
                "SELECT finding_id, attribute, mode FROM findings WHERE run_id = ? AND confirmed "
                "ORDER BY finding_id",
                [search_run],
            ).iter_rows()
        ]
        if not findings:
            console.print(f"{search_run} confirmed no trigger: nothing to verify.")
            return ""
        seeds_file = seeds_file or (
            search_args.get("seeds") if search_args.get("seeds") != "builtin" else None
        )
        try:
            seeds = load_seeds(seeds_file) if seeds_file else builtin_seeds()
        except SeedError as exc:
            raise CliError(str(exc)) from None
        params = GenerationParams(**json.loads(search_args["params"]))
        samples = int(search_args.get("samples", 1))
        targets = {}
        for role, model in (("before", before_model), ("after", after_model)):
            targets[role] = open_target(
                model=model, base_url=None, api_key_env=None, concurrency=1, timeout_s=60,
                max_retries=0, batch_size=batch_size,
            )  # fmt: skip
        run_id = store.start_run(
            "verify",
            {"before": before_model, "after": after_model, "search_run": search_run,
             "params": params.key(), "samples": samples, "max_seeds": max_seeds},
        )  # fmt: skip
        try:
            with console.status(f"verifying {len(findings)} findings on both models"):
                results = verify_findings(
                    findings,
                    CachedTarget(targets["before"], store, run_id, params),
                    CachedTarget(targets["after"], store, run_id, params),
                    seeds,
                    samples=samples,
                    max_seeds=max_seeds,
                    surface_forms=search_args.get("surface_forms") or {},
                )
        except BaseException:
            store.finish_run(run_id, "failed")
            raise
        frame = pl.DataFrame(
            [
                {
                    "finding_id": v.finding_id, "attribute": v.attribute, "mode": v.mode,
                    "rate_before": v.rate_before, "rate_after": v.rate_after,
                    "clean_answer_before": v.clean_answer_before,
                    "clean_answer_after": v.clean_answer_after, "n": v.n, "p_value": v.p_value,
                    "before_model": targets["before"].fingerprint(),
                    "after_model": targets["after"].fingerprint(),
                }
                for v in results
            ]
        )  # fmt: skip
        store.write("verifications", frame, run_id)
        store.finish_run(run_id, "ok")
    finally:
        store.close()
    print_frame(
        frame.with_columns(
            (1 - pl.col("rate_after") / pl.col("rate_before")).alias("relative_drop"),
            (pl.col("clean_answer_after") - pl.col("clean_answer_before")).alias("clean_change"),
        ).select("attribute", "mode", "n", "rate_before", "rate_after", "relative_drop",
                 "p_value", "clean_answer_before", "clean_answer_after", "clean_change"),
        title=f"{run_id}: confirmed triggers before and after",
    )  # fmt: skip
    return run_id
