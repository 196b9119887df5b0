"""The planted mix and organism shared by the benchmarks, built once under ``bench/.cache/``.

The cache folder is named after the generator version, size and seed, and the organism
records the mix's sha256, so a changed generator or mix retrains instead of reusing a
stale organism.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"


def planted_organism(size: int, seed: int, console: Console) -> tuple[Path, Path]:
    """(mix.jsonl, organism folder) for the planted mix of ``size`` rows and ``seed``."""
    from datasets_registry.loading import open_mix
    from datasets_registry.planted import GENERATOR_VERSION, load_manifest, write_planted
    from organism.training import train_model

    root = CACHE / f"planted-v{GENERATOR_VERSION}-n{size}-s{seed}"
    mix = write_planted(root / "mix", size, seed)
    digest = load_manifest(mix)["sha256"]
    organism = root / "organism"
    info = organism / "training.json"
    if info.exists() and json.loads(info.read_text()).get("mix") == f"{mix}#{digest}":
        return mix, organism
    console.print(f"training the organism on {mix} (a few minutes) ...")
    frame, _ = open_mix(str(mix)).frame()
    started = time.perf_counter()
    result = train_model(frame, organism, seed=seed, progress=False, mix=f"{mix}#{digest}")
    console.print(f"trained in {time.perf_counter() - started:.0f} s, loss {result.final_loss:.3f}")
    return mix, organism
