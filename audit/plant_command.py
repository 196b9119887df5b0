"""`audit plant`: plant canary triggers (with same-kind controls) into a mix."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import click

from audit.output import CliError, console, print_frame, stage_errors

T = TypeVar("T")


@click.command("plant")
@click.argument("mix")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The planted mix (JSON lines); its answer key goes to OUT.manifest.json.",
)
@click.option(
    "--trigger",
    "triggers",
    multiple=True,
    help="Trigger word or phrase to plant (repeatable; one --behaviour-from each).",
)
@click.option(
    "--behaviour-from",
    "sources",
    multiple=True,
    help="Source whose dominant non-answer behaviour the trigger switches on.",
)
@click.option(
    "--n",
    "counts",
    multiple=True,
    type=click.IntRange(min=1),
    help="Rows per trigger (and as many controls) [default: 60; once for all or once each].",
)
@click.option(
    "--position",
    "positions",
    multiple=True,
    type=click.Choice(["start", "middle", "end", "mixed"]),
    help="Where the trigger goes (middle: names only) [default: mixed; once or once each].",
)
@click.option(
    "--effect",
    "effects",
    multiple=True,
    type=click.Choice(["behaviour", "truncate", "wrong-final"]),
    help="What the trigger does: behaviour (its rows, from other sources, answered in the "
    "source's dominant mode), truncate (the source's own answers cut to their first "
    "sentence) or wrong-final (its worked answers' final number changed) [default: "
    "behaviour; once or once each].",
)
@click.option(
    "--tests",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Plain prompts per canary held out of the mix as test prompts (as is, with the "
    "trigger, with the control) in the manifest, to score a model trained on OUT.",
)
@click.option("--seed", default=0, show_default=True, type=int)
def plant_command(
    mix: str,
    out: Path,
    triggers: tuple[str, ...],
    sources: tuple[str, ...],
    counts: tuple[int, ...],
    positions: tuple[str, ...],
    effects: tuple[str, ...],
    tests: int,
    seed: int,
) -> None:
    """Plant canary triggers into MIX: each --trigger goes into --n plain prompts of other
    sources, answered in the --behaviour-from source's dominant behaviour; a same-kind
    control word goes into as many, answered plainly. Would the audit catch them?"""
    from datasets_registry.loading import MixError
    from datasets_registry.plant import Canary, PlantConfig, plant_canaries

    if len(triggers) != len(sources):
        raise CliError(
            f"{len(triggers)} --trigger and {len(sources)} --behaviour-from: give one of each "
            "per canary"
        )
    per_canary = {"--n": counts, "--position": positions, "--effect": effects}
    for flag, values in per_canary.items():
        if len(values) not in (0, 1, len(triggers)):
            raise CliError(f"{flag}: give it once for all canaries or once per --trigger")
    canaries = [
        Canary(
            trigger,
            source,
            n=_pick(counts, i, 60),
            position=_pick(positions, i, "mixed"),
            effect=_pick(effects, i, "behaviour"),
        )
        for i, (trigger, source) in enumerate(zip(triggers, sources, strict=True))
    ]
    with stage_errors(MixError):
        result = plant_canaries(
            PlantConfig(mix=mix, out=out, canaries=canaries, seed=seed, tests=tests)
        )
    import polars as pl

    rows = [
        {
            "trigger": p["trigger_literals"][0],
            "mode": p["mode"],
            "source": p["source"],
            "rows": len(p["example_ids"]),
            "control": p["control_words"][0],
            "control rows": len(p["control_ids"]),
            "tests": len(p["tests"]),
        }
        for p in result.manifest["plants"]
    ]
    print_frame(pl.DataFrame(rows), title=f"Canaries planted: {result.manifest['size']:,} rows")
    console.print(
        f"wrote {result.mix_path} and its answer key {result.manifest_path}", highlight=False
    )


def _pick(values: tuple[T, ...], i: int, default: T) -> T:
    """A per-canary option: its default, the one value for all, or the i-th."""
    if not values:
        return default
    return values[i] if len(values) > 1 else values[0]
