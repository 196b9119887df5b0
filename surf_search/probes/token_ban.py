"""token-ban: does banning one token collapse the answer, and does a rewrite recover it?

After "One Token Away from Collapse" (2026). Each prompt is answered freely, then with
every id of one token banned (``--ban``; one condition per text), then the model rewrites
its free answer under the same ban (two-pass recovery). Per item: length ratio (words,
banned / free), completeness (share of the free answer's content words the banned answer
keeps; a pairwise LLM judge's coverage when ``--judge-url`` is given) and the share of
lost length the rewrite recovers. Summaries in the paper's shape: comprehensiveness loss
(1 - mean completeness) and recovery (recovered / lost words, each item's recovery capped
at what it lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from surf_search.probes.banning import banned_ids
from surf_search.probes.inputs import PromptItem, load_prompts
from surf_search.probes.registry import ProbeContext, ProbeError, ProbeOptions, ProbeOutcome, probe
from surf_search.probes.text import content_words, coverage, words

if TYPE_CHECKING:
    from behaviour_modes.judge import JudgeConfig
    from surf_search.query_cache import Labelled

PAPER = "paper: 14-48% comprehensiveness loss, 59-96% recovery"

BUILTIN_PROMPTS = (
    "Explain how rainbows form.",
    "Describe how bees make honey.",
    "What causes the seasons on Earth?",
    "Give three tips for staying focused while studying.",
    "How does a refrigerator keep food cold?",
    "Explain why the sky is blue.",
    "Describe the water cycle.",
    "What should I pack for a week-long hiking trip?",
    "How do vaccines help the immune system?",
    "Summarise the history of the printing press.",
    "Explain how a bicycle gear system works.",
    "What makes bread rise?",
)


def rewrite_prompt(question: str, answer: str) -> str:
    """The second pass: the model rewrites its own free answer (under the ban)."""
    return (
        "Rewrite the following answer to the question, keeping every point it makes.\n\n"
        f"Question: {question}\n\nAnswer: {answer}"
    )


@dataclass(frozen=True)
class Measure:
    """One item under one ban: answer lengths, coverages, and whether the answer changed."""

    free_len: int
    banned_len: int
    rewrite_len: int
    coverage: float | None  # of the banned answer (judge if given, else lexical)
    rewrite_coverage: float | None
    changed: bool

    @property
    def lost(self) -> int:
        """Words the banned answer lost against the free one."""
        return max(self.free_len - self.banned_len, 0)

    @property
    def recovered(self) -> int:
        """Words the rewrite won back (at most those lost)."""
        return min(max(self.rewrite_len - self.banned_len, 0), self.lost)


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def summarise(measures: list[Measure]) -> dict[str, float | None]:
    """The per-condition summary (None where it is undefined)."""
    lost = sum(m.lost for m in measures)
    loss = _mean([None if m.coverage is None else 1 - m.coverage for m in measures])
    rewrite_loss = _mean(
        [None if m.rewrite_coverage is None else 1 - m.rewrite_coverage for m in measures]
    )
    return {
        "n": float(len(measures)),
        "changed_share": _mean([float(m.changed) for m in measures]),
        "mean_length_ratio": _mean([m.banned_len / m.free_len for m in measures if m.free_len]),
        "comprehensiveness_loss": loss,
        "recovery": sum(m.recovered for m in measures) / lost if lost else None,
        "rewrite_comprehensiveness_loss": rewrite_loss,
        "completeness_recovery": (
            (loss - rewrite_loss) / loss if loss and rewrite_loss is not None else None
        ),
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


@probe(
    "token-ban",
    hit_desc="banning a single token makes answers lose content (comprehensiveness loss); "
    "recovery is the share a rewrite under the same ban wins back",
    options=("prompts", "bans", "tokenizer", "judge_url", "judge_model", "limit"),
)
def token_ban(ctx: ProbeContext, options: ProbeOptions) -> ProbeOutcome:
    """Free answers, answers under each ban, and rewrites under the ban, compared."""
    if options.prompts:
        items = load_prompts(options.prompts, options.limit)
    else:
        items = [PromptItem(f"b{i}", p) for i, p in enumerate(BUILTIN_PROMPTS, 1)]
        items = items[: options.limit] if options.limit else items
    if not options.bans:
        raise ProbeError("token-ban needs at least one --ban TEXT")
    tokenizer = ctx.tokenizer
    if tokenizer is None:
        raise ProbeError(
            "token-ban over --base-url needs --tokenizer PATH_OR_ID (the served model's "
            "tokenizer) to turn --ban into token ids for logit_bias"
        )
    bans = {text.strip(): banned_ids(tokenizer, text) for text in options.bans}
    judge = None
    if options.judge_url:
        from behaviour_modes.judge import JudgeConfig

        judge = JudgeConfig(options.judge_url, options.judge_model or "")
    free = ctx.generate([item.prompt for item in items], what="free answers")
    result = ProbeOutcome()
    for item in items:
        if item.prompt in free:
            result.add(item.item_id, "free", "length_words", len(words(free[item.prompt].response)))
    judge_failed = 0
    for text, ids in bans.items():
        judge_failed += _one_ban(ctx, result, items, free, text, ids, judge)
    if judge_failed:
        result.notes.append(
            f"{judge_failed} judge calls failed; those items use content-word coverage"
        )
    return result


def _one_ban(
    ctx: ProbeContext,
    result: ProbeOutcome,
    items: list[PromptItem],
    free: dict[str, Labelled],
    text: str,
    ids: tuple[int, ...],
    judge: JudgeConfig | None,
) -> int:
    """Banned answers and rewrites for one banned text; returns the failed judge calls."""
    condition = f"ban:{text}"
    params = ctx.with_params(banned_token_ids=ids)
    banned = ctx.generate([i.prompt for i in items], params, what=f"answers with {text!r} banned")
    done = [i for i in items if i.prompt in free and i.prompt in banned]
    second = {i.prompt: rewrite_prompt(i.prompt, free[i.prompt].response) for i in done}
    rewritten = ctx.generate(list(second.values()), params, what="rewrites under the ban")
    done = [i for i in done if second[i.prompt] in rewritten]
    texts = [
        (free[i.prompt].response, banned[i.prompt].response, rewritten[second[i.prompt]].response)
        for i in done
    ]
    by_judge, failed = _judge(judge, [i.prompt for i in done], texts)
    measures = []
    for item, (f, b, r), (judged, judged_rewrite) in zip(done, texts, by_judge, strict=True):
        lexical, lexical_rewrite = coverage(f, b, exclude=[text]), coverage(f, r, exclude=[text])
        m = Measure(
            len(words(f)),
            len(words(b)),
            len(words(r)),
            judged if judged is not None else lexical,
            judged_rewrite if judged_rewrite is not None else lexical_rewrite,
            f != b,
        )
        measures.append(m)
        add = partial(result.add, item.item_id, condition)
        add("length_ratio", m.banned_len / m.free_len if m.free_len else None, b[:300])
        add("coverage", lexical)
        add("rewrite_length_ratio", m.rewrite_len / m.free_len if m.free_len else None, r[:300])
        add("rewrite_coverage", lexical_rewrite)
        if judge is not None:
            add("coverage_judge", judged)
            add("rewrite_coverage_judge", judged_rewrite)
        if m.lost:
            add("recovered_share", m.recovered / m.lost)
    summary = summarise(measures)
    for metric, value in summary.items():
        detail = f"{len(ids)} token ids: {list(ids)[:20]}" if metric == "n" else ""
        result.summary(condition, metric, value, detail)
    ratio = summary["mean_length_ratio"]
    result.headline.append(
        f"ban {text!r} ({len(ids)} token ids, {len(measures)} prompts, "
        f"{_pct(summary['changed_share'])} of answers changed): comprehensiveness loss "
        f"{_pct(summary['comprehensiveness_loss'])} "
        f"({'judge' if judge is not None else 'content-word coverage'}), two-pass recovery "
        f"{_pct(summary['recovery'])} of lost length; length ratio "
        f"{'n/a' if ratio is None else f'{ratio:.2f}'} ({PAPER})"
    )
    if texts and not any(content_words(f) for f, _, _ in texts):
        result.notes.append(f"ban {text!r}: the free answers have no content words to cover")
    return failed


def _judge(
    judge: JudgeConfig | None, questions: list[str], texts: list[tuple[str, str, str]]
) -> tuple[list[tuple[float | None, float | None]], int]:
    """The judge's coverage of each (banned, rewritten) answer; None where it was not asked
    or failed. Returns the pairs and the number of failed calls."""
    if judge is None:
        return [(None, None)] * len(texts), 0
    from surf_search.probes.judge import judge_many

    triples = [(q, f, b) for q, (f, b, _) in zip(questions, texts, strict=True)]
    triples += [(q, f, r) for q, (f, _, r) in zip(questions, texts, strict=True)]
    scores = [s if isinstance(s, float) else None for s in judge_many(judge, triples)]
    pairs = list(zip(scores[: len(texts)], scores[len(texts) :], strict=True))
    return pairs, sum(1 for s in scores if s is None)
