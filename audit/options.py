"""Options that several commands share, declared once (defaults come from the library)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from audit.output import FORMATS
from datasets_registry.normalise import Columns
from duckdb_store import DEFAULT_DB

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
