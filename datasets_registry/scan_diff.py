"""What changed between two scans of a mix (before and after a prune, or two versions).

``compare_scans`` reads two scan runs (from one audit file or two) and returns:

- ``sources``: rows and share of the mix per source in each, and the change in share;
- ``gained``: hypotheses (feature -> mode in source) the second scan has and the first
  does not; ``lost``: the reverse, each with the feature's support in the other scan
  where it still forms some hypothesis (a lost hypothesis whose feature is gone from the
  mix reads differently from one that merely fell below the significance filter);
- ``kept``: hypotheses in both, with their review rank and P(M|F) before and after.

A prune that worked shows its trigger's hypothesis lost, the pruned source's share down,
and no new hypothesis of the same kind gained.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from duckdb_store.records import HypothesisRecord
from duckdb_store.store import Store

SOURCE_SCHEMA = {
    "source": pl.String,
    "rows_before": pl.Int64,
    "rows_after": pl.Int64,
    "share_before": pl.Float64,
    "share_after": pl.Float64,
    "share_change": pl.Float64,
}
HYPOTHESIS_COLUMNS = {
    "feature": pl.String,
    "mode": pl.String,
    "source": pl.String,
    "kind": pl.String,
    "review_rank": pl.Int64,
    "support": pl.Int64,
    "p_mode_given_feature": pl.Float64,
    "p_mode_without": pl.Float64,
}


class ScanDiffError(ValueError):
    """A scan to compare is missing."""


@dataclass
class ScanDiff:
    """Two scans side by side."""

    before_run: str
    after_run: str
    sources: pl.DataFrame  # SOURCE_SCHEMA
    gained: pl.DataFrame  # HYPOTHESIS_COLUMNS of the second scan
    lost: pl.DataFrame  # HYPOTHESIS_COLUMNS of the first, and support_after
    kept: pl.DataFrame  # feature, mode, source, kind, review ranks and P(M|F) before/after


def compare_scans(
    before: Store,
    after: Store,
    before_run: str | None = None,
    after_run: str | None = None,
) -> ScanDiff:
    """Compare ``before_run`` in ``before`` with ``after_run`` in ``after`` (None: each
    file's latest finished scan; with one file for both, its two latest scans)."""
    before_run, after_run = _runs(before, after, before_run, after_run)
    old = before.scan_hypotheses(before_run)
    new = after.scan_hypotheses(after_run)
    by_key = {h.key: h for h in old}
    new_keys = {h.key for h in new}
    support_after = {h.feature: h.support for h in new}
    lost = _frame([h for h in old if h.key not in new_keys]).with_columns(
        pl.col("feature").replace_strict(support_after, default=None, return_dtype=pl.Int64)
        .alias("support_after")
    )  # fmt: skip
    kept = pl.DataFrame(
        [
            {
                "feature": h.feature,
                "mode": h.mode,
                "source": h.source,
                "kind": h.kind,
                "review_rank_before": by_key[h.key].review_rank,
                "review_rank_after": h.review_rank,
                "p_before": by_key[h.key].p_mode_given_feature,
                "p_after": h.p_mode_given_feature,
            }
            for h in new
            if h.key in by_key
        ],
        schema={
            "feature": pl.String,
            "mode": pl.String,
            "source": pl.String,
            "kind": pl.String,
            "review_rank_before": pl.Int64,
            "review_rank_after": pl.Int64,
            "p_before": pl.Float64,
            "p_after": pl.Float64,
        },  # fmt: skip
    )
    return ScanDiff(
        before_run,
        after_run,
        _sources(before.scan_source_sizes(before_run), after.scan_source_sizes(after_run)),
        _frame([h for h in new if h.key not in by_key]),
        lost,
        kept,
    )


def _runs(
    before: Store, after: Store, before_run: str | None, after_run: str | None
) -> tuple[str, str]:
    """The two scan runs to compare (the latest ones where not given)."""
    same = before is after
    if after_run is None:
        after_run = after.latest_run("scan")
    if before_run is None:
        older = [r for r in before.finished_runs("scan") if not (same and r == after_run)]
        before_run = older[0] if older else None
    if same and before_run is None and after_run is not None:
        raise ScanDiffError(f"{after.path} holds one scan: give two files or two runs")
    for run, store in ((before_run, before), (after_run, after)):
        if run is None:
            raise ScanDiffError(f"no finished scan to compare in {store.path}")
        if store.run_command(run) != "scan":
            raise ScanDiffError(f"{run!r} is not a scan run in {store.path}")
    if same and before_run == after_run:
        raise ScanDiffError(f"both sides are the same scan run ({after_run})")
    return before_run, after_run


def _frame(hypotheses: list[HypothesisRecord]) -> pl.DataFrame:
    return pl.DataFrame(
        [{k: getattr(h, k) for k in HYPOTHESIS_COLUMNS} for h in hypotheses],
        schema=HYPOTHESIS_COLUMNS,
    )


def _sources(old: dict[str, int], new: dict[str, int]) -> pl.DataFrame:
    total_old, total_new = sum(old.values()) or 1, sum(new.values()) or 1
    rows = []
    for source in sorted(set(old) | set(new)):
        a, b = old.get(source, 0), new.get(source, 0)
        rows.append(
            {
                "source": source,
                "rows_before": a,
                "rows_after": b,
                "share_before": a / total_old,
                "share_after": b / total_new,
                "share_change": b / total_new - a / total_old,
            }
        )
    return pl.DataFrame(rows, schema=SOURCE_SCHEMA)
