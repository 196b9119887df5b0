"""Attribution quality the field recognises: the linear datamodeling score (LDS) per method,
with recall@50 of the planted rows, the top-1 source and seconds per 1,000 rows.

    .venv/bin/python bench/lds.py                          # planted-demo, 20 halves
    .venv/bin/python bench/lds.py --seeds-per-half 3       # 3 models per half, averaged
    .venv/bin/python bench/lds.py --mix public-canaries --halves 20

LDS (Park et al. 2023, TRAK; the figure Bergson publishes): train the organism's recipe
on K seeded random halves ``S_k`` of the mix (``bench/lds_halves.py``; K >= 20). For each
finding ``f`` (here: each plant of the manifest, its queries the organism's greedy
responses to held-out triggered prompts that show the planted behaviour, as
``bench/attribution.py`` builds them) measure the behaviour under each half-model,
``y_k(f)`` = the mean over the queries of NLL(response | seed prompt) - NLL(response |
triggered prompt), the summed negative log-likelihoods of the query's response (the
behaviour) given the prompt the search started from and given the triggered prompt: how
much the trigger raises the behaviour's likelihood (sums, not per-token means, so the
halves' own tokenizers do not change it; the contrast cancels how well a half-model
models the response's text at all, which a plain NLL of the response is dominated by:
there even the count of planted rows in a half correlates -0.34 to +0.59 with it).
A method's prediction is ``g_k(f)`` = the sum over ``S_k`` of its per-example score for
the finding (the standardised mean over the queries that ``audit attribute`` ranks by).
A second measure is the behaviour rate: the share of the plant's held-out triggered
prompts whose greedy response under the half-model shows the planted behaviour.
``LDS(f)`` = Spearman correlation of ``g_k(f)`` and ``y_k(f)`` over the K halves; the
table gives the mean over findings and a 95% percentile-bootstrap interval over findings
(resampling findings, 10,000 times). The random baseline's LDS is the noise floor; the
oracle row predicts with the number of the plant's planted rows in each half, the
ceiling of any method that finds exactly the planted rows.

Every method is prepared afresh on the full mix in a new feature folder, so the
seconds per 1,000 rows are the cost of a first run (``trackstar`` reuses the
``gradient`` method's Bergson features, as ``audit attribute`` does; its seconds are
those of fitting and scoring only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from attribution.inputs import Query  # noqa: E402
from attribution.methods import method_names  # noqa: E402
from attribution.pipeline import AttributionConfig, Attributor  # noqa: E402
from bench.attribution import CACHE as ATTRIBUTION_CACHE  # noqa: E402
from bench.attribution import K, plant_queries, ranking_metrics, triggered_responses  # noqa: E402
from bench.lds_halves import DEFAULT_HALVES, half_models, train_halves  # noqa: E402
from bench.planted_cache import MIXES, bench_organism  # noqa: E402

#: Bergson's published LDS on a GPT-2 fine-tune (README, bergson 2.5).
PUBLISHED = {"magic": 0.983, "ekfac": 0.257, "trackstar": 0.184}
TARGET_LDS = 0.5
NLL, RATE = "trigger NLL contrast", "behaviour rate"
ORACLE = "oracle: planted rows"
ATTRIBUTION_FEATURES = ATTRIBUTION_CACHE / "features"
N_BOOT = 10_000


def response_nll(model_dir: Path, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Summed negative log-likelihood of each (prompt, response)'s response under one model
    (NaN: a row training would skip)."""
    import torch

    from attribution.model_loading import load_model, training_max_length
    from organism.encoding import IGNORE, collate, encode_rows, pad_id

    model, tokenizer = load_model(model_dir, "cpu")
    prompts, responses = [p for p, _ in pairs], [r for _, r in pairs]
    encoded = encode_rows(tokenizer, prompts, responses, training_max_length(model_dir))
    out = np.full(len(pairs), np.nan)
    with torch.no_grad():
        for i, example in enumerate(encoded.examples):
            if example is None:
                continue
            ids, labels = collate([example], pad_id(tokenizer))
            logits = model(input_ids=ids).logits[:, :-1].float()
            out[i] = float(
                torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]),
                    labels[:, 1:].reshape(-1),
                    ignore_index=IGNORE,
                    reduction="sum",
                )
            )
    return out


