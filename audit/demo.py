"""`audit demo`: the whole audit on the planted organism, one function per stage.

planted mix -> organism -> scan -> search -> attribute -> prune -> retrain -> verify
-> report. Every stage reuses what an earlier run left in ``--out``: the mix, the
organisms (retrained only when their training data changed), the scan, and every
model answer (the ``queries`` cache), so a rerun only does what is missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audit.output import console
from datasets_registry.planted import DEFAULT_SEED, DEFAULT_SIZE, load_manifest, write_planted


@dataclass(frozen=True)
class DemoPlan:
    out: Path
    size: int = DEFAULT_SIZE
    seed: int = DEFAULT_SEED
    epochs: int | None = None

    @property
    def mix(self) -> Path:
        return self.out / "planted" / "mix.jsonl"

    @property
    def organism(self) -> Path:
        return self.out / "organism"

    @property
    def db(self) -> Path:
        return self.out / "audit.duckdb"

    @property
    def pruned_mix(self) -> Path:
        return self.out / "pruned" / "mix.jsonl"

    @property
    def retrained(self) -> Path:
        return self.out / "organism-pruned"

    @property
    def report(self) -> Path:
        return self.out / "report.html"


def _stage(title: str) -> Callable:
    def wrap(fn: Callable) -> Callable:
        def run(plan: DemoPlan) -> object:
            console.rule(f"[bold]{title}")
            started = time.perf_counter()
            result = fn(plan)
            console.print(f"[dim]{title}: {time.perf_counter() - started:.1f} s[/]")
            return result

        run.__name__ = fn.__name__
        return run

    return wrap


@_stage("1. planted mix")
def stage_planted(plan: DemoPlan) -> Path:
    before = _digest(plan.mix)
    write_planted(plan.mix.parent, plan.size, plan.seed)
    manifest = load_manifest(plan.mix)
    reused = before == _digest(plan.mix)
    if not reused and plan.db.exists():  # results about another mix: start afresh
        plan.db.unlink()
        plan.db.with_name(plan.db.name + ".wal").unlink(missing_ok=True)
    console.print(
        f"{'reused' if reused else 'wrote'} {plan.mix}: {manifest['size']:,} "
        f"conversations, {len(manifest['sources'])} sources, "
        f"{len(manifest['plants'])} planted triggers"
    )
    for plant in manifest["plants"]:
        console.print(
            f"  {plant['name']}: {plant['description']} "
            f"({len(plant['example_ids'])} examples in {plant['source']})",
            highlight=False,
            markup=False,
        )
    return plan.mix


def _digest(path: Path) -> str | None:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _train(mix: Path, out: Path, plan: DemoPlan) -> Path:
    """Train on ``mix`` into ``out`` unless ``out`` was trained on exactly this file."""
    from datasets_registry.loading import open_mix
    from organism.training import train_model

    key = f"{mix}#{_digest(mix)}"
    done = out / "training.json"
    if done.exists() and json.loads(done.read_text()).get("mix") == key:
        info = json.loads(done.read_text())
        console.print(f"reused {out} ({info.get('n_params', 0):,} parameters, trained on {mix})")
        return out
    frame, _ = open_mix(str(mix)).frame()
    kwargs = {"epochs": plan.epochs} if plan.epochs else {}
    result = train_model(frame, out, base="tiny", seed=plan.seed, mix=key, **kwargs)
    console.print(f"trained {out} on {frame.height:,} conversations in {result.seconds:.0f} s")
    return out


@_stage("2. organism")
def stage_organism(plan: DemoPlan) -> Path:
    return _train(plan.mix, plan.organism, plan)


@_stage("3. scan")
def stage_scan(plan: DemoPlan) -> str:
    from audit.scan_command import run_scan_command
    from duckdb_store.store import Store

    with Store(plan.db) as store:
        previous = store.read(
            "SELECT run_id FROM runs WHERE command = 'scan' AND status = 'ok' "
            "AND json_extract_string(args, '$.mix') = ? ORDER BY started_at DESC LIMIT 1",
            [str(plan.mix)],
        )
    if previous.height:
        run_id = previous["run_id"][0]
        console.print(f"reused scan {run_id}")
        return run_id
    return run_scan_command(
        mix=str(plan.mix),
        db=str(plan.db),
        source_column="source",
        prompt_column="prompt",
        response_column="response",
        id_column="id",
        feature_options=(),
        feature_file=None,
        batch_rows=50_000,
        min_support=5,
        show=12,
    )


@_stage("4. search")
def stage_search(plan: DemoPlan) -> str:
    from audit.search_command import run_search_command

    return run_search_command(
        model=str(plan.organism), base_url=None, api_key_env=None, concurrency=8,
        timeout_s=60, max_retries=4, batch_size=32, max_new_tokens=64, temperature=0.0,
        top_p=1.0, seeds_file=None, from_scan=True, scan_terms=12, attributes=(),
        budget=900, samples=1, min_effect=0.2, alpha=0.05, seed=plan.seed, db=str(plan.db),
    )  # fmt: skip


@_stage("5. attribute")
def stage_attribute(plan: DemoPlan) -> str | None:
    from audit.attribute_command import run_attribute_command

    return run_attribute_command(
        mix=str(plan.mix), model=str(plan.organism), method="all", top_k=50, proj_dim=512,
        db=str(plan.db), search_run=None, keep=500, max_queries=200, layers=None, lora=False,
        response_tokens=4,
        precondition=False, embedding_model=None, seed=plan.seed, source_column="source",
        id_column="id",
    )  # fmt: skip


@_stage("6. prune")
def stage_prune(plan: DemoPlan) -> str:
    from audit.prune_command import run_prune_command

    return run_prune_command(
        mix=str(plan.mix), out=str(plan.pruned_mix), max_fraction=0.05, counter_ratio=1.0,
        max_added_fraction=0.5, method=None, attribute_run=None, source_column="source",
        seed=plan.seed, db=str(plan.db),
    )  # fmt: skip


@_stage("7. retrain on the pruned mix")
def stage_retrain(plan: DemoPlan) -> Path:
    return _train(plan.pruned_mix, plan.retrained, plan)


@_stage("8. verify")
def stage_verify(plan: DemoPlan) -> str:
    from audit.verify_command import run_verify_command

    return run_verify_command(
        before_model=str(plan.organism), after_model=str(plan.retrained), search_run=None,
        seeds_file=None, max_seeds=60, batch_size=32, db=str(plan.db),
    )  # fmt: skip


@_stage("9. report")
def stage_report(plan: DemoPlan) -> Path:
    from reports.html import write_report

    report = write_report(plan.db, plan.report, None)
    console.print(f"wrote {plan.report}: {', '.join(report.sections)}", highlight=False)
    return plan.report


STAGES = (
    stage_planted,
    stage_organism,
    stage_scan,
    stage_search,
    stage_attribute,
    stage_prune,
    stage_retrain,
    stage_verify,
    stage_report,
)


def run_demo(plan: DemoPlan) -> None:
    started = time.perf_counter()
    for stage in STAGES:
        stage(plan)
    console.rule("[bold]done")
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s")
    console.print(f"report:   {plan.report}", highlight=False)
    console.print(f"database: {plan.db}", highlight=False)
    console.print("try:", highlight=False)
    for sql in (
        "SELECT attribute, mode, effect, q_value, robust FROM findings WHERE confirmed "
        "ORDER BY q_value",
        "SELECT finding_id, method, source, share, enrichment FROM attributions WHERE rank = 1",
        "SELECT attribute, mode, rate_before, rate_after, clean_answer_after FROM verifications",
    ):
        console.print(f'  audit query "{sql}" --db {plan.db}', highlight=False, markup=False)
