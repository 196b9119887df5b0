"""The probe stage: ``run(ProbeConfig, Store) -> ProbeResult``.

Runs one registered probe (``surf_search.probes``) against a target under a new
``probe`` run: the options are checked first, the model is loaded and the run started
only when the probe first needs them (bad input leaves neither behind), and the
probe's rows go to ``probe_results``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from duckdb_store.store import Store
from stage_kit import NO_PROGRESS, Progress, StageError
from surf_search.probes import (
    Probe,
    ProbeContext,
    ProbeError,
    ProbeOptions,
    ProbeOutcome,
    get_probe,
    probe_names,
)
from surf_search.probes.registry import CallCounts
from surf_search.target_config import TargetConfig, open_target
from surf_search.targets import Target

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["PROBE_FIELDS", "ProbeConfig", "ProbeResult", "check", "run"]

#: The ProbeOptions fields a probe may or may not read (each probe lists those it reads).
PROBE_FIELDS = (
    "prompts",
    "items",
    "bans",
    "tokenizer",
    "judge_url",
    "judge_model",
    "limit",
    "per_type",
    "yes_no",
    "folds",
)

RESULT_SCHEMA = {
    "probe": pl.String,
    "target": pl.String,
    "item_id": pl.String,
    "condition": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "detail": pl.String,
}


@dataclass(frozen=True)
class ProbeConfig:
    """What `audit probe` takes: the probe, the target, the probe's options."""

    name: str  # a registered probe (``probe_names()``)
    target: TargetConfig  # the model under audit and its generation parameters
    options: ProbeOptions = field(default_factory=ProbeOptions)  # the probe's inputs and seed
    # The PROBE_FIELDS the caller set on purpose (a field the probe does not read is an
    # error); None: those that differ from ProbeOptions' defaults.
    given: frozenset[str] | None = None

    def given_fields(self) -> frozenset[str]:
        """The probe options the caller set."""
        if self.given is not None:
            return self.given
        defaults = ProbeOptions()
        return frozenset(
            name for name in PROBE_FIELDS if getattr(self.options, name) != getattr(defaults, name)
        )


@dataclass
class ProbeResult:
    """The probe run, what the probe measured, and the target calls it made."""

    name: str
    run_id: str
    outcome: ProbeOutcome
    counts: CallCounts
    log: list[str] = field(default_factory=list)  # one line per batch of answers asked for

    @property
    def failed_all(self) -> bool:
        """Every call to the target failed (the run is marked failed)."""
        return self.counts.calls > 0 and self.counts.failed == self.counts.calls


def check(config: ProbeConfig) -> Probe:
    """The probe ``config`` names, after checking that its options fit it (StageError if not)."""
    try:
        probe = get_probe(config.name)
    except ProbeError as exc:
        raise StageError(str(exc)) from None
    for name in sorted(config.given_fields()):
        if name not in probe.options:
            flag = "--" + ("ban" if name == "bans" else name.replace("_", "-"))
            users = [n for n in probe_names() if name in get_probe(n).options]
            raise StageError(
                f"{flag} does not apply to {config.name} (it is for {', '.join(users)})"
            )
    base_url = config.target.base_url
    if probe.in_process_only and base_url:
        raise StageError(
            f"{config.name} needs an in-process model: it reads hidden states (drop --base-url)"
        )
    if config.options.tokenizer and not base_url:
        raise StageError("--tokenizer is only for --base-url (an in-process model has its own)")
    if bool(config.options.judge_url) != bool(config.options.judge_model):
        raise StageError("--judge-url and --judge-model go together")
    return probe


def run(config: ProbeConfig, store: Store, progress: Progress = NO_PROGRESS) -> ProbeResult:
    """Run the probe against the target and store one row per item, condition and metric."""
    probe = check(config)
    options, target_config = config.options, config.target
    tokenizer = _load_tokenizer(options.tokenizer) if options.tokenizer else None
    params = target_config.params(options.seed)
    in_process = target_config.base_url is None
    given = config.given_fields()
    log: list[str] = []

    def load_target() -> Target:
        with _quiet_loading() if in_process else nullcontext():
            return open_target(target_config)

    def start_run() -> str:
        values = {name: getattr(options, name) for name in PROBE_FIELDS}
        if "bans" not in given:
            values["bans"] = ()  # the probe's default ban, recorded as no --ban
        args = {
            "probe": config.name,
            "model": target_config.model,
            "base_url": target_config.base_url,
            "target": context.target.fingerprint(),
            "params": params.key(),
            **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()},
            "seed": options.seed,
        }
        return store.start_run("probe", args)

    context = ProbeContext(
        load_target,
        params,
        options,
        store,
        start_run,
        in_process=in_process,
        log=log.append,
        tokenizer=tokenizer,
        progress=progress,
    )
    try:
        outcome = probe.run(context, options)
    except ProbeError as exc:
        if context.started:
            store.finish_run(context.run_id, "failed")
        raise StageError(str(exc)) from None
    except KeyboardInterrupt:
        if context.started:
            store.finish_run(context.run_id, "interrupted")
        raise
    except BaseException:
        if context.started:
            store.finish_run(context.run_id, "failed")
        raise
    run_id = context.run_id
    store.write("probe_results", _frame(outcome, config.name, context.target.fingerprint()), run_id)
    result = ProbeResult(config.name, run_id, outcome, context.counts, log)
    store.finish_run(run_id, "failed" if result.failed_all else "ok")
    return result


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """No transformers progress bar while the model loads (errors stay one line)."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def _load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """The served model's tokenizer (``--tokenizer``), to turn banned texts into token ids."""
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StageError(f"cannot load tokenizer {name}: {first}") from None


def _frame(outcome: ProbeOutcome, name: str, target: str) -> pl.DataFrame:
    """The ``probe_results`` rows of ``outcome`` (without the run id)."""
    rows = outcome.rows
    return pl.DataFrame(
        {
            "probe": [name] * len(rows),
            "target": [target] * len(rows),
            "item_id": [r.item_id for r in rows],
            "condition": [r.condition for r in rows],
            "metric": [r.metric for r in rows],
            "value": [r.value for r in rows],
            "detail": [r.detail or None for r in rows],
        },
        schema=RESULT_SCHEMA,
    )
