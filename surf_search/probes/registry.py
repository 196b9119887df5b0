"""The probe registry: ``@probe("name", hit_desc=...)`` on a function ``run(ctx, options)``.

A probe reads its inputs from :class:`ProbeOptions`, asks the model only through
:meth:`ProbeContext.generate` (the ``queries`` table, which is also the cache), and
returns :class:`ProbeOutcome`: one :class:`ProbeRow` per item, condition and metric,
plus summary rows (item ``*``). Bad input raises :class:`ProbeError` (one line).
Every probe states in ``hit_desc`` what a hit means, garak style.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from stage_kit import NO_PROGRESS, Progress
from surf_search.targets import GenerationParams, Target, TransformersTarget

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from duckdb_store.store import Store
    from surf_search.query_cache import CachedTarget, Labelled

SUMMARY_ITEM = "*"


class ProbeError(ValueError):
    """Input a probe cannot use (an empty file, a missing column, an unknown token)."""


@dataclass(frozen=True)
class ProbeOptions:
    """Every probe option; each probe reads the ones it needs."""

    prompts: str | None = None  # token-ban, length-probe, over-refusal
    items: str | None = None  # sustain
    bans: tuple[str, ...] = ("the",)  # token-ban
    tokenizer: str | None = None  # token-ban over HTTP
    judge_url: str | None = None  # token-ban
    judge_model: str | None = None
    limit: int | None = None  # at most this many prompts or items
    per_type: int | None = None  # over-refusal: at most this many prompts per type
    yes_no: bool = True  # over-refusal: also the yes/no negative-bias check
    folds: int = 5  # length-probe
    seed: int = 0


@dataclass(frozen=True)
class ProbeRow:
    """One ``probe_results`` row: an item (``*`` for a summary), condition, metric, value."""

    item_id: str
    condition: str
    metric: str
    value: float | None
    detail: str = ""


@dataclass
class ProbeOutcome:
    """What a probe measured: its rows, the lines printed under the summary, and notes."""

    rows: list[ProbeRow] = field(default_factory=list)  # per item (and summaries, item '*')
    headline: list[str] = field(default_factory=list)  # printed under the summary table
    notes: list[str] = field(default_factory=list)

    def add(
        self, item_id: str, condition: str, metric: str, value: float | None, detail: str = ""
    ) -> None:
        """Add one per-item row (a NaN value is stored as NULL)."""
        self.rows.append(ProbeRow(str(item_id), condition, metric, _num(value), detail))

    def summary(self, condition: str, metric: str, value: float | None, detail: str = "") -> None:
        """Add one summary row (item ``*``)."""
        self.add(SUMMARY_ITEM, condition, metric, value, detail)

    def summaries(self) -> list[ProbeRow]:
        """The summary rows, in the order they were added."""
        return [r for r in self.rows if r.item_id == SUMMARY_ITEM]


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else value  # NaN -> NULL


@dataclass
class CallCounts:
    """Target calls a probe made, answers from the cache, failed calls and their first errors."""

    calls: int = 0
    cached: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class ProbeContext:
    """What a probe may use: the target, its generation parameters and the cached calls.

    Both the target and the ``runs`` row are made when first needed (``open_target``,
    ``start_run``), so a probe validates its input files first and input that fails
    leaves no model loaded and no run behind. ``log`` receives a line as each batch of
    answers is asked for; ``progress`` follows the calls of each batch.
    """

    def __init__(
        self,
        open_target: Callable[[], Target],
        params: GenerationParams,
        options: ProbeOptions,
        store: Store,
        start_run: Callable[[], str],
        *,
        in_process: bool,
        log: Callable[[str], None] = lambda _: None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> None:
        self.params = params
        self.options = options
        self.store = store
        self.in_process = in_process
        self.log = log
        self.progress = progress
        self._open_target = open_target
        self._target: Target | None = None
        self._start_run = start_run
        self._run_id: str | None = None
        self._tokenizer = tokenizer
        self._cached: dict[str, CachedTarget] = {}
        self.counts = CallCounts()

    @property
    def target(self) -> Target:
        """The target, opened on first use."""
        if self._target is None:
            self._target = self._open_target()
        return self._target

    @property
    def local_target(self) -> TransformersTarget:
        """The target as an in-process model (ProbeError when it is served over HTTP)."""
        target = self.target
        if not isinstance(target, TransformersTarget):
            raise ProbeError("this probe needs an in-process model (--model without --base-url)")
        return target

    @property
    def run_id(self) -> str:
        """The probe's run id; the run is started on first use."""
        if self._run_id is None:
            self._run_id = self._start_run()
        return self._run_id

    @property
    def started(self) -> bool:
        """Whether the run has been started."""
        return self._run_id is not None

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase | None:
        """An in-process target's tokenizer, else the one given (--tokenizer), else None."""
        if self.in_process:
            return self.local_target.tokenizer
        return self._tokenizer

    def with_params(self, **changes: float | tuple[int, ...]) -> GenerationParams:
        """The probe's generation parameters with ``changes`` (e.g. ``banned_token_ids``)."""
        return replace(self.params, **changes)

    def generate(
        self, prompts: Sequence[str], params: GenerationParams | None = None, what: str = ""
    ) -> dict[str, Labelled]:
        """One response per distinct prompt (prompts whose call failed are absent)."""
        from surf_search.query_cache import CachedTarget

        params = params or self.params
        key = params.key()
        if key not in self._cached:
            self._cached[key] = CachedTarget(self.target, self.store, self.run_id, params)
        cached = self._cached[key]
        unique = list(dict.fromkeys(prompts))
        missing = cached.missing(unique, 1)
        label = what or "responses"
        self.log(f"{label}: {len(unique)} prompts, {missing} to generate")
        before = (cached.stats.calls, cached.stats.cached, cached.stats.failed)
        if missing:
            self.progress(label, 0, missing, f"{len(unique)} prompts", "calls")
        got = cached.get(unique, 1)
        if missing:
            self.progress(label, missing, missing, f"{len(unique)} prompts", "calls")
        self.counts.calls += cached.stats.calls - before[0]
        self.counts.cached += cached.stats.cached - before[1]
        self.counts.failed += cached.stats.failed - before[2]
        for error in cached.stats.errors:
            if error not in self.counts.errors and len(self.counts.errors) < 5:
                self.counts.errors.append(error)
        return {p: got[(p, 0)] for p in unique if (p, 0) in got}


