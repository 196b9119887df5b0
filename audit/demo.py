"""`audit demo`: the whole audit on the planted organism, one library stage after another.

planted mix -> organism -> scan -> search -> attribute -> prune -> retrain -> verify
-> report. Each step calls the stage's ``run`` with the settings the demo needs (every
other setting is the stage's default) and prints what the matching command prints.
Every step reuses what an earlier run left in ``--out``: the mix, the organisms
(retrained only when their training data changed), the scan, and every model answer
(the ``queries`` cache), so a rerun only does what is missing.

The demo attributes with the recommended method (``saliency``); `bench/attribution.py`
compares every method.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from audit.output import CliProgress, console
from datasets_registry.planted import DEFAULT_SEED, DEFAULT_SIZE, load_manifest, write_planted
from duckdb_store import Store

T = TypeVar("T")

#: The attribution method the demo runs (the one `audit prune` prefers).
DEMO_METHOD = "saliency"  # attribution.config.RECOMMENDED_METHOD (not imported: startup time)
TRAINED_ON = "demo-trained-on.json"  # beside each organism: the digest of its training mix


@dataclass(frozen=True)
class DemoPlan:
    """Where the demo writes and what it builds."""

    out: Path  # folder for the mix, the organisms, the database and the report
    size: int = DEFAULT_SIZE  # conversations in the planted mix
    seed: int = DEFAULT_SEED  # mix, training, search and prune seed
    epochs: int | None = None  # organism training epochs (None: the trainer's)
    train: bool = False  # train the organism even when the shipped one fits this mix

    @property
    def mix(self) -> Path:
        """The planted mix."""
        return self.out / "planted" / "mix.jsonl"

    @property
    def organism(self) -> Path:
        """The model trained on the planted mix."""
        return self.out / "organism"

    @property
    def db(self) -> Path:
        """The audit database."""
        return self.out / "audit.duckdb"

    @property
    def pruned_mix(self) -> Path:
        """The mix after pruning."""
        return self.out / "pruned" / "mix.jsonl"

    @property
    def retrained(self) -> Path:
        """The model retrained on the pruned mix."""
        return self.out / "organism-pruned"

    @property
    def report(self) -> Path:
        """The HTML report."""
        return self.out / "report.html"


def _step(title: str) -> Callable[[Callable[[DemoPlan], T]], Callable[[DemoPlan], T]]:
    """A demo step: a rule with its title before, its time after."""

    def wrap(fn: Callable[[DemoPlan], T]) -> Callable[[DemoPlan], T]:
        def run(plan: DemoPlan) -> T:
            console.rule(f"[bold]{title}")
            started = time.perf_counter()
            result = fn(plan)
            console.print(f"[dim]{title}: {time.perf_counter() - started:.1f} s[/]")
            return result

        run.__name__ = fn.__name__
        return run

    return wrap


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@_step("1. planted mix")
def step_planted(plan: DemoPlan) -> Path:
    """Write (or reuse) the planted mix and show its answer key."""
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


def _train(mix: Path, out: Path, plan: DemoPlan) -> Path:
    """Train on ``mix`` into ``out`` unless ``out`` was trained on exactly this file."""
    from organism import train_stage

    key = {"mix": str(mix), "sha256": _digest(mix), "seed": plan.seed, "epochs": plan.epochs}
    done = out / TRAINED_ON
    if done.exists() and json.loads(done.read_text()) == key:
        info = json.loads((out / "training.json").read_text())
        console.print(f"reused {out} ({info.get('n_params', 0):,} parameters, trained on {mix})")
        return out
    config = train_stage.TrainConfig(mix=str(mix), out=str(out), seed=plan.seed, epochs=plan.epochs)
    with CliProgress("steps") as progress:
        result = train_stage.run(config, progress=progress)
    done.write_text(json.dumps(key))
    console.print(
        f"trained {out} on {result.summary.n_examples:,} conversations in "
        f"{result.summary.seconds:.0f} s"
    )
    return out


@_step("2. organism")
def step_organism(plan: DemoPlan) -> Path:
    """The organism: the shipped one when it was trained on exactly this mix, else trained."""
    if not plan.train and _use_shipped(plan):
        return plan.organism
    return _train(plan.mix, plan.organism, plan)


def _use_shipped(plan: DemoPlan) -> bool:
    """Copy the shipped organism into place when it fits this mix and these settings."""
    from organism.pretrained import SHIPPED_DEMO, shipped_demo_info

    info = shipped_demo_info()
    if (plan.size, plan.seed, plan.epochs) != (info.size, info.seed, info.epochs):
        return False
    digest = _digest(plan.mix)
    if digest != info.mix_sha256:
        return False
    key = {"mix": str(plan.mix), "sha256": digest, "seed": plan.seed, "epochs": plan.epochs}
    marker = plan.organism / TRAINED_ON
    if not (marker.exists() and json.loads(marker.read_text()) == key):
        shutil.rmtree(plan.organism, ignore_errors=True)
        shutil.copytree(SHIPPED_DEMO, plan.organism, ignore=shutil.ignore_patterns("shipped.json"))
        marker.write_text(json.dumps(key))
    console.print(
        f"using the organism shipped with chunky-audit ({SHIPPED_DEMO}), trained by "
        f"`audit train` on exactly this mix (sha256 {digest[:12]}...) -> {plan.organism}; "
        "`audit demo --train` trains it here instead (1.5-2 min on 2 cores)",
        highlight=False,
        markup=False,
    )
    return True


@_step("3. scan")
def step_scan(plan: DemoPlan) -> str:
    """Scan the planted mix (a scan of the same file is reused)."""
    from audit.scan_command import summarise
    from datasets_registry import scan_stage

    with Store(plan.db) as store:
        previous = store.latest_scan_of(str(plan.mix))
        if previous is not None:
            console.print(f"reused scan {previous}")
            return previous
        with CliProgress() as progress:
            result = scan_stage.run(scan_stage.ScanConfig(mix=str(plan.mix)), store, progress)
    summarise(result.tables, result.run_id, str(plan.db), show=12)
    return result.run_id


@_step("4. search")
def step_search(plan: DemoPlan) -> str:
    """Search the organism for triggers, with the scan's words."""
    from audit.search_command import summarise
    from surf_search import search_stage
    from surf_search.target_config import TargetConfig

    config = search_stage.SearchConfig(
        target=TargetConfig(model=str(plan.organism)), from_scan=True, seed=plan.seed
    )
    with Store(plan.db) as store, CliProgress("calls") as progress:
        result = search_stage.run(config, store, progress)
    summarise(result, str(plan.db))
    return result.run_id


