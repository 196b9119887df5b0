"""Benchmark attribution on the planted organism: does each method find the planted examples?

    .venv/bin/python bench/attribution.py              # planted-demo, 6000 conversations, seed 0
    .venv/bin/python bench/attribution.py --proj-dim 1024 --speed-n 64
    .venv/bin/python bench/attribution.py --mix public-canaries --no-speed   # real text

Builds (or reuses, under ``bench/.cache/``) the planted mix and the tiny organism
trained on it (``organism.training.train_model``, seed 0), or with ``--mix
public-canaries`` the real-text organism: a 6,000-row ``public_mix`` sample with
three canaries planted by ``audit plant`` (``bench/public_canaries.py``; 60 planted
examples each, whose source is the canary's behaviour source). For
each plant in the manifest the queries are the organism's greedy responses to
the held-out ``tests[*].triggered`` prompts that show the planted behaviour
(``surf_search.planted_check.shows_behaviour``): the mis-routed pairs a search
would find. Each method (gradient, trackstar, saliency, embedding, lexical, random) then ranks every
training example for the plant (mean standardised score over the queries, as
``audit attribute`` stores them) and counts per-query top-k hits per source.

Examples are ranked as ``audit attribute`` stores them: those whose own response shows the
plant's behaviour first, by score within each group; the last column ranks by score alone
(``--score-only``), the baseline measured in the same run.

Metrics per plant and method, with ``P`` = the plant's planted example ids
(``example_ids`` in the manifest) and ``T50`` = the 50 best-ranked examples:

- *top source*: rank 1 of the per-source hit table; must be the plant's source.
- *precision@50* = |T50 & P| / 50.
- *recall@50* = |T50 & P| / min(50, |P|). Each plant has 48 planted examples in the
  default mix (generator v4), so this is plain recall@50; a larger mix with more than 50
  caps the denominator (BEIR's "capped recall").
- *R-prec* = |T_|P| & P| / |P|: the share of the top |P| examples that are
  planted, i.e. how well the whole planted set ranks above the rest of the mix.

The planted examples share their source and their behaviour with many legitimate
examples (a program asked for, a jailbreak refused), so ranking by "looks like a
code answer" is not enough: a method must find the examples where the behaviour
hangs on the trigger. Queries carry the seed they were mutated from (the test's
``base`` prompt), as ``audit attribute`` gives them from ``search_trials``.

Targets (issue 6): every plant's top source is its planted source; the gradient-based
attribution (the ``saliency`` method: input gradients of the response loss) reaches a
mean recall@50 >= 0.9 over the plants and is ahead of lexical and random. The
parameter-gradient method (``gradient``) is reported beside it.

Speed: Bergson's gradient featurisation (per-example gradients of every linear module,
projected per module) in examples per second and peak memory, in token batches and,
the baseline measured in the same run, one row per call; each runs in its own
subprocess on the same examples so peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from attribution.bergson_gradients import ParamSelection  # noqa: E402
from attribution.inputs import Query  # noqa: E402
from attribution.methods import method_names  # noqa: E402
from attribution.pipeline import AttributionConfig, Attributor, rank_rows  # noqa: E402
from bench.planted_cache import MIXES, bench_organism  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "attribution"
METHODS = method_names()  # every registered method, the random baseline included
K = 50
TARGET_RECALL = 0.9
BEST = "saliency"  # the gradient-based method the target is checked on


def triggered_responses(target: object, plant: dict, terse: int) -> list[tuple[str, bool]]:
    """(greedy response, shows the planted behaviour) per held-out triggered prompt."""
    from behaviour_modes.modes import classify_batch
    from surf_search.planted_check import shows_behaviour
    from surf_search.targets import GenerationParams

    prompts = [t["triggered"] for t in plant["tests"]]
    calls = target.generate(prompts, GenerationParams(max_new_tokens=48))  # type: ignore[attr-defined]
    responses = [c[0].text or "" for c in calls]
    modes = [m.mode for m in classify_batch(prompts, responses)]
    return [
        (r, shows_behaviour(plant["behaviour"], m, r, terse))
        for r, m in zip(responses, modes, strict=True)
    ]


def plant_queries(organism: Path, manifest: dict) -> dict[str, list[Query]]:
    """Per plant: greedy responses to held-out triggered prompts that show the behaviour."""
    from surf_search.targets import TransformersTarget

    target = TransformersTarget(str(organism))
    terse = int(manifest.get("terse_max_words", 4))
    return {
        plant["name"]: [
            Query(t["triggered"], response, t["base"])
            for t, (response, shows) in zip(
                plant["tests"], triggered_responses(target, plant, terse), strict=True
            )
            if shows
        ]
        for plant in manifest["plants"]
    }


def ranking_metrics(ranking: np.ndarray, ids: list[str], planted: set[str]) -> dict[str, float]:
    hits = np.array([ids[i] in planted for i in ranking])
    n = len(planted)
    return {
        "precision": float(hits[:K].mean()),
        "recall": float(hits[:K].sum() / min(K, n)),
        "r_prec": float(hits[:n].sum() / n),
    }


# -- speed ---------------------------------------------------------------------------------


def _speed_child(
    organism: str, mix: str, n: int, proj_dim: int, batched: bool, queue: object
) -> None:
    import torch

    from attribution.bergson_gradients import GradientRecipe
    from datasets_registry.loading import open_mix

    frame, _ = open_mix(mix).frame()
    frame = frame.head(n)
    prompts, responses = list(frame["prompt"]), list(frame["response"])
    featuriser = GradientRecipe(organism, proj_dim=proj_dim).build("cpu")
    before = _rss_now()
    featuriser.featurise(prompts[:4], responses[:4])  # first call allocates: not timed
    started = time.perf_counter()
    if batched:
        featuriser.featurise(prompts, responses)
    else:
        for p, r in zip(prompts, responses, strict=True):
            featuriser.featurise([p], [r])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put(  # type: ignore[attr-defined]
        {
            "examples_per_s": n / seconds,
            "seconds": seconds,
            "peak_rss": peak,
            "rss_before": before,
            "params": featuriser.dim,
            "threads": torch.get_num_threads(),
        }
    )


def _rss_now() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_speed(organism: Path, mix: Path, n: int, proj_dim: int, batched: bool) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(
        target=_speed_child, args=(str(organism), str(mix), n, proj_dim, batched, queue)
    )
    process.start()
    result = queue.get()
    process.join()
    return result


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=MIXES, default="planted-demo")
    parser.add_argument("--size", type=int, default=6000, help="planted-demo rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--proj-dim", type=int, default=16, help="Bergson's per-module side")
    parser.add_argument("--top-k", type=int, default=K)
    parser.add_argument("--speed-n", type=int, default=128, help="examples timed per path")
    parser.add_argument("--precondition", action="store_true")
    parser.add_argument("--no-speed", action="store_true", help="skip the featurisation timing")
    parser.add_argument("--response-tokens", type=int, default=4, help="0: the whole response")
    parser.add_argument("--layers", type=int, default=None, help="gradients of the last N layers")
    args = parser.parse_args(argv)
    console = Console(width=150)

    from datasets_registry.loading import open_mix
    from datasets_registry.planted import load_manifest

    mix, organism = bench_organism(args.mix, args.size, args.seed, console)
    manifest = load_manifest(mix)
    frame, _ = open_mix(str(mix)).frame()
    started = time.perf_counter()
    queries = plant_queries(organism, manifest)
    console.print(
        f"queries (greedy responses showing the planted behaviour) in "
        f"{time.perf_counter() - started:.0f} s: "
        + ", ".join(
            f"{p['name']} {len(queries[p['name']])}/{len(p['tests'])}" for p in manifest["plants"]
        )
    )

    config = AttributionConfig(
        methods=METHODS,
        top_k=args.top_k,
        proj_dim=args.proj_dim,
        precondition=args.precondition,
        keep=len(frame),
        response_tokens=args.response_tokens or None,
        selection=ParamSelection(last_layers=args.layers),
    )
    started = time.perf_counter()
    attributor = Attributor.build(frame, organism, config, store_root=CACHE / "features")
    gradient = attributor.methods["gradient"]
    console.print(
        f"methods prepared in {time.perf_counter() - started:.0f} s; gradient features: "
        + (
            f"{gradient.featurised:,} examples in {gradient.seconds:.0f} s "
            f"({gradient.featurised / gradient.seconds:.1f} ex/s, Bergson, "
            f"{len(gradient.featuriser.module_sizes)} modules x {args.proj_dim}^2)"
            if gradient.featurised
            else "reused from the feature store"
        )
    )
    saliency = attributor.methods[BEST]
    console.print(
        "saliency rows: "
        + (
            f"{saliency.featurised:,} examples in {saliency.seconds:.0f} s "
            f"({saliency.featurised / saliency.seconds:.1f} ex/s, one backward pass per batch)"
            if saliency.featurised
            else "reused from the feature store"
        )
    )

    ids = attributor.train.example_ids
    table = Table(title=f"Planted-example retrieval (k = {K})", header_style="bold")
    for name in ("plant", "source", "n planted", "queries", "method", "top source", "prec@50",
                 "recall@50", "R-prec", "recall@50 by score"):  # fmt: skip
        table.add_column(name, justify="right" if name[0] in "nqpRr" else "left")
    means: dict[str, list[float]] = {m: [] for m in METHODS}
    by_score: dict[str, list[float]] = {m: [] for m in METHODS}
    all_top_ok = True
    for plant in manifest["plants"]:
        planted = set(plant["example_ids"])
        results = attributor.attribute(queries[plant["name"]], behaviour=plant["behaviour"])
        for i, method in enumerate(METHODS):
            result = results[method]
            metrics = ranking_metrics(result.ranking, ids, planted)
            scored = rank_rows(result.aggregated)  # by score alone: the baseline
            score_recall = ranking_metrics(scored, ids, planted)["recall"]
            by_score[method].append(score_recall)
            top = result.sources.row(0, named=True)["source"]
            ok = top == plant["source"]
            if method != "random":
                all_top_ok &= ok
            means[method].append(metrics["recall"])
            table.add_row(
                plant["name"] if i == 0 else "",
                plant["source"] if i == 0 else "",
                str(len(planted)) if i == 0 else "",
                str(len(queries[plant["name"]])) if i == 0 else "",
                method,
                top + ("" if ok else "  (MISS)"),
                f"{metrics['precision']:.2f}",
                f"{metrics['recall']:.2f}",
                f"{metrics['r_prec']:.2f}",
                f"{score_recall:.2f}",
                end_section=i == len(METHODS) - 1,
            )
    console.print(table)
    mean = {m: float(np.mean(v)) for m, v in means.items()}
    console.print(
        "mean recall@50: " + ", ".join(f"{m} {v:.3f}" for m, v in mean.items()),
        highlight=False,
    )
    console.print(
        "ranked by score alone (no behaviour-first ranking, the baseline in this run): "
        + ", ".join(f"{m} {np.mean(v):.3f}" for m, v in by_score.items()),
        highlight=False,
    )
    gradient_ok = (
        mean[BEST] >= TARGET_RECALL and mean[BEST] > mean["lexical"] and mean[BEST] > mean["random"]
    )
    console.print(
        f"targets: top source = planted source for every plant (all but random): "
        f"{'PASS' if all_top_ok else 'MISS'}; {BEST} (input gradients) mean recall@50 >= "
        f"{TARGET_RECALL} and ahead of lexical and random: {'PASS' if gradient_ok else 'MISS'} "
        f"(lowest plant {min(means[BEST]):.2f}); parameter gradients (gradient): mean "
        f"{mean['gradient']:.3f}, lowest plant {min(means['gradient']):.2f}",
        highlight=False,
    )

    summary = {
        "mean_recall_at_50": mean,
        "recall_at_50": {p["name"]: means[BEST][i] for i, p in enumerate(manifest["plants"])},
        "mean_recall_at_50_by_score": {m: float(np.mean(v)) for m, v in by_score.items()},
        "top_source_ok": all_top_ok,
    }
    print(json.dumps(summary))
    if args.no_speed:
        return 0 if all_top_ok and gradient_ok else 1
    speed = Table(
        title=f"Gradient featurisation speed ({args.speed_n} examples, proj_dim {args.proj_dim})",
        header_style="bold",
    )
    for name in ("path", "examples/s", "seconds", "peak RSS", "RSS before", "threads"):
        speed.add_column(name, justify="left" if name == "path" else "right")
    rates = {}
    for label, batched in (("Bergson, token batches", True), ("Bergson, one row per call", False)):
        r = measure_speed(organism, mix, args.speed_n, args.proj_dim, batched)
        rates[batched] = r["examples_per_s"]
        speed.add_row(
            label,
            f"{r['examples_per_s']:.1f}",
            f"{r['seconds']:.1f}",
            f"{r['peak_rss'] / 2**30:.2f} GiB",
            f"{r['rss_before'] / 2**30:.2f} GiB",
            str(r["threads"]),
        )
    console.print(speed)
    console.print(
        f"batched / one row per call: {rates[True] / rates[False]:.2f}x; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        highlight=False,
    )
    return 0 if all_top_ok and gradient_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