ProbeFn = Callable[[ProbeContext, ProbeOptions], ProbeOutcome]


@dataclass(frozen=True)
class Probe:
    """A registered probe: its name, what a hit means, its function and the options it reads."""

    name: str
    hit_desc: str  # what a hit means, in one line
    run: ProbeFn
    options: tuple[str, ...] = ()  # the ProbeOptions fields this probe reads
    in_process_only: bool = False


_PROBES: dict[str, Probe] = {}


def probe(
    name: str, *, hit_desc: str, options: Sequence[str] = (), in_process_only: bool = False
) -> Callable[[ProbeFn], ProbeFn]:
    """Register ``run(ctx, options) -> ProbeOutcome`` under ``name``."""

    def register(fn: ProbeFn) -> ProbeFn:
        if name in _PROBES:
            raise ValueError(f"probe {name!r} is registered twice")
        _PROBES[name] = Probe(name, hit_desc, fn, tuple(options), in_process_only)
        return fn

    return register


def get_probe(name: str) -> Probe:
    """The probe registered as ``name`` (ProbeError when there is none)."""
    try:
        return _PROBES[name]
    except KeyError:
        raise ProbeError(f"unknown probe {name!r} (known: {', '.join(probe_names())})") from None


def probe_names() -> list[str]:
    """Every registered probe's name, sorted."""
    return sorted(_PROBES)
