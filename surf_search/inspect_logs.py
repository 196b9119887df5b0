"""A search run's trials as an Inspect eval log, and an Inspect eval log's samples as seeds.

``export_run(store, run_id, out_dir)`` writes one log per search run, in Inspect's default
format (``.eval``, a zip that ``inspect_ai.log.read_eval_log`` and ``inspect view`` read),
named as Inspect names its own logs (``<created>_audit-search_<id>.eval``) and built with
Inspect's own log API, so a run opens beside any other eval. Layout:

- one **sample per trial** (``search_trials`` row), in the order the search saved them, with
  id ``<n>-<phase>`` (n counts the run's trials from 1, zero-padded, so ids sort in run
  order): input the mutated prompt, output and messages its answer, target the seed's
  answer key (``""`` without one);
- **scores**: ``behaviour`` (1 when the trial flipped, its ``answer`` the mutated answer's
  mode, the explanation says base mode -> mode and why a change was no flip) and, when the
  search ran judges, one score per judged outcome (``reference:wrong`` is named
  ``reference_wrong``; metadata ``outcome`` keeps the key): the mutated answer's score with
  the judge's explanation (from ``judgements``), and in its metadata the seed's answer's
  score (``base``), the rise (``delta``), whether it counts as a judged flip (``rose``) and
  the judge's explanation of the seed's answer;
- **metadata**: ``arm`` ('mutated'), ``run_id``, ``phase``, ``step``, ``attribute``,
  ``sample`` (the answer's sample number), ``identical``, ``requested``, ``flipped``,
  ``behaviour``, the **base arm** (``seed_prompt``, ``seed_response``: the seed's own answer
  of the same sample from ``queries``, ``base_behaviour``, ``base_scores``) and the
  attribute's finding (``finding_id``, ``finding_mode``, ``finding_confirmed``) if it has one.

The base arm is kept in each trial's metadata rather than as samples of its own: one seed
answer is the base of many trials (every attribute, every phase), so separate base samples
would be shared, would not map one-to-one onto trials and would enter the log's metrics.
One log per run rather than per phase: every trial appears exactly once, in one file, and
``phase`` is in each sample's metadata and id. The log's metrics are the means over all
trials (the flip rate, each outcome's mean score); the findings and the run's judges are
in the results' metadata, the run's arguments in the eval's.

``seeds_from_log(path)`` reads any Inspect eval log (``inspect eval``'s or one written with
its API): each sample's input text (a string, or the last user message of a message list)
is a seed prompt, its target (a string, or the first of a list) the seed's answer key.

inspect_ai takes about two seconds to import: it is imported inside the functions here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duckdb_store.store import Store
from stage_kit import StageError
from surf_search.seeds import Seed, SeedError

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalResults, EvalSample

__all__ = [
    "ExportError",
    "ExportedLog",
    "export_run",
    "is_inspect_log",
    "run_log",
    "score_name",
    "seeds_from_log",
    "write_run_logs",
]

TASK = "audit_search"  # the log's task name (Inspect shows it as the eval's task)
ARM = "mutated"
BEHAVIOUR = "behaviour"  # the score of the trial's behaviour mode (1: flipped)
PHASES = ("discover", "confirm", "placebo", "robust")
_RUN_STATUS = {"ok": "success", "failed": "error", "interrupted": "cancelled"}


class ExportError(StageError):
    """A run that cannot be exported (none, not a search, no trials)."""


@dataclass(frozen=True)
class ExportedLog:
    """One log file written, with how many samples and which phases it holds."""

    path: Path
    samples: int
    phases: tuple[str, ...]


# -- export ----------------------------------------------------------------------------


def export_run(store: Store, run_id: str, out_dir: str | Path) -> list[Path]:
    """Write search ``run_id``'s trials as an Inspect eval log in ``out_dir``; its path(s)."""
    return [log.path for log in write_run_logs(store, run_id, out_dir)]


