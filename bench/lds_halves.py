"""The half-mix organisms the linear datamodeling score (``bench/lds.py``) is measured on.

Half ``k`` is a seeded random half of the mix's rows (``numpy.random.default_rng(k)``,
``n // 2`` rows without replacement). Its organism is trained with exactly the recipe
of the organism being attributed (``bench.planted_cache``: the tiny model's defaults,
seed 0 for the weights), so the halves differ only in their data. Each half is kept
under ``bench/.cache/lds/<mix folder>/half-<k>/`` with the rows it holds
(``rows.npy``) and is reused while the mix is unchanged.

    .venv/bin/python bench/lds_halves.py --halves 20 --seeds-per-half 3   # train the missing
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402

from bench.planted_cache import CACHE, bench_organism  # noqa: E402

DEFAULT_HALVES = 20


def half_rows(n_rows: int, k: int) -> np.ndarray:
    """The rows of half ``k``: a seeded random half, sorted."""
    rng = np.random.default_rng(k)
    return np.sort(rng.choice(n_rows, size=n_rows // 2, replace=False))


def halves_root(mix: Path) -> Path:
    """Where the halves of ``mix`` live (named after the mix file's digest)."""
    digest = hashlib.sha256(mix.read_bytes()).hexdigest()[:12]
    return CACHE / "lds" / f"{mix.parent.parent.name}-{digest}"


def half_models(folder: Path, seeds: int) -> list[Path]:
    """The model folders of one half: seed 0 (the organism's) then seeds 1..seeds-1."""
    return [folder / "model"] + [folder / f"model-s{s}" for s in range(1, seeds)]


def train_halves(
    mix: Path, organism: Path, n_halves: int, console: Console, seeds: int = 1
) -> list[Path]:
    """The folders of halves ``0..n_halves-1`` of ``mix``, each with ``seeds`` models trained
    with weight and order seeds 0..seeds-1 (the missing ones are trained, seed by seed)."""
    from datasets_registry.loading import open_mix
    from organism.training import ResponseStart, train_model

    frame, _ = open_mix(str(mix)).frame()
    recipe = json.loads((organism / "training.json").read_text())
    root = halves_root(mix)
    folders = [root / f"half-{k:02d}" for k in range(n_halves)]
    start = None
    if recipe.get("response_start_tokens"):
        start = ResponseStart(
            int(recipe["response_start_tokens"]), float(recipe["response_start_weight"])
        )
    for seed in range(seeds):
        for k, folder in enumerate(folders):
            rows = half_rows(frame.height, k)
            model = half_models(folder, seed + 1)[seed]
            done = model.with_name(model.name + ".done.json")
            if done.exists():
                continue
            started = time.perf_counter()
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / "rows.npy", rows)
            result = train_model(
                frame[rows.tolist()],
                model,
                seed=int(recipe["seed"]) + seed,
                epochs=int(recipe["epochs"]),
                lr=float(recipe["lr"]),
                batch_size=int(recipe["batch_size"]),
                max_length=int(recipe["max_length"]),
                max_response_tokens=recipe.get("max_response_tokens"),
                response_start=start,
                progress=False,
                mix=f"{mix} half {k}",
            )
            seconds = time.perf_counter() - started
            done.write_text(json.dumps({"seconds": seconds, "loss": result.final_loss}))
            console.print(
                f"half {k:2d} seed {seed}: {len(rows):,} rows trained in {seconds:.0f} s, "
                f"loss {result.final_loss:.3f}",
                highlight=False,
            )
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", default="planted-demo")
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--halves", type=int, default=DEFAULT_HALVES)
    parser.add_argument("--seeds-per-half", type=int, default=1)
    args = parser.parse_args()
    console = Console()
    mix, organism = bench_organism(args.mix, args.size, args.seed, console)
    train_halves(mix, organism, args.halves, console, args.seeds_per_half)


if __name__ == "__main__":
    main()
