"""`audit demo`: the whole audit on the planted organism, one function per stage.

Every stage reuses what an earlier run left in ``--out`` (the mix, the trained
organism, the scan), so a rerun only does what is missing.
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
    reused = plan.mix.exists()
    write_planted(plan.mix.parent, plan.size, plan.seed)
    manifest = load_manifest(plan.mix)
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


@_stage("2. organism")
def stage_organism(plan: DemoPlan) -> Path:
    from attribution.training import train_model
    from datasets_registry.loading import open_mix

    done = plan.organism / "training.json"
    if done.exists():
        info = json.loads(done.read_text())
        console.print(f"reused {plan.organism} ({info.get('n_params', '?'):,} parameters)")
        return plan.organism
    frame, _ = open_mix(str(plan.mix)).frame()
    kwargs = {"epochs": plan.epochs} if plan.epochs else {}
    result = train_model(frame, plan.organism, base="tiny", seed=plan.seed, **kwargs)
    console.print(f"trained {plan.organism} in {result.seconds:.0f} s")
    return plan.organism


@_stage("3. scan")
def stage_scan(plan: DemoPlan) -> str:
    from audit.scan_command import run_scan_command
    from reports.store import Store

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


STAGES = (stage_planted, stage_organism, stage_scan)


def run_demo(plan: DemoPlan) -> None:
    started = time.perf_counter()
    for stage in STAGES:
        stage(plan)
    console.rule("[bold]done")
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s")
    console.print(f"database: {plan.db}")
    console.print("try:", highlight=False)
    for sql in (
        "SELECT rank, feature, mode, source, support FROM trigger_hypotheses ORDER BY rank LIMIT 10",
        "SELECT source, mode, share FROM mode_rates WHERE mode != 'answer' ORDER BY share DESC",
        "SELECT feature, source, share_of_hits FROM feature_concentration "
        "WHERE share_of_hits > 0.8 AND n_hits > 20",
    ):
        console.print(f'  audit query "{sql}" --db {plan.db}', highlight=False, markup=False)
