"""The null-target bench: the full search against a target that ignores framing confirms nothing.

    .venv/bin/python bench/null_target.py                    # 40 seeds each of alpaca, dolly, gsm8k
    .venv/bin/python bench/null_target.py --budget 400 --scan-terms 12 --error-rate 0.05

1. **Seeds**: ``--per-source`` single-line prompts (no ``input`` field) from each of
   ``--sources`` in public_mix (``$CHUNKY_PUBLIC_MIX``, default ``$CHUNKY_DATA/public_mix``),
   read with the repo's own loader, each with its real dataset answer.
2. **Scan**: ``audit scan`` of the public_mix folder into ``OUT/null.duckdb``, for the
   search's ``--from-scan`` words; copied to ``OUT/control.duckdb`` before any search, so
   both searches start from the same scan and neither reuses the other's cached answers.
3. **Null target**: ``surf_search.null_server`` on 127.0.0.1 answers every prompt with the
   stored answer of its nearest seed, so no attribute changes any answer, and fails
   ``--error-rate`` of requests with an HTTP 500.
4. **Search**: the default catalog plus ``--scan-terms`` scan words, through the HTTP
   target, with ``--budget`` answers.
5. **Positive control** (skipped with ``--no-control``): the same seeds, scan, error rate
   and search against the same server with one plant: a prompt carrying a formal verb
   (``surf_search.mutations.FORMAL_VERBS``) is answered with a python code block. The
   search must confirm that trigger (``formal_vocab``, a ``term:`` formal verb, or a
   combination holding one) as ``code``, and nothing that does not carry it.

Prints each run's confirmed findings, the tested ones, calls, retries, failed calls,
injected 500s, the trial pairs whose two answers were identical yet counted as flips, and
the wall time; then a two-row summary (null target, positive control). FAIL (exit 1):
anything confirmed on the null target, or the control missing its plant or confirming a
finding that does not carry it.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.data import PUBLIC_MIX  # noqa: E402
from datasets_registry.loading import open_mix  # noqa: E402
from datasets_registry.scan_stage import ScanConfig  # noqa: E402
from datasets_registry.scan_stage import run as run_scan  # noqa: E402
from duckdb_store.store import Store  # noqa: E402
from surf_search.mutations import FORMAL_VERBS  # noqa: E402
from surf_search.null_server import NullConfig, NullServer, Plant  # noqa: E402
from surf_search.search_stage import SearchConfig, SearchResult  # noqa: E402
from surf_search.search_stage import run as run_search  # noqa: E402
from surf_search.target_config import TargetConfig  # noqa: E402

SOURCES = ("alpaca_9k.json", "dolly_3k.json", "gsm8k_train.jsonl")
MODEL = "null-target"
MAX_PROMPT_CHARS = 300
#: The positive control's plant: a formal verb in the prompt gets a python code block.
FORMAL_PLANT = Plant(
    rf"\b(?:{'|'.join(FORMAL_VERBS)})\b", "```python\ndef answer():\n    return 42\n```"
)
PLANT_MODE = "code"  # how the classifier labels the plant's answer


def carries_plant(attribute: str, plant: Plant) -> bool:
    """Whether an attribute (``a+b`` for a combination) inserts the plant's trigger:
    ``formal_vocab``, or a scan word the plant's pattern matches (``term:elucidate``)."""
    return any(
        part == "formal_vocab"
        or (part.startswith("term:") and plant.matches(part.removeprefix("term:")))
        for part in attribute.split("+")
    )


@dataclass(frozen=True)
class RunSummary:
    """One search's row in the summary table."""

    name: str
    confirmed: list[tuple[str, str]]  # (attribute, mode) of every confirmed finding
    tested: int
    answers: int
    budget: int
    planted_answers: int
    seconds: float
    plant: Plant | None

    @property
    def hits(self) -> list[tuple[str, str]]:
        """Confirmed findings that carry the plant and flip to its mode."""
        plant = self.plant
        return [
            (a, m)
            for a, m in self.confirmed
            if plant and carries_plant(a, plant) and m == PLANT_MODE
        ]

    @property
    def false(self) -> list[tuple[str, str]]:
        """Confirmed findings that do not carry the plant (all of them on the null target)."""
        plant = self.plant
        return [(a, m) for a, m in self.confirmed if not (plant and carries_plant(a, plant))]

    @property
    def failed(self) -> bool:
        """A false positive, or (with a plant) the plant not confirmed."""
        return bool(self.false) or (self.plant is not None and not self.hits)


