"""Search results as the ``findings`` and ``search_trials`` tables."""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl

from surf_search.search import SearchOutcome, Trial
from surf_search.stats import CI_LEVEL

TRIAL_SCHEMA = {
    "phase": pl.String,
    "step": pl.Int32,
    "attribute": pl.String,
    "seed": pl.String,
    "prompt": pl.String,
    "sample": pl.Int32,
    "response": pl.String,
    "base_behaviour": pl.String,
    "behaviour": pl.String,
    "flipped": pl.Boolean,
    "identical": pl.Boolean,
    "requested": pl.String,
    "scores": pl.String,
    "reference": pl.String,
    "uncertain": pl.Boolean,
}


def trials_frame(trials: Sequence[Trial]) -> pl.DataFrame:
    """Trials as ``search_trials`` rows (without the run id)."""
    return pl.DataFrame(
        [
            {
                "phase": t.phase,
                "step": t.step,
                "attribute": t.attribute,
                "seed": t.seed.prompt,
                "prompt": t.prompt,
                "sample": t.sample,
                "response": t.response,
                "base_behaviour": t.base_behaviour,
                "behaviour": t.behaviour,
                "flipped": t.flipped,
                "identical": t.identical,
                "requested": ",".join(sorted(t.requested)) or None,
                "scores": json.dumps({k: list(v) for k, v in t.scores.items()})
                if t.scores
                else None,
                "reference": t.seed.reference,
                "uncertain": t.uncertain,
            }
            for t in trials
        ],
        schema=TRIAL_SCHEMA,
    )


def finding_id(run_id: str, index: int) -> str:
    """The id of a run's ``index``-th finding (1-based), e.g. ``search-...:f01``."""
    return f"{run_id}:f{index:02d}"


def findings_frame(result: SearchOutcome, run_id: str, target: str) -> pl.DataFrame:
    """Every tested finding as ``findings`` rows (without the run id)."""
    rows = []
    for index, f in enumerate(result.findings, start=1):
        c, r, pc = f.comparison, f.robust_comparison, f.placebo_comparison
        rows.append(
            {
                "finding_id": finding_id(run_id, index),
                "attribute": f.attribute,
                "mode": f.mode,
                "n_base": c.n_base,
                "n_mutated": c.n_mutated,
                "rate_base": c.rate_base,
                "rate_mutated": c.rate_mutated,
                "effect": c.effect,
                "ci_low": c.ci_low,
                "ci_high": c.ci_high,
                "p_value": c.p_value,
                "q_value": f.q_value,
                "confirmed": f.confirmed,
                "robust": f.robust,
                "example_prompt": f.example_prompt,
                "example_response": f.example_response,
                "description": f.description,
                "target": target,
                "test": c.test,
                "robust_effect": r.effect if r else None,
                "robust_p_value": r.p_value if r else None,
                "placebo_attribute": f.placebo,
                "rate_placebo": pc.rate_base if pc else None,
                "placebo_effect": pc.effect if pc else None,
                "placebo_p_value": pc.p_value if pc else None,
                "p_finding": f.p_finding,
                "ci_level": CI_LEVEL,
                "robust_n": r.n_mutated if r else None,
                "robust_ci_low": r.ci_low if r else None,
                "placebo_ci_low": pc.ci_low if pc else None,
                "judge": f.judge,
                "judge_version": f.judge_version,
            }
        )
    return pl.DataFrame(
        rows,
        schema_overrides={
            "robust": pl.Boolean,
            "robust_effect": pl.Float64,
            "robust_p_value": pl.Float64,
            "placebo_attribute": pl.String,
            "rate_placebo": pl.Float64,
            "placebo_effect": pl.Float64,
            "placebo_p_value": pl.Float64,
            "robust_n": pl.Int64,
            "robust_ci_low": pl.Float64,
            "placebo_ci_low": pl.Float64,
            "judge": pl.String,
            "judge_version": pl.String,
        },
    )
