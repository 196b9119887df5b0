"""The attribute stage: link each confirmed finding's mis-routed responses to training examples.

Reads a finished ``search`` run (the latest, or ``config.search_run``) through the
store's named reads: every confirmed finding and its mis-routed (prompt, response)
pairs (the trials of its attribute that flipped into its mode; the finding's own
example when there is none), a seeded sample of ``max_queries`` per finding. Scores
them against the mix with the chosen methods and writes ``attributions`` and
``attributed_examples`` under a new ``attribute`` run. Features are kept next to the
database (``<db>.features/``) and reused while the model and the mix are unchanged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from attribution.bergson_gradients import ParamSelection
from attribution.config import METHODS, RECOMMENDED_METHOD, AttributionConfig
from attribution.embedding import EmbeddingUnavailable
from attribution.feature_store import store_root
from attribution.inputs import Query
from attribution.methods import method_names
from attribution.methods.gradient import GradientMethod
from attribution.pipeline import Attributor, MethodResult
from datasets_registry.loading import MixError, open_mix
from datasets_registry.normalise import Columns
from duckdb_store.records import FindingRecord
from duckdb_store.store import Store
from stage_kit import NO_PROGRESS, Progress, StageError
from surf_search.judges import rows_showing

ALL = "all"  # ``method``: every method in METHODS
METHOD_CHOICES = (*method_names(), ALL)  # any registered method, or every one of METHODS
FINDINGS_LABEL = "attribute findings"


@dataclass(frozen=True)
class AttributeConfig:
    """What to attribute (a search run's confirmed findings) to which mix, and how."""

    mix: str  # the training mix (name, file or folder)
    model: str  # the trained model folder whose findings are attributed
    method: str = RECOMMENDED_METHOD  # a registered method, or "all" (every one of METHODS)
    top_k: int = AttributionConfig.top_k  # training examples counted as hits per query
    proj_dim: int = AttributionConfig.proj_dim  # each module's gradient -> proj_dim^2 numbers
    precision: str = AttributionConfig.precision  # model weights for gradients (fp32, bf16, fp16)
    search_run: str | None = None  # the search run (None: the latest ok one)
    keep: int = AttributionConfig.keep  # attributed examples stored per finding and method
    #: Examples showing the finding's behaviour rank first (False: by score alone)
    behaviour_first: bool = AttributionConfig.behaviour_first
    max_queries: int = 200  # mis-routed pairs used per finding (a seeded sample if more)
    layers: int | None = None  # gradients for the last N layers only (None: all parameters)
    lora: bool = False  # gradients for the LoRA adapters (``model`` is a PEFT folder)
    response_tokens: int = AttributionConfig.response_tokens  # first N tokens (0: all)
    precondition: bool = AttributionConfig.precondition  # TRAK-style preconditioned scores
    embedding_model: str | None = AttributionConfig.embedding_model  # None: offline MiniLM
    seed: int = AttributionConfig.seed  # query sampling, projection and bootstrap seed
    source_column: str = Columns.source  # column naming each row's source chunk
    id_column: str = Columns.id
    ray: str | None = AttributionConfig.ray_address  # featurise on Ray ("local": start one)
    ray_workers: int = AttributionConfig.ray_workers  # CPU actors when Ray has no GPU

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods to run."""
        return METHODS if self.method == ALL else (self.method,)

    def attribution(self) -> AttributionConfig:
        """The library settings for this run."""
        return AttributionConfig(
            methods=self.methods,
            top_k=self.top_k,
            keep=self.keep,
            behaviour_first=self.behaviour_first,
            proj_dim=self.proj_dim,
            precision=self.precision,
            seed=self.seed,
            selection=ParamSelection(last_layers=self.layers, lora=self.lora),
            response_tokens=self.response_tokens or None,
            precondition=self.precondition,
            embedding_model=self.embedding_model,
            ray_address=self.ray,
            ray_workers=self.ray_workers,
        )


@dataclass
class FindingAttribution:
    """One confirmed finding, the queries it was attributed by, and each method's result."""

    finding: FindingRecord
    n_queries: int
    by_method: dict[str, MethodResult] = field(default_factory=dict)


@dataclass
class AttributeResult:
    """What the run did: ``run_id`` is None when the search run had no confirmed finding."""

    search_run: str
    run_id: str | None = None
    n_examples: int = 0  # training examples attributed against
    findings: list[FindingAttribution] = field(default_factory=list)
    hit_desc: dict[str, str] = field(default_factory=dict)  # method -> what a hit means


def check_model(model: str | Path) -> None:
    """StageError unless ``model`` is a model folder (or a PEFT adapter folder)."""
    path = Path(model)
    if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        raise StageError(f"no model folder at {model} (config.json is missing)")


def check_ray(config: AttributeConfig) -> None:
    """StageError saying how to install Ray when the run needs it and it is missing."""
    if config.ray is None:
        return
    from datasets_registry.ray_cluster import require_ray

    require_ray()  # RayUnavailable is a StageError


def finding_queries(
    store: Store, search_run: str, max_queries: int, seed: int
) -> list[tuple[FindingRecord, list[Query]]]:
    """(finding, its mis-routed queries) for each confirmed finding of ``search_run``."""
    out = []
    for finding in store.confirmed_findings(search_run):
        queries = [Query(p.prompt, p.response, p.seed) for p in store.mutated_pairs(finding)]
        if not queries and finding.example_prompt and finding.example_response:
            queries = [Query(finding.example_prompt, finding.example_response)]
        if len(queries) > max_queries:
            queries = random.Random(seed).sample(queries, max_queries)
        out.append((finding, queries))
    return out


def run(config: AttributeConfig, store: Store, progress: Progress = NO_PROGRESS) -> AttributeResult:
    """Attribute every confirmed finding of the search run; write the two tables."""
    check_ray(config)
    check_model(config.model)
    db = store.path
    search_id = config.search_run or store.latest_run("search")
    if search_id is None:
        raise StageError(f"no finished `audit search` run in {db} (pass --search-run)")
    if store.run_command(search_id) != "search":
        raise StageError(f"no search run {search_id!r} in {db}")
    findings = finding_queries(store, search_id, config.max_queries, config.seed)
    if not findings:
        return AttributeResult(search_id)
    try:
        frame, _ = open_mix(
            config.mix, Columns(source=config.source_column, id=config.id_column)
        ).frame()
    except MixError as exc:
        raise StageError(str(exc)) from None
    if frame.height == 0:
        raise StageError(f"{config.mix} has no usable rows")
    settings = config.attribution()
    args: dict[str, object] = {
        "mix": config.mix,
        "model": str(Path(config.model).resolve()),
        "methods": list(settings.methods),
        "top_k": config.top_k,
        "proj_dim": config.proj_dim,
        "search_run": search_id,
        "keep": config.keep,
        "behaviour_first": config.behaviour_first,
        "selection": settings.selection.describe(),
        "precondition": config.precondition,
        "embedding_model": config.embedding_model,
        "seed": config.seed,
    }
    if config.ray is not None:
        args["ray"] = {"address": config.ray, "workers": config.ray_workers}
    run_id = store.start_run("attribute", args)
    result = AttributeResult(search_id, run_id)
    try:
        with store.finishing(run_id):
            attributor = Attributor.build(
                frame, config.model, settings, store_root=store_root(db), progress=progress
            )
            if config.ray is not None:
                gradient = attributor.methods.get(GradientMethod.name)
                shards = gradient.ray_shards if isinstance(gradient, GradientMethod) else 0
                ray = {"address": config.ray, "workers": config.ray_workers, "shards": shards}
                store.amend_run_args(run_id, {"ray": ray})
            for done, (finding, queries) in enumerate(findings, start=1):
                status = f"{finding.attribute} -> {finding.mode}"
                progress(FINDINGS_LABEL, done - 1, len(findings), status)
                # a judged outcome (``<judge>:<outcome>``) is no training row's mode: rows
                # its judge sees it in rank first (a cut answer), else by score alone
                behaviour, shows = finding.mode, None
                if ":" in finding.mode:
                    train = attributor.train
                    behaviour = None
                    shows = rows_showing(finding.mode, train.responses, train.sources)
                by_method = attributor.attribute(
                    queries, seed=config.seed, behaviour=behaviour, shows=shows
                )
                result.findings.append(FindingAttribution(finding, len(queries), by_method))
                progress(FINDINGS_LABEL, done, len(findings), status)
            _write(store, run_id, result.findings)
            store.finish_run(run_id, "ok")
    except (EmbeddingUnavailable, ValueError, OSError) as exc:
        raise StageError(str(exc).strip().splitlines()[0]) from None
    result.n_examples = len(attributor.train)
    result.hit_desc = {name: m.hit_desc for name, m in attributor.methods.items()}
    return result


def _write(store: Store, run_id: str, findings: list[FindingAttribution]) -> None:
    """Every finding's per-source and per-example rankings, in one transaction."""
    sources, examples = [], []
    for item in findings:
        for name, method_result in item.by_method.items():
            ids = {"finding_id": item.finding.finding_id, "method": name}
            columns = {k: pl.lit(v) for k, v in ids.items()}
            sources.append(method_result.sources.with_columns(**columns))
            examples.append(method_result.examples.with_columns(**columns))
    with store.transaction():
        store.write("attributions", pl.concat(sources), run_id)
        store.write("attributed_examples", pl.concat(examples), run_id)
