"""The attribution-method interface and its registry.

A method is a small class registered with ``@attribution_method("name")``. It is
made from the run's :class:`~attribution.config.AttributionConfig`
(``from_config``), prepared once on a :class:`~attribution.inputs.TrainingSet`
(featurise, embed or index the training examples; on-disk features are reused
when their key matches), and then scores any number of queries: ``scores(queries)``
is an (n_queries, n_train) matrix, ``search(queries, k)`` the k best rows per
query. ``hit_desc`` says in one line what a hit means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

import numpy as np

from attribution.inputs import Query, TrainingSet
from stage_kit import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from attribution.config import AttributionConfig


class Method(Protocol):
    """What the pipeline needs of an attribution method."""

    name: ClassVar[str]  # set by :func:`attribution_method`
    hit_desc: ClassVar[str]  # what a hit means, in one line
    seconds: float  # time the last ``prepare`` took

    @classmethod
    def from_config(
        cls, model_path: str | Path, config: AttributionConfig, store_root: Path
    ) -> Method:
        """The method as ``config`` sets it up, features kept under ``store_root``."""
        ...

    def prepare(self, train: TrainingSet, progress: Progress = NO_PROGRESS) -> None:
        """Featurise, embed or index the training set (reusing stored features)."""
        ...

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        """(n_queries, n_train) scores, higher is more attributed."""
        ...

    def search(self, queries: Sequence[Query], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, training rows) of the k best examples per query, best first."""
        ...


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, indices) of the k best columns per row, best first (ties: lower index)."""
    k = min(k, scores.shape[1])
    if k == 0:
        empty = np.zeros((scores.shape[0], 0))
        return empty, empty.astype(np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    rows = np.arange(scores.shape[0])[:, None]
    picked = scores[rows, part]
    order = np.lexsort((part, -picked), axis=1)
    index = part[rows, order]
    return scores[rows, index], index


class DenseMethod:
    """Base of methods whose scores are a dense matrix: search is its top k."""

    name: ClassVar[str]
    hit_desc: ClassVar[str]

    def scores(self, queries: Sequence[Query]) -> np.ndarray:
        """(n_queries, n_train) scores; every method defines its own."""
        raise NotImplementedError

    def search(self, queries: Sequence[Query], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best training rows per query, from :meth:`scores`."""
        return top_k(self.scores(queries), k)


M = TypeVar("M", bound=type)

_REGISTRY: dict[str, type[Method]] = {}
_DEFAULT: list[str] = []


def attribution_method(name: str, *, default: bool = True) -> Callable[[M], M]:
    """Register a method class under ``name``; ``default``: run by ``--method all``."""

    def register(cls: M) -> M:
        cls.name = name
        _REGISTRY[name] = cls
        if default:
            _DEFAULT.append(name)
        return cls

    return register


def method_names() -> tuple[str, ...]:
    """Every registered method, in registration order."""
    return tuple(_REGISTRY)


def default_methods() -> tuple[str, ...]:
    """The methods ``--method all`` runs (every one but baselines such as ``random``)."""
    return tuple(_DEFAULT)


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name`` (ValueError naming the choices if none)."""
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown attribution method {name!r} (choose from {', '.join(method_names())})"
        )
    return _REGISTRY[name]


def make_method(
    name: str, model_path: str | Path, config: AttributionConfig, store_root: Path
) -> Method:
    """The method ``name`` as ``config`` sets it up, features kept under ``store_root``."""
    return get_method(name).from_config(model_path, config, store_root)
