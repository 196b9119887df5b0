"""Benchmark `audit search` on the planted organism: every planted trigger confirmed, at what cost.

    .venv/bin/python bench/search.py                 # planted-demo 6000, seed 0, budget 900
    .venv/bin/python bench/search.py --no-http       # skip the transformers serve comparison
    .venv/bin/python bench/search.py --no-http --judge reference --judge length   # judged too
    .venv/bin/python bench/search.py --no-http --mix public-canaries --judge length  # real text

In one run:

1. **Ground truth**: scan the planted mix, search the organism (``--from-scan``) with a
   fresh database, and match each confirmed finding to a plant of the manifest: a
   finding *explains* a plant when its behaviour is the plant's and most of its
   mis-routed (flipped) confirmation prompts match the plant's trigger regex. Every
   plant must be confirmed. Confirmed findings that match no plant are printed with
   the evidence from the mix (which source's prompts carry the inserted word, and
   what those prompts are answered with): a learned correlation is a finding, a
   fluke is a bug.
   With ``--judge`` (issue 26) the search also tests judged outcomes; a judged finding
   explains a plant when most of its judged flips (score up by 0.5) are prompts with the
   plant's trigger (a terse plant seen as ``length:collapse`` is the same failure), and
   the precision of what was confirmed (findings that explain a plant / all confirmed) is
   printed.
2. **Cost**: answers the search used versus the exhaustive sweep (every attribute x
   every seed it fits x samples, plus the seeds); target <= 25%.
3. **Throughput** (same run, same prompts, greedy): batched in-process generation
   versus one prompt at a time; and against a real ``transformers serve`` on
   127.0.0.1, concurrent HTTP requests (concurrency 8) versus sequential, on the plain
   server and with ``--continuous-batching``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import duckdb  # noqa: E402
import polars as pl  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.planted_cache import MIXES, bench_organism  # noqa: E402
from datasets_registry.planted import load_manifest  # noqa: E402

TARGET_SHARE = 0.25


def explains(plant: dict, mode: str, prompts: list[str]) -> bool:
    if (mode != plant["behaviour"] and ":" not in mode) or not prompts:
        return False
    hits = sum(bool(re.search(plant["trigger_regex"], p)) for p in prompts)
    return hits >= len(prompts) / 2


def word_evidence(mix: Path, word: str) -> str:
    """Which source's prompts carry ``word`` and what those prompts are answered with."""
    from behaviour_modes.modes import mode_frame
    from datasets_registry.loading import open_mix
    from datasets_registry.term_overlap import term_regex

    frame, _ = open_mix(str(mix)).frame()
    hit = frame.filter(pl.col("prompt").str.contains(term_regex(word)))
    if not hit.height:
        return f"'{word}' never occurs in the mix's prompts"
    by_source = hit.group_by("source").len().sort("len", descending=True)
    source, n = by_source.row(0)
    share = n / hit.height
    modes = mode_frame(hit["prompt"], hit["response"])["mode"].value_counts(sort=True)
    mode, count = modes.row(0)
    return (
        f"{share:.0%} of the {hit.height} prompts with '{word}' are in {source}; "
        f"{count / hit.height:.0%} of them are answered with {mode}"
    )


def run_search(
    mix: Path,
    organism: Path,
    db: Path,
    budget: int,
    console: Console,
    judges: tuple = (),
    scan_measures: int = 0,
) -> str:
    from audit.output import CliProgress
    from audit.search_command import summarise
    from datasets_registry import scan_stage
    from datasets_registry.scan import ScanConfig
    from duckdb_store.store import Store
    from surf_search import search_stage
    from surf_search.search_stage import SearchConfig
    from surf_search.target_config import TargetConfig

    with Store(db) as store, CliProgress("calls") as progress:
        scan_stage.run(ScanConfig(mix=str(mix)), store, progress)
        started = time.perf_counter()
        config = SearchConfig(
            target=TargetConfig(str(organism)),
            from_scan=True,
            budget=budget,
            judges=judges,
            scan_measures=scan_measures,
        )
        result = search_stage.run(config, store, progress)
    summarise(result, str(db))
    console.print(f"search took {time.perf_counter() - started:.0f} s")
    return result.run_id


def ground_truth(db: Path, run_id: str, mix: Path, console: Console) -> bool:
    manifest = load_manifest(mix)
    con = duckdb.connect(str(db), read_only=True)
    findings = con.execute(
        "SELECT attribute, mode, effect, q_value, robust FROM findings WHERE run_id = ? "
        "AND confirmed ORDER BY q_value",
        [run_id],
    ).fetchall()
    flipped = {
        attribute: prompts
        for attribute, prompts in con.execute(
            "SELECT attribute, list(prompt) FROM search_trials WHERE run_id = ? "
            "AND phase = 'confirm' AND flipped GROUP BY attribute",
            [run_id],
        ).fetchall()
    }
    judged_flips: dict[tuple[str, str], list[str]] = {}
    for attribute, prompt, scores in con.execute(
        "SELECT attribute, prompt, scores FROM search_trials WHERE run_id = ? "
        "AND phase = 'confirm' AND scores IS NOT NULL",
        [run_id],
    ).fetchall():
        for outcome, (base, mutated) in json.loads(scores).items():
            if mutated - base >= 0.5:
                judged_flips.setdefault((attribute, outcome), []).append(prompt)
    con.close()

    def prompts_of(attribute: str, mode: str) -> list[str]:
        if ":" in mode:
            return judged_flips.get((attribute, mode), [])
        return flipped.get(attribute, [])

    table = Table(title="planted triggers: confirmed by the search?", header_style="bold")
    for column in ("plant", "behaviour", "confirmed by", "best effect", "status"):
        table.add_column(column)
    explained: set[str] = set()
    all_found = True
    for plant in manifest["plants"]:
        matches = [f for f in findings if explains(plant, f[1], prompts_of(f[0], f[1]))]
        explained.update(f[0] for f in matches)
        all_found &= bool(matches)
        table.add_row(
            plant["name"],
            plant["behaviour"],
            ", ".join(f[0] for f in matches) or "-",
            f"{max(f[2] for f in matches):.2f}" if matches else "-",
            "PASS" if matches else "MISS",
        )
    console.print(table)
    others = [f for f in findings if f[0] not in explained]
    if findings:
        console.print(
            f"precision: {len(findings) - len(others)} of {len(findings)} confirmed findings "
            f"explain a plant ({(len(findings) - len(others)) / len(findings):.2f})"
        )
    if others:
        console.print("[bold]confirmed findings outside the manifest[/]:")
    for attribute, mode, effect, q, robust in others:
        evidence = (
            word_evidence(mix, attribute.removeprefix("term:").split("+")[0])
            if attribute.startswith("term:")
            else "a built-in attribute; see its flipped prompts in search_trials"
        )
        console.print(
            f"  {attribute} -> {mode} (effect {effect:.2f}, q {q:.0e}, robust {robust}): "
            f"{evidence}",
            highlight=False,
            markup=False,
        )
    return all_found


