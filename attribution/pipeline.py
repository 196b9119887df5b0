"""Attribute queries to training examples and sources with several methods.

``attribute_queries(frame, model_path, queries)`` is the one-shot entry point
(benchmarks call it directly); :class:`Attributor` prepares the methods once
and attributes several query sets (one per finding) against them.

Per method and query set:

- *sources*: each query's ``top_k`` training examples are its hits; per source
  hits, share, enrichment, bootstrap interval and rank (:mod:`attribution.aggregate`);
- *examples*: every training example's score standardised per query (z-score
  over the training set, so queries of any length weigh the same), averaged
  over the queries; the ``keep`` best, ranked. Given the queries' behaviour (the
  finding's mode), examples whose own response shows it rank ahead of those whose
  response does not (``shows_behaviour``): a high score there is the loss of an
  example that *contradicts* the trigger (it carries the words and answers otherwise,
  so its gradient is large), not one that taught it. ``behaviour_first=False`` ranks
  by score alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from attribution.aggregate import aggregate_sources
from attribution.config import METHODS, AttributionConfig
from attribution.inputs import Query, TrainingSet
from attribution.methods import Method, make_method, method_names
from stage_kit import NO_PROGRESS, Progress

ALL_METHODS = method_names()
EXAMPLE_COLUMNS = ("example_id", "source", "score", "rank", "shows_behaviour")

__all__ = [
    "ALL_METHODS",
    "METHODS",
    "AttributionConfig",
    "Attributor",
    "MethodResult",
    "Query",
    "attribute_queries",
    "rank_rows",
    "standardised_mean",
]


@dataclass
class MethodResult:
    """One method's attribution of one query set."""

    method: str
    n_queries: int
    sources: pl.DataFrame  # source, hits, share, enrichment, ci_low, ci_high, rank
    examples: pl.DataFrame  # example_id, source, score, rank, shows_behaviour
    top: np.ndarray = field(repr=False)  # (n_queries, top_k) training rows per query
    ranking: np.ndarray = field(repr=False)  # every training row, best first
    aggregated: np.ndarray = field(repr=False)  # every training row's score (row order)


def default_store_root() -> Path:
    """Where features live when no store root is given (the user cache)."""
    from datasets_registry.loading import default_cache_dir

    return default_cache_dir() / "features"


class Attributor:
    """Methods prepared on one training set, ready to attribute query sets."""

    def __init__(
        self, train: TrainingSet, methods: dict[str, Method], config: AttributionConfig
    ) -> None:
        self.train = train
        self.methods = methods
        self.config = config

    @classmethod
    def build(
        cls,
        frame: pl.DataFrame,
        model_path: str | Path,
        config: AttributionConfig | None = None,
        *,
        store_root: str | Path | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> Attributor:
        """Prepare every method of ``config`` on ``frame`` (a normalised mix)."""
        config = config or AttributionConfig()
        train = TrainingSet.from_frame(frame)
        root = Path(store_root) if store_root is not None else default_store_root()
        methods = {}
        for name in config.methods:
            method = make_method(name, model_path, config, root)
            method.prepare(train, progress)
            methods[name] = method
        return cls(train, methods, config)

    def attribute(
        self,
        queries: Sequence[Query],
        seed: int | None = None,
        behaviour: str | None = None,
        shows: Sequence[bool] | None = None,
    ) -> dict[str, MethodResult]:
        """Every method's attribution of ``queries``; ``seed`` drives the bootstrap;
        ``behaviour`` is the queries' mode (the finding's), which examples are ranked by
        showing first (``AttributionConfig.behaviour_first``); ``shows`` says per training
        row whether it shows the finding's failure where that is no mode (a judged one)."""
        seed = self.config.seed if seed is None else seed
        if shows is None and behaviour is not None:
            shows = self.train.behaviours == behaviour
        shown = None if shows is None else np.asarray(shows, dtype=bool)
        return {
            name: self._one(method, queries, seed, shown) for name, method in self.methods.items()
        }

    def _one(
        self, method: Method, queries: Sequence[Query], seed: int, shows: np.ndarray | None
    ) -> MethodResult:
        """One method's sources and ranked examples for ``queries``."""
        train, config = self.train, self.config
        scores = method.scores(queries) if queries else np.zeros((0, len(train)), np.float32)
        _, top = method.search(queries, config.top_k) if queries else (None, scores[:, :0])
        sources = aggregate_sources(
            top,
            train.source_codes,
            train.source_names,
            train.mix_share,
            n_boot=config.n_boot,
            seed=seed,
        )
        aggregated = standardised_mean(scores)
        ranking = rank_rows(aggregated, shows if config.behaviour_first else None)
        kept = ranking[: config.keep]
        examples = pl.DataFrame(
            {
                "example_id": [train.example_ids[i] for i in kept],
                "source": [train.sources[i] for i in kept],
                "score": aggregated[kept].astype(np.float64),
                "rank": np.arange(1, len(kept) + 1, dtype=np.int32),
                "shows_behaviour": None if shows is None else shows[kept].tolist(),
            },
            schema={
                "example_id": pl.String,
                "source": pl.String,
                "score": pl.Float64,
                "rank": pl.Int32,
                "shows_behaviour": pl.Boolean,
            },  # fmt: skip
        )
        return MethodResult(method.name, len(queries), sources, examples, top, ranking, aggregated)


def rank_rows(aggregated: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """Row indices best first: rows where ``first`` is true ahead of the rest (when given),
    by score within each group, ties by row order."""
    order_keys = [np.arange(len(aggregated)), -aggregated]
    if first is not None:
        order_keys.append(~first)
    return np.lexsort(tuple(order_keys))


def standardised_mean(scores: np.ndarray) -> np.ndarray:
    """Mean over queries (rows) of each row's z-scores; zeros when there is no query."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape[0] == 0:
        return np.zeros(scores.shape[1])
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    z = np.divide(scores - mean, std, out=np.zeros_like(scores), where=std > 0)
    return z.mean(axis=0)


def attribute_queries(
    frame: pl.DataFrame,
    model_path: str | Path,
    queries: Sequence[Query | tuple[str, str]],
    config: AttributionConfig | None = None,
    *,
    store_root: str | Path | None = None,
    progress: Progress = NO_PROGRESS,
    behaviour: str | None = None,
) -> dict[str, MethodResult]:
    """Attribute (prompt, response) ``queries`` to the examples of ``frame`` (a normalised
    mix); ``behaviour`` is the queries' mode (see ``Attributor.attribute``)."""
    attributor = Attributor.build(
        frame, model_path, config, store_root=store_root, progress=progress
    )
    return attributor.attribute(
        [q if isinstance(q, Query) else Query(*q) for q in queries], behaviour=behaviour
    )
