"""Per-source aggregation of per-query hits: counts, share, enrichment, bootstrap interval, rank.

Each query contributes its top-k training examples (its *hits*, as TURF counts
them). Per source: ``hits`` = hits from that source over all queries, ``share``
= hits / all hits, ``enrichment`` = share / the source's share of the mix (1 is
what chance gives), ``ci_low``/``ci_high`` = a percentile bootstrap interval of
the share, resampling queries with replacement (seeded), and ``rank`` by
enrichment (add-one smoothed, so a small source with a handful of hits does not
jump ahead; ties by hits, then name): the responsible chunk is the one
over-represented among the hits, not the biggest one. Every source of the mix
gets a row, hit or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

DEFAULT_BOOT = 1000
DEFAULT_CONFIDENCE = 0.95

SOURCE_COLUMNS = ("source", "hits", "share", "enrichment", "ci_low", "ci_high", "rank")


def hit_counts(top: np.ndarray, source_codes: np.ndarray, n_sources: int) -> np.ndarray:
    """(n_queries, n_sources) hits per query and source; negative indices are empty slots."""
    top = np.asarray(top)
    counts = np.zeros((top.shape[0], n_sources), dtype=np.int64)
    for q, row in enumerate(top):
        row = row[row >= 0]
        counts[q] = np.bincount(source_codes[row], minlength=n_sources)
    return counts


def bootstrap_shares(counts: np.ndarray, n_boot: int = DEFAULT_BOOT, seed: int = 0) -> np.ndarray:
    """(n_boot, n_sources) shares of hits after resampling the queries with replacement."""
    rng = np.random.default_rng(seed)
    m = counts.shape[0]
    if m == 0:
        return np.zeros((n_boot, counts.shape[1]))
    picks = rng.integers(0, m, size=(n_boot, m))
    weights = np.zeros((n_boot, m))
    np.add.at(weights, (np.repeat(np.arange(n_boot), m), picks.ravel()), 1.0)
    totals = weights @ counts
    sums = totals.sum(axis=1, keepdims=True)
    return np.divide(totals, sums, out=np.zeros_like(totals), where=sums > 0)


def aggregate_sources(
    top: np.ndarray,
    source_codes: np.ndarray,
    source_names: Sequence[str],
    mix_share: Sequence[float],
    *,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> pl.DataFrame:
    """One row per source: hits, share, enrichment, bootstrap interval of the share, rank."""
    counts = hit_counts(top, np.asarray(source_codes), len(source_names))
    hits = counts.sum(axis=0)
    total = hits.sum()
    share = hits / total if total else np.zeros(len(source_names))
    mix = np.asarray(mix_share, dtype=np.float64)
    enrichment = np.divide(share, mix, out=np.full_like(share, np.nan), where=mix > 0)
    alpha = 1 - confidence
    boots = bootstrap_shares(counts, n_boot, seed)
    low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
    smoothed = (hits + 1) / (total + len(source_names))
    ranked_by = np.divide(smoothed, mix, out=np.zeros_like(smoothed), where=mix > 0)
    order = sorted(
        range(len(source_names)), key=lambda s: (-ranked_by[s], -hits[s], source_names[s])
    )
    rank = np.empty(len(source_names), dtype=np.int32)
    rank[order] = np.arange(1, len(source_names) + 1)
    return pl.DataFrame(
        {
            "source": list(source_names),
            "hits": hits.astype(np.int64),
            "share": share.astype(np.float64),
            "enrichment": enrichment,
            "ci_low": low.astype(np.float64),
            "ci_high": high.astype(np.float64),
            "rank": rank,
        }
    ).sort("rank")
