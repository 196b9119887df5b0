"""The DuckDB store: one file, a versioned schema, every row tagged with a run_id.

Schema changes are migrations appended to ``MIGRATIONS``; never edit one that has
shipped. Opening an older file applies the missing migrations in order; a file
written by a newer chunky-audit is refused with a clear message.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from duckdb_store.reads import StageReads
from duckdb_store.records import ScanSettings, SearchSettings

DEFAULT_DB = "audit.duckdb"


@dataclass(frozen=True)
class Migration:
    """One schema change: its version, what it adds, the SQL that applies it."""

    version: int
    description: str
    sql: str


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "scan tables",
        """
        CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY, command VARCHAR, args JSON,
            started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR);
        CREATE TABLE bad_rows (
            run_id VARCHAR, reason VARCHAR, n BIGINT, example VARCHAR);
        CREATE TABLE scan_sources (
            run_id VARCHAR, source VARCHAR, n_rows BIGINT,
            mean_prompt_chars DOUBLE, mean_response_chars DOUBLE);
        CREATE TABLE feature_concentration (
            run_id VARCHAR, feature VARCHAR, side VARCHAR, source VARCHAR,
            n_rows BIGINT, n_hits BIGINT, share_in_source DOUBLE, share_of_hits DOUBLE);
        CREATE TABLE keyness (
            run_id VARCHAR, source VARCHAR, term VARCHAR,
            df_source BIGINT, df_rest BIGINT, z DOUBLE);
        CREATE TABLE mode_rates (
            run_id VARCHAR, source VARCHAR, mode VARCHAR, n BIGINT, share DOUBLE);
        CREATE TABLE trigger_hypotheses (
            run_id VARCHAR, rank INTEGER, feature VARCHAR, mode VARCHAR, source VARCHAR,
            support BIGINT, p_mode_given_feature DOUBLE, p_mode_without DOUBLE,
            lift DOUBLE, p_value DOUBLE, score DOUBLE, share_of_hits DOUBLE);
        """,
    ),
    Migration(
        2,
        "search, attribution, pruning, verification and probe tables",
        """
        CREATE TABLE queries (
            run_id VARCHAR, target VARCHAR, prompt VARCHAR, params VARCHAR, sample INTEGER,
            response VARCHAR, mode VARCHAR, status VARCHAR, latency_ms DOUBLE,
            created_at TIMESTAMP, attempts INTEGER, error VARCHAR);
        CREATE INDEX queries_key ON queries (target, params);
        CREATE TABLE search_trials (
            run_id VARCHAR, phase VARCHAR, step INTEGER, attribute VARCHAR, seed VARCHAR,
            prompt VARCHAR, sample INTEGER, response VARCHAR, base_behaviour VARCHAR,
            behaviour VARCHAR, flipped BOOLEAN);
        CREATE TABLE findings (
            run_id VARCHAR, finding_id VARCHAR, attribute VARCHAR, mode VARCHAR,
            n_base BIGINT, n_mutated BIGINT, rate_base DOUBLE, rate_mutated DOUBLE,
            effect DOUBLE, ci_low DOUBLE, ci_high DOUBLE, p_value DOUBLE, q_value DOUBLE,
            confirmed BOOLEAN, robust BOOLEAN, example_prompt VARCHAR, example_response VARCHAR,
            description VARCHAR, target VARCHAR, test VARCHAR, robust_effect DOUBLE,
            robust_p_value DOUBLE);
        CREATE TABLE attributions (
            run_id VARCHAR, finding_id VARCHAR, method VARCHAR, source VARCHAR, hits BIGINT,
            share DOUBLE, enrichment DOUBLE, ci_low DOUBLE, ci_high DOUBLE, rank INTEGER);
        CREATE TABLE attributed_examples (
            run_id VARCHAR, finding_id VARCHAR, method VARCHAR, example_id VARCHAR,
            source VARCHAR, score DOUBLE, rank INTEGER);
        CREATE TABLE recommendations (
            run_id VARCHAR, finding_id VARCHAR, action VARCHAR, source VARCHAR,
            n_examples BIGINT, fraction DOUBLE, detail VARCHAR);
        CREATE TABLE verifications (
            run_id VARCHAR, finding_id VARCHAR, attribute VARCHAR, mode VARCHAR,
            rate_before DOUBLE, rate_after DOUBLE, clean_answer_before DOUBLE,
            clean_answer_after DOUBLE, n BIGINT, p_value DOUBLE, before_model VARCHAR,
            after_model VARCHAR);
        CREATE TABLE probe_results (
            run_id VARCHAR, probe VARCHAR, target VARCHAR, item_id VARCHAR, condition VARCHAR,
            metric VARCHAR, value DOUBLE, detail VARCHAR);
        """,
    ),
    Migration(
        3,
        "scan and search settings that later stages read (filled from runs.args of old runs)",
        """
        CREATE TABLE scan_settings (
            run_id VARCHAR, mix VARCHAR, source_column VARCHAR, prompt_column VARCHAR,
            response_column VARCHAR, id_column VARCHAR);
        INSERT INTO scan_settings
        SELECT run_id, json_extract_string(args, '$.mix'),
               coalesce(json_extract_string(args, '$.source_column'), 'source'),
               coalesce(json_extract_string(args, '$.prompt_column'), 'prompt'),
               coalesce(json_extract_string(args, '$.response_column'), 'response'),
               coalesce(json_extract_string(args, '$.id_column'), 'id')
        FROM runs WHERE command = 'scan';
        CREATE TABLE search_settings (
            run_id VARCHAR, target VARCHAR, params VARCHAR, samples INTEGER, seeds VARCHAR,
            n_seeds INTEGER, surface_forms VARCHAR);
        INSERT INTO search_settings
        SELECT run_id, json_extract_string(args, '$.target'),
               json_extract_string(args, '$.params'),
               coalesce(TRY_CAST(json_extract_string(args, '$.samples') AS INTEGER), 1),
               nullif(json_extract_string(args, '$.seeds'), 'builtin'),
               TRY_CAST(json_extract_string(args, '$.n_seeds') AS INTEGER),
               coalesce(CAST(json_extract(args, '$.surface_forms') AS VARCHAR), '{}')
        FROM runs WHERE command = 'search';
        """,
    ),
    Migration(
        4,
        "the data shape of each scanned source; whether a hypothesis's feature asks for the "
        "behaviour (NULL for scans before schema 4); response boilerplate per source",
        """
        ALTER TABLE scan_sources ADD COLUMN shape VARCHAR;
        ALTER TABLE trigger_hypotheses ADD COLUMN kind VARCHAR;
        ALTER TABLE trigger_hypotheses ADD COLUMN kind_evidence VARCHAR;
        ALTER TABLE trigger_hypotheses ADD COLUMN review_rank INTEGER;
        CREATE TABLE response_phrases (
            run_id VARCHAR, source VARCHAR, phrase VARCHAR, n BIGINT,
            share_in_source DOUBLE, share_of_hits DOUBLE);
        """,
    ),
    Migration(
        5,
        "a scan term's placebo arm in the search: the placebo operator, its rate on the same "
        "seeds, and the term's effect and exact p-value against it (NULL for other attributes "
        "and for searches before schema 5)",
        """
        ALTER TABLE findings ADD COLUMN placebo_attribute VARCHAR;
        ALTER TABLE findings ADD COLUMN rate_placebo DOUBLE;
        ALTER TABLE findings ADD COLUMN placebo_effect DOUBLE;
        ALTER TABLE findings ADD COLUMN placebo_p_value DOUBLE;
        """,
    ),
    Migration(
        6,
        "verification over several retrained models (retraining seeds) per arm: the arm's "
        "label, how many models, and the mean and 95% interval of the trigger rate and the "
        "clean answer rate over them (older rows: one model, arm 'after', no interval)",
        """
        ALTER TABLE verifications ADD COLUMN arm VARCHAR;
        ALTER TABLE verifications ADD COLUMN n_after_models INTEGER;
        ALTER TABLE verifications ADD COLUMN rate_after_mean DOUBLE;
        ALTER TABLE verifications ADD COLUMN rate_after_low DOUBLE;
        ALTER TABLE verifications ADD COLUMN rate_after_high DOUBLE;
        ALTER TABLE verifications ADD COLUMN clean_answer_after_mean DOUBLE;
        ALTER TABLE verifications ADD COLUMN clean_answer_after_low DOUBLE;
        ALTER TABLE verifications ADD COLUMN clean_answer_after_high DOUBLE;
        UPDATE verifications SET arm = 'after', n_after_models = 1,
            rate_after_mean = rate_after, clean_answer_after_mean = clean_answer_after;
        """,
    ),
    Migration(
        7,
        "the clean answer rate is measured on every seed of the search (each kind), answered "
        "unmutated, once per model: how many seeds it counts (NULL for older rows, whose "
        "rate counts the finding's own seeds)",
        """
        ALTER TABLE verifications ADD COLUMN n_clean BIGINT;
        """,
    ),
    Migration(
        8,
        "attributed examples say whether their own response shows the finding's behaviour "
        "(those rank first unless `--score-only`); NULL for older rows",
        """
        ALTER TABLE attributed_examples ADD COLUMN shows_behaviour BOOLEAN;
        """,
    ),
    Migration(
        9,
        "a finding is a change in the model's answers: a search trial says whether its two "
        "answers were identical and which modes its prompts asked for (never a flip); a "
        "finding keeps its intersection-union p-value (q_value adjusts it), the level of its "
        "paired interval and its re-test's seeds and lower bound; a verification has a base "
        "arm (the seeds unmutated, on both models), a q-value across findings and its test "
        "(NULL for older rows)",
        """
        ALTER TABLE search_trials ADD COLUMN identical BOOLEAN;
        ALTER TABLE search_trials ADD COLUMN requested VARCHAR;
        ALTER TABLE findings ADD COLUMN p_finding DOUBLE;
        ALTER TABLE findings ADD COLUMN ci_level DOUBLE;
        ALTER TABLE findings ADD COLUMN robust_n BIGINT;
        ALTER TABLE findings ADD COLUMN robust_ci_low DOUBLE;
        ALTER TABLE findings ADD COLUMN placebo_ci_low DOUBLE;
        ALTER TABLE verifications ADD COLUMN rate_base_before DOUBLE;
        ALTER TABLE verifications ADD COLUMN rate_base_after DOUBLE;
        ALTER TABLE verifications ADD COLUMN q_value DOUBLE;
        ALTER TABLE verifications ADD COLUMN test VARCHAR;
        ALTER TABLE verifications ADD COLUMN n_held_out BIGINT;
        """,
    ),
    Migration(
        10,
        "judged behaviours (issue 26): every judgement of a response (judge, version, the "
        "judge's settings key, scores per outcome as JSON, explanation; a failed or "
        "unparsable one with status 'failed' and its error, never a score) is kept in "
        "`judgements`, which is also the judges' cache; a search trial keeps its judged "
        "scores (JSON: outcome -> [seed's answer, mutated answer]) and its seed's "
        "reference; a finding on a judged outcome names its judge and version (NULL for a "
        "mode finding and for older rows)",
        """
        CREATE TABLE judgements (
            run_id VARCHAR, judge VARCHAR, version VARCHAR, settings VARCHAR, key VARCHAR,
            prompt VARCHAR, response VARCHAR, scores JSON, explanation VARCHAR,
            status VARCHAR, error VARCHAR, attempts INTEGER, created_at TIMESTAMP);
        ALTER TABLE search_trials ADD COLUMN scores JSON;
        ALTER TABLE search_trials ADD COLUMN reference VARCHAR;
        ALTER TABLE findings ADD COLUMN judge VARCHAR;
        ALTER TABLE findings ADD COLUMN judge_version VARCHAR;
        """,
    ),
    Migration(
        11,
        "keyword in context (issue 27): up to three rows per trigger hypothesis, those "
        "whose response shows its mode first, with the prompt around the feature and the "
        "start of the response",
        """
        CREATE TABLE hypothesis_examples (
            run_id VARCHAR, feature VARCHAR, mode VARCHAR, source VARCHAR, example INTEGER,
            example_id VARCHAR, shows_mode BOOLEAN, prompt_context VARCHAR,
            response_start VARCHAR);
        """,
    ),
    Migration(
        12,
        "measure hypotheses (issue 34): a trigger hypothesis may name a response measure "
        "(`measure`: length, list_format, code_fence, latex, table, consistency) instead of "
        "a behaviour mode; its `mode` is then the judge outcome that tests it "
        "(length:collapse, reference:wrong, ...) and `value_with` / `value_without` the "
        "measure with and without the feature (geometric-mean characters for length, a "
        "rate otherwise); NULL for mode hypotheses and older rows",
        """
        ALTER TABLE trigger_hypotheses ADD COLUMN measure VARCHAR;
        ALTER TABLE trigger_hypotheses ADD COLUMN value_with DOUBLE;
        ALTER TABLE trigger_hypotheses ADD COLUMN value_without DOUBLE;
        """,
    ),
    Migration(
        13,
        "length hypotheses against the nearest prompts (issue 34): `value_matched` is the "
        "geometric-mean characters of the answers to the prompts of the same source most "
        "like the feature's rows that lack it; NULL where not matched",
        """
        ALTER TABLE trigger_hypotheses ADD COLUMN value_matched DOUBLE;
        """,
    ),
    Migration(
        14,
        "review ranking (issue 27): `echo_with` / `echo_without` are the shares of answers "
        "naming the feature's words among rows of the lead source with and without it; "
        "`p_mode_matched` the mode's share among the prompts most like the feature's rows "
        "that lack it (whole mix), `routing` the feature's rows' share minus that; "
        "`review_score` what `review_rank` orders the incidental hypotheses by; NULL where "
        "not measured",
        """
        ALTER TABLE trigger_hypotheses ADD COLUMN echo_with DOUBLE;
        ALTER TABLE trigger_hypotheses ADD COLUMN echo_without DOUBLE;
        ALTER TABLE trigger_hypotheses ADD COLUMN p_mode_matched DOUBLE;
        ALTER TABLE trigger_hypotheses ADD COLUMN routing DOUBLE;
        ALTER TABLE trigger_hypotheses ADD COLUMN review_score DOUBLE;
        """,
    ),
    Migration(
        15,
        "template twins (issue 27): `same_rows_as` is the feature of the hypothesis that "
        "stands for this one (same source, mode and first rows, support within 10%); NULL "
        "for one that stands alone",
        """
        ALTER TABLE trigger_hypotheses ADD COLUMN same_rows_as VARCHAR;
        """,
    ),
    Migration(
        16,
        "uncertain labels (issue 28): `uncertain` is true where either answer's behaviour "
        "label has a calibrated confidence under 0.6; such a trial never flips and is left "
        "out of every behaviour test; NULL for trials written before",
        """
        ALTER TABLE search_trials ADD COLUMN uncertain BOOLEAN;
        """,
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1].version
_LIVE_RUNS: set[str] = set()  # runs started by this process and not finished yet


class StoreError(RuntimeError):
    """A DuckDB file that cannot be opened or migrated; the message says why."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id(command: str) -> str:
    """A unique run id that sorts by start time, such as ``scan-20261122T074512.084213-3f9a``.

    Microseconds keep two runs started in the same second in order (``max(run_id)`` of
    one command is its latest run); the random suffix keeps them distinct.
    """
    return f"{command}-{_now():%Y%m%dT%H%M%S.%f}-{secrets.token_hex(2)}"


