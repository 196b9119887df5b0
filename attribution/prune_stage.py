"""The prune stage: recommendations per finding, and the pruned mix with a manifest of changes.

Reads an ``attribute`` run (the latest, or ``config.attribute_run``) through the
store's named reads: which methods it stored, and each confirmed finding with the
chosen method's example ranking. Plans the prune (:func:`attribution.prune.plan_prune`,
spelling scan words as the finding's search did), writes the pruned mix and a
``.manifest.json`` beside it, and the ``recommendations`` table under a new ``prune`` run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from attribution.prune import PruneFinding, PrunePolicy, plan_prune, pruned_frame, write_mix
from datasets_registry.loading import MixError, open_mix
from datasets_registry.normalise import Columns
from duckdb_store.records import AttributedFinding
from stage_kit import NO_PROGRESS, Progress, StageError
from surf_search.attribute_discovery import restore_clusters

if TYPE_CHECKING:
    from duckdb_store.store import Store

#: Whose ranking picks the examples when none is named: the first the attribute run has.
METHOD_PREFERENCE = ("saliency", "gradient", "trackstar", "ekfac", "embedding", "lexical")
MIX_SUFFIXES = (".jsonl", ".ndjson", ".parquet")
PLAN_LABEL = "planning the prune"
RECOMMENDATION_COLUMNS = ("finding_id", "action", "source", "n_examples", "fraction")


@dataclass(frozen=True)
class PruneConfig:
    """Which mix to prune by which attribute run, where to write it, and the policy."""

    mix: str  # the mix the model was trained on (as for scan)
    out: str | Path  # the pruned mix to write (.jsonl or .parquet); a manifest goes beside it
    method: str | None = None  # whose ranking picks the examples (None: METHOD_PREFERENCE)
    attribute_run: str | None = None  # None: the latest attribute run
    source_column: str = Columns.source  # column naming each row's source chunk
    policy: PrunePolicy = PrunePolicy()  # how much may be removed and added

    @property
    def out_path(self) -> Path:
        """``out`` as a path."""
        return Path(self.out)

    @property
    def manifest_path(self) -> Path:
        """The manifest of changes written beside the pruned mix."""
        return self.out_path.with_name(self.out_path.stem + ".manifest.json")


@dataclass
class PruneResult:
    """What the prune did; ``run_id`` is None when the attribute run had no finding to prune."""

    attribute_run: str
    method: str
    run_id: str | None = None
    rows_before: int = 0
    rows_after: int = 0
    n_removed: int = 0
    n_added: int = 0
    recommendations: pl.DataFrame = field(default_factory=pl.DataFrame)


def check(config: PruneConfig) -> None:
    """StageError unless the pruned mix goes to a .jsonl or .parquet file."""
    suffix = config.out_path.suffix
    if suffix not in MIX_SUFFIXES:
        raise StageError(f"--out must end in .jsonl or .parquet, not {suffix or 'nothing'!r}")


def surface_forms(store: Store, findings: list[AttributedFinding]) -> dict[str, str]:
    """The scan words' spelling recorded by the search runs the findings come from (their
    discovered attributes are made known by name on the way)."""
    forms: dict[str, str] = {}
    for search_run in sorted({f.search_run for f in findings}):
        restore_clusters(store.run_args(search_run))
        settings = store.search_settings(search_run)
        if settings is not None:
            forms |= settings.surface_forms
    return forms


def run(config: PruneConfig, store: Store, progress: Progress = NO_PROGRESS) -> PruneResult:
    """Plan the prune, write the pruned mix, its manifest and the recommendations."""
    check(config)
    attribute_run = config.attribute_run or store.latest_run("attribute")
    if attribute_run is None:
        raise StageError("no finished attribute run in this database (run `audit attribute`)")
    methods = store.attribution_methods(attribute_run)
    method = config.method or next((m for m in METHOD_PREFERENCE if m in methods), None)
    if method is None or method not in methods:
        raise StageError(f"{attribute_run} has no {method or 'usable'} attributions")
    records = store.attributed_findings(attribute_run, method)
    if not records:
        return PruneResult(attribute_run, method)
    try:
        frame, bad = open_mix(config.mix, Columns(source=config.source_column)).frame()
    except MixError as exc:
        raise StageError(str(exc)) from None
    policy = config.policy
    run_id = store.start_run(
        "prune",
        {"mix": config.mix, "out": str(config.out), "attribute_run": attribute_run,
         "method": method, "max_fraction": policy.max_fraction,
         "counter_ratio": policy.counter_ratio, "min_counter": policy.min_counter,
         "max_added_fraction": policy.max_added_fraction, "seed": policy.seed},
    )  # fmt: skip
    with store.finishing(run_id):
        progress(PLAN_LABEL, 0, frame.height)
        findings = [PruneFinding.from_record(r) for r in records]
        plan = plan_prune(frame, findings, policy, surface_forms(store, records))
        pruned = pruned_frame(frame, plan)
        try:
            write_mix(pruned, config.out_path)
        except (ValueError, OSError) as exc:
            raise StageError(str(exc).strip().splitlines()[0]) from None
        progress(PLAN_LABEL, frame.height, frame.height)
        recommendations = pl.DataFrame(plan.recommendations)
        store.write("recommendations", recommendations, run_id)
        added = (
            plan.added.select("example_id", "donor").to_dicts() if plan.added is not None else []
        )
        manifest = {
            "run_id": run_id,
            "mix": config.mix,
            "out": str(config.out_path),
            "attribute_run": attribute_run,
            "method": method,
            "rows_before": frame.height,
            "rows_after": pruned.height,
            "bad_rows_skipped": bad.total,
            "removed": plan.removed,
            "added": added,
            "recommendations": plan.recommendations,
        }
        config.manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
        store.finish_run(run_id, "ok")
    return PruneResult(
        attribute_run,
        method,
        run_id,
        rows_before=frame.height,
        rows_after=pruned.height,
        n_removed=len(plan.removed_ids),
        n_added=plan.added.height if plan.added is not None else 0,
        recommendations=recommendations,
    )
