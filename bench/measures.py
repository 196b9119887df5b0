"""Issue 34: does the scan propose the judged canaries, above their controls?

For planted-demo (the "Context:" framing -> terse answers), the judged organism's mix
(``planted-judged``: Millbrook -> wrong final answers, beekeeper -> one-line answers) and the real-text
``public-judged`` mix (``bench/public_canaries.py``: "Quillmarsh" cuts alpaca answers to
their first sentence, "Brindlecombe" ends GSM8K answers in a number their working
contradicts, each with a same-kind control word), scan the mix and print where each
canary's measure hypothesis sits in review order (overall and among the measure
hypotheses) and whether its control makes the same hypothesis. Also: the consistency
check's false-alarm rate on GSM8K's own answers and its hit rate on ``wrong-final`` edits.

    .venv/bin/python bench/measures.py              # seeds 0 and 1
    .venv/bin/python bench/measures.py --seeds 0

Targets (issue 34): each canary in the top 10 of review order, above its control.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.data import PUBLIC_MIX, missing  # noqa: E402

TOP = 10
#: other features that carry a plant: "Context:" framing is also the catalog's detector of it
ALIASES = {"term:context": ("data_extraction_framing@v1",)}


def scan(mix: str) -> tuple:
    """(hypotheses in review order, seconds) of one fresh scan of ``mix``."""
    import polars as pl

    from datasets_registry import scan_stage
    from duckdb_store.store import Store

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "a.duckdb") as store:
        started = time.perf_counter()
        result = scan_stage.run(scan_stage.ScanConfig(mix=mix), store)
        seconds = time.perf_counter() - started
    hyps = result.tables["trigger_hypotheses"].sort("review_rank")
    measured = hyps.filter(pl.col("measure").is_not_null()).with_row_index("measure_rank", 1)
    return hyps, measured, seconds


def place(hyps, measured, feature: str, mode: str) -> tuple[int | None, int | None]:
    """(review rank, rank among measure hypotheses) of (feature, mode), or Nones; a plant is
    found through any of its attributes (``ALIASES``: the catalog feature that detects it)."""
    import polars as pl

    names = [feature, *ALIASES.get(feature, ())]
    row = measured.filter(pl.col("feature").is_in(names) & (pl.col("mode") == mode))
    if row.is_empty():
        return None, None
    return int(row["review_rank"][0]), int(row["measure_rank"][0])


def check(name: str, mix: str, plants: list[tuple[str, tuple[str, ...], str]]) -> list[bool]:
    """Print each plant's and control's place; True per plant that meets the target."""
    hyps, measured, seconds = scan(mix)
    print(
        f"\n{name}: {hyps.height:,} hypotheses ({measured.height:,} on measures), scan {seconds:.1f} s"
    )
    met = []
    for trigger, controls, outcome in plants:
        review, among = place(hyps, measured, f"term:{trigger}", outcome)
        c_ranks = [place(hyps, measured, f"term:{c}", outcome)[0] for c in controls]
        c_best = min((r for r in c_ranks if r is not None), default=None)
        ok = review is not None and review <= TOP and (c_best is None or c_best > review)
        met.append(ok)
        against = (
            f"controls {', '.join(controls)}: "
            + (f"best at {c_best}" if c_best is not None else "no such hypothesis")
            if controls
            else "no control word in this mix"
        )
        print(
            f"  {trigger} -> {outcome}: review rank {review}, {among} of the measure "
            f"hypotheses; {against}  [{'PASS' if ok else 'MISS'}: top {TOP}, above its control]"
        )
    return met


def check_judged_mix() -> list[bool]:
    """The judged organism's mix (``planted-judged``, 6,000 rows, seed 0): Millbrook ->
    wrong final answers, beekeeper -> one-line answers, each with four control words."""
    from datasets_registry.planted_judged import write_planted_judged

    mix = write_planted_judged(
        ROOT / "bench" / ".cache" / "planted-judged-v1-n6000-s0" / "mix", 6000, 0
    )
    manifest = json.loads(mix.with_name("manifest.json").read_text())
    outcome = {"wrong_answer": "reference:wrong", "length_collapse": "length:collapse"}
    plants = [
        (
            p["trigger"].lower(),
            tuple(c.lower() for c in p["control_words"] if " " not in c),
            outcome[p["kind"]],
        )
        for p in manifest["plants"]
    ]
    return check("planted-judged (seed 0)", str(mix), plants)


def consistency_figures() -> None:
    """False alarms on GSM8K's answers and hits on wrong-final edits of them."""
    import polars as pl

    from datasets_registry.answer_edits import wrong_final
    from datasets_registry.response_measures import get_measure

    path = PUBLIC_MIX / "gsm8k_train.jsonl"
    answers = [json.loads(line)["answer"] for line in path.open()]
    value = get_measure("consistency").value
    own = value(pl.Series(answers)).drop_nulls()
    rng = random.Random(0)
    edited = [e[0] for a in answers if (e := wrong_final(a, rng)) is not None]
    hit = value(pl.Series(edited)).drop_nulls()
    print(
        f"\nconsistency on GSM8K: {own.sum():,} of {own.len():,} own answers contradicted "
        f"({own.mean():.1%}); {hit.sum():,} of {hit.len():,} wrong-final edits caught ({hit.mean():.1%})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    if not PUBLIC_MIX.is_dir():
        raise SystemExit(missing(PUBLIC_MIX))
    from bench.public_canaries import JUDGED_CANARIES, public_canaries

    met = check("planted-demo", "planted-demo", [("context", (), "length:collapse")])
    met += check_judged_mix()
    outcomes = {"truncate": "length:collapse", "wrong-final": "reference:wrong"}
    for seed in args.seeds:
        path = public_canaries(seed, "public-judged")
        manifest = json.loads(path.with_name("mix.manifest.json").read_text())
        controls = {p["trigger_literals"][0]: p["control_words"][0] for p in manifest["plants"]}
        plants = [
            (t.lower(), (controls[t].lower(),), outcomes[effect])
            for t, _, effect in JUDGED_CANARIES
        ]
        met += check(f"public-judged seed {seed}", str(path), plants)
    consistency_figures()
    print(f"\n{sum(met)} of {len(met)} canaries in the top {TOP}, above their controls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
