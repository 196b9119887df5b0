"""SURF's EM-style sampler of attribute combinations (the "Chunky Post-Training" search).

SURF samples the attributes it combines into a query with weights that an EM-style
update moves toward the attributes whose rewrites raised the judged score. Here the
attributes are discovered clusters (``attribute_discovery``): each query draws 1-3 of
them (``EMWeights.draw``); its judged-score rise is credited back (``update``).

The update, after a query with clusters S and rise r (clipped to 0..1):

- E-step: each cluster c in S is responsible for the rise in proportion to its current
  weight, g_c = w_c / sum(w_s for s in S); it gets credit g_c * r and mass g_c.
- M-step: its rate is the smoothed mean credit,
  m_c = (credit_c + prior * m0) / (mass_c + prior), where m0 is the mean rise of all
  queries so far (a cluster never drawn sits at the average);
- weights: w_c = (1 - floor) * softmax(m / temperature)_c + floor / K, so a sharp
  temperature concentrates the draws and the floor keeps every cluster drawable.

A cluster that always comes with rises gets mean credit near 1; one drawn with it takes
a share that shrinks as its own weight falls, and its queries without it bring 0. All of
it is arithmetic on the updates in order: deterministic for a seeded ``rng``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PRIOR = 2.0  # pseudo-queries at the mean rise behind each cluster's rate
TEMPERATURE = 0.1  # softmax temperature on the rates (rises are 0..1)
FLOOR = 0.05  # share of the draw probability spread evenly over all clusters
MAX_SIZE = 3  # clusters a query combines at most


@dataclass(frozen=True)
class ClusterWeight:
    """One cluster's standing: its weight, queries that drew it, and its mean credit."""

    name: str
    weight: float
    pulls: int
    mean_credit: float


class EMWeights:
    """One weight per cluster; ``draw`` a combination, ``update`` with its rise."""

    def __init__(
        self,
        names: Iterable[str],
        prior: float = PRIOR,
        temperature: float = TEMPERATURE,
        floor: float = FLOOR,
        max_size: int = MAX_SIZE,
    ) -> None:
        self.names = list(dict.fromkeys(names))
        if not self.names:
            raise ValueError("EMWeights needs at least one cluster")
        self.prior, self.temperature, self.floor, self.max_size = (
            prior,
            temperature,
            floor,
            max_size,
        )
        self.credit = dict.fromkeys(self.names, 0.0)
        self.mass = dict.fromkeys(self.names, 0.0)
        self.pulls = dict.fromkeys(self.names, 0)
        self.rises: list[float] = []
        self.weights = dict.fromkeys(self.names, 1.0 / len(self.names))

    def draw(self, rng: random.Random) -> tuple[str, ...]:
        """1 to ``max_size`` distinct clusters (the number drawn evenly), each drawn in turn
        with probability proportional to its weight among those left."""
        size = rng.randint(1, min(self.max_size, len(self.names)))
        pool = list(self.names)
        chosen = []
        for _ in range(size):
            point = rng.random() * sum(self.weights[n] for n in pool)
            index = len(pool) - 1
            for i, name in enumerate(pool):
                point -= self.weights[name]
                if point < 0:
                    index = i
                    break
            chosen.append(pool.pop(index))
        return tuple(chosen)

    def update(self, names: Sequence[str], rise: float) -> None:
        """Credit a query's rise (clipped to 0..1) to its clusters and re-estimate the
        weights (the module docstring gives the rule)."""
        names = list(dict.fromkeys(names))
        unknown = [n for n in names if n not in self.weights]
        if unknown or not names:
            raise KeyError(f"not clusters of this sampler: {unknown or names}")
        rise = min(1.0, max(0.0, float(rise)))
        total = sum(self.weights[n] for n in names)
        for name in names:
            share = self.weights[name] / total
            self.credit[name] += share * rise
            self.mass[name] += share
            self.pulls[name] += 1
        self.rises.append(rise)
        self._reweigh()

    def mean_credit(self, name: str) -> float:
        """The smoothed mean credit (the rate m_c of the module docstring)."""
        average = sum(self.rises) / len(self.rises) if self.rises else 0.0
        return (self.credit[name] + self.prior * average) / (self.mass[name] + self.prior)

    def _reweigh(self) -> None:
        rates = [self.mean_credit(n) / self.temperature for n in self.names]
        top = max(rates)
        raw = [math.exp(r - top) for r in rates]
        total = sum(raw)
        even = self.floor / len(self.names)
        self.weights = {
            n: (1.0 - self.floor) * w / total + even for n, w in zip(self.names, raw, strict=True)
        }

    def ranking(self) -> list[ClusterWeight]:
        """The clusters by weight, highest first (ties by name)."""
        rows = [
            ClusterWeight(n, self.weights[n], self.pulls[n], self.mean_credit(n))
            for n in self.names
        ]
        return sorted(rows, key=lambda r: (-r.weight, r.name))
