"""The verify stage: ``run(VerifyConfig, Store) -> VerifyResult``.

Re-runs every confirmed finding of a search run (the latest by default) on the model
before and after a fix, with the search's generation parameters, samples, seeds and
word spellings (read back with ``store.search_settings``), into ``verifications``.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from duckdb_store.store import Store
from stage_kit import NO_PROGRESS, Progress, StageError
from surf_search.query_cache import CachedTarget
from surf_search.seeds import SeedError, builtin_seeds, load_seeds
from surf_search.target_config import TargetConfig, open_target
from surf_search.targets import GenerationParams
from surf_search.verify import FindingToVerify, Verification, verify_findings

__all__ = ["VerifyConfig", "VerifyResult", "run"]

VERIFICATION_SCHEMA = {
    "finding_id": pl.String,
    "attribute": pl.String,
    "mode": pl.String,
    "rate_before": pl.Float64,
    "rate_after": pl.Float64,
    "clean_answer_before": pl.Float64,
    "clean_answer_after": pl.Float64,
    "n": pl.Int64,
    "p_value": pl.Float64,
    "before_model": pl.String,
    "after_model": pl.String,
}


@dataclass(frozen=True)
class VerifyConfig:
    """What `audit verify` takes: the models before and after, and which search to repeat."""

    before_model: str  # the model the search ran on (folder or hub id)
    after_model: str  # the model after the fix (e.g. retrained on the pruned mix)
    search_run: str | None = None  # the search whose findings to verify; None: the latest
    seeds_file: str | None = None  # seed prompts; None: the search run's, or the built-in set
    max_seeds: int = 60  # seeds per finding
    batch_size: int = TargetConfig.batch_size  # prompts per generate call


@dataclass
class VerifyResult:
    """The verified search run and, unless it confirmed nothing, the verification run."""

    search_run: str
    run_id: str | None  # None: the search confirmed no trigger, nothing was verified
    verifications: pl.DataFrame  # the rows written to ``verifications`` (without run_id)


def run(config: VerifyConfig, store: Store, progress: Progress = NO_PROGRESS) -> VerifyResult:
    """Repeat each confirmed finding's A/B on both models, under a new ``verify`` run."""
    search_run = config.search_run or store.latest_run("search")
    if search_run is None:
        raise StageError("no finished search in this database (run `audit search` first)")
    if store.run_command(search_run) is None:
        raise StageError(f"no run {search_run!r} in {store.path}")
    findings = [
        FindingToVerify(f.finding_id, f.attribute, f.mode)
        for f in store.confirmed_findings(search_run)
    ]
    if not findings:
        return VerifyResult(search_run, None, pl.DataFrame(schema=VERIFICATION_SCHEMA))
    settings = store.search_settings(search_run)
    if settings is None:
        raise StageError(f"{search_run} has no recorded search settings (is it a search run?)")
    seeds_file = config.seeds_file or settings.seeds
    try:
        seeds = load_seeds(seeds_file) if seeds_file else builtin_seeds()
    except SeedError as exc:
        raise StageError(str(exc)) from None
    params = GenerationParams.from_key(settings.params)
    before = open_target(TargetConfig(config.before_model, batch_size=config.batch_size))
    after = open_target(TargetConfig(config.after_model, batch_size=config.batch_size))
    run_id = store.start_run(
        "verify",
        {"before": config.before_model, "after": config.after_model, "search_run": search_run,
         "params": params.key(), "samples": settings.samples, "max_seeds": config.max_seeds},
    )  # fmt: skip
    label = f"verify {len(findings)} findings on both models"
    progress(label, 0, len(findings), "", "findings")
    with store.finishing(run_id):
        results = verify_findings(
            findings,
            CachedTarget(before, store, run_id, params),
            CachedTarget(after, store, run_id, params),
            seeds,
            samples=settings.samples,
            max_seeds=config.max_seeds,
            surface_forms=settings.surface_forms,
            on_done=lambda n: progress(
                label, n, len(findings), findings[n - 1].attribute, "findings"
            ),
        )
        frame = _frame(results, before.fingerprint(), after.fingerprint())
        store.write("verifications", frame, run_id)
    store.finish_run(run_id, "ok")
    return VerifyResult(search_run, run_id, frame)


def _frame(results: list[Verification], before: str, after: str) -> pl.DataFrame:
    """The ``verifications`` rows of ``results`` (without the run id)."""
    return pl.DataFrame(
        [
            {
                "finding_id": v.finding_id, "attribute": v.attribute, "mode": v.mode,
                "rate_before": v.rate_before, "rate_after": v.rate_after,
                "clean_answer_before": v.clean_answer_before,
                "clean_answer_after": v.clean_answer_after, "n": v.n, "p_value": v.p_value,
                "before_model": before, "after_model": after,
            }
            for v in results
        ],
        schema=VERIFICATION_SCHEMA,
    )  # fmt: skip