@_step(f"5. attribute ({DEMO_METHOD})")
def step_attribute(plan: DemoPlan) -> str | None:
    """Attribute each confirmed finding to the training examples that taught it."""
    from attribution import attribute_stage
    from audit.attribute_command import summarise

    config = attribute_stage.AttributeConfig(
        mix=str(plan.mix), model=str(plan.organism), method=DEMO_METHOD, seed=plan.seed
    )
    with Store(plan.db) as store, CliProgress() as progress:
        result = attribute_stage.run(config, store, progress)
    summarise(result, str(plan.db))
    return result.run_id


@_step("6. prune")
def step_prune(plan: DemoPlan) -> str | None:
    """Recommend removals and counter-examples and write the pruned mix."""
    from attribution import prune_stage
    from attribution.prune import PrunePolicy
    from audit.prune_command import summarise

    config = prune_stage.PruneConfig(
        mix=str(plan.mix), out=str(plan.pruned_mix), policy=PrunePolicy(seed=plan.seed)
    )
    with Store(plan.db) as store, CliProgress() as progress:
        result = prune_stage.run(config, store, progress)
    if result.run_id is not None:
        summarise(result, config)
    return result.run_id


@_step("7. retrain on the pruned mix")
def step_retrain(plan: DemoPlan) -> Path:
    """Retrain the organism on the pruned mix."""
    return _train(plan.pruned_mix, plan.retrained, plan)


@_step("8. verify")
def step_verify(plan: DemoPlan) -> str | None:
    """Re-run every confirmed finding on the organism before and after the fix."""
    from audit.verify_command import summarise
    from surf_search import verify_stage

    config = verify_stage.VerifyConfig(
        before_model=str(plan.organism), after_model=str(plan.retrained)
    )
    with Store(plan.db) as store, CliProgress("calls") as progress:
        result = verify_stage.run(config, store, progress)
    summarise(result)
    return result.run_id


@_step("9. report")
def step_report(plan: DemoPlan) -> Path:
    """Write the HTML report."""
    from reports import report_stage

    with Store(plan.db) as store:
        result = report_stage.run(report_stage.ReportConfig(out=str(plan.report)), store)
    console.print(f"wrote {plan.report}: {', '.join(result.sections)}", highlight=False)
    return plan.report


STEPS = (
    step_planted,
    step_organism,
    step_scan,
    step_search,
    step_attribute,
    step_prune,
    step_retrain,
    step_verify,
    step_report,
)


def run_demo(plan: DemoPlan) -> None:
    """Run every step, then say where the report and the database are."""
    started = time.perf_counter()
    for step in STEPS:
        step(plan)
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
