"""`audit probe NAME`: probes from the literature against a live model, into probe_results."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import click

from audit.output import CliError, console, print_frame
from audit.search_command import open_target, target_options
from surf_search.probes import get_probe, probe_names

# CLI parameter -> the ProbeOptions field it sets (a probe accepts the fields it lists).
PROBE_PARAMS = {
    "prompts": "prompts",
    "items": "items",
    "bans": "bans",
    "tokenizer": "tokenizer",
    "judge_url": "judge_url",
    "judge_model": "judge_model",
    "limit": "limit",
    "per_type": "per_type",
    "yes_no": "yes_no",
    "folds": "folds",
}


def _epilog() -> str:
    lines = ["\b", "Probes (what a hit means):"]
    lines += [f"  {name}: {get_probe(name).hit_desc}" for name in probe_names()]
    return "\n".join(lines)


@click.command("probe", epilog=_epilog())
@click.argument("name", type=click.Choice(probe_names()))
@target_options
@click.option(
    "--prompts",
    type=click.Path(dir_okay=False),
    help="Prompts: JSON lines (turns/prompt/text) or one per line [token-ban, length-probe]; "
    "an XSTest-format CSV (prompt, type, label) [over-refusal].",
)
@click.option(
    "--items",
    type=click.Path(dir_okay=False),
    help="JSON lines of question and answer [sustain; default: built-in arithmetic].",
)
@click.option(
    "--ban",
    "bans",
    multiple=True,
    help="Text of one token to ban, each its own condition (repeatable) [token-ban; default: the].",
)
@click.option(
    "--tokenizer",
    help="The served model's tokenizer (folder or hub id), to find --ban's token ids for "
    "logit_bias [token-ban with --base-url].",
)
@click.option(
    "--judge-url", help="OpenAI-compatible URL of a pairwise completeness judge [token-ban]."
)
@click.option("--judge-model", help="Model name of the judge.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many prompts or items.")
@click.option(
    "--per-type",
    type=click.IntRange(min=1),
    help="At most this many prompts of each type [over-refusal].",
)
@click.option(
    "--yes-no/--no-yes-no",
    default=True,
    show_default=True,
    help="Also run the yes/no negative-bias check [over-refusal].",
)
@click.option(
    "--folds", default=5, show_default=True, type=click.IntRange(min=2),
    help="Cross-validation folds [length-probe].",
)  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--db", default="audit.duckdb", show_default=True, type=click.Path(dir_okay=False))
@click.pass_context
def probe_command(ctx: click.Context, **options: Any) -> None:
    """Run probe NAME against MODEL and store one row per item, condition and metric."""
    given = {
        name
        for name in PROBE_PARAMS
        if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
    }
    run_probe_command(given=given, **options)


def run_probe_command(
    *,
    name: str,
    model: str,
    base_url: str | None,
    api_key_env: str | None,
    concurrency: int,
    timeout_s: float,
    max_retries: int,
    batch_size: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    prompts: str | None,
    items: str | None,
    bans: tuple[str, ...],
    tokenizer: str | None,
    judge_url: str | None,
    judge_model: str | None,
    limit: int | None,
    per_type: int | None,
    yes_no: bool,
    folds: int,
    seed: int,
    db: str,
    given: set[str] | None = None,
) -> str | None:
    """Run one probe; returns its run id (None when it stopped before any model call)."""
    from duckdb_store.store import Store, StoreError
    from surf_search.probes import ProbeContext, ProbeError, ProbeOptions
    from surf_search.targets import GenerationParams

    probe = get_probe(name)
    values = {"prompts": prompts, "items": items, "bans": bans, "tokenizer": tokenizer,
              "judge_url": judge_url, "judge_model": judge_model, "limit": limit,
              "per_type": per_type, "yes_no": yes_no, "folds": folds}  # fmt: skip
    given = given if given is not None else {k for k, v in values.items() if v not in (None, ())}
    for param in sorted(given):
        if PROBE_PARAMS[param] not in probe.options:
            flag = "--" + ("ban" if param == "bans" else param.replace("_", "-"))
            users = [n for n in probe_names() if PROBE_PARAMS[param] in get_probe(n).options]
            raise CliError(f"{flag} does not apply to {name} (it is for {', '.join(users)})")
    if probe.in_process_only and base_url:
        raise CliError(
            f"{name} needs an in-process model: it reads hidden states (drop --base-url)"
        )
    if tokenizer and not base_url:
        raise CliError("--tokenizer is only for --base-url (an in-process model has its own)")
    if bool(judge_url) != bool(judge_model):
        raise CliError("--judge-url and --judge-model go together")
    options = ProbeOptions(
        prompts=prompts,
        items=items,
        bans=tuple(bans) or ProbeOptions.bans,
        tokenizer=tokenizer,
        judge_url=judge_url,
        judge_model=judge_model,
        limit=limit,
        per_type=per_type,
        yes_no=yes_no,
        folds=folds,
        seed=seed,
    )
    params = GenerationParams(
        max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
    )
    try:
        store = Store(db)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        loaded = _load_tokenizer(tokenizer) if tokenizer else None

        def load_target() -> Any:
            with _quiet_loading() if base_url is None else nullcontext():
                return open_target(
                    model=model,
                    base_url=base_url,
                    api_key_env=api_key_env,
                    concurrency=concurrency,
                    timeout_s=timeout_s,
                    max_retries=max_retries,
                    batch_size=batch_size,
                )

        def start_run() -> str:
            args = {
                "probe": name,
                "model": model,
                "base_url": base_url,
                "target": context.target.fingerprint(),
                "params": params.key(),
                **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()},
                "seed": seed,
            }
            return store.start_run("probe", args)

        context = ProbeContext(
            load_target,
            params,
            options,
            store,
            start_run,
            in_process=base_url is None,
            log=lambda message: console.print(f"[dim]{name}: {message}[/]", highlight=False),
            tokenizer=loaded,
        )
        where = f"{model} at {base_url}" if base_url else model
        console.print(f"[bold]probe {name}[/] against {where}", highlight=False)
        try:
            result = probe.run(context, options)
        except ProbeError as exc:
            if context.started:
                store.finish_run(context.run_id, "failed")
            raise CliError(str(exc)) from None
        except KeyboardInterrupt:
            if context.started:
                store.finish_run(context.run_id, "interrupted")
            raise
        except BaseException:
            if context.started:
                store.finish_run(context.run_id, "failed")
            raise
        run_id = context.run_id
        fingerprint = context.target.fingerprint()
        store.write("probe_results", _frame(result, name, fingerprint), run_id)
        counts = context.counts
        failed_all = counts.calls > 0 and counts.failed == counts.calls
        store.finish_run(run_id, "failed" if failed_all else "ok")
    finally:
        store.close()
    _summarise(result, counts, name, run_id, db)
    if failed_all:
        first = counts.errors[0] if counts.errors else "unknown error"
        raise CliError(
            f"every call to the target failed ({first}); fix the target and rerun: "
            "successful calls are never repeated"
        )
    return run_id


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


def _load_tokenizer(name: str) -> Any:
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot load tokenizer {name}: {first}") from None


def _frame(result: Any, name: str, target: str) -> Any:
    import polars as pl

    rows = result.rows
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
        schema={
            "probe": pl.String,
            "target": pl.String,
            "item_id": pl.String,
            "condition": pl.String,
            "metric": pl.String,
            "value": pl.Float64,
            "detail": pl.String,
        },
    )


def _summarise(result: Any, counts: Any, name: str, run_id: str, db: str) -> None:
    import polars as pl

    summary = [
        {"condition": r.condition, "metric": r.metric, "value": r.value} for r in result.summaries()
    ]
    if summary:
        print_frame(
            pl.DataFrame(summary, schema={"condition": pl.String, "metric": pl.String,
                                          "value": pl.Float64}),
            title=f"probe {name}: summary ({run_id})",
        )  # fmt: skip
    for line in result.headline:
        console.print(line, highlight=False, markup=False)
    for note in result.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)
    console.print(
        f"{counts.calls:,} target calls ({counts.cached:,} answers from the cache, "
        f"{counts.failed:,} failed)",
        highlight=False,
    )
    if counts.failed:
        console.print(
            f"[yellow]{counts.failed:,} calls failed after retries[/] (first: "
            f"{counts.errors[0] if counts.errors else '?'}); their items are left out and the "
            "next run retries them.",
            highlight=False,
        )
    console.print(
        f'audit query "SELECT item_id, condition, metric, value, detail FROM probe_results '
        f"WHERE run_id = '{run_id}'\" --db {db}",
        highlight=False,
        markup=False,
    )
