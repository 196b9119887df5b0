"""The DuckDB store: one audit file, a versioned schema, named reads for every stage."""

from duckdb_store.records import (
    AttributedFinding,
    FindingRecord,
    MutatedPair,
    ScanSettings,
    SearchSettings,
)
from duckdb_store.store import (
    DEFAULT_DB,
    ReadOnlyQueryError,
    Store,
    StoreError,
    query_readonly,
)

__all__ = [
    "DEFAULT_DB",
    "AttributedFinding",
    "FindingRecord",
    "MutatedPair",
    "ReadOnlyQueryError",
    "ScanSettings",
    "SearchSettings",
    "Store",
    "StoreError",
    "query_readonly",
]
