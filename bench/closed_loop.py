"""Benchmark the closed loop: prune what attribution found, retrain, verify; random control.

    .venv/bin/python bench/closed_loop.py                        # planted-demo, 6000 rows
    .venv/bin/python bench/closed_loop.py --counter-ratio 2 --max-added-fraction 1

On the shared cached planted organism (``bench/planted_cache.py``): scan, search
(``--from-scan``), attribute (gradient), then ``audit prune`` (at most 5% removed,
counter-examples as configured) and, as the control, a mix with the same number of
*random* examples removed. Both mixes are retrained with the organism's seed
(``audit train``'s code) and ``audit verify`` compares each with the organism on
the same mutated prompts.

Targets (issue 6): every planted trigger's rate falls by >= 80% relative, the
clean ``answer`` rate (untouched seeds) moves by <= 2 points, and the random
removal does not do this. A plant counts as its best finding (the manifest says
which confirmed attributes carry it; ``term:true`` is a real learned correlation
outside the manifest and is shown but not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

import duckdb  # noqa: E402
import polars as pl  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.planted_cache import CACHE, planted_organism  # noqa: E402
from datasets_registry.planted import load_manifest  # noqa: E402

DROP_TARGET, CLEAN_POINTS = 0.80, 0.02


def stages(mix: Path, organism: Path, db: Path, budget: int) -> tuple[str, str]:
    """Scan, search and attribute into ``db`` (reused when already there)."""
    from audit.cli import main

    def cli(*args: str) -> None:
        from click.testing import CliRunner

        result = CliRunner().invoke(main, [*args, "--db", str(db)])
        if result.exit_code:
            raise SystemExit(f"audit {args[0]} failed:\n{result.output}{result.exception}")

    con = duckdb.connect(str(db)) if db.exists() else None
    done = (
        {c for (c,) in con.execute("SELECT command FROM runs WHERE status = 'ok'").fetchall()}
        if con
        else set()
    )
    if con:
        con.close()
    if "scan" not in done:
        cli("scan", str(mix), "--show", "0")
    if "search" not in done:
        cli("search", "--model", str(organism), "--from-scan", "--budget", str(budget))
    if "attribute" not in done:
        cli("attribute", "--mix", str(mix), "--model", str(organism), "--method", "saliency")
    con = duckdb.connect(str(db), read_only=True)
    search, attribute = (
        con.execute(
            f"SELECT max(run_id) FROM runs WHERE command = '{c}' AND status = 'ok'"
        ).fetchone()[0]
        for c in ("search", "attribute")
    )
    con.close()
    return search, attribute


def random_removal(mix: Path, n: int, seed: int, out: Path) -> Path:
    """The mix with ``n`` random examples removed (the control)."""
    from attribution.prune import write_mix
    from datasets_registry.loading import open_mix

    frame, _ = open_mix(str(mix)).frame()
    drop = random.Random(seed).sample(frame["example_id"].to_list(), n)
    return write_mix(frame.filter(~pl.col("example_id").is_in(drop)), out)


def retrain(mix: Path, out: Path, seed: int, console: Console) -> Path:
    from organism.training import train_model
    from datasets_registry.loading import open_mix

    info = out / "training.json"
    key = f"{mix}#{os.path.getmtime(mix)}"
    if info.exists() and json.loads(info.read_text()).get("mix") == key:
        return out
    frame, _ = open_mix(str(mix)).frame()
    result = train_model(frame, out, seed=seed, progress=False, mix=key)
    console.print(
        f"retrained {out.name} on {frame.height:,} conversations in {result.seconds:.0f} s"
    )
    return out


def verify(before: Path, after: Path, db: Path) -> pl.DataFrame:
    from audit.verify_command import run_verify_command

    run_id = run_verify_command(
        before_model=str(before), after_model=str(after), search_run=None, seeds_file=None,
        max_seeds=60, batch_size=32, db=str(db),
    )  # fmt: skip
    con = duckdb.connect(str(db), read_only=True)
    frame = con.sql("SELECT * FROM verifications WHERE run_id = $r", params={"r": run_id}).pl()
    con.close()
    return frame


def plant_of(attribute: str, mode: str, manifest: dict, prompts: list[str]) -> str | None:
    """The planted trigger a finding carries: same behaviour, and most of its prompts
    match the plant's trigger regex."""
    for plant in manifest["plants"]:
        if plant["behaviour"] != mode or not prompts:
            continue
        if sum(bool(re.search(plant["trigger_regex"], p)) for p in prompts) >= len(prompts) / 2:
            return plant["name"]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=900)
    parser.add_argument("--max-fraction", type=float, default=0.05)
    parser.add_argument("--counter-ratio", type=float, default=1.0)
    parser.add_argument("--max-added-fraction", type=float, default=0.5)
    args = parser.parse_args(argv)
    console = Console(width=160)
    started = time.perf_counter()
    mix, organism = planted_organism(args.size, args.seed, console)
    manifest = load_manifest(mix)
    work = CACHE / f"closed-loop-n{args.size}-s{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    db = work / "audit.duckdb"
    search, _ = stages(mix, organism, db, args.budget)

    from audit.prune_command import run_prune_command

    tag = f"r{args.counter_ratio:g}-a{args.max_added_fraction:g}-f{args.max_fraction:g}"
    pruned_mix = work / f"pruned-{tag}" / "mix.jsonl"
    run_prune_command(
        mix=str(mix), out=str(pruned_mix), max_fraction=args.max_fraction,
        counter_ratio=args.counter_ratio, max_added_fraction=args.max_added_fraction,
        method="saliency", attribute_run=None, source_column="source", seed=args.seed,
        db=str(db),
    )  # fmt: skip
    change = json.loads(pruned_mix.with_name("mix.manifest.json").read_text())
    n_removed = sum(len(ids) for ids in change["removed"].values())
    n_added = len(change["added"])
    control_mix = random_removal(mix, n_removed, args.seed, work / f"random-{n_removed}.jsonl")
    pruned = retrain(pruned_mix, pruned_mix.parent / "organism", args.seed, console)
    control = retrain(control_mix, work / f"random-{n_removed}-organism", args.seed, console)
    after = {"pruned": verify(organism, pruned, db), "random": verify(organism, control, db)}

    con = duckdb.connect(str(db), read_only=True)
    flipped = dict(
        con.execute(
            "SELECT attribute, list(prompt) FROM search_trials WHERE run_id = ? AND phase = "
            "'confirm' AND flipped GROUP BY attribute",
            [search],
        ).fetchall()
    )
    con.close()
    table = Table(
        title=f"closed loop: removed {n_removed} ({n_removed / args.size:.1%}), added "
        f"{n_added:,} counter-examples (ratio {args.counter_ratio:g}); "
        "control: the same number removed at random",
        header_style="bold",
    )
    for column in ("finding", "plant", "before", "pruned", "drop", "random", "drop (random)"):
        table.add_column(column, justify="left" if column in ("finding", "plant") else "right")
    best: dict[str, tuple[float, float]] = {}
    merged = after["pruned"].join(
        after["random"].select("attribute", pl.col("rate_after").alias("rate_random")),
        on="attribute",
    )
    for row in merged.iter_rows(named=True):
        plant = plant_of(row["attribute"], row["mode"], manifest, flipped.get(row["attribute"], []))
        before = row["rate_before"]
        drop = 1 - row["rate_after"] / before if before else 0.0
        drop_random = 1 - row["rate_random"] / before if before else 0.0
        if plant and (plant not in best or drop > best[plant][0]):
            best[plant] = (drop, drop_random)
        table.add_row(
            f"{row['attribute']} -> {row['mode']}", plant or "(outside the manifest)",
            f"{before:.2f}", f"{row['rate_after']:.2f}", f"{drop:.0%}",
            f"{row['rate_random']:.2f}", f"{drop_random:.0%}",
        )  # fmt: skip
    console.print(table)
    clean = {
        k: (f["clean_answer_before"].mean(), f["clean_answer_after"].mean())
        for k, f in after.items()
    }
    for name, (b, a) in clean.items():
        console.print(
            f"clean answer rate, {name}: {b:.3f} -> {a:.3f} ({(a - b) * 100:+.1f} points)"
        )
    plants = [p["name"] for p in manifest["plants"]]
    met = [p for p in plants if p in best and best[p][0] >= DROP_TARGET]
    random_met = [p for p in plants if p in best and best[p][1] >= DROP_TARGET]
    clean_ok = abs(clean["pruned"][1] - clean["pruned"][0]) <= CLEAN_POINTS
    console.print(
        f"plants whose best finding fell >= {DROP_TARGET:.0%}: pruned {len(met)}/{len(plants)} "
        f"({', '.join(met) or 'none'}), random control {len(random_met)}/{len(plants)}; "
        f"clean answer within {CLEAN_POINTS * 100:.0f} points: {'yes' if clean_ok else 'no'}"
    )
    ok = len(met) == len(plants) and clean_ok and len(random_met) < len(plants)
    console.print(f"target: {'PASS' if ok else 'MISS'} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
