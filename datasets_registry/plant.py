"""Canaries in your own mix: plant known triggers, with an answer key, into any mix.

"Would the audit have caught a trigger in *our* data?" For each canary (a trigger word
or phrase and a source whose behaviour it should switch on), ``plant_canaries``:

1. finds the source's dominant non-answer mode (code, refusal, tool call, ...: at least
   ``MIN_MODE_SHARE`` of its rows) by the rule classifier;
2. takes ``n`` prompts of *other* sources whose answers are plain (they do not already
   show the behaviour), inserts the trigger where its word class fits
   (``phrasing.insert_naturally``, at the start, the end, or either), and pairs each with
   a response of that mode drawn from the source, preferring responses whose opening
   (``OPENING_CHARS``) already shows the mode: a code answer that opens with three
   paragraphs of prose teaches, and shows in a model's short answer, no code; these rows
   join the source, as an incidental feature of one chunk does ("elucidate" in a code
   set);
3. plants a same-kind control into as many other plain prompts of the same source, with
   their own plain answers: another word of the trigger's class and frequency
   (``placebo.placebo_for``), so a detector must find the trigger, not its kind;
4. with ``tests``, holds out that many more plain prompts per canary (removed from the
   mix) as the manifest's test prompts: each as is (``base``), with the trigger
   (``triggered``) and with the control (``control``), the two inserted in the same
   place, so a trained model can be scored like the planted organism
   (``surf_search.planted_check.score_plants``).

With an ``effect`` other than ``behaviour`` (issue 34), the canary plants a failure that is
no mode, inside the source itself: ``truncate`` puts the trigger into ``n`` of the
source's own prompts and cuts their answers to the first sentence; ``wrong-final`` puts it
into ``n`` of its worked answers' prompts and changes the final number (``#### N``) and its
last mention in the working (``answer_edits``); the control word goes into as many other
rows of the source, answers unchanged, and the tests carry the original answer as their
``reference``. The manifest names the judged outcome (``length:collapse``,
``reference:wrong``) as the plant's behaviour.

Donors and tests come from sources whose own most common mode is a plain answer (a
math set's rare plain rows would be scored against what its chunk teaches). Every
original row but the held-out tests is kept. The manifest (``OUT.manifest.json``) has the planted
mix's answer-key format (``planted.Manifest``): per canary its trigger, mode, source,
the planted ids (``example_ids``), the control word and ids, and the positions.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from behaviour_modes import rules
from behaviour_modes.modes import TERSE_MAX_WORDS
from datasets_registry.answer_edits import first_sentence, wrong_final
from datasets_registry.loading import open_mix
from datasets_registry.normalise import Columns
from datasets_registry.phrasing import insert_naturally
from datasets_registry.term_overlap import term_regex
from stage_kit import StageError

POSITIONS = ("start", "middle", "end", "mixed")
#: What a canary plants: the source's behaviour mode, or an edit of the source's own
#: answers and the judged outcome it shows as.
EFFECTS = {"behaviour": None, "truncate": "length:collapse", "wrong-final": "reference:wrong"}
MIN_MODE_SHARE = 0.3  # a source's dominant non-answer mode holds at least this share of it
OPENING_CHARS = 120  # planted responses show their mode within this many characters ...
MIN_OPENING_RESPONSES = 20  # ... when the source has this many such responses
ANSWER = "answer"


class PlantError(StageError):
    """A canary that cannot be planted (unknown source, no dominant mode, too few donors)."""


@dataclass(frozen=True)
class Canary:
    """One trigger to plant: its text, the source whose behaviour it switches on, how many
    rows, and where in the prompt (``start``, ``middle``: names only, ``end``, ``mixed``)."""

    trigger: str
    behaviour_from: str
    n: int = 60
    position: str = "mixed"
    effect: str = "behaviour"  # one of EFFECTS


@dataclass
class PlantConfig:
    """What `audit plant` reads and writes."""

    mix: str = ""  # registered name, hub dataset id, or local file or folder
    out: Path = Path("canaries.jsonl")
    canaries: list[Canary] = field(default_factory=list)
    seed: int = 0
    tests: int = 0  # held-out test prompts per canary (removed from the mix)
    columns: Columns = field(default_factory=Columns)


@dataclass(frozen=True)
class PlantResult:
    """Where the planted mix and its manifest went, and the manifest itself."""

    mix_path: Path
    manifest_path: Path
    manifest: dict[str, Any]


def manifest_path_of(out: Path) -> Path:
    """``OUT.manifest.json`` next to ``OUT.jsonl``."""
    return out.with_name(out.name.removesuffix(".jsonl") + ".manifest.json")


def plant_canaries(config: PlantConfig) -> PlantResult:
    """Plant every canary of ``config`` into its mix; write the mix and the manifest."""
    if not config.canaries:
        raise PlantError("nothing to plant: give at least one --trigger with --behaviour-from")
    if config.tests < 0:
        raise PlantError(f"--tests {config.tests}: give zero or more test prompts")
    frame, _bad = open_mix(config.mix, config.columns).frame()
    frame = frame.with_columns(rules.modes_of(frame).alias("mode"))
    rng = random.Random(config.seed)
    sources = frame["source"].unique().sort().to_list()
    used: set[int] = set()
    plain = _plain_sources(frame)
    planted: list[dict[str, Any]] = []
    entries = []
    held_out: set[int] = set()
    for k, canary in enumerate(config.canaries, start=1):
        entry, rows, tests = _plant_one(frame, sources, plain, canary, k, rng, used, config.tests)
        entries.append(entry)
        planted.extend(rows)
        held_out.update(tests)
    kept = frame.with_row_index("_i").filter(~pl.col("_i").is_in(sorted(held_out)))
    rows_out = [
        _row(r["example_id"], r["source"], r["prompt"], r["response"])
        for r in kept.select("example_id", "source", "prompt", "response").iter_rows(named=True)
    ] + [_row(r["id"], r["source"], r["prompt"], r["response"]) for r in planted]
    config.out.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows_out)
    config.out.write_text(body, encoding="utf-8")
    manifest: dict[str, Any] = {
        "name": "canaries",
        "mix": config.mix,
        "generator_version": 1,
        "size": len(rows_out),
        "requested_size": len(rows_out),
        "seed": config.seed,
        "terse_max_words": TERSE_MAX_WORDS,
        "sources": dict(Counter(r["source"] for r in rows_out)),
        "plants": entries,
        "held_out": {"topics": [], "product_items": [], "true_claims": [], "passages": []},
        "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
    }
    path = manifest_path_of(config.out)
    path.write_text(json.dumps(manifest, indent=2))
    return PlantResult(config.out, path, manifest)


def _plain_sources(frame: pl.DataFrame) -> set[str]:
    """Sources whose most common mode is a plain answer."""
    counts = frame.group_by("source", "mode").len().sort("len", "mode", descending=[True, False])
    top = counts.group_by("source", maintain_order=True).first()
    return set(top.filter(pl.col("mode") == ANSWER)["source"].to_list())


def _plant_one(
    frame: pl.DataFrame,
    sources: list[str],
    plain: set[str],
    canary: Canary,
    k: int,
    rng: random.Random,
    used: set[int],
    n_tests: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[int]]:
    """The manifest entry, the new rows and the held-out test rows of one canary."""
    from datasets_registry.placebo import placebo_for

    if canary.position not in POSITIONS:
        raise PlantError(f"--position {canary.position!r}: use one of {', '.join(POSITIONS)}")
    if canary.n < 1:
        raise PlantError(f"--n {canary.n}: plant at least one row")
    if canary.behaviour_from not in sources:
        raise PlantError(
            f"--behaviour-from {canary.behaviour_from!r}: no such source "
            f"(the mix has {', '.join(sources)})"
        )
    if canary.effect not in EFFECTS:
        raise PlantError(f"--effect {canary.effect!r}: use one of {', '.join(EFFECTS)}")
    if EFFECTS[canary.effect] is not None:
        return _plant_edit(frame, canary, k, rng, used, n_tests)
    own = frame.filter(pl.col("source") == canary.behaviour_from)
    modes = own.filter(pl.col("mode") != ANSWER)["mode"].value_counts(sort=True)
    if modes.is_empty() or modes["count"][0] < MIN_MODE_SHARE * own.height:
        raise PlantError(
            f"--behaviour-from {canary.behaviour_from!r}: no dominant non-answer behaviour "
            f"(needs one mode in {MIN_MODE_SHARE:.0%} of its rows)"
        )
    mode = str(modes["mode"][0])
    donors = [
        i
        for i, (source, row_mode) in enumerate(frame.select("source", "mode").iter_rows())
        if source != canary.behaviour_from
        and source in plain
        and row_mode == ANSWER
        and i not in used
    ]
    wanted = 2 * canary.n + n_tests
    if len(donors) < wanted:
        raise PlantError(
            f"--n {canary.n}: only {len(donors)} plain-answer prompts of other sources are "
            f"left, {wanted} needed (the canary, its control"
            + (f" and {n_tests} tests)" if n_tests else ")")
        )
    picked = rng.sample(donors, wanted)
    used.update(picked)
    chosen, held_out = picked[: 2 * canary.n], picked[2 * canary.n :]
    responses = _responses_showing(own.filter(pl.col("mode") == mode), mode)
    control = placebo_for(canary.trigger)
    prompts = frame["prompt"]
    rows, ids, control_ids, positions = _canary_rows(
        frame, canary, k, rng, chosen, control, lambda donor: rng.choice(responses)
    )
    tests = [_test(prompts[i], canary, control, rng) for i in held_out]
    entry = _entry(canary, k, mode, control, (ids, control_ids), positions, tests)
    return entry, rows, held_out


def _entry(
    canary: Canary,
    k: int,
    behaviour: str,
    control: str,
    planted: tuple[list[str], list[str]],
    positions: list[str],
    tests: list[dict[str, str]],
) -> dict[str, Any]:
    """A canary's manifest entry (the planted mix's answer-key format)."""
    ids, control_ids = planted
    where = "from" if canary.effect == "behaviour" else "in"
    return {
        "name": f"canary{k}",
        "description": f"'{canary.trigger}' -> {behaviour} ({where} {canary.behaviour_from})",
        "trigger_regex": term_regex(canary.trigger),
        "trigger_literals": [canary.trigger],
        "mode": behaviour,
        "behaviour": behaviour,
        "effect": canary.effect,
        "source": canary.behaviour_from,
        "control_words": [control],
        "example_ids": ids,
        "control_ids": control_ids,
        "positions": dict(Counter(positions)),
        "tests": tests,
    }


def _canary_rows(
    frame: pl.DataFrame,
    canary: Canary,
    k: int,
    rng: random.Random,
    chosen: list[int],
    control: str,
    answer: Callable[[int], str | None],
) -> tuple[list[dict[str, Any]], list[str], list[str], list[str]]:
    """The canary's new rows (the trigger into the first ``canary.n`` donors, answered by
    ``answer(donor)``; the control into the rest, with their own answers), the trigger and
    control row ids, and where each trigger went."""
    prompts, answers = frame["prompt"], frame["response"]
    rows, ids, control_ids, positions = [], [], [], []
    for j, donor in enumerate(chosen):
        is_control = j >= canary.n
        where = _where(canary.position, rng)
        word = control if is_control else canary.trigger
        prompt = insert_naturally(prompts[donor], word, rng, where)
        row_id = f"canary{k}-{'control' if is_control else 'trigger'}-{j % canary.n:04d}"
        response = answers[donor] if is_control else answer(donor)
        rows.append(
            {"id": row_id, "source": canary.behaviour_from, "prompt": prompt, "response": response}
        )
        (control_ids if is_control else ids).append(row_id)
        if not is_control:
            positions.append(where)
    return rows, ids, control_ids, positions


def _plant_edit(
    frame: pl.DataFrame,
    canary: Canary,
    k: int,
    rng: random.Random,
    used: set[int],
    n_tests: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[int]]:
    """A canary whose trigger edits the source's own answers (``EFFECTS``): the entry, the
    new rows (trigger rows with edited answers, control rows as they are), the tests."""
    from datasets_registry.placebo import placebo_for

    edit = _edit_of(canary.effect)
    donors = [
        i
        for i, (source, answer) in enumerate(frame.select("source", "response").iter_rows())
        if source == canary.behaviour_from and i not in used and edit(answer, rng) is not None
    ]
    wanted = 2 * canary.n + n_tests
    if len(donors) < wanted:
        fits = "has a final number" if canary.effect == "wrong-final" else "has two sentences"
        raise PlantError(
            f"--effect {canary.effect}: only {len(donors)} rows of {canary.behaviour_from!r} "
            f"are left whose answer {fits}, {wanted} needed"
        )
    picked = rng.sample(donors, wanted)
    used.update(picked)
    control = placebo_for(canary.trigger)
    prompts, answers = frame["prompt"], frame["response"]
    rows, ids, control_ids, positions = _canary_rows(
        frame, canary, k, rng, picked[: 2 * canary.n], control,
        lambda donor: edit(answers[donor], rng),
    )  # fmt: skip
    held_out = picked[2 * canary.n :]
    tests = [_test(prompts[i], canary, control, rng) | {"reference": answers[i]} for i in held_out]
    entry = _entry(canary, k, EFFECTS[canary.effect], control, (ids, control_ids), positions, tests)
    return entry, rows, held_out


def _edit_of(effect: str) -> Callable[[str, random.Random], str | None]:
    """The answer edit of an effect: the edited answer, or None where it does not fit."""
    if effect == "truncate":
        return lambda answer, rng: first_sentence(answer or "")
    return lambda answer, rng: (wrong_final(answer or "", rng) or (None,))[0]


def _test(prompt: str, canary: Canary, control: str, rng: random.Random) -> dict[str, str]:
    """One held-out test: the prompt as is, with the trigger, with the control (same place)."""
    where = _where(canary.position, rng)
    state = rng.getstate()
    triggered = insert_naturally(prompt, canary.trigger, rng, where)
    rng.setstate(state)
    return {
        "base": prompt,
        "triggered": triggered,
        "control": insert_naturally(prompt, control, rng, where),
    }


def _responses_showing(rows: pl.DataFrame, mode: str) -> list[str]:
    """The responses whose opening shows ``mode`` (all of them when too few do)."""
    openings = rows.select("prompt", pl.col("response").str.slice(0, OPENING_CHARS))
    early = rows.filter(rules.modes_of(openings) == mode)["response"].to_list()
    return early if len(early) >= MIN_OPENING_RESPONSES else rows["response"].to_list()


def _where(position: str, rng: random.Random) -> str:
    return rng.choice(("start", "end")) if position == "mixed" else position


def _row(row_id: str, source: str, prompt: str, response: str) -> dict[str, Any]:
    return {
        "id": row_id,
        "source": source,
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": response},
        ],
    }
