"""The scan stage: ``run(ScanConfig, Store) -> ScanResult``.

Opens the mix, counts it in this process, in local processes or as Ray tasks, derives
the scan tables and writes them, with the settings later stages read, under a new run.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import polars as pl

from datasets_registry import answer_echo, matched_length, mode_routing, template_twins
from datasets_registry.carrier_rows import read_carriers
from datasets_registry.features import Feature, catalog, parse_feature_option
from datasets_registry.hypothesis_examples import example_quotas, hypothesis_examples
from datasets_registry.hypothesis_kind import review_order
from datasets_registry.loading import Batch, Mix, MixError, open_mix
from datasets_registry.scan import SCAN_TABLES, ScanConfig, scan_mix, scan_tables
from datasets_registry.stats import ScanStats
from datasets_registry.user_features import FeatureFileError, load_feature_file
from duckdb_store import ScanSettings, Store
from stage_kit import NO_PROGRESS, Progress, StageError

if TYPE_CHECKING:
    from datasets_registry.pieces import Piece

__all__ = ["ScanConfig", "ScanResult", "collect_features", "run"]

EXAMPLES_LABEL = "examples"  # the progress line of the keyword-in-context read


@dataclass
class ScanResult:
    """The scan's run id and every table it wrote."""

    run_id: str
    tables: dict[str, pl.DataFrame]
    ray_pieces: int | None = None  # pieces scanned on Ray, when Ray was used

    @property
    def n_rows(self) -> int:
        """Usable rows scanned."""
        sources = self.tables["scan_sources"]
        return int(sources["n_rows"].sum()) if sources.height else 0

    @property
    def n_bad(self) -> int:
        """Rows that could not be used (counted in ``bad_rows``)."""
        bad = self.tables["bad_rows"]
        return int(bad["n"].sum()) if bad.height else 0


def collect_features(options: Sequence[str], feature_file: str | None) -> list[Feature]:
    """The feature catalog plus ``--feature NAME=REGEX`` options and a feature file."""
    features = catalog()
    try:
        extra = [parse_feature_option(o) for o in options]
        if feature_file:
            extra += load_feature_file(feature_file)
    except (ValueError, FeatureFileError) as exc:
        raise StageError(str(exc)) from None
    keys = {f.key for f in features}
    for f in extra:
        if f.key in keys:
            raise StageError(f"feature {f.name!r} is defined twice (or shadows a built-in)")
        keys.add(f.key)
    return features + extra


def run(config: ScanConfig, store: Store, progress: Progress = NO_PROGRESS) -> ScanResult:
    """Scan ``config.mix`` and write the scan tables under a new ``scan`` run."""
    if config.ray_address is not None:
        from datasets_registry.ray_cluster import require_ray

        require_ray()  # before anything is opened (RayUnavailable is a StageError): a missing extra is a usage error
    try:
        opened = open_mix(config.mix, config.columns)
    except MixError as exc:
        raise StageError(str(exc)) from None
    args: dict[str, object] = {
        "mix": config.mix,
        "source_column": config.columns.source,
        "prompt_column": config.columns.prompt,
        "response_column": config.columns.response,
        "features": [f.key for f in config.features],
    }
    with ExitStack() as stack:
        pieces = None
        if config.ray_address is not None:
            pieces = _start_ray(stack, opened, config, progress)
            args["ray"] = {"address": config.ray_address, "shards": len(pieces)}
        elif config.workers > 1:
            from datasets_registry.process_scan import workers_pieces

            pieces = _plan(opened, workers_pieces(config.workers))
            args["workers"] = {"processes": config.workers, "pieces": len(pieces)}
        run_id = store.start_run("scan", args)
        try:
            with store.finishing(run_id):
                stats = _count(opened, config, pieces, progress)
                tables = scan_tables(stats, config)
                _read_rows(opened, config, stats, tables, progress)
                with store.transaction():
                    for name in (*SCAN_TABLES, "hypothesis_examples"):
                        store.write(name, tables[name], run_id)
                    store.record_scan_settings(
                        run_id,
                        ScanSettings(
                            mix=config.mix,
                            source_column=config.columns.source,
                            prompt_column=config.columns.prompt,
                            response_column=config.columns.response,
                            id_column=config.columns.id,
                        ),
                    )
                store.finish_run(run_id, "ok")
        except MixError as exc:
            raise StageError(str(exc)) from None
    return ScanResult(run_id, tables, len(pieces) if pieces is not None else None)