def behaviour_measure(model_dir: Path, queries: list[Query]) -> float:
    """How much the trigger raises the behaviour's likelihood under one model: the mean over
    the queries of NLL(response | seed prompt) - NLL(response | triggered prompt)."""
    triggered = [(q.prompt, q.response) for q in queries]
    seeds = [(q.base or q.prompt, q.response) for q in queries]
    nll = response_nll(model_dir, triggered + seeds)  # one model load for both
    return float(np.nanmean(nll[len(queries) :] - nll[: len(queries)]))


def behaviour_rate(model_dir: Path, plant: dict, terse: int) -> float:
    """Share of the plant's held-out triggered prompts whose greedy response under one model
    shows the planted behaviour (``surf_search.planted_check.shows_behaviour``)."""
    from surf_search.targets import TransformersTarget

    target = TransformersTarget(str(model_dir))
    return float(np.mean([shows for _, shows in triggered_responses(target, plant, terse)]))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (0 when either side is constant)."""
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def bootstrap_interval(values: list[float], seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean, resampling the findings."""
    rng = np.random.default_rng(seed)
    x = np.asarray(values)
    means = x[rng.integers(0, len(x), size=(N_BOOT, len(x)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", choices=MIXES, default="planted-demo")
    parser.add_argument("--size", type=int, default=6000, help="planted-demo rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--halves", type=int, default=DEFAULT_HALVES)
    parser.add_argument(
        "--seeds-per-half", type=int, default=1, help="models per half, behaviour averaged"
    )
    parser.add_argument("--methods", default=",".join(method_names()))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--reuse-features",
        action="store_true",
        help="score with bench/attribution.py's feature folder (no cost column: reused)",
    )
    args = parser.parse_args(argv)
    console = Console(width=230)
    methods = tuple(args.methods.split(","))

    from datasets_registry.loading import open_mix
    from datasets_registry.planted import load_manifest

    mix, organism = bench_organism(args.mix, args.size, args.seed, console)
    manifest = load_manifest(mix)
    frame, _ = open_mix(str(mix)).frame()
    halves = train_halves(mix, organism, args.halves, console, args.seeds_per_half)
    models = [half_models(h, args.seeds_per_half) for h in halves]
    queries = plant_queries(organism, manifest)
    plants = [p for p in manifest["plants"] if queries[p["name"]]]

    started = time.perf_counter()
    terse = int(manifest.get("terse_max_words", 4))
    ys = {
        NLL: {
            p["name"]: np.array(
                [np.mean([behaviour_measure(m, queries[p["name"]]) for m in ms]) for ms in models]
            )
            for p in plants
        },
        RATE: {
            p["name"]: np.array(
                [np.mean([behaviour_rate(m, p, terse) for m in ms]) for ms in models]
            )
            for p in plants
        },
    }
    console.print(
        f"behaviour under {len(halves)} half-models measured in "
        f"{time.perf_counter() - started:.0f} s",
        highlight=False,
    )
    members = [np.load(h / "rows.npy") for h in halves]

    config = AttributionConfig(methods=methods, keep=len(frame))
    seconds: dict[str, float] = {}
    results: dict[str, dict[str, dict]] = {m: {} for m in methods}
    with tempfile.TemporaryDirectory(prefix="lds-features-") as fresh:
        store = ATTRIBUTION_FEATURES if args.reuse_features else fresh
        attributor = Attributor.build(frame, organism, config, store_root=store)
        for name, method in attributor.methods.items():
            seconds[name] = method.seconds
        ids = attributor.train.example_ids
        for plant in plants:
            name = plant["name"]
            started = time.perf_counter()
            by_method = attributor.attribute(queries[name], behaviour=plant["behaviour"])
            scoring = time.perf_counter() - started
            for method, result in by_method.items():
                seconds[method] += scoring / len(by_method)
                predicted = np.array([result.aggregated[rows].sum() for rows in members])
                metrics = ranking_metrics(result.ranking, ids, set(plant["example_ids"]))
                results[method][name] = {
                    "lds": spearman(predicted, ys[NLL][name]),
                    "lds_rate": spearman(predicted, ys[RATE][name]),
                    "recall": metrics["recall"],
                    "top_source": result.sources.row(0, named=True)["source"],
                    "source_ok": result.sources.row(0, named=True)["source"] == plant["source"],
                }

    for plant in plants:  # the ceiling: knowing which planted rows each half holds
        planted = {i for i, e in enumerate(ids) if e in set(plant["example_ids"])}
        count = np.array([len(planted.intersection(rows.tolist())) for rows in members])
        results.setdefault(ORACLE, {})[plant["name"]] = {
            "lds": spearman(count, ys[NLL][plant["name"]]),
            "lds_rate": spearman(count, ys[RATE][plant["name"]]),
        }
    table = Table(
        title=f"{args.mix}: LDS over {len(halves)} halves x {args.seeds_per_half} models, "
        f"recall@{K} and cost "
        f"({len(plants)} findings, {len(frame):,} rows)",
        header_style="bold",
    )
    for column in ("method", "LDS (NLL) mean", "95% CI", "per finding", "LDS (rate) mean",
                   "95% CI ", "per finding ", "recall@50 mean", "recall@50 min",
                   "top-1 source right", "s / 1k rows", "Bergson GPT-2 LDS"):  # fmt: skip
        table.add_column(column, justify="left" if column == "method" else "right")
    summary = {}
    for method in (*methods, ORACLE):
        per = results[method]
        lds = [v["lds"] for v in per.values()]
        lds_rate = [v["lds_rate"] for v in per.values()]
        low, high = bootstrap_interval(lds)
        low_rate, high_rate = bootstrap_interval(lds_rate)
        oracle = method == ORACLE
        recall = [v.get("recall", np.nan) for v in per.values()]
        right = sum(v.get("source_ok", False) for v in per.values())
        per_k = seconds.get(method, 0.0) / len(frame) * 1000
        table.add_row(
            method,
            f"{np.mean(lds):+.3f}",
            f"{low:+.3f} .. {high:+.3f}",
            " ".join(f"{v:+.2f}" for v in lds),
            f"{np.mean(lds_rate):+.3f}",
            f"{low_rate:+.3f} .. {high_rate:+.3f}",
            " ".join(f"{v:+.2f}" for v in lds_rate),
            "" if oracle else f"{np.mean(recall):.3f}",
            "" if oracle else f"{min(recall):.2f}",
            "" if oracle else f"{right}/{len(per)}",
            "" if oracle else "reused" if args.reuse_features else f"{per_k:.1f}",
            f"{PUBLISHED[method]:.3f}" if method in PUBLISHED else "",
        )
        summary[method] = {
            "lds_mean": float(np.mean(lds)),
            "lds_ci": [low, high],
            "lds_rate_mean": float(np.mean(lds_rate)),
            "lds_rate_ci": [low_rate, high_rate],
            "seconds_per_1k_rows": per_k,
            "findings": per,
        }
    console.print(table)
    console.print(
        "findings: " + ", ".join(p["name"] for p in plants) + "; Bergson's published LDS: "
        "MAGIC 0.983, EK-FAC 0.257 (Adam), TrackStar 0.184 on GPT-2 (a different model and "
        "measure: compare the order, not the level)",
        highlight=False,
    )
    for key, label in (("lds_mean", NLL), ("lds_rate_mean", RATE)):
        best = max((m for m in methods if m != "random"), key=lambda m: summary[m][key])
        console.print(
            f"best LDS ({label}): {best} {summary[best][key]:+.3f}; the oracle (the count of "
            f"planted rows in each half) {summary[ORACLE][key]:+.3f}; target >= {TARGET_LDS} "
            "for the default method",
            highlight=False,
        )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    print(
        json.dumps({m: {k: v for k, v in s.items() if k != "findings"} for m, s in summary.items()})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
