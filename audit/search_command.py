"""`audit search`: find and confirm behaviour triggers against a live model."""

from __future__ import annotations

import click

from audit.options import DB_OPTION, pop_target_config, target_options
from audit.output import CliError, CliProgress, console, open_store, print_frame, stage_errors
from surf_search.judges import JudgeOptions, judge_names
from surf_search.search import Finding
from surf_search.search_stage import SearchConfig, SearchResult


@click.command("search")
@target_options
@click.option(
    "--seeds",
    "seeds_file",
    type=click.Path(dir_okay=False),
    help="Seed prompts: one per line, or JSON lines with 'prompt' (or 'question', 'input') "
    "and optionally 'reference' (or 'answer', 'target': the key of --judge reference) "
    "[default: 230 built-in].",
)
@click.option(
    "--seeds-from-inspect",
    type=click.Path(dir_okay=False),
    help="Seed prompts from an Inspect eval log (.eval or .json; `inspect eval`'s or "
    "`audit export inspect`'s): each sample's input, its target as the answer key "
    "(instead of --seeds).",
)
@click.option(
    "--from-scan",
    is_flag=True,
    help="Add the words of the latest scan's trigger hypotheses (term:<word>) to the pool.",
)
@click.option(
    "--scan-terms",
    default=SearchConfig.scan_terms,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many scan words --from-scan adds, in review order; a word carried by nearly the "
    "same rows as a word above it (one template) is passed over.",
)
@click.option(
    "--scan-measures",
    default=SearchConfig.scan_measures,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many of the scan's measure hypotheses on words --from-scan hands to their "
    "judges (length:collapse -> length, reference:wrong -> reference), in review order, "
    "one per template, each with 80 seeds of its source (docs/search.md).",
)
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    help="Only these operators (repeatable; e.g. formal_vocab, term:zorblax).",
)
@click.option(
    "--add-attribute",
    "add_attributes",
    multiple=True,
    help="Test these operators as well as the rest (repeatable; e.g. a suspected trigger "
    "term:millbrook and its controls term:ashford), unlike --attribute, which keeps only them.",
)
@click.option(
    "--budget",
    default=SearchConfig.budget,
    show_default=True,
    type=click.IntRange(min=10),
    help="Model answers the search may use; answers cached by an earlier run are reused "
    "without a call but count, so a rerun replays the same search.",
)
@click.option(
    "--samples",
    default=SearchConfig.samples,
    show_default=True,
    type=click.IntRange(min=1),
    help="Responses per prompt in the confirmation A/B (sampling only).",
)
@click.option(
    "--min-effect",
    default=SearchConfig.min_effect,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Smallest rate difference that counts as a trigger.",
)
@click.option(
    "--alpha",
    default=SearchConfig.alpha,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="False discovery rate (Benjamini-Hochberg q-value threshold).",
)
@click.option("--seed", default=SearchConfig.seed, show_default=True, type=int)
@click.option(
    "--judge",
    "judges",
    multiple=True,
    type=click.Choice(judge_names()),
    help="Also search for a judged outcome (repeatable): reference (wrong against the seeds' "
    "answer key), length (collapse, blow-up, format), rubric (an LLM's 0-100 score).",
)
@click.option(
    "--discover-attributes",
    is_flag=True,
    help="Also search attributes discovered in a prompt pool: recurring phrases (leading "
    "clauses, labels, asides, closing sentences) clustered by meaning, one operator each "
    "(cluster:<slug>), half of discovery drawn as 1-3 of them with SURF's EM weights.",
)
@click.option(
    "--attribute-pool",
    type=click.Path(dir_okay=False),
    help="Prompts to discover attributes in (lines or JSON lines, like --seeds; e.g. a "
    "sample of the training mix's prompts) [default: the seeds].",
)
@click.option(
    "--rubric",
    help="The rubric judge's rubric: text, or a file holding it (SURF's format).",
)
@click.option("--judge-url", help="OpenAI-compatible base URL of the rubric judge.")
@click.option("--judge-model", help="Model name of the rubric judge.")
@click.option(
    "--judge-key-env",
    help="Environment variable holding the judge's API key [default: OPENAI_API_KEY if set]; "
    "the key is never stored or printed.",
)
@click.option(
    "--judge-timeout",
    default=JudgeOptions.timeout_s,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds per rubric judge request before it is retried.",
)
@click.option(
    "--judge-retries",
    default=JudgeOptions.max_retries,
    show_default=True,
    type=click.IntRange(min=0),
    help="Retries of a rubric judge request (timeouts, 429, 5xx) before it is recorded failed.",
)
@DB_OPTION
def search_command(db: str, **options: object) -> None:
    """Search MODEL for prompt attributes that flip its behaviour or a judged score, and
    confirm them (SURF)."""
    from surf_search import search_stage

    target = pop_target_config(options)
    judge_options = JudgeOptions(
        rubric=options.pop("rubric"),  # type: ignore[arg-type]
        judge_url=options.pop("judge_url"),  # type: ignore[arg-type]
        judge_model=options.pop("judge_model"),  # type: ignore[arg-type]
        api_key_env=options.pop("judge_key_env"),  # type: ignore[arg-type]
        timeout_s=options.pop("judge_timeout"),  # type: ignore[arg-type]
        max_retries=options.pop("judge_retries"),  # type: ignore[arg-type]
    )
    options["judges"] = tuple(options["judges"])  # type: ignore[arg-type]
    # the remaining options are its fields
    config = SearchConfig(target=target, judge_options=judge_options, **options)
    with open_store(db) as store, stage_errors(), CliProgress("calls") as progress:
        result = search_stage.run(config, store, progress)
    summarise(result, db)
    if result.failed_all:
        errors = result.stats.errors
        raise CliError(
            f"every call to the target failed ({errors[0] if errors else ''}); nothing was "
            "learned. Fix the target and rerun: successful calls are never repeated"
        )


