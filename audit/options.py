"""Options that several commands share, declared once (defaults come from the library)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TypeVar

import click

from audit.output import FORMATS
from datasets_registry.normalise import Columns
from duckdb_store import DEFAULT_DB
from surf_search.target_config import TargetConfig

F = TypeVar("F", bound=Callable[..., object])

DB_OPTION = click.option(
    "--db",
    "db",
    default=DEFAULT_DB,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB file holding every table.",
)

FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output as a table, CSV or JSON.",
)

SOURCE_COLUMN_OPTION = click.option(
    "--source-column",
    default=Columns.source,
    show_default=True,
    help="Column naming each row's source chunk (files without it use their stem).",
)
PROMPT_COLUMN_OPTION = click.option("--prompt-column", default=Columns.prompt, show_default=True)
RESPONSE_COLUMN_OPTION = click.option(
    "--response-column", default=Columns.response, show_default=True
)
ID_COLUMN_OPTION = click.option("--id-column", default=Columns.id, show_default=True)
SEED_OPTION = click.option("--seed", default=0, show_default=True, type=int)


def mix_column_options(fn: F) -> F:
    """``--source-column``, ``--prompt-column``, ``--response-column`` (scan and train)."""
    for option in (RESPONSE_COLUMN_OPTION, PROMPT_COLUMN_OPTION, SOURCE_COLUMN_OPTION):
        fn = option(fn)
    return fn


# The options that choose and configure a target (search, verify's models, probe).
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
        "--concurrency", default=TargetConfig.concurrency, show_default=True,
        type=click.IntRange(min=1), help="Requests in flight at once (HTTP).",
    ),
    click.option(
        "--timeout", "timeout_s", default=TargetConfig.timeout_s, show_default=True,
        type=click.FloatRange(min=0, min_open=True), help="Seconds per request (HTTP).",
    ),
    click.option(
        "--max-retries", default=TargetConfig.max_retries, show_default=True,
        type=click.IntRange(min=0),
        help="Retries of a failed request (HTTP), with exponential backoff and jitter.",
    ),
    click.option(
        "--batch-size", default=TargetConfig.batch_size, show_default=True,
        type=click.IntRange(min=1), help="Prompts per generate call (in-process).",
    ),
    click.option(
        "--max-new-tokens", default=TargetConfig.max_new_tokens, show_default=True,
        type=click.IntRange(min=1),
    ),
    click.option(
        "--temperature", default=TargetConfig.temperature, show_default=True,
        type=click.FloatRange(min=0),
        help="0 is greedy decoding (then one sample per prompt is enough).",
    ),
    click.option(
        "--top-p", default=TargetConfig.top_p, show_default=True, type=click.FloatRange(0, 1)
    ),
]  # fmt: skip

TARGET_FIELDS = tuple(f.name for f in fields(TargetConfig))  # one per target option


def target_options(fn: F) -> F:
    """The options that choose and configure a target (``--model`` ... ``--top-p``)."""
    for option in reversed(TARGET_OPTIONS):
        fn = option(fn)
    return fn


def pop_target_config(options: dict[str, object]) -> TargetConfig:
    """Take the target options out of a command's ``options`` as a TargetConfig."""
    return TargetConfig(**{name: options.pop(name) for name in TARGET_FIELDS})
