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


MIXES = ("planted-demo", "public-canaries", "public-judged")


def bench_organism(mix: str, size: int, seed: int, console: Console) -> tuple[Path, Path]:
    """(mix.jsonl, organism folder) for a bench mix: ``planted-demo`` (templated text, the
    default recipe) or ``public-canaries`` / ``public-judged`` (real text with canaries,
    its recipe)."""
    if mix == "planted-demo":
        return planted_organism(size, seed, console)
    if mix not in MIXES:
        raise SystemExit(f"--mix {mix!r}: use one of {', '.join(MIXES)}")
    from bench.public_canaries import RECIPES, public_canaries
    from organism import train_stage

    path = public_canaries(seed, mix)
    organism = path.parent / "organism"
    marker = organism / "trained-on.txt"
    key = _public_key(path, seed, mix)
    if marker.exists() and marker.read_text() == key:
        return path, organism
    console.print(f"training the real-text organism on {path} (under 10 minutes) ...")
    config = train_stage.TrainConfig(mix=str(path), out=organism, seed=seed, **RECIPES[mix])
    summary = train_stage.run(config).summary
    marker.write_text(key)
    console.print(f"trained in {summary.seconds:.0f} s, loss {summary.final_loss:.3f}")
    return path, organism


def _public_key(path: Path, seed: int, mix: str = "public-canaries") -> str:
    """What a cached real-text organism was trained on: the mix file, seed and recipe."""
    from bench.public_canaries import RECIPES

    return f"{path}#{path.stat().st_mtime}#{seed}#{RECIPES[mix]}"


def keep_public_organism(trained: Path, seed: int) -> None:
    """Cache an organism ``bench/organism.py`` trained on the real-text mix of ``seed``."""
    import shutil

    from bench.public_canaries import public_canaries

    path = public_canaries(seed)
    organism = path.parent / "organism"
    shutil.rmtree(organism, ignore_errors=True)
    shutil.copytree(trained, organism)
    (organism / "trained-on.txt").write_text(_public_key(path, seed))