class Store(StageReads):
    """A read-write handle on the audit DuckDB file, migrated to the current schema.

    Stages write through ``write`` and the ``record_*`` methods and read what earlier
    stages wrote through the named reads of :class:`~duckdb_store.reads.StageReads`.
    """

    def __init__(self, path: str | Path = DEFAULT_DB) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.Error as exc:  # e.g. not a DuckDB file, locked by another process
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        self.migrate()

    # -- schema --------------------------------------------------------------
    def schema_version(self) -> int:
        """The file's schema version (0 for a new file)."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMP,"
            " description VARCHAR)"
        )
        ((version,),) = self.con.execute("SELECT max(version) FROM schema_version").fetchall()
        return int(version) if version is not None else 0

    def migrate(self) -> None:
        """Apply the missing migrations in order, each in a transaction; refuse a newer file."""
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this chunky-audit "
                f"understands ({SCHEMA_VERSION}); upgrade chunky-audit to open it"
            )
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            self.con.execute("BEGIN TRANSACTION")
            try:
                self.con.execute(migration.sql)
                self.con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    [migration.version, _now(), migration.description],
                )
                self.con.execute("COMMIT")
            except duckdb.Error as exc:
                self.con.execute("ROLLBACK")
                raise StoreError(
                    f"cannot migrate {self.path} to schema {migration.version}: {exc}"
                ) from exc

    # -- runs ----------------------------------------------------------------
    @contextmanager
    def finishing(self, run_id: str) -> Iterator[None]:
        """Mark ``run_id`` ``interrupted`` on Ctrl-C, ``failed`` on any other error; re-raise."""
        try:
            yield
        except KeyboardInterrupt:
            self.finish_run(run_id, "interrupted")
            raise
        except BaseException:
            self.finish_run(run_id, "failed")
            raise

    def start_run(self, command: str, args: dict[str, object]) -> str:
        """Record a new run; runs left ``running`` by a process that died become ``interrupted``.

        DuckDB lets one process write a file at a time, so a ``running`` run that
        this process did not start belongs to a process that no longer holds it.
        """
        stale = self.con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()
        for (old,) in stale:
            if old not in _LIVE_RUNS:
                self.finish_run(old, "interrupted")
        run_id = new_run_id(command)
        _LIVE_RUNS.add(run_id)
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, NULL, 'running')",
            [run_id, command, json.dumps(args, default=str), _now()],
        )
        return run_id

    def finish_run(self, run_id: str, status: str = "ok") -> None:
        """Record that ``run_id`` ended, with ``status`` (ok, failed, interrupted)."""
        _LIVE_RUNS.discard(run_id)
        self.con.execute(
            "UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?",
            [_now(), status, run_id],
        )

    def amend_run_args(self, run_id: str, extra: dict[str, object]) -> None:
        """Merge ``extra`` into the run's recorded arguments (facts known only at the end)."""
        ((args,),) = self.con.execute("SELECT args FROM runs WHERE run_id = ?", [run_id]).fetchall()
        merged = json.loads(args) if args else {}
        merged.update(extra)
        self.con.execute(
            "UPDATE runs SET args = ? WHERE run_id = ?", [json.dumps(merged, default=str), run_id]
        )

    def record_scan_settings(self, run_id: str, settings: ScanSettings) -> None:
        """Store how scan ``run_id`` read its mix (for later stages)."""
        self.con.execute(
            "INSERT INTO scan_settings VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, settings.mix, settings.source_column, settings.prompt_column,
             settings.response_column, settings.id_column],
        )  # fmt: skip

    def record_search_settings(self, run_id: str, settings: SearchSettings) -> None:
        """Store what search ``run_id`` ran with (for verification and pruning)."""
        self.con.execute(
            "INSERT INTO search_settings VALUES (?, ?, ?, ?, ?, ?, ?)",
            [run_id, settings.target, settings.params, settings.samples, settings.seeds,
             settings.n_seeds, json.dumps(settings.surface_forms)],
        )  # fmt: skip

    # -- writing -------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit the writes in the block together, or roll all of them back on an error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def write(self, table: str, frame: pl.DataFrame, run_id: str) -> int:
        """Append ``frame`` (plus its run_id) to ``table``, matching columns by name."""
        if frame.is_empty():
            return 0
        frame = frame.with_columns(pl.lit(run_id).alias("run_id"))
        columns = [c[0] for c in self.con.execute(f"DESCRIBE {table}").fetchall()]
        missing = [c for c in columns if c not in frame.columns]
        frame = frame.with_columns([pl.lit(None).alias(c) for c in missing]).select(columns)
        arrow = frame.to_arrow()  # noqa: F841 - referenced by name in the SQL below
        self.con.execute(f"INSERT INTO {table} SELECT * FROM arrow")
        return frame.height

    def read(self, sql: str, params: list[object] | None = None) -> pl.DataFrame:
        """Run ``sql`` and return a polars frame (empty for a statement without rows)."""
        relation = self.con.sql(sql, params=params)
        return relation.pl() if relation is not None else pl.DataFrame()

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReadOnlyQueryError(RuntimeError):
    """A query that cannot run on the read-only connection (a write, bad SQL, no DB)."""


def query_readonly(path: str | Path, sql: str) -> pl.DataFrame:
    """Run ``sql`` on a read-only connection; writes are refused by DuckDB itself."""
    path = Path(path)
    if not path.exists():
        raise ReadOnlyQueryError(
            f"no audit database at {path} (run `audit scan` first or pass --db)"
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise ReadOnlyQueryError(f"cannot open {path}: {exc}") from exc
    try:
        relation = con.sql(sql)
        return relation.pl() if relation is not None else pl.DataFrame()
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        if "read-only" in message or "read only" in message:
            raise ReadOnlyQueryError(
                "refused: `audit query` is read-only and this statement writes to the database"
            ) from exc
        raise ReadOnlyQueryError(f"query failed: {message}") from exc
    finally:
        con.close()