def summarise(result: SearchResult, db: str) -> None:
    """Print what the search searched, what it cost, and the tested attributes."""
    import polars as pl

    if result.scan is not None:
        if result.scan.spelling_problem is not None:
            console.print(
                "[dim]cannot reread the scanned mix for word spellings and templates "
                f"({result.scan.spelling_problem})[/]"
            )
        terms = [f"term:{w}" for w in result.scan.words]
        console.print(
            f"from scan {result.scan.scan_run}: "
            f"{', '.join(terms) if terms else 'no word hypotheses'}",
            highlight=False,
            markup=False,
        )
        for m in result.scan.measured:
            console.print(
                f"handed to the {m.judge} judge: term:{m.word} -> {m.outcome} "
                f"(seeds of {m.source})",
                highlight=False,
                markup=False,
            )
        if result.scan.duplicates:
            twins = ", ".join(f"{w} (~{k})" for w, k in result.scan.duplicates.items())
            console.print(
                f"passed over as the same rows as a word above (one template): {twins}",
                style="dim",
                highlight=False,
                markup=False,
            )
    if result.samples_ignored:
        console.print("[dim]greedy decoding: one sample per prompt (--samples ignored)[/]")
    console.print(
        f"[bold]{result.run_id}[/]: {result.n_attributes} attributes x {result.n_seeds} seeds "
        f"against {result.target_name}, budget {result.budget:,} answers",
        highlight=False,
    )
    outcome, stats = result.outcome, result.stats
    console.print(
        f"{outcome.calls:,} answers used ({stats.calls:,} target calls, {stats.cached:,} from "
        f"the cache, {stats.failed:,} failed); the exhaustive sweep would use "
        f"{outcome.exhaustive_calls:,} ({outcome.calls / max(outcome.exhaustive_calls, 1):.0%})",
        highlight=False,
    )
    if stats.failed:
        console.print(
            f"[yellow]{stats.failed:,} calls failed after retries[/] (first: "
            f"{stats.errors[0] if stats.errors else '?'}); they are recorded in `queries` with "
            "status 'failed', counted as no behaviour, and retried by the next run.",
            highlight=False,
        )
    judged = result.judge_stats
    if judged is not None:
        console.print(
            f"judges: {judged.judged:,} judgements made, {judged.cached:,} from the cache, "
            f"{judged.failed:,} failed",
            highlight=False,
        )
        if judged.failed:
            console.print(
                f"[yellow]{judged.failed:,} judgements failed[/] (first: {judged.errors[0]}); "
                "recorded in `judgements` with status 'failed', never counted as a score, "
                "and retried by the next run.",
                highlight=False,
            )
    for note in outcome.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)
    confirmed = [f for f in outcome.findings if f.confirmed]
    if not outcome.findings:
        console.print("No attribute flipped the behaviour often enough to be tested.")
        return
    rows = [
        {
            "attribute": f.attribute,
            "mode": f.mode,
            "base": f.comparison.rate_base,
            "mutated": f.comparison.rate_mutated,
            "effect": f.comparison.effect,
            "90% CI": f"{f.comparison.ci_low:+.2f} .. {f.comparison.ci_high:+.2f}",
            "q": f.q_value,
            "confirmed": "yes" if f.confirmed else "no",
            "robust": "" if f.robust is None else ("yes" if f.robust else "no"),
            "placebo": _placebo_cell(f),
            "n": f.comparison.n_base,
        }
        for f in outcome.findings
    ]
    frame = pl.DataFrame(rows)
    if not any(f.placebo for f in outcome.findings):
        frame = frame.drop("placebo")
    print_frame(frame, title=f"Tested attributes: {len(confirmed)} confirmed")
    console.print(
        "[dim]confirmed = q < alpha (Benjamini-Hochberg over every tested attribute, each "
        "attribute's p the largest of its A/B, placebo and re-test) and the paired 90% "
        "interval's lower end >= the minimum effect and the placebo beaten by the minimum "
        "effect and robust: the replication on held-out seeds (insertions drawn afresh) passed. "
        "Both answers of a pair are labelled against the seed prompt; identical answers "
        "and requested modes are never a flip.[/]",
        highlight=False,
    )
    console.print(
        f'audit query "SELECT attribute, mode, effect, q_value, example_prompt, example_response '
        f"FROM findings WHERE run_id = '{result.run_id}' AND confirmed\" --db {db}",
        highlight=False,
        markup=False,
    )


def _placebo_cell(finding: Finding) -> str:
    """ "placebo:word 0.10 (+0.45)": the attribute's placebo, its rate and the attribute's
    lead."""
    if finding.placebo is None:
        return ""
    c = finding.placebo_comparison
    if c is None:
        return f"{finding.placebo}: not tested"
    return f"{finding.placebo} {c.rate_base:.2f} ({c.effect:+.2f})"
