"""Judges: per-response scores the search's paired test compares between arms.

A judge reads one answer (``JudgeItem``: the seed prompt, the answer, the seed's own
answer of the same sample, the seed's answer key) and gives a score in [0, 1] for each
of its named *outcomes*, higher meaning more of the failure (a wrong answer, a collapsed
one, a rubric's 0-100 score / 100). Every answer is judged against the *seed* prompt, so
two identical answers always get the same score (``surf_search.pairing``'s rule for
modes). A failed or unreadable judgement carries its error and no score: it is recorded
and excluded, never counted.

Judges register with ``@judge(name)`` (a factory taking ``JudgeOptions``); an outcome is
named ``<judge>:<outcome>`` wherever it meets modes (findings' ``mode``, trial scores).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

#: The fields of a JudgeItem a judge may read (its cache key is made of those it reads).
ITEM_FIELDS = ("prompt", "response", "plain", "reference")


class JudgeSetupError(ValueError):
    """A judge asked for with options it cannot run with (no rubric, no endpoint...)."""


@dataclass(frozen=True)
class JudgeItem:
    """One answer to judge, with what a judge may compare it to."""

    prompt: str  # the seed prompt (every answer of a pair is judged against it)
    response: str
    plain: str  # the seed's own answer of the same sample (what length is relative to)
    reference: str | None = None  # the seed's answer key, if it has one


@dataclass(frozen=True)
class Judgement:
    """A judge's scores for one answer (outcome -> [0, 1]), or why there are none."""

    scores: dict[str, float] = field(default_factory=dict)
    explanation: str = ""
    error: str | None = None  # a failed or unreadable judgement: recorded, never a score
    attempts: int = 1

    @property
    def ok(self) -> bool:
        """The judgement has scores."""
        return self.error is None


@dataclass(frozen=True)
class JudgeOptions:
    """Everything a judge may be built with (each judge reads what it needs)."""

    rubric: str | None = None  # the rubric judge's text (SURF's format)
    judge_url: str | None = None  # an OpenAI-compatible endpoint (rubric)
    judge_model: str | None = None
    api_key_env: str | None = None  # the key's environment variable (never stored)
    timeout_s: float = 60.0
    max_retries: int = 3
    workers: int = 4
    collapse_ratio: float = 1 / 3  # length: at most this share of the plain answer's words
    blowup_ratio: float = 3.0  # length: at least this multiple of them


class Judge(ABC):
    """A registered judge: its name, version, outcomes and the item fields it reads."""

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str]
    outcomes: tuple[str, ...]
    reads: ClassVar[tuple[str, ...]]  # ITEM_FIELDS this judge's score depends on

    def settings(self) -> str:
        """What besides the item decides its scores (a model, a rubric), for the cache."""
        return ""

    def outcome_keys(self) -> tuple[str, ...]:
        """Its outcomes as they meet modes: ``<judge>:<outcome>``."""
        return tuple(f"{self.name}:{o}" for o in self.outcomes)

    @abstractmethod
    def judge(self, items: Sequence[JudgeItem]) -> list[Judgement]:
        """One judgement per item, in order (a failure is a Judgement with an error)."""

    def rows_show(
        self, outcome: str, responses: Sequence[str], sources: Sequence[str]
    ) -> list[bool] | None:
        """Which training rows' responses show ``outcome`` on their own (attribution ranks
        them first), or None where a row alone cannot tell (a wrong answer needs a key)."""
        return None


_JUDGES: dict[str, Callable[[JudgeOptions], Judge]] = {}


def judge(
    name: str,
) -> Callable[[Callable[[JudgeOptions], Judge]], Callable[[JudgeOptions], Judge]]:
    """Register a judge factory (a Judge subclass or a function of JudgeOptions)."""

    def register(factory: Callable[[JudgeOptions], Judge]) -> Callable[[JudgeOptions], Judge]:
        _JUDGES[name] = factory
        return factory

    return register


def judge_names() -> list[str]:
    """The registered judges, sorted (the built-ins register when ``surf_search.judges``
    is imported, which importing this module does first)."""
    return sorted(_JUDGES)


def get_judge(name: str, options: JudgeOptions | None = None) -> Judge:
    """The judge ``name`` built with ``options`` (KeyError naming the known ones)."""
    if name not in _JUDGES:
        raise KeyError(f"unknown judge {name!r} (known: {', '.join(sorted(_JUDGES))})")
    return _JUDGES[name](options or JudgeOptions())


def rows_showing(key: str, responses: Sequence[str], sources: Sequence[str]) -> list[bool] | None:
    """Which training rows show the judged outcome ``<judge>:<outcome>`` (its judge built
    with default options), or None where its judge cannot tell from a row alone."""
    name, _, outcome = key.partition(":")
    try:
        return get_judge(name).rows_show(outcome, responses, sources)
    except (KeyError, JudgeSetupError):  # unknown here, or needs options (an endpoint)
        return None


def outcome_judge(key: str) -> str | None:
    """The judge of an outcome key ``<judge>:<outcome>`` (None for a behaviour mode)."""
    name, sep, _ = key.partition(":")
    return name if sep else None
