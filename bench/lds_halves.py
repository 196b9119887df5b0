"""The half-mix organisms the linear datamodeling score (``bench/lds.py``) is measured on.

Half ``k`` is a seeded random half of the mix's rows (``numpy.random.default_rng(k)``,
``n // 2`` rows without replacement). Its organism is trained with exactly the recipe
of the organism being attributed (``bench.planted_cache``: the tiny model's defaults,
seed 0 for the weights), so the halves differ only in their data. Each half is kept
under ``bench/.cache/lds/<mix folder>/half-<k>/`` with the rows it holds
(``rows.npy``) and is reused while the mix is unchanged.

    .venv/bin/python bench/lds_halves.py --halves 20      # train the missing halves
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


def train_halves(mix: Path, organism: Path, n_halves: int, console: Console) -> list[Path]:
    """The organism folders of halves ``0..n_halves-1`` of ``mix`` (training the missing)."""
    from datasets_registry.loading import open_mix
    from organism.training import ResponseStart, train_model

    frame, _ = open_mix(str(mix)).frame()
    recipe = json.loads((organism / "training.json").read_text())
    root = halves_root(mix)
    out = []
    for k in range(n_halves):
        folder = root / f"half-{k:02d}"
        rows = half_rows(frame.height, k)
        done = folder / "done.json"
        if not done.exists():
            started = time.perf_counter()
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / "rows.npy", rows)
            start = None
            if recipe.get("response_start_tokens"):
                start = ResponseStart(
                    int(recipe["response_start_tokens"]), float(recipe["response_start_weight"])
                )
            result = train_model(
                frame[rows.tolist()],
                folder / "model",
                seed=int(recipe["seed"]),
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
                f"half {k:2d}: {len(rows):,} rows trained in {seconds:.0f} s, "
                f"loss {result.final_loss:.3f}",
                highlight=False,
            )
        out.append(folder)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", default="planted-demo")
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--halves", type=int, default=DEFAULT_HALVES)
    args = parser.parse_args()
    console = Console()
    mix, organism = bench_organism(args.mix, args.size, args.seed, console)
    train_halves(mix, organism, args.halves, console)


if __name__ == "__main__":
    main()
