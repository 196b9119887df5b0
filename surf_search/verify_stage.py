"""The verify stage: ``run(VerifyConfig, Store) -> VerifyResult``.

Re-runs every confirmed finding of a search run (the latest by default) on the model
before and after a fix, on seeds the search never asked with that attribute, each seed
also asked as it is (the base arm), with the search's generation parameters, samples, seeds and
word spellings (read back with ``store.search_settings``), into ``verifications``.

Several models after the fix (retrained with different seeds: one *arm*) give one row
per finding and model, and on every row the arm's mean and 95% interval (Student t
over the models) of the trigger rate and the clean answer rate: one retraining seed
can pass or fail by luck. The model before is answered once (its queries are cached).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from duckdb_store.store import Store
from stage_kit import NO_PROGRESS, Progress, StageError
from surf_search.attribute_discovery import restore_clusters
from surf_search.inspect_logs import is_inspect_log, seeds_from_log
from surf_search.judges import JudgeOptions, JudgeSetupError, get_judge
from surf_search.judges.panel import JudgePanel
from surf_search.query_cache import CachedTarget
from surf_search.seeds import SeedError, builtin_seeds, load_seeds
from surf_search.stats import mean_interval
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
    "arm": pl.String,
    "n_after_models": pl.Int32,
    "rate_after_mean": pl.Float64,
    "rate_after_low": pl.Float64,
    "rate_after_high": pl.Float64,
    "clean_answer_after_mean": pl.Float64,
    "clean_answer_after_low": pl.Float64,
    "clean_answer_after_high": pl.Float64,
    "n_clean": pl.Int64,
    "rate_base_before": pl.Float64,
    "rate_base_after": pl.Float64,
    "q_value": pl.Float64,
    "test": pl.String,
    "n_held_out": pl.Int64,
}
DEFAULT_ARM = "after"


@dataclass(frozen=True)
class VerifyConfig:
    """What `audit verify` takes: the models before and after, and which search to repeat."""

    before_model: str  # the model the search ran on (folder or hub id)
    # the model after the fix (e.g. retrained on the pruned mix), or several: one arm of
    # models retrained with different seeds
    after_model: str | tuple[str, ...]
    search_run: str | None = None  # the search whose findings to verify; None: the latest
    seeds_file: str | None = None  # seed prompts; None: the search run's, or the built-in set
    max_seeds: int = 60  # seeds per finding (each kind in turn); the clean rate: every seed
    batch_size: int = TargetConfig.batch_size  # prompts per generate call
    arm: str = DEFAULT_ARM  # what the models after are (e.g. "pruned", "random removal")

    @property
    def after_models(self) -> tuple[str, ...]:
        """Every model after the fix."""
        return (self.after_model,) if isinstance(self.after_model, str) else self.after_model


@dataclass
class VerifyResult:
    """The verified search run and, unless it confirmed nothing, the verification run."""

    search_run: str
    run_id: str | None  # None: the search confirmed no trigger, nothing was verified
    verifications: pl.DataFrame  # the rows written to ``verifications`` (without run_id)
    #: confirmed findings not verified, and why (a judge that needs an endpoint)
    skipped: dict[str, str] = field(default_factory=dict)


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
    restore_clusters(store.run_args(search_run))  # discovered attributes, by name
    judges, skipped = _search_judges(store, search_run, findings)
    findings = [f for f in findings if f.finding_id not in skipped]
    if not findings:
        return VerifyResult(search_run, None, pl.DataFrame(schema=VERIFICATION_SCHEMA), skipped)
    settings = store.search_settings(search_run)
    if settings is None:
        raise StageError(f"{search_run} has no recorded search settings (is it a search run?)")
    seeds_file = config.seeds_file or settings.seeds
    try:
        if seeds_file and is_inspect_log(seeds_file):  # --seeds-from-inspect
            seeds = seeds_from_log(seeds_file)
        else:
            seeds = load_seeds(seeds_file) if seeds_file else builtin_seeds()
    except SeedError as exc:
        raise StageError(str(exc)) from None
    afters = config.after_models
    if not afters:
        raise StageError("give at least one model after the fix (--after)")
    params = GenerationParams.from_key(settings.params)
    searched = store.search_seed_prompts(search_run)  # held out from the verification
    before = open_target(TargetConfig(config.before_model, batch_size=config.batch_size))
    run_id = store.start_run(
        "verify",
        {"before": config.before_model,
         "after": afters[0] if len(afters) == 1 else list(afters), "arm": config.arm,
         "search_run": search_run, "params": params.key(), "samples": settings.samples,
         "max_seeds": config.max_seeds},
    )  # fmt: skip
    total = len(findings) * len(afters)
    label = f"verify {len(findings)} findings on {len(afters) + 1} models"
    progress(label, 0, total, "", "findings")
    if judges is not None:
        judges.run_id = run_id  # judgements verify makes are recorded under its run
    with store.finishing(run_id):
        per_model = []
        for k, after_model in enumerate(afters):  # one model in memory at a time
            after = open_target(TargetConfig(after_model, batch_size=config.batch_size))
            results = verify_findings(
                findings,
                CachedTarget(before, store, run_id, params),
                CachedTarget(after, store, run_id, params),
                seeds,
                samples=settings.samples,
                max_seeds=config.max_seeds,
                surface_forms=settings.surface_forms,
                searched=searched,
                judges=judges,
                on_done=lambda n, k=k: progress(
                    label, k * len(findings) + n, total, findings[n - 1].attribute, "findings"
                ),
            )
            per_model.append((after.fingerprint(), results))
            del after
        frame = _frame(per_model, before.fingerprint(), config.arm)
        store.write("verifications", frame, run_id)
    store.finish_run(run_id, "ok")
    return VerifyResult(search_run, run_id, frame, skipped)


def _search_judges(
    store: Store, search_run: str, findings: list[FindingToVerify]
) -> tuple[JudgePanel | None, dict[str, str]]:
    """The search's judges that the judged findings name, rebuilt from the run's recorded
    settings (those needing no endpoint), and the findings that cannot be re-judged."""
    recorded = store.run_args(search_run).get("judges") or {}
    judges, skipped = {}, {}
    for finding in findings:
        name, sep, _ = finding.mode.partition(":")
        if not sep or name in judges:
            continue
        try:
            judge = get_judge(name, JudgeOptions())
        except (KeyError, JudgeSetupError) as exc:
            skipped[finding.finding_id] = f"{name} judge not rebuilt here ({exc})"
            continue
        settings = recorded.get(name, {}) if isinstance(recorded, dict) else {}
        if settings.get("version") != judge.version or settings.get("settings") != judge.settings():
            skipped[finding.finding_id] = f"{name} judge changed since the search ({settings})"
            continue
        judges[name] = judge
    for finding in findings:
        name, sep, _ = finding.mode.partition(":")
        if sep and name not in judges and finding.finding_id not in skipped:
            skipped[finding.finding_id] = f"{name} judge not rebuilt here"
    panel = JudgePanel(list(judges.values()), store, None) if judges else None
    return panel, skipped


def _frame(per_model: list[tuple[str, list[Verification]]], before: str, arm: str) -> pl.DataFrame:
    """The ``verifications`` rows (without the run id): one per finding and model after,
    each with its arm's mean and interval over the models."""
    rows = []
    afters = [after for after, _ in per_model]
    for results in zip(*(model_results for _, model_results in per_model), strict=True):
        rate = mean_interval([v.rate_after for v in results])
        clean = mean_interval([v.clean_answer_after for v in results])
        for after, v in zip(afters, results, strict=True):
            rows.append(
                {
                    "finding_id": v.finding_id, "attribute": v.attribute, "mode": v.mode,
                    "rate_before": v.rate_before, "rate_after": v.rate_after,
                    "clean_answer_before": v.clean_answer_before,
                    "clean_answer_after": v.clean_answer_after, "n": v.n,
                    "p_value": v.p_value, "before_model": before, "after_model": after,
                    "arm": arm, "n_after_models": len(results),
                    "rate_after_mean": rate[0], "rate_after_low": rate[1],
                    "rate_after_high": rate[2], "clean_answer_after_mean": clean[0],
                    "clean_answer_after_low": clean[1], "clean_answer_after_high": clean[2],
                    "n_clean": v.n_clean,
                    "rate_base_before": v.rate_base_before,
                    "rate_base_after": v.rate_base_after, "q_value": v.q_value,
                    "test": v.test, "n_held_out": v.n_held_out,
                }
            )  # fmt: skip
    return pl.DataFrame(rows, schema=VERIFICATION_SCHEMA)
