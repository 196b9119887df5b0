"""`audit search`: find and confirm behaviour triggers against a live model."""

from __future__ import annotations

import os
from pathlib import Path

import click

from audit.output import CliError, console, print_frame, progress_bar

TARGET_OPTIONS = [
    click.option(
        "--model",
        required=True,
        help="A local model folder or hub id (in-process), or the served model's name with "
        "--base-url.",
    ),
    click.option(
        "--base-url",
        help="OpenAI-compatible server (vLLM, TGI, SGLang, Ollama, llama.cpp, transformers "
        "serve), e.g. http://127.0.0.1:8000/v1.",
    ),
    click.option(
        "--api-key-env",
        help="Name of the environment variable holding the API key (the key is never stored).",
    ),
    click.option(
        "--concurrency", default=8, show_default=True, type=click.IntRange(min=1),
        help="Requests in flight at once (HTTP).",
    ),
    click.option(
        "--timeout", "timeout_s", default=60.0, show_default=True,
        type=click.FloatRange(min=0, min_open=True), help="Seconds per request (HTTP).",
    ),
    click.option(
        "--max-retries", default=4, show_default=True, type=click.IntRange(min=0),
        help="Retries of a failed request (HTTP), with exponential backoff and jitter.",
    ),
    click.option(
        "--batch-size", default=32, show_default=True, type=click.IntRange(min=1),
        help="Prompts per generate call (in-process).",
    ),
    click.option(
        "--max-new-tokens", default=64, show_default=True, type=click.IntRange(min=1),
    ),
    click.option(
        "--temperature", default=0.0, show_default=True, type=click.FloatRange(min=0),
        help="0 is greedy decoding (then one sample per prompt is enough).",
    ),
    click.option("--top-p", default=1.0, show_default=True, type=click.FloatRange(0, 1)),
]  # fmt: skip


def target_options(fn):  # noqa: ANN001, ANN201 - a click decorator
    """The options that choose and configure a target (shared by search, verify, probe)."""
    for option in reversed(TARGET_OPTIONS):
        fn = option(fn)
    return fn


def open_target(
    *,
    model: str,
    base_url: str | None,
    api_key_env: str | None,
    concurrency: int,
    timeout_s: float,
    max_retries: int,
    batch_size: int,
):
    """An in-process model (``--model``) or an HTTP one (``--base-url`` + ``--model``)."""
    if api_key_env and not base_url:
        raise CliError("--api-key-env needs --base-url")
    if api_key_env and api_key_env not in os.environ:
        raise CliError(f"environment variable {api_key_env} (--api-key-env) is not set")
    if base_url:
        from surf_search.http_target import OpenAIChatTarget

        return OpenAIChatTarget(
            base_url,
            model,
            api_key_env=api_key_env,
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )
    from surf_search.targets import TransformersTarget

    path = Path(model).expanduser()
    looks_local = model.startswith((".", "/", "~")) or path.exists()
    if looks_local and not (path / "config.json").is_file():
        raise CliError(f"no Hugging Face model folder at {model} (config.json missing)")
    try:
        return TransformersTarget(str(path) if looks_local else model, batch_size=batch_size)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot load model {model}: {first}") from None


@click.command("search")
@target_options
@click.option(
    "--seeds",
    "seeds_file",
    type=click.Path(dir_okay=False),
    help="Seed prompts: one per line, or JSON lines with 'prompt' [default: 230 built-in].",
)
@click.option(
    "--from-scan",
    is_flag=True,
    help="Add the words of the latest scan's trigger hypotheses (term:<word>) to the pool.",
)
@click.option(
    "--scan-terms",
    default=12,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many scan words --from-scan adds.",
)
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    help="Only these operators (repeatable; e.g. formal_vocab, term:zorblax).",
)
@click.option(
    "--budget",
    default=900,
    show_default=True,
    type=click.IntRange(min=10),
    help="Model answers the search may use; answers cached by an earlier run are reused "
    "without a call but count, so a rerun replays the same search.",
)
@click.option(
    "--samples",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Responses per prompt in the confirmation A/B (sampling only).",
)
@click.option(
    "--min-effect",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Smallest rate difference that counts as a trigger.",
)
@click.option(
    "--alpha",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="False discovery rate (Benjamini-Hochberg q-value threshold).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--db", default="audit.duckdb", show_default=True, type=click.Path(dir_okay=False))