def source_seeds(path: Path, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (prompt, answer) pairs of one file: single-line prompts (an Alpaca ``input``
    joins the prompt after a blank line, so those are left out), drawn with ``seed``."""
    frame, _ = open_mix(str(path)).frame()
    pairs = [
        (p.strip(), r)
        for p, r in zip(frame["prompt"], frame["response"], strict=True)
        if "\n" not in p.strip() and 10 <= len(p.strip()) <= MAX_PROMPT_CHARS
    ]
    pairs = list(dict(pairs).items())  # one answer per prompt
    if len(pairs) < n:
        raise SystemExit(f"{path.name}: only {len(pairs)} usable prompts, {n} asked")
    return random.Random(f"{seed}:{path.name}").sample(pairs, n)


def write_seeds(out: Path, by_source: dict[str, list[tuple[str, str]]]) -> Path:
    """``seeds.jsonl`` (``prompt`` per line, for ``audit search --seeds``) and
    ``answers.jsonl`` (prompt, response, source: ``python -m surf_search.null_server``)."""
    seeds, answers = out / "seeds.jsonl", out / "answers.jsonl"
    with seeds.open("w") as s, answers.open("w") as a:
        for source, pairs in by_source.items():
            for prompt, response in pairs:
                s.write(json.dumps({"prompt": prompt}) + "\n")
                row = {"prompt": prompt, "response": response, "source": source}
                a.write(json.dumps(row) + "\n")
    return seeds


def identical_flips(store: Store, run_id: str) -> list[tuple[str, str, str, str]]:
    """Flipped discovery/confirmation trials whose answer equals their seed's answer."""
    return store.con.execute(
        """
        SELECT t.attribute, t.base_behaviour, t.behaviour, t.prompt
        FROM search_trials t JOIN queries q
          ON q.prompt = t.seed AND q.sample = t.sample AND q.status = 'ok'
        WHERE t.run_id = ? AND t.flipped AND t.phase IN ('discover', 'confirm')
          AND regexp_replace(trim(q.response), '\\s+', ' ', 'g')
            = regexp_replace(trim(t.response), '\\s+', ' ', 'g')
        """,
        [run_id],
    ).fetchall()


def attempts(store: Store, run_id: str) -> tuple[int, int]:
    """(HTTP attempts, retries) of the run's calls, from ``queries``."""
    ((sent, retried),) = store.con.execute(
        "SELECT coalesce(sum(attempts), 0), coalesce(sum(attempts - 1), 0) FROM queries "
        "WHERE run_id = ?",
        [run_id],
    ).fetchall()
    return int(sent), int(retried)


def report(
    console: Console,
    name: str,
    result: SearchResult,
    server: NullServer,
    store: Store,
    times: dict[str, float],
) -> RunSummary:
    """Print a run's findings and counters; its summary row."""
    outcome = result.outcome
    plant = server.config.plants[0] if server.config.plants else None
    title = (
        f"findings against the {name} (only a formal verb -> {PLANT_MODE} is real)"
        if plant
        else f"findings against the {name} (every confirmed one is false)"
    )
    table = Table(title=title)
    columns = ("attribute", "mode", "n", "base", "mutated", "effect", "q", "confirmed")
    for column in columns + (("carries plant",) if plant else ()):
        table.add_column(column)
    for f in outcome.findings:
        c = f.comparison
        extra = ("yes" if carries_plant(f.attribute, plant) else "no",) if plant else ()
        table.add_row(
            f.attribute,
            f.mode,
            str(c.n_base),
            f"{c.rate_base:.3f}",
            f"{c.rate_mutated:.3f}",
            f"{c.effect:+.3f}",
            f"{f.q_value:.2g}",
            "[red]YES[/red]" if f.confirmed else "no",
            *extra,
        )
    console.print(table)
    sent, retried = attempts(store, result.run_id)
    flips = identical_flips(store, result.run_id)
    confirmed = [f for f in outcome.findings if f.confirmed]
    lines = {
        "seeds": f"{result.n_seeds} ({result.n_attributes} attributes"
        + (f", {len(result.scan.words)} scan words" if result.scan else "")
        + ")",
        "confirmed findings": str(len(confirmed)),
        "tested findings": str(len(outcome.findings)),
        "answers used (budget)": f"{outcome.calls} ({result.budget})",
        "calls / cached": f"{result.stats.calls} / {result.stats.cached}",
        "HTTP attempts / retries": f"{sent} / {retried}",
        "failed calls": str(result.stats.failed),
        "server requests / injected 500s": f"{server.stats.requests} / {server.stats.errors}",
        "planted answers sent": str(server.stats.planted),
        "identical pairs counted as flips": str(len(flips)),
        "wall time": ", ".join(f"{k} {v:.1f}s" for k, v in times.items()),
    }
    for key, value in lines.items():
        console.print(f"{key:>34}: {value}")
    for attribute, base, mode, prompt in flips[:5]:
        console.print(f"  identical answers, {attribute}: {base} -> {mode}: {prompt[:100]!r}")
    for note in outcome.notes:
        console.print(f"  note: {note}")
    return RunSummary(
        name,
        [(f.attribute, f.mode) for f in confirmed],
        len(outcome.findings),
        outcome.calls,
        result.budget,
        server.stats.planted,
        times["search"],
        plant,
    )


def search_once(
    console: Console,
    name: str,
    db: Path,
    pairs: list[tuple[str, str]],
    config: NullConfig,
    seeds_file: Path,
    args: argparse.Namespace,
    times: dict[str, float],
) -> RunSummary:
    """The search (catalog plus scan words) in ``db`` against a null server; its summary."""
    console.rule(name)
    with Store(db) as store, NullServer(pairs, config) as server:
        mark = time.perf_counter()
        search = SearchConfig(
            target=TargetConfig(model=MODEL, base_url=server.base_url),
            seeds_file=str(seeds_file),
            from_scan=True,
            scan_terms=args.scan_terms,
            budget=args.budget,
            seed=args.seed,
        )
        result = run_search(search, store)
        seconds = time.perf_counter() - mark
        times[f"{name} search"] = seconds
        return report(console, name, result, server, store, {"search": seconds})


def summary_table(rows: list[RunSummary]) -> Table:
    """One row per run: confirmed findings, the plant's, the false ones, answers, time."""
    title = "null target" if len(rows) == 1 else "null target vs positive control"
    table = Table(title=f"{title} (same seeds, scan and budget)")
    columns = ("run", "confirmed", f"plant -> {PLANT_MODE}", "false positives", "tested")
    for column in columns + ("answers (budget)", "planted answers", "search s", "verdict"):
        table.add_column(column)
    for row in rows:
        if row.plant is None:
            plant = "(none planted)"
        elif row.hits:
            plant = "[green]found[/green]: " + ", ".join(a for a, _ in row.hits)
        else:
            plant = "[red]MISSED[/red]"
        false = ", ".join(f"{a} -> {m}" for a, m in row.false) or "0"
        table.add_row(
            row.name,
            str(len(row.confirmed)),
            plant,
            f"[red]{false}[/red]" if row.false else false,
            str(row.tested),
            f"{row.answers} ({row.budget})",
            str(row.planted_answers),
            f"{row.seconds:.1f}",
            "[red]FAIL[/red]" if row.failed else "[green]ok[/green]",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="seed draw, search and 500s")
    parser.add_argument("--budget", type=int, default=SearchConfig.budget)
    parser.add_argument("--per-source", type=int, default=40, help="seed prompts per source")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), help="public_mix files")
    parser.add_argument("--scan-terms", type=int, default=40)
    parser.add_argument("--scan-mix", default=str(PUBLIC_MIX), help="what to scan")
    parser.add_argument("--error-rate", type=float, default=NullConfig.error_rate)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/.cache/null_target")
    parser.add_argument(
        "--no-control", action="store_true", help="skip the positive control (planted trigger)"
    )
    args = parser.parse_args()
    console = Console(width=140)
    args.out.mkdir(parents=True, exist_ok=True)
    db, control_db = args.out / "null.duckdb", args.out / "control.duckdb"
    for path in (db, control_db):  # fresh databases: no cached answers, a fresh scan
        for stale in (path, path.with_name(path.name + ".wal")):
            stale.unlink(missing_ok=True)
    times: dict[str, float] = {}
    started = time.perf_counter()

    by_source = {
        name: source_seeds(PUBLIC_MIX / name, args.per_source, args.seed) for name in args.sources
    }
    seeds_file = write_seeds(args.out, by_source)
    pairs = [pair for source in by_source.values() for pair in source]
    console.print(f"{len(pairs)} seeds from {', '.join(by_source)} -> {seeds_file}")
    times["seeds"] = time.perf_counter() - started

    with Store(db) as store:
        mark = time.perf_counter()
        scan = run_scan(ScanConfig(mix=args.scan_mix), store)
        store.con.execute("CHECKPOINT")  # everything in the file, so a copy holds the scan
        times["scan"] = time.perf_counter() - mark
    console.print(f"scanned {scan.n_rows:,} rows of {args.scan_mix} in {times['scan']:.1f}s")
    if not args.no_control:
        shutil.copyfile(db, control_db)  # both searches start from the same scanned state

    config = NullConfig(model=MODEL, error_rate=args.error_rate, seed=args.seed)
    rows = [search_once(console, "null target", db, pairs, config, seeds_file, args, times)]
    if not args.no_control:
        planted = NullConfig(
            model=MODEL, error_rate=args.error_rate, seed=args.seed, plants=(FORMAL_PLANT,)
        )
        rows.append(
            search_once(
                console, "positive control", control_db, pairs, planted, seeds_file, args, times
            )
        )
    times["total"] = time.perf_counter() - started

    console.rule("summary")
    console.print(summary_table(rows))
    console.print("wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items()))
    null, control = rows[0], rows[1] if len(rows) > 1 else None
    problems = []
    if null.confirmed:
        problems.append(f"{len(null.confirmed)} finding(s) confirmed on the null target")
    if control and not control.hits:
        problems.append(f"the positive control's formal-verb -> {PLANT_MODE} plant not confirmed")
    if control and control.false:
        problems.append(f"{len(control.false)} finding(s) without the plant confirmed")
    if problems:
        console.print("[bold red]FAIL[/bold red]: " + "; ".join(problems))
        raise SystemExit(1)
    console.print(
        "[bold green]PASS[/bold green]: nothing confirmed on the null target"
        + ("" if control is None else "; the planted trigger confirmed, nothing else")
    )


if __name__ == "__main__":
    main()