def write_run_logs(store: Store, run_id: str, out_dir: str | Path) -> list[ExportedLog]:
    """``export_run``, saying what each written log holds (one log per run)."""
    from inspect_ai.log import write_eval_log

    log = run_log(store, run_id)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{log_name(log.eval.created, log.eval.task_id)}.eval"
    write_eval_log(log, str(path))
    samples = log.samples or []
    present = {s.metadata["phase"] for s in samples}
    phases = tuple(p for p in PHASES if p in present) + tuple(sorted(present - set(PHASES)))
    return [ExportedLog(path, len(samples), phases)]


def log_name(created: str, task_id: str) -> str:
    """Inspect's own log file name: ``<created>_<task>_<id>`` with ``_ / : +`` as ``-``."""

    def clean(text: str) -> str:
        return re.sub(r"[_/:+]", "-", text)

    return f"{clean(created)}_{clean(TASK)}_{clean(task_id)}"


def run_log(store: Store, run_id: str) -> EvalLog:
    """Search ``run_id`` as an ``EvalLog`` with one sample per trial (not written)."""
    from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSpec, EvalStats

    run = _search_run(store, run_id)
    args = run["args"]
    trials = store.read(
        "SELECT * FROM search_trials WHERE run_id = ? ORDER BY rowid", [run_id]
    ).to_dicts()
    if not trials:
        raise ExportError(f"search run {run_id} has no trials to export")
    judges: dict[str, dict[str, str]] = args.get("judges") or {}
    answers = _seed_answers(store, run_id, str(args.get("target", "")), str(args.get("params")))
    explanations = _Explanations(store, run_id, judges)
    findings = _findings(store, run_id)
    model = str(args.get("model") or args.get("target") or "unknown")
    width = max(5, len(str(len(trials))))  # ids sort in the order the search ran
    samples = [
        _sample(
            f"{n:0{width}d}-{trial['phase']}",
            trial,
            model,
            answers,
            explanations,
            findings,
            judges,
            run_id,
        )
        for n, trial in enumerate(trials, start=1)
    ]
    created = _utc(run["started_at"], "seconds")  # as Inspect writes its own
    started = _utc(run["started_at"])
    finished = _utc(run["finished_at"]) if run["finished_at"] else ""
    seeds = str(args.get("seeds") or "builtin")
    spec = EvalSpec(
        created=created,
        task=TASK,
        task_id=_task_id(run_id),
        task_display_name="audit search",
        task_description="SURF search: seed prompts mutated by attribute operators, each "
        "mutated answer compared with its seed's own answer",
        task_args={
            k: args[k]
            for k in ("attributes", "budget", "samples", "min_effect", "alpha", "seed")
            if k in args
        },
        run_id=run_id,
        eval_id=_task_id(run_id),
        dataset=EvalDataset(
            name=Path(seeds).stem if seeds != "builtin" else "builtin",
            location=seeds,
            samples=len(trials),
        ),
        model=model,
        model_base_url=args.get("base_url"),
        config=EvalConfig(),
        packages=_packages(),
        metadata={"chunky_audit": {"run_id": run_id, "command": "search", "args": args}},
    )
    return EvalLog(
        status=_RUN_STATUS.get(str(run["status"]), "started"),
        eval=spec,
        results=_results(samples, findings, judges),
        stats=EvalStats(started_at=started, completed_at=finished),
        samples=samples,
    )