def search_command(**options) -> None:  # noqa: ANN003 - click passes options by name
    """Search MODEL for prompt attributes that flip its behaviour, and confirm them (SURF)."""
    run_search_command(**options)


def run_search_command(
    *,
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
    seeds_file: str | None,
    from_scan: bool,
    scan_terms: int,
    attributes: tuple[str, ...],
    budget: int,
    samples: int,
    min_effect: float,
    alpha: float,
    seed: int,
    db: str,
) -> str:
    from duckdb_store.store import Store, StoreError
    from surf_search.query_cache import CachedTarget
    from surf_search.search import Search, SearchConfig
    from surf_search.seeds import SeedError, builtin_seeds, load_seeds
    from surf_search.targets import GenerationParams

    try:
        seeds = load_seeds(seeds_file) if seeds_file else builtin_seeds()
    except SeedError as exc:
        raise CliError(str(exc)) from None
    try:
        store = Store(db)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    try:
        mutations, surface = choose_mutations(store, from_scan, scan_terms, attributes)
        if temperature == 0 and samples > 1:
            console.print("[dim]greedy decoding: one sample per prompt (--samples ignored)[/]")
            samples = 1
        target = open_target(
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            concurrency=concurrency,
            timeout_s=timeout_s,
            max_retries=max_retries,
            batch_size=batch_size,
        )
        params = GenerationParams(
            max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
        )
        config = SearchConfig(
            budget=budget, samples=samples, min_effect=min_effect, alpha=alpha, seed=seed
        )
        args = {
            "model": model,
            "base_url": base_url,
            "target": target.fingerprint(),
            "params": params.key(),
            "seeds": seeds_file or "builtin",
            "n_seeds": len(seeds),
            "attributes": [m.name for m in mutations],
            "surface_forms": surface,
            "budget": budget,
            "samples": samples,
            "min_effect": min_effect,
            "alpha": alpha,
            "seed": seed,
        }
        run_id = store.start_run("search", args)
        console.print(
            f"[bold]{run_id}[/]: {len(mutations)} attributes x {len(seeds)} seeds against "
            f"{target.name}, budget {budget:,} answers",
            highlight=False,
        )
        cached = CachedTarget(target, store, run_id, params)
        with store.finishing(run_id):
            result = _run(Search, cached, seeds, mutations, config, store, run_id)
        from surf_search.findings import findings_frame

        store.write("findings", findings_frame(result, run_id, target.fingerprint()), run_id)
        failed_all = cached.stats.calls > 0 and cached.stats.failed == cached.stats.calls
        store.finish_run(run_id, "failed" if failed_all else "ok")
    finally:
        store.close()
    _summarise(result, cached.stats, run_id, db)
    if failed_all:
        raise CliError(
            f"every call to the target failed ({cached.stats.errors[0] if cached.stats.errors else ''});"
            " nothing was learned. Fix the target and rerun: successful calls are never repeated"
        )
    return run_id


def choose_mutations(store, from_scan: bool, scan_terms: int, attributes: tuple[str, ...]):
    """Built-in operators, plus scan words with --from-scan, restricted by --attribute;
    and the mix's spelling of each scan word."""
    from surf_search.mutations import builtin_mutations, get_mutation, term_mutation

    mutations = builtin_mutations()
    forms: dict[str, str] = {}
    if from_scan:
        scan = store.latest_run("scan")
        if scan is None:
            raise CliError("--from-scan: no finished scan in this database (run `audit scan`)")
        terms = store.read(
            "SELECT feature FROM trigger_hypotheses WHERE run_id = ? AND feature LIKE 'term:%' "
            "GROUP BY feature ORDER BY min(rank) LIMIT ?",
            [scan, scan_terms],
        )["feature"].to_list()
        words = [t.removeprefix("term:") for t in terms]
        forms = _surface_forms(store, scan, words)
        mutations += [term_mutation(w, forms.get(w)) for w in words]
        console.print(
            f"from scan {scan}: {', '.join(terms) if terms else 'no word hypotheses'}",
            highlight=False,
            markup=False,
        )
    if attributes:
        try:
            mutations = [get_mutation(name, forms) for name in attributes]
        except KeyError as exc:
            raise CliError(str(exc.args[0])) from None
    return mutations, forms