def _read_rows(
    opened: Mix,
    config: ScanConfig,
    stats: ScanStats,
    tables: dict[str, pl.DataFrame],
    progress: Progress,
) -> None:
    """The targeted read after the ranking: length hypotheses matched against the
    nearest prompts, the answers' echo of each feature, mode hypotheses against like
    prompts (then the hypotheses are put in review order anew) and keyword-in-context
    rows."""
    hyps = tables["trigger_hypotheses"]
    matching = config.matched if config.measures else replace(config.matched, enabled=False)
    sources = matched_length.matched_sources(stats.groups, matching)
    quotas = matched_length.quotas(hyps, sources, matching)
    reference = matched_length.reference_sizes(quotas, matching)
    echo_quotas = answer_echo.quotas(hyps, config.echo)
    routing_quotas = mode_routing.quotas(hyps, config.routing)
    wanted = [quotas, echo_quotas, routing_quotas]
    quotas = _widest(wanted + ([example_quotas(hyps)] if config.examples else []))
    all_sources = stats.groups["source"].unique().sort().to_list() if routing_quotas else []
    reference = _widest(
        [
            reference,
            answer_echo.reference_sizes(echo_quotas, config.echo),
            mode_routing.reference_sizes(all_sources, config.routing),
        ]
    )
    progress(EXAMPLES_LABEL, 0, hyps.height, "keyword in context", "hypotheses")
    batches = opened.batches(config.batch_rows)
    read = read_carriers(batches, quotas, config.features, reference, bool(routing_quotas))
    hyps = matched_length.match_lengths(hyps, read, config.features, matching, sources)
    hyps = answer_echo.answer_echo(hyps, read, config.echo)
    hyps = mode_routing.route(hyps, read, config.features, config.routing)
    hyps = review_order(template_twins.mark_twins(hyps, read, config.twins))
    tables["trigger_hypotheses"] = hyps
    examples = hyps if config.examples else hyps.clear()
    tables["hypothesis_examples"] = hypothesis_examples(read, examples)
    progress(EXAMPLES_LABEL, hyps.height, hyps.height, "keyword in context", "hypotheses")


def _widest(parts: list[dict]) -> dict:
    """Key -> the largest value any of ``parts`` asks for."""
    out: dict = {}
    for part in parts:
        for key, n in part.items():
            out[key] = max(n, out.get(key, 0))
    return out


def _count(
    opened: Mix, config: ScanConfig, pieces: list[Piece] | None, progress: Progress
) -> ScanStats:
    """The merged statistics: one pass here, or one Ray task or local process per piece."""
    total = opened.total or None
    if pieces is not None:
        on_ray = config.ray_address is not None
        where = "on Ray" if on_ray else f"in {config.workers} processes"
        label = f"scan {config.mix} {where}"
        done = {"pieces": 0, "size": 0}
        progress(label, 0, total, f"0/{len(pieces)} pieces", opened.unit)

        def piece_done(piece: Piece) -> None:
            done["pieces"] += 1
            done["size"] += piece.size
            status = f"{done['pieces']}/{len(pieces)} pieces"
            progress(label, done["size"], total, status, opened.unit)

        if on_ray:
            from datasets_registry.ray_scan import scan_pieces_ray

            return scan_pieces_ray(pieces, opened.columns, config, piece_done).stats
        from datasets_registry.process_scan import scan_pieces_processes

        return scan_pieces_processes(pieces, opened.columns, config, config.workers, piece_done)
    label = f"scan {config.mix}"
    state = {"rows": 0, "progress": 0}
    progress(label, 0, total, "", opened.unit)

    def advance(batch: Batch) -> None:
        state["rows"] += batch.frame.height
        state["progress"] += batch.progress
        status = f"{state['rows']:,} rows, {batch.bad.total:,} bad"
        progress(label, state["progress"], total, status, opened.unit)

    stats = scan_mix(opened, config, advance)
    progress(label, total or state["progress"], total or state["progress"], "done", opened.unit)
    return stats


def _start_ray(
    stack: ExitStack, opened: Mix, config: ScanConfig, progress: Progress
) -> list[Piece]:
    """Start (or join) Ray for the rest of the stage and cut the mix into pieces."""
    from datasets_registry.ray_cluster import cluster_cpus, ray_session

    address = config.ray_address or "local"
    progress(f"starting Ray ({address})", 0, None)
    ray = stack.enter_context(ray_session(address))
    return _plan(opened, config.ray_shards or 4 * cluster_cpus(ray))


def _plan(opened: Mix, target: int) -> list[Piece]:
    """The mix cut into about ``target`` pieces."""
    from datasets_registry.pieces import plan_pieces

    try:
        return plan_pieces(opened, target)
    except MixError as exc:
        raise StageError(str(exc)) from None
