"""`audit classify`: label every response of a file with its behaviour mode.

Reads csv, jsonl (or a json array) or parquet; writes the same rows plus
``mode``, ``mode_confidence`` and ``mode_evidence`` (format from the output's
suffix); prints the distribution of modes. Bad values (missing, NaN, non-text,
huge, invalid UTF-8) are labelled, never a crash; malformed jsonl lines are
counted and reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import orjson
import polars as pl

from audit.output import CliError, console, print_frame

READABLE = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")
WRITABLE = (".csv", ".tsv", ".jsonl", ".ndjson", ".json", ".parquet")
MODE_COLUMNS = ("mode", "mode_confidence", "mode_evidence")


def _jsonable(value: Any) -> Any:
    """Nested values become JSON text so that any jsonl file makes a table."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def read_rows(path: Path) -> tuple[pl.DataFrame, dict[str, list[Any]], int]:
    """(table, raw column values for jsonl, malformed lines skipped)."""
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise CliError(
            f"{path}: cannot read {suffix or 'files without a suffix'} (use {', '.join(READABLE)})"
        )
    try:
        if suffix in (".csv", ".tsv"):
            frame = pl.read_csv(
                path,
                separator="\t" if suffix == ".tsv" else ",",
                infer_schema=False,
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
            )
            return frame, {}, 0
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
            binary = [n for n, t in frame.schema.items() if t == pl.Binary]
            frame = frame.with_columns(
                pl.col(n).map_elements(
                    lambda b: b.decode("utf-8", errors="replace"), return_dtype=pl.String
                )
                for n in binary
            )
            return frame, {}, 0
        text = path.read_bytes().decode("utf-8", errors="replace")
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise CliError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    records: list[dict[str, Any]] = []
    bad = 0
    if suffix == ".json":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise CliError(f"{path}: not valid JSON ({exc})") from None
        items = data if isinstance(data, list) else [data]
        records = [r for r in items if isinstance(r, dict)]
        bad = len(items) - len(records)
    else:
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                try:  # Python's json also reads NaN and Infinity
                    record = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
            if isinstance(record, dict):
                records.append(record)
            else:
                bad += 1
    columns: list[str] = []
    for record in records:
        for key in record:
            if key not in columns:
                columns.append(key)
    raw = {name: [r.get(name) for r in records] for name in columns}
    table = {name: [_jsonable(v) for v in values] for name, values in raw.items()}
    try:
        frame = pl.DataFrame(table, strict=False, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        frame = pl.DataFrame(
            {n: [None if v is None else str(v) for v in vs] for n, vs in table.items()},
            schema={n: pl.String for n in table},
        )
    return frame, raw, bad


def write_rows(frame: pl.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix not in WRITABLE:
        raise CliError(f"--output {path}: use one of {', '.join(WRITABLE)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix in (".csv", ".tsv"):
            nested = [n for n, t in frame.schema.items() if t.is_nested()]
            flat = frame.with_columns(
                pl.col(n).map_elements(
                    lambda v: orjson.dumps(v.to_list() if isinstance(v, pl.Series) else v).decode(),
                    return_dtype=pl.String,
                )
                for n in nested
            )
            flat.write_csv(path, separator="\t" if suffix == ".tsv" else ",")
        elif suffix == ".parquet":
            frame.write_parquet(path)
        elif suffix == ".json":
            frame.write_json(path)
        else:
            frame.write_ndjson(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise CliError(f"cannot write {path}: {str(exc).splitlines()[0]}") from None


def distribution(labels: pl.DataFrame) -> pl.DataFrame:
    """Rows, share and mean confidence per mode (every mode listed, most common first)."""
    from behaviour_modes.modes import MODES

    total = max(labels.height, 1)
    counts = labels.group_by("mode").agg(
        pl.len().alias("n"), pl.col("mode_confidence").mean().alias("mean_confidence")
    )
    frame = (
        pl.DataFrame({"mode": list(MODES)})
        .join(counts, on="mode", how="left")
        .with_columns(pl.col("n").fill_null(0).cast(pl.Int64))
        .with_columns((pl.col("n") / total).alias("share"))
        .sort(["n", "mode"], descending=[True, False])
    )
    return frame.select("mode", "n", "share", "mean_confidence")


def run_classify_command(
    *,
    file: str,
    prompt_column: str,
    response_column: str,
    output: str | None,
    learned: bool,
    judge_url: str | None,
    judge_model: str | None,
) -> pl.DataFrame:
    from behaviour_modes.judge import JudgeConfig, JudgeStats
    from behaviour_modes.modes import mode_frame

    if bool(judge_url) != bool(judge_model):
        raise CliError("--judge-url and --judge-model go together")
    path = Path(file)
    if not path.is_file():
        raise CliError(f"no such file: {file}")
    frame, raw, bad = read_rows(path)
    if response_column not in frame.columns:
        raise CliError(
            f"{path.name} has no column {response_column!r} (columns: {', '.join(frame.columns) or 'none'});"
            " pick one with --response-column"
        )
    prompts: Any = raw.get(prompt_column) if raw else None
    if prompts is None:
        prompts = frame[prompt_column] if prompt_column in frame.columns else [None] * frame.height
    responses: Any = raw.get(response_column) if raw else frame[response_column]
    if prompt_column not in frame.columns:
        console.print(
            f"[yellow]note:[/] no column {prompt_column!r}: labelling without prompts "
            "(code or stories asked for cannot be recognised)"
        )
    judge = JudgeConfig(judge_url, judge_model) if judge_url and judge_model else None
    stats = JudgeStats()
    labels = mode_frame(prompts, responses, learned=learned, judge=judge, judge_stats=stats)
    result = frame.drop([c for c in MODE_COLUMNS if c in frame.columns]).hstack(labels)
    if output:
        write_rows(result, Path(output))
    title = f"{path.name}: {result.height:,} responses"
    print_frame(distribution(labels), title=title)
    if bad:
        console.print(f"[yellow]{bad} malformed line(s) skipped[/] (not JSON objects)")
    if judge is not None:
        console.print(
            f"judge {judge.model}: {stats.calls - stats.failed} of {stats.calls} calls answered"
        )
        if stats.failed:
            console.print(
                f"[red]{stats.failed} judge call(s) failed[/] (rule labels kept, marked "
                f"'judge failed' in mode_evidence): {stats.errors[0]}"
            )
    if output:
        console.print(f"wrote {output}")
    else:
        console.print("[dim]add --output FILE to write the rows with their modes[/]")
    return result


@click.command("classify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prompt-column", default="prompt", show_default=True)
@click.option("--response-column", default="response", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the rows plus mode, mode_confidence, mode_evidence (csv, jsonl, json, parquet).",
)
@click.option(
    "--learned",
    is_flag=True,
    help="Also run the learned layer (MiniLM + logistic regression) where the rules are unsure.",
)
@click.option("--judge-url", help="OpenAI-compatible base URL of an LLM judge (optional).")
@click.option("--judge-model", help="Model name for the LLM judge.")
def classify_command(
    file: str,
    prompt_column: str,
    response_column: str,
    output: str | None,
    learned: bool,
    judge_url: str | None,
    judge_model: str | None,
) -> None:
    """Label each response in FILE (csv, jsonl, parquet) with its behaviour mode."""
    from audit.classify_command import run_classify_command

    run_classify_command(
        file=file,
        prompt_column=prompt_column,
        response_column=response_column,
        output=output,
        learned=learned,
        judge_url=judge_url,
        judge_model=judge_model,
    )
