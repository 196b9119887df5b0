"""Judged behaviours: a registry of judges beside the behaviour modes (``registry``),
the built-ins (``reference``, ``length``, ``rubric``) and their cached panel (``panel``)."""

from surf_search.judges import length, reference, rubric  # noqa: F401  (they register)
from surf_search.judges.registry import (
    Judge,
    JudgeItem,
    Judgement,
    JudgeOptions,
    JudgeSetupError,
    get_judge,
    judge,
    judge_names,
    outcome_judge,
    rows_showing,
)

__all__ = [
    "Judge",
    "JudgeItem",
    "JudgeOptions",
    "JudgeSetupError",
    "Judgement",
    "get_judge",
    "judge",
    "judge_names",
    "outcome_judge",
    "rows_showing",
]