def _surface_forms(store, scan: str, words: list[str]) -> dict[str, str]:  # noqa: ANN001
    """How the scanned mix writes each word (lower-case when the mix cannot be read now)."""
    import json

    from datasets_registry.loading import MixError
    from datasets_registry.normalise import Columns
    from datasets_registry.surface import surface_forms

    args = json.loads(store.read("SELECT args FROM runs WHERE run_id = ?", [scan])["args"][0])
    columns = Columns(
        source=args.get("source_column", "source"),
        prompt=args.get("prompt_column", "prompt"),
        response=args.get("response_column", "response"),
    )
    try:
        return surface_forms(args["mix"], words, columns)
    except (MixError, OSError, KeyError) as exc:
        console.print(f"[dim]cannot reread the scanned mix for word spellings ({exc})[/]")
        return {}


def _run(search_class, cached, seeds, mutations, config, store, run_id):  # noqa: ANN001, ANN202
    from surf_search.findings import trials_frame

    with progress_bar("calls") as bar:
        task = bar.add_task("search", total=config.budget, status="discovering")

        def progress(p) -> None:  # noqa: ANN001
            bar.update(
                task,
                completed=min(p.calls, p.budget),
                status=f"{p.phase}: {p.calls:,} calls, {p.findings} confirmed",
            )

        def save(trials) -> None:  # noqa: ANN001
            store.write("search_trials", trials_frame(trials), run_id)

        search = search_class(cached, seeds, mutations, config, progress, save)
        result = search.run()
        bar.update(task, status=f"done: {result.calls:,} calls")
    return result


def _summarise(result, stats, run_id: str, db: str) -> None:  # noqa: ANN001
    import polars as pl

    console.print(
        f"{result.calls:,} answers used ({stats.calls:,} target calls, {stats.cached:,} from the "
        f"cache, {stats.failed:,} failed); the exhaustive sweep would use "
        f"{result.exhaustive_calls:,} ({result.calls / max(result.exhaustive_calls, 1):.0%})",
        highlight=False,
    )
    if stats.failed:
        console.print(
            f"[yellow]{stats.failed:,} calls failed after retries[/] (first: "
            f"{stats.errors[0] if stats.errors else '?'}); they are recorded in `queries` with "
            "status 'failed', counted as no behaviour, and retried by the next run.",
            highlight=False,
        )
    for note in result.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)
    confirmed = [f for f in result.findings if f.confirmed]
    if not result.findings:
        console.print("No attribute flipped the behaviour often enough to be tested.")
        return
    rows = [
        {
            "attribute": f.attribute,
            "mode": f.mode,
            "base": f.comparison.rate_base,
            "mutated": f.comparison.rate_mutated,
            "effect": f.comparison.effect,
            "95% CI": f"{f.comparison.ci_low:+.2f} .. {f.comparison.ci_high:+.2f}",
            "q": f.q_value,
            "confirmed": "yes" if f.confirmed else "no",
            "robust": "" if f.robust is None else ("yes" if f.robust else "no"),
            "n": f.comparison.n_base,
        }
        for f in result.findings
    ]
    print_frame(pl.DataFrame(rows), title=f"Tested attributes: {len(confirmed)} confirmed")
    console.print(
        f'audit query "SELECT attribute, mode, effect, q_value, example_prompt, example_response '
        f"FROM findings WHERE run_id = '{run_id}' AND confirmed\" --db {db}",
        highlight=False,
        markup=False,
    )