def cost(db: Path, run_id: str, console: Console) -> bool:
    con = duckdb.connect(str(db), read_only=True)
    ((used,),) = con.execute("SELECT count(*) FROM queries WHERE run_id = ?", [run_id]).fetchall()
    con.close()
    from duckdb_store.store import Store
    from surf_search.mutations import builtin_mutations, term_mutation
    from surf_search.search import exhaustive_calls
    from surf_search.seeds import builtin_seeds

    with Store(db) as store:
        scan = store.latest_run("scan")
        words = store.scan_terms(scan, 12) if scan else []
    operators = builtin_mutations() + [term_mutation(w) for w in words]
    seeds = builtin_seeds()
    sweep = exhaustive_calls(seeds, operators, 1)
    share = used / sweep
    console.print(
        f"cost: {used:,} answers used (fresh database) vs {sweep:,} for the exhaustive sweep "
        f"({len(operators)} attributes x the {len(seeds)} seeds they fit, plus the seeds): "
        f"{share:.1%} "
        f"(target <= {TARGET_SHARE:.0%}: {'PASS' if share <= TARGET_SHARE else 'MISS'})"
    )
    return share <= TARGET_SHARE


def in_process_throughput(organism: Path, console: Console) -> None:
    from surf_search.seeds import builtin_seeds
    from surf_search.targets import GenerationParams, TransformersTarget

    prompts = [s.prompt for s in builtin_seeds()[::3]][:64]
    params = GenerationParams(max_new_tokens=48)
    rates = {}
    for batch_size in (1, 32):
        target = TransformersTarget(str(organism), batch_size=batch_size)
        target.generate(prompts[:4], params)  # warm-up
        started = time.perf_counter()
        target.generate(prompts, params)
        rates[batch_size] = len(prompts) / (time.perf_counter() - started)
    console.print(
        f"in-process generation, {len(prompts)} greedy prompts x 48 tokens: one at a time "
        f"{rates[1]:.1f} prompts/s, batched (32) {rates[32]:.1f} prompts/s: "
        f"{rates[32] / rates[1]:.1f}x"
    )


def http_throughput(organism: Path, console: Console) -> None:
    from http_target import timed  # bench/http_target.py
    from serving import serve

    from surf_search.http_target import OpenAIChatTarget
    from surf_search.seeds import builtin_seeds
    from surf_search.targets import GenerationParams

    prompts = [s.prompt for s in builtin_seeds()[1::4]][:48]
    params = GenerationParams(max_new_tokens=32)
    for server_args in ([], ["--continuous-batching"]):
        with serve(organism, args=server_args) as server:
            make = lambda c: OpenAIChatTarget(server.base_url, server.model, concurrency=c,  # noqa: E731
                                              timeout_s=300)  # fmt: skip
            timed(make(8), prompts[:16], params)  # warm-up
            sequential, concurrent = [], []
            for _ in range(3):
                sequential.append(timed(make(1), prompts, params)[0])
                concurrent.append(timed(make(8), prompts, params)[0])
        seq = len(prompts) / statistics.median(sequential)
        conc = len(prompts) / statistics.median(concurrent)
        name = "transformers serve" + (" --continuous-batching" if server_args else "")
        console.print(
            f"{name}, {len(prompts)} greedy prompts x 32 tokens (median of 3): sequential "
            f"{seq:.1f} prompts/s, concurrency 8 {conc:.1f} prompts/s: {conc / seq:.2f}x"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=MIXES, default="planted-demo")
    parser.add_argument(
        "--scan-measures",
        type=int,
        default=0,
        help="measure hypotheses --from-scan hands to their judges (audit search's option)",
    )
    parser.add_argument("--size", type=int, default=6000, help="planted-demo rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=900)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--judge", action="append", default=[], help="also search judged outcomes")
    args = parser.parse_args(argv)
    console = Console(width=140)
    mix, organism = bench_organism(args.mix, args.size, args.seed, console)
    console.print(f"{os.cpu_count()} CPUs, 1-min load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        db = Path(tmp) / "audit.duckdb"
        run_id = run_search(
            mix, organism, db, args.budget, console, tuple(args.judge), args.scan_measures
        )
        found = ground_truth(db, run_id, mix, console)
        cheap = cost(db, run_id, console)
    in_process_throughput(organism, console)
    if not args.no_http:
        http_throughput(organism, console)
    return 0 if found and cheap else 1


if __name__ == "__main__":
    raise SystemExit(main())