def _search_run(store: Store, run_id: str) -> dict[str, Any]:
    rows = store.con.execute(
        "SELECT command, args, started_at, finished_at, status FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchall()
    if not rows:
        raise ExportError(f"no run {run_id} in {store.path}")
    command, args, started_at, finished_at, status = rows[0]
    if command != "search":
        raise ExportError(f"run {run_id} is a {command} run, not a search")
    return {
        "args": json.loads(args) if args else {},
        "started_at": started_at,
        "finished_at": finished_at,
        "status": status,
    }


def _utc(moment: datetime, timespec: str = "auto") -> str:
    """A stored (naive UTC) timestamp as Inspect's ISO 8601 UTC text."""
    return moment.replace(tzinfo=UTC).isoformat(timespec=timespec)


def _task_id(run_id: str) -> str:
    """A file-name-safe id for the run (Inspect's task ids have no ``-``, ``_`` or ``.``)."""
    return re.sub(r"[^A-Za-z0-9]", "", run_id.removeprefix("search-"))


def _packages() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("chunky-audit", "inspect_ai"):
        with suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def _seed_answers(
    store: Store, run_id: str, target: str, params: str
) -> dict[tuple[str, int], str]:
    """(seed prompt, sample) -> the seed's own answer under the run's target and params."""
    rows = store.con.execute(
        "SELECT q.prompt, q.sample, q.response FROM queries q "
        "JOIN (SELECT DISTINCT seed, sample FROM search_trials WHERE run_id = ?) t "
        "ON q.prompt = t.seed AND q.sample = t.sample "
        "WHERE q.target = ? AND q.params = ? AND q.status = 'ok' ORDER BY q.created_at",
        [run_id, target, params],
    ).fetchall()
    return {(prompt, sample): response for prompt, sample, response in rows}  # latest wins


@dataclass(frozen=True)
class _AsRecorded:
    """A judge as the run recorded it (enough for ``surf_search.judges.panel.cache_key``)."""

    name: str
    version: str
    recorded_settings: str
    reads: tuple[str, ...]

    def settings(self) -> str:
        return self.recorded_settings


class _Explanations:
    """The judges' explanations of the run's answers, from ``judgements`` (any run's: the
    table is the judges' cache)."""

    def __init__(self, store: Store, run_id: str, judges: dict[str, dict[str, str]]) -> None:
        self.judges: dict[str, _AsRecorded | None] = {}
        self.by_key: dict[str, str] = {}
        self.by_answer: dict[tuple[str, str, str], list[tuple[str, dict[str, float]]]] = {}
        for name, recorded in judges.items():
            version, settings = str(recorded.get("version")), str(recorded.get("settings", ""))
            reads = _judge_reads(name)
            self.judges[name] = (
                _AsRecorded(name, version, settings, reads) if reads is not None else None
            )
            rows = store.con.execute(
                "SELECT key, prompt, response, explanation, scores FROM judgements "
                "WHERE status = 'ok' AND judge = ? AND version = ? AND settings = ? "
                "AND prompt IN (SELECT DISTINCT seed FROM search_trials WHERE run_id = ?) "
                "ORDER BY created_at",
                [name, version, settings, run_id],
            ).fetchall()
            for key, prompt, response, explanation, scores in rows:
                self.by_key[key] = explanation or ""
                self.by_answer.setdefault((name, prompt, response), []).append(
                    (explanation or "", json.loads(scores) if scores else {})
                )

    def of(
        self,
        judge: str,
        prompt: str,
        response: str,
        plain: str | None,
        reference: str | None,
        scores: dict[str, float],
    ) -> str | None:
        """``judge``'s explanation of ``response`` (judged against seed ``prompt``, the seed's
        answer ``plain``): the judgement with its exact cache key, else the one of the same
        answer whose scores are ``scores`` (outcome -> score), else the first."""
        from surf_search.judges import JudgeItem
        from surf_search.judges.panel import cache_key

        recorded = self.judges.get(judge)
        if recorded is not None and plain is not None:
            key = cache_key(recorded, JudgeItem(prompt, response, plain, reference))  # type: ignore[arg-type]
            if key in self.by_key:
                return self.by_key[key]
        candidates = self.by_answer.get((judge, prompt, response), [])
        for explanation, judged in candidates:
            if all(judged.get(k) == v for k, v in scores.items()):
                return explanation
        return candidates[0][0] if candidates else None


def _judge_reads(name: str) -> tuple[str, ...] | None:
    """The item fields a registered judge's scores depend on (None if it cannot be built
    without options, e.g. rubric: then its judgements are matched by prompt and answer)."""
    from surf_search.judges import JudgeSetupError, get_judge

    try:
        return tuple(get_judge(name).reads)
    except (KeyError, JudgeSetupError):
        return None


def _findings(store: Store, run_id: str) -> list[dict[str, Any]]:
    return store.read(
        "SELECT finding_id, attribute, mode, effect, ci_low, q_value, confirmed, robust, judge "
        "FROM findings WHERE run_id = ? ORDER BY finding_id",
        [run_id],
    ).to_dicts()


def score_name(outcome: str) -> str:
    """A judged outcome's score name in the log: ``reference:wrong`` -> ``reference_wrong``."""
    return re.sub(r"\W+", "_", outcome).strip("_")


def _sample(
    sample_id: str,
    trial: dict[str, Any],
    model: str,
    answers: dict[tuple[str, int], str],
    explanations: _Explanations,
    findings: list[dict[str, Any]],
    judges: dict[str, dict[str, str]],
    run_id: str,
) -> EvalSample:
    from inspect_ai.log import EvalSample
    from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, ModelOutput
    from inspect_ai.scorer import Score

    from surf_search.search import JUDGED_FLIP

    seed, prompt, response = trial["seed"], trial["prompt"], trial["response"] or ""
    reference = trial["reference"]
    seed_response = answers.get((seed, trial["sample"]))
    requested = [r for r in (trial["requested"] or "").split(",") if r]
    pairs: dict[str, list[float]] = json.loads(trial["scores"]) if trial["scores"] else {}
    base, mode = trial["base_behaviour"], trial["behaviour"]
    scores = {
        BEHAVIOUR: Score(
            value=1.0 if trial["flipped"] else 0.0,
            answer=mode,
            explanation=_behaviour_explanation(trial, requested),
            metadata={
                "base_behaviour": base,
                "behaviour": mode,
                "flipped": bool(trial["flipped"]),
                "identical": trial["identical"],
                "requested": requested,
            },
        )
    }
    for outcome, (before, after) in pairs.items():
        judge = outcome.partition(":")[0]
        own = {k.partition(":")[2]: v[1] for k, v in pairs.items() if k.startswith(f"{judge}:")}
        seeds_own = {
            k.partition(":")[2]: v[0] for k, v in pairs.items() if k.startswith(f"{judge}:")
        }
        scores[score_name(outcome)] = Score(
            value=float(after),
            explanation=explanations.of(judge, seed, response, seed_response, reference, own),
            metadata={
                "outcome": outcome,
                "judge": judge,
                "version": (judges.get(judge) or {}).get("version"),
                "base": before,
                "delta": after - before,
                "rose": after - before >= JUDGED_FLIP,
                "base_explanation": None
                if seed_response is None
                else explanations.of(
                    judge, seed, seed_response, seed_response, reference, seeds_own
                ),
            },
        )
    finding = next((f for f in findings if f["attribute"] == trial["attribute"]), None)
    metadata: dict[str, Any] = {
        "arm": ARM,
        "run_id": run_id,
        "phase": trial["phase"],
        "step": trial["step"],
        "attribute": trial["attribute"],
        "sample": trial["sample"],
        "identical": trial["identical"],
        "requested": requested,
        "flipped": bool(trial["flipped"]),
        "behaviour": mode,
        "seed_prompt": seed,
        "seed_response": seed_response,
        "base_behaviour": base,
        "base_scores": {k: v[0] for k, v in pairs.items()},
    }
    if finding is not None:
        metadata |= {
            "finding_id": finding["finding_id"],
            "finding_mode": finding["mode"],
            "finding_confirmed": bool(finding["confirmed"]),
        }
    return EvalSample(
        id=sample_id,
        epoch=1,
        input=prompt,
        target=reference or "",
        messages=[
            ChatMessageUser(content=prompt, source="input"),
            ChatMessageAssistant(content=response, model=model, source="generate"),
        ],
        output=ModelOutput.from_content(model, response),
        scores=scores,
        metadata=metadata,
    )


def _behaviour_explanation(trial: dict[str, Any], requested: Sequence[str]) -> str:
    base, mode = trial["base_behaviour"], trial["behaviour"]
    if trial["flipped"]:
        return f"{base} -> {mode}: flipped"
    if trial["identical"]:
        why = "identical answers"
    elif mode == base:
        why = "same mode"
    elif mode in requested:
        why = f"{mode} was asked for"
    else:
        why = "a plain answer"
    return f"{base} -> {mode}: no flip ({why})"


def _results(
    samples: Sequence[EvalSample],
    findings: list[dict[str, Any]],
    judges: dict[str, dict[str, str]],
) -> EvalResults:
    """Each score's mean over the trials (the flip rate; each outcome's mean score)."""
    from inspect_ai.log import EvalMetric, EvalResults, EvalScore

    values: dict[str, list[float]] = {}
    for sample in samples:
        for name, score in (sample.scores or {}).items():
            values.setdefault(name, []).append(float(score.value))  # type: ignore[arg-type]
    scores = [
        EvalScore(
            name=name,
            scorer=name,
            scored_samples=len(got),
            unscored_samples=len(samples) - len(got),
            metrics={"mean": EvalMetric(name="mean", value=sum(got) / len(got))},
        )
        for name, got in values.items()
    ]
    return EvalResults(
        total_samples=len(samples),
        completed_samples=len(samples),
        scores=scores,
        metadata={"findings": findings, "judges": judges},
    )


# -- import ----------------------------------------------------------------------------


def is_inspect_log(path: str | Path) -> bool:
    """Whether ``path`` looks like an Inspect eval log (``.eval``, or a ``.json`` log)."""
    path = Path(path)
    if path.suffix == ".eval":
        return True
    if path.suffix != ".json" or not path.is_file():
        return False
    with path.open("rb") as handle:
        head = handle.read(4096)
    return head.lstrip().startswith(b"{") and b'"eval"' in head


def seeds_from_log(path: str | Path) -> list[Seed]:
    """Seeds from an Inspect eval log: each sample's input text (a string, or the last user
    message) as the prompt, its target (a string, or the first of a list) as the answer key;
    deduplicated by prompt, ids from the sample ids."""
    from inspect_ai.log import read_eval_log

    path = Path(path)
    if not path.is_file():
        raise SeedError(f"Inspect log not found: {path}")
    try:
        log = read_eval_log(str(path), exclude_fields={"events", "store", "attachments"})
    except Exception as exc:  # inspect raises zip, JSON and validation errors alike
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SeedError(f"{path} is not a readable Inspect eval log ({first})") from None
    if not log.samples:
        raise SeedError(
            f"{path} holds no samples (an Inspect log written without them, or header only)"
        )
    seeds: list[Seed] = []
    seen: set[str] = set()
    ids: set[str] = set()
    for sample in log.samples:
        text = _input_text(sample.input).strip()
        if not text or text in seen:
            continue
        seen.add(text)
        seed_id = str(sample.id)
        if seed_id in ids:  # the same id in another epoch, with another input
            seed_id = f"{seed_id}-{len(seeds):05d}"
        ids.add(seed_id)
        seeds.append(Seed(seed_id, text, reference=_target_text(sample.target)))
    if not seeds:
        raise SeedError(f"{path}: no sample has an input text")
    return seeds


def _input_text(value: Any) -> str:
    """A sample's input as text: a string, or the last user message's text."""
    if isinstance(value, str):
        return value
    users = [m for m in value if getattr(m, "role", None) == "user"]
    return users[-1].text if users else ""


def _target_text(value: Any) -> str | None:
    """A sample's target as an answer key (the first of a list; None when empty)."""
    if isinstance(value, list):
        value = next((v for v in value if str(v).strip()), "")
    text = str(value).strip() if value is not None else ""
    return text or None
