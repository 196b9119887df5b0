"""Which runs a report shows: the report's reads over the database and the run selection.

Without explicit run ids every *stage* shows its latest successful run that wrote
rows (a stage is a group of tables one command fills): the scan tables from the
latest ``ok`` scan, findings from the latest ``ok`` search, and so on. Probe
results show the latest ``ok`` run of each probe, so running ``token-ban`` after
``sustain`` keeps both. With explicit run ids (any status) every section shows
the rows of exactly those runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from stage_kit import StageError

if TYPE_CHECKING:
    from duckdb_store import Store

#: Stage -> the tables its command writes (the first one decides what "has rows" means).
STAGES: dict[str, tuple[str, ...]] = {
    "scan": (
        "scan_sources",
        "bad_rows",
        "feature_concentration",
        "keyness",
        "mode_rates",
        "trigger_hypotheses",
    ),
    "search": ("findings", "search_trials"),
    "attribute": ("attributions", "attributed_examples"),
    "prune": ("recommendations",),
    "verify": ("verifications",),
    "probe": ("probe_results",),
}


class ReportError(StageError):
    """A report that cannot be built (no database, unknown run id); the message says why."""


def require_database(path: str | Path) -> Path:
    """``path`` as a Path, or a ReportError when no file is there (the report never creates one)."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"no audit database at {path} (run `audit scan` or pass --db)")
    return path


class ReportDb:
    """The report's reads over one DuckDB connection; tables an older schema lacks read as empty.

    The report (with ``duckdb_store``) is the one place that runs SQL over the stage
    tables: it shows every table as it is. The connection is a store's
    (:meth:`of_store`) or a read-only one (:class:`ReadOnlyDb`).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.con = con
        self.path = path
        rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        self.tables = {r[0] for r in rows}
        if "runs" not in self.tables:
            raise ReportError(f"{path} is not an audit database (it has no runs table)")

    @classmethod
    def of_store(cls, store: Store) -> ReportDb:
        """The reads over an open store's connection (the store stays the caller's to close)."""
        return cls(store.con, store.path)

    def has(self, table: str) -> bool:
        """Whether the database has ``table`` (an older schema may lack it)."""
        return table in self.tables

    def frame(self, sql: str, params: list[object] | None = None) -> pl.DataFrame:
        """Run ``sql`` and return a polars frame."""
        return self.con.sql(sql, params=params or None).pl()

    def values(self, sql: str) -> list[tuple[object, ...]]:
        """Run ``sql`` and return its rows as tuples."""
        return self.con.execute(sql).fetchall()

    def rows_for(self, table: str, run_ids: list[str], order: str = "") -> pl.DataFrame:
        """Every row of ``table`` from ``run_ids`` (empty when the table does not exist)."""
        if not self.has(table) or not run_ids:
            return pl.DataFrame()
        sql = f"SELECT * FROM {table} WHERE run_id IN (SELECT unnest(?))"
        return self.frame(sql + (f" ORDER BY {order}" if order else ""), [run_ids])


class ReadOnlyDb(ReportDb):
    """A read-only connection of its own on the file at ``path`` (never migrated); close it."""

    def __init__(self, path: str | Path) -> None:
        path = require_database(path)
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise ReportError(f"cannot open {path}: {str(exc).splitlines()[0]}") from exc
        try:
            super().__init__(con, path)
        except ReportError:
            con.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self.con.close()


@dataclass(frozen=True)
class Run:
    """One row of the runs table, its arguments parsed."""

    run_id: str
    command: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    args: dict[str, object]  # the command's arguments as recorded (JSON)

    @property
    def seconds(self) -> float | None:
        """How long the run took (None while it runs or when a time is missing)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass
class Selection:
    """The runs a report shows, per stage."""

    explicit: bool
    stages: dict[str, list[str]] = field(default_factory=dict)
    probe_runs: dict[str, str] = field(default_factory=dict)  # probe -> run (default mode)
    runs: dict[str, Run] = field(default_factory=dict)  # every run shown, by id
    n_runs_in_db: int = 0

    def ids(self, stage: str) -> list[str]:
        """The runs shown for ``stage`` (empty when none)."""
        return self.stages.get(stage, [])


def _load_runs(db: ReportDb) -> dict[str, Run]:
    frame = db.frame(
        "SELECT run_id, command, status, started_at, finished_at, CAST(args AS VARCHAR) AS args "
        "FROM runs ORDER BY started_at, run_id"
    )
    runs = {}
    for row in frame.iter_rows(named=True):
        try:
            args = json.loads(row["args"]) if row["args"] else {}
        except ValueError:
            args = {"args": row["args"]}
        runs[row["run_id"]] = Run(
            run_id=row["run_id"],
            command=row["command"] or "",
            status=row["status"] or "",
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            args=args if isinstance(args, dict) else {"args": args},
        )
    return runs


def _runs_with_rows(db: ReportDb, tables: tuple[str, ...]) -> set[str]:
    present = [t for t in tables if db.has(t)]
    if not present:
        return set()
    union = " UNION ".join(f"SELECT DISTINCT run_id FROM {t}" for t in present)
    return {r[0] for r in db.values(union)}


def _latest(candidates: set[str], runs: dict[str, Run]) -> str | None:
    """The latest ``ok`` run among ``candidates`` (``runs`` is in start order)."""
    ok = [r for r in runs if r in candidates and runs[r].status == "ok"]
    return ok[-1] if ok else None


def select_runs(db: ReportDb, run_ids: list[str] | None = None) -> Selection:
    """Pick the runs to show: ``run_ids`` as given, or the latest ``ok`` run per stage."""
    runs = _load_runs(db)
    if run_ids:
        unknown = [r for r in run_ids if r not in runs]
        if unknown:
            recent = ", ".join(list(runs)[-3:]) or "none"
            raise ReportError(f"unknown run id {unknown[0]!r} in {db.path} (latest: {recent})")
        ids = list(dict.fromkeys(run_ids))
        selection = Selection(explicit=True, n_runs_in_db=len(runs))
        for stage, tables in STAGES.items():
            with_rows = _runs_with_rows(db, tables)
            selection.stages[stage] = [r for r in ids if r in with_rows]
        selection.runs = {r: runs[r] for r in ids}
        return selection
    selection = Selection(explicit=False, n_runs_in_db=len(runs))
    for stage, tables in STAGES.items():
        if stage == "probe":
            continue
        latest = _latest(_runs_with_rows(db, tables), runs)
        selection.stages[stage] = [latest] if latest else []
    if db.has("probe_results"):
        pairs = db.values("SELECT DISTINCT probe, run_id FROM probe_results")
        for probe in sorted({p for p, _ in pairs if p is not None}):
            latest = _latest({r for p, r in pairs if p == probe}, runs)
            if latest:
                selection.probe_runs[probe] = latest
        selection.stages["probe"] = list(dict.fromkeys(selection.probe_runs.values()))
    shown = {r for ids in selection.stages.values() for r in ids}
    selection.runs = {r: run for r, run in runs.items() if r in shown}
    return selection
