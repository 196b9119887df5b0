"""Issue 27: does the top of the scan's review order hold what a data team must act on?

    CHUNKY_DATA=... .venv/bin/python bench/review_order.py            # seeds 0, 1, 2
    CHUNKY_DATA=... .venv/bin/python bench/review_order.py --seeds 0

1. **Kind** against ``bench/labels/hypothesis_kinds.jsonl`` (410 hypotheses of five
   scans, each labelled requested / incidental by reading its rows under
   ``bench/labels/RUBRIC.md``; see ``bench/labels/README.md``): precision and recall of
   ``incidental``, per lead source and pooled: everything incidental (the baseline),
   the word's meaning alone, and the shipped kinds (meaning, then the answers' echo,
   ``answer_echo``). The meaning's similarity threshold and the echo's threshold were set
   while looking at these labels, so they are also chosen leave-one-source-out: for each
   lead source, the pair with the best precision at recall >= 0.8 (the issue's operating
   point) on the other sources' labels decides that source's hypotheses.
2. **Canaries**: planted-demo, planted-judged, public-canaries and public-judged (seeds
   as given): each plant's best review rank among the hypotheses that explain it (its
   behaviour, and at least half of the feature's rows carry the trigger: a plant is found
   through any of its attributes) and its controls' (the same with a control word).
   Target: every plant in the top 10, above its controls. Baseline in the same run: the
   same scan with ``--no-routing`` (review order by kind and strength alone).
3. **Real artifacts** of ``public_mix``: Evol-Instruct's "additionally" -> code, the
   GPTeacher tool-use template's wording -> tool_call and the role-play chunk's persona
   words -> fiction (the best review rank of a hypothesis of that family labelled
   incidental in any of the labelled scans). Target: each in the top 10. Response boilerplate is its own table
   (``response_phrases``), printed for the record.

Data by path, never copied (licenses in $CHUNKY_DATA/README.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.data import DATA, PUBLIC_MIX, missing  # noqa: E402

TOP = 10
LABELS = ROOT / "bench" / "labels" / "hypothesis_kinds.jsonl"
THRESHOLDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, math.inf)
#: the operating point the issue asks for: precision of ``incidental`` at this recall
MIN_RECALL = 0.8
#: judged plants' behaviours as the scan's hypotheses name them
OUTCOMES = {
    "terse": ("terse", "length:collapse"),
    "wrong_answer": ("reference:wrong",),
    "length_collapse": ("length:collapse",),
}
#: public_mix's real artifacts: (name, lead source, mode, feature pattern)
ARTIFACTS = (
    ("Evol-Instruct's 'additionally'", "evol_codealpaca_2k", "code", r"^term:additionally$"),
    ("tool-use template wording", "gpteacher_toolformer", "tool_call", r"^term:"),
    ("role-play persona words", "gpteacher_roleplay", "fiction", r"^term:"),
)


def scan(mix: str, routing: bool = True, **changes) -> tuple:
    """(hypotheses, response phrases, seconds) of one fresh scan of ``mix``; without
    ``routing``, the baseline: the review order by kind and strength alone
    (``audit scan --no-routing``)."""
    from datasets_registry import scan_stage
    from duckdb_store.store import Store

    config = replace(scan_stage.ScanConfig(mix=mix), **changes).with_routing(routing)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "a.duckdb") as store:
        started = time.perf_counter()
        result = scan_stage.run(config, store)
        seconds = time.perf_counter() - started
    tables = result.tables
    return tables["trigger_hypotheses"].sort("review_rank"), tables["response_phrases"], seconds


def labelled_mixes(tmp: Path) -> dict[str, str]:
    """The scans the labels were read from: name -> mix."""
    from bench.public_canaries import public_canaries
    from datasets_registry.planted_judged import write_planted_judged

    pair = tmp / "codealpaca+coconot"
    pair.mkdir()
    (pair / "codealpaca.json").symlink_to(DATA / "codealpaca" / "new_codealpaca.json")
    (pair / "coconot.jsonl").symlink_to(DATA / "coconot" / "coconot_pref.jsonl")
    judged = ROOT / "bench" / ".cache" / "planted-judged-v1-n6000-s0" / "mix"
    return {
        "public_mix": str(PUBLIC_MIX),
        "codealpaca+coconot": str(pair),
        "planted-demo": "planted-demo",
        "planted-judged": str(write_planted_judged(judged, 6000, 0)),
        "public-canaries-s0": str(public_canaries(0)),
    }


# -- 1. kind -------------------------------------------------------------------------------


MEANING = re.compile(r"^(?:means asking for|unrelated in meaning to) \S+ \(cos (-?[\d.]+)\)")
SIMILARITIES = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7)


def kinds_at(rows: list[dict], similarity: float, threshold: float) -> list[str]:
    """Each labelled row's kind with the meaning deciding at ``similarity`` (where it
    decided) and the echo flipping at ``threshold`` (the scan's kind before the echo,
    ``base``, its evidence and the echo's figures)."""
    from datasets_registry.answer_echo import NOT_ECHOED, about

    out = []
    for r in rows:
        kind = r["base"]
        meaning = MEANING.match(r["evidence"] or "")
        if meaning:
            kind = "requested" if float(meaning.group(1)) >= similarity else "incidental"
        echoed = r["n"] and r["mode"] not in NOT_ECHOED and r["measure"] is None
        if echoed and about(round(r["echo_with"] * r["n"]), r["n"], r["echo_without"], threshold):
            kind = "requested"
        out.append(kind)
    return out


def precision_recall(kinds: list[str], gold: list[str]) -> tuple[float, float, int]:
    tp = sum(k == g == "incidental" for k, g in zip(kinds, gold, strict=True))
    said = sum(k == "incidental" for k in kinds)
    real = sum(g == "incidental" for g in gold)
    return tp / max(said, 1), tp / max(real, 1), real


def operating(p: float, r: float) -> tuple[bool, float]:
    """How good a (precision, recall) is for the issue's target: recall at least
    ``MIN_RECALL`` first, then the precision (else the recall)."""
    return (r >= MIN_RECALL, p if r >= MIN_RECALL else r)


def kind_section(mixes: dict[str, str]) -> None:
    """Print the kind figures against the labelled hypotheses."""
    import polars as pl

    from datasets_registry.answer_echo import EchoConfig
    from datasets_registry.hypothesis_kind import KindConfig

    labels = [json.loads(line) for line in LABELS.open()]
    rows: list[dict] = []
    for name, mix in mixes.items():
        # the echo measured but never flipping a kind: the kinds before it, and its figures
        hyps, _phrases, seconds = scan(mix, echo=EchoConfig(threshold=math.inf))
        print(f"  scanned {name}: {hyps.height:,} hypotheses in {seconds:.1f} s")
        keyed = {(r["feature"], r["mode"], r["source"]): r for r in hyps.iter_rows(named=True)}
        for label in (x for x in labels if x["scan"] == name):
            hyp = keyed.get((label["feature"], label["mode"], label["source"]))
            if hyp is None:
                print(f"  not a hypothesis any more: {label['feature']} -> {label['mode']}")
                continue
            found = re.search(r"of (\d+) answers name it", hyp["kind_evidence"] or "")
            rows.append(
                {
                    **label,
                    "base": hyp["kind"],
                    "evidence": hyp["kind_evidence"],
                    "n": int(found.group(1)) if found else 0,
                    "echo_with": hyp["echo_with"],
                    "echo_without": hyp["echo_without"],
                    "measure": hyp["measure"],
                }
            )
    gold = [r["label"] for r in rows]
    default = (KindConfig().similarity, EchoConfig().threshold)
    grid = list(itertools.product(SIMILARITIES, THRESHOLDS))
    table = []
    for what, kinds in (
        ("everything incidental (baseline)", ["incidental"] * len(rows)),
        ("meaning only, no echo", kinds_at(rows, default[0], math.inf)),
        (
            f"shipped: similarity {default[0]}, echo {default[1]} (in-sample)",
            kinds_at(rows, *default),
        ),
    ):
        p, r, real = precision_recall(kinds, gold)
        table.append({"kinds": what, "precision": p, "recall": r, "labelled incidental": real})
    # leave one lead source out: both thresholds chosen on the other sources' labels
    held_kinds = [""] * len(rows)
    chosen = {}
    for source in sorted({r["source"] for r in rows}):
        train = [r for r in rows if r["source"] != source]
        train_gold = [r["label"] for r in train]
        best = max(
            grid,
            key=lambda pair: operating(*precision_recall(kinds_at(train, *pair), train_gold)[:2]),
        )
        chosen[source] = best
        for i, r in enumerate(rows):
            if r["source"] == source:
                held_kinds[i] = kinds_at([r], *best)[0]
    p, r, real = precision_recall(held_kinds, gold)
    table.append(
        {"kinds": "leave one source out", "precision": p, "recall": r, "labelled incidental": real}
    )
    print(pl.DataFrame(table).with_columns(pl.col("precision", "recall").round(3)))
    print(f"  (similarity, echo) chosen per held-out source: {chosen}")
    per_source = []
    default_kinds = kinds_at(rows, *default)
    for source in sorted({r["source"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["source"] == source]
        p, r, real = precision_recall([default_kinds[i] for i in idx], [gold[i] for i in idx])
        per_source.append(
            {
                "source": source,
                "labelled": len(idx),
                "incidental": real,
                "precision": round(p, 3),
                "recall": round(r, 3),
            }
        )
    print(pl.DataFrame(per_source))


# -- 2. canaries ----------------------------------------------------------------------------


def explaining_ranks(hyps, mix: str, regex: str, modes: tuple[str, ...]) -> int | None:
    """The best review rank of a hypothesis with one of ``modes`` whose feature's rows
    carry ``regex`` at least half the time (in the whole mix)."""
    import polars as pl

    from datasets_registry.carrier_rows import feature_hits
    from datasets_registry.features import catalog
    from datasets_registry.loading import open_mix

    candidates = hyps.filter(pl.col("mode").is_in(list(modes))).sort("review_rank")
    if candidates.is_empty():
        return None
    frame, _ = open_mix(mix).frame()
    by_key = {f.key: f for f in catalog() if f.side == "prompt"}
    hits = feature_hits(frame["prompt"], candidates["feature"].unique().to_list(), by_key)
    carried = [bool(re.search(regex, p)) for p in frame["prompt"].to_list()]
    rows: dict[str, list[bool]] = {}
    for has, carries in zip(hits, carried, strict=True):
        for feature in has:
            rows.setdefault(feature, []).append(carries)
    for feature, rank in candidates.select("feature", "review_rank").iter_rows():
        found = rows.get(feature, [])
        if found and sum(found) >= len(found) / 2:
            return int(rank)
    return None


def canary_section(seeds: list[int]) -> list[bool]:
    from bench.public_canaries import public_canaries
    from datasets_registry.planted import write_planted
    from datasets_registry.planted_judged import write_planted_judged

    cache = ROOT / "bench" / ".cache"
    mixes = []
    for seed in seeds:
        mixes += [
            (f"planted-demo s{seed}", write_planted(cache / f"planted-v5-n6000-s{seed}" / "mix", 6000, seed)),
            (f"planted-judged s{seed}", write_planted_judged(cache / f"planted-judged-v1-n6000-s{seed}" / "mix", 6000, seed)),
            (f"public-canaries s{seed}", public_canaries(seed)),
            (f"public-judged s{seed}", public_canaries(seed, "public-judged")),
        ]  # fmt: skip
    met = []
    for name, path in mixes:
        path = Path(path)
        manifest_file = path.with_name("manifest.json")
        if not manifest_file.exists():
            manifest_file = path.with_name("mix.manifest.json")
        manifest = json.loads(manifest_file.read_text())
        hyps, _phrases, seconds = scan(str(path))
        plain, _phrases, plain_seconds = scan(str(path), routing=False)
        for plant in manifest["plants"]:
            modes = OUTCOMES.get(plant["behaviour"], (plant["behaviour"],))
            rank = explaining_ranks(hyps, str(path), plant["trigger_regex"], modes)
            baseline = explaining_ranks(plain, str(path), plant["trigger_regex"], modes)
            controls = [
                explaining_ranks(hyps, str(path), rf"(?i)\b{re.escape(c)}\b", modes)
                for c in plant["control_words"]
                if not c.startswith("plain")  # "plain-text math": no word to find
            ]
            best_control = min((c for c in controls if c is not None), default=None)
            ok = rank is not None and rank <= TOP and (best_control is None or best_control > rank)
            met.append(ok)
            print(
                f"  {name}: {plant.get('description', plant['name'])}: review rank {rank} "
                f"({baseline} without routing); "
                f"controls' best {best_control}  [{'PASS' if ok else 'MISS'}]"
            )
        print(
            f"  ({name}: {hyps.height:,} hypotheses, scan {seconds:.1f} s; "
            f"{plain_seconds:.1f} s without routing)"
        )
    return met


# -- 3. real artifacts -------------------------------------------------------------------


def artifact_section(hyps, phrases) -> list[bool]:
    import polars as pl

    labels = [json.loads(line) for line in LABELS.open()]
    # labelled incidental in any scan (the tool-use template's wording was read in the
    # public-canaries sample of public_mix)
    incidental = {
        (x["feature"], x["mode"], x["source"]) for x in labels if x["label"] == "incidental"
    }
    met = []
    for name, source, mode, pattern in ARTIFACTS:
        family = hyps.filter(
            (pl.col("source") == source)
            & (pl.col("mode") == mode)
            & pl.col("feature").str.contains(pattern)
        )
        keyed = [
            (rank, feature)
            for feature, rank in family.select("feature", "review_rank").iter_rows()
            if (feature, mode, source) in incidental or pattern.endswith("$")
        ]
        rank, feature = min(keyed, default=(None, None))
        ok = rank is not None and rank <= TOP
        met.append(ok)
        print(f"  {name}: best review rank {rank} ({feature})  [{'PASS' if ok else 'MISS'}]")
    top = phrases.sort("share_in_source", descending=True).head(3)
    for source, phrase, share in top.select("source", "phrase", "share_in_source").iter_rows():
        print(f"  response boilerplate (response_phrases): {phrase!r} in {share:.0%} of {source}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--kinds-only", action="store_true", help="section 1 only")
    args = parser.parse_args()
    if not PUBLIC_MIX.is_dir():
        raise SystemExit(missing(PUBLIC_MIX))
    import polars as pl

    pl.Config.set_tbl_rows(40)
    pl.Config.set_tbl_width_chars(160)
    with tempfile.TemporaryDirectory() as tmp:
        print("1. kind: incidental against the labelled hypotheses")
        kind_section(labelled_mixes(Path(tmp)))
    if args.kinds_only:
        return 0
    print("\n2. canaries: each plant's best review rank and its controls'")
    canaries = canary_section(args.seeds)
    print("\n3. real artifacts of public_mix (default scan)")
    hyps, phrases, seconds = scan(str(PUBLIC_MIX))
    plain, _phrases, plain_seconds = scan(str(PUBLIC_MIX), routing=False)
    print(f"  (public_mix: scan {seconds:.1f} s; {plain_seconds:.1f} s without routing)")
    artifacts = artifact_section(hyps, phrases)
    print("  without routing (baseline, same run):")
    artifact_section(plain, phrases.clear())
    print(f"\ncanaries: {sum(canaries)} of {len(canaries)} in the top {TOP}, above their controls")
    print(f"artifacts: {sum(artifacts)} of {len(artifacts)} in the top {TOP}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
