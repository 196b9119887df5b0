"""Named reads: everything a stage needs from an earlier stage's tables, in one place.

Stages never write SQL over another stage's tables; they call these. Each read
returns typed records (``duckdb_store.records``) or plain values.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from duckdb_store.records import (
    AttributedFinding,
    CachedAnswer,
    FindingRecord,
    HypothesisRecord,
    MutatedPair,
    ScanSettings,
    SearchSettings,
)

if TYPE_CHECKING:
    import duckdb


class StageReads:
    """Read methods mixed into :class:`duckdb_store.store.Store`."""

    con: duckdb.DuckDBPyConnection

    # -- runs ------------------------------------------------------------------
    def latest_run(self, command: str, status: str = "ok") -> str | None:
        """The newest run of ``command`` with ``status``, or ``None``."""
        rows = self.con.execute(
            "SELECT run_id FROM runs WHERE command = ? AND status = ? "
            "ORDER BY started_at DESC LIMIT 1",
            [command, status],
        ).fetchall()
        return rows[0][0] if rows else None

    def finished_runs(self, command: str) -> list[str]:
        """Every run of ``command`` that finished ``ok``, newest first."""
        rows = self.con.execute(
            "SELECT run_id FROM runs WHERE command = ? AND status = 'ok' ORDER BY started_at DESC",
            [command],
        ).fetchall()
        return [r[0] for r in rows]

    def run_args(self, run_id: str) -> dict[str, object]:
        """The arguments ``run_id`` was started with ({} when there is no such run)."""
        rows = self.con.execute("SELECT args FROM runs WHERE run_id = ?", [run_id]).fetchall()
        return json.loads(rows[0][0]) if rows and rows[0][0] else {}

    def run_command(self, run_id: str) -> str | None:
        """The command that made ``run_id``, or ``None`` when there is no such run."""
        rows = self.con.execute("SELECT command FROM runs WHERE run_id = ?", [run_id]).fetchall()
        return rows[0][0] if rows else None

    # -- scan ------------------------------------------------------------------
    def latest_scan_of(self, mix: str) -> str | None:
        """The newest finished scan of exactly ``mix`` (as the scan was given it)."""
        rows = self.con.execute(
            "SELECT s.run_id FROM scan_settings s JOIN runs r USING (run_id) "
            "WHERE s.mix = ? AND r.status = 'ok' ORDER BY r.started_at DESC LIMIT 1",
            [mix],
        ).fetchall()
        return rows[0][0] if rows else None

    def scan_settings(self, scan_run: str) -> ScanSettings | None:
        """How ``scan_run`` read its mix."""
        rows = self.con.execute(
            "SELECT mix, source_column, prompt_column, response_column, id_column "
            "FROM scan_settings WHERE run_id = ?",
            [scan_run],
        ).fetchall()
        return ScanSettings(*rows[0]) if rows else None

    def scan_terms(self, scan_run: str, limit: int) -> list[str]:
        """The words (``term:<word>``) of ``scan_run``'s mode hypotheses, incidental ones
        first (``review_rank``; scans before schema 4 have none: best rank first). Measure
        hypotheses (schema 12) are read by ``scan_measure_words``."""
        rows = self.con.execute(
            "SELECT feature FROM trigger_hypotheses WHERE run_id = ? AND feature LIKE 'term:%' "
            "AND measure IS NULL GROUP BY feature ORDER BY min(coalesce(review_rank, rank)), feature LIMIT ?",
            [scan_run, limit],
        ).fetchall()
        return [r[0].removeprefix("term:") for r in rows]

    def scan_measure_words(self, scan_run: str, limit: int) -> list[tuple[str, str, str]]:
        """(word, outcome, source) of ``scan_run``'s measure hypotheses on words (schema 12:
        ``measure`` set; ``length:collapse``, ``reference:wrong``, ...), in review order."""
        rows = self.con.execute(
            "SELECT feature, mode, source FROM trigger_hypotheses WHERE run_id = ? "
            "AND measure IS NOT NULL AND feature LIKE 'term:%' "
            "ORDER BY coalesce(review_rank, rank), feature LIMIT ?",
            [scan_run, limit],
        ).fetchall()
        return [(f.removeprefix("term:"), mode, source) for f, mode, source in rows]

    def scan_source_sizes(self, scan_run: str) -> dict[str, int]:
        """Rows per source that ``scan_run`` read (source -> rows)."""
        rows = self.con.execute(
            "SELECT source, n_rows FROM scan_sources WHERE run_id = ? ORDER BY source",
            [scan_run],
        ).fetchall()
        return {source: int(n) for source, n in rows}

    def scan_hypotheses(self, scan_run: str) -> list[HypothesisRecord]:
        """``scan_run``'s trigger hypotheses in review order (scans before schema 4 have no
        review order or kind: by rank)."""
        rows = self.con.execute(
            "SELECT feature, mode, source, rank, coalesce(review_rank, rank), kind, support, "
            "p_mode_given_feature, p_mode_without FROM trigger_hypotheses WHERE run_id = ? "
            "ORDER BY coalesce(review_rank, rank), rank",
            [scan_run],
        ).fetchall()
        return [HypothesisRecord(*row) for row in rows]

    # -- search ----------------------------------------------------------------
    def search_settings(self, search_run: str) -> SearchSettings | None:
        """What ``search_run`` ran with (generation parameters, samples, seeds, spellings)."""
        rows = self.con.execute(
            "SELECT target, params, samples, seeds, n_seeds, surface_forms "
            "FROM search_settings WHERE run_id = ?",
            [search_run],
        ).fetchall()
        if not rows:
            return None
        target, params, samples, seeds, n_seeds, forms = rows[0]
        return SearchSettings(
            target=target,
            params=params,
            samples=int(samples or 1),
            seeds=seeds,
            n_seeds=int(n_seeds or 0),
            surface_forms=json.loads(forms) if forms else {},
        )

    def confirmed_findings(self, search_run: str) -> list[FindingRecord]:
        """The confirmed findings of ``search_run``, in finding-id order."""
        rows = self.con.execute(
            "SELECT run_id, finding_id, attribute, mode, example_prompt, example_response "
            "FROM findings WHERE run_id = ? AND confirmed ORDER BY finding_id",
            [search_run],
        ).fetchall()
        return [FindingRecord(*row) for row in rows]

    def mutated_pairs(self, finding: FindingRecord) -> list[MutatedPair]:
        """The finding's mis-routed exchanges: its attribute's trials that flipped into its
        mode, or for a judged outcome (``<judge>:<outcome>``) whose score rose by at least
        half the scale (``surf_search.search.JUDGED_FLIP``)."""
        if ":" in finding.mode:
            path = '$."' + finding.mode.replace('"', "") + '"'
            condition = (
                "CAST(json_extract(scores, ? || '[1]') AS DOUBLE) - "
                "CAST(json_extract(scores, ? || '[0]') AS DOUBLE) >= 0.5"
            )
            params = [finding.search_run, finding.attribute, path, path]
        else:
            condition = "flipped AND behaviour = ?"
            params = [finding.search_run, finding.attribute, finding.mode]
        rows = self.con.execute(
            "SELECT DISTINCT prompt, response, seed FROM search_trials WHERE run_id = ? "
            f"AND attribute = ? AND {condition} AND response IS NOT NULL "
            "ORDER BY prompt, response, seed",
            params,
        ).fetchall()
        return [MutatedPair(p, r, s or None) for p, r, s in rows if p and r]

    # -- attribution -----------------------------------------------------------
    def attribution_methods(self, attribute_run: str) -> set[str]:
        """The methods whose example rankings ``attribute_run`` stored."""
        rows = self.con.execute(
            "SELECT DISTINCT method FROM attributed_examples WHERE run_id = ?", [attribute_run]
        ).fetchall()
        return {r[0] for r in rows}

    def attributed_findings(self, attribute_run: str, method: str) -> list[AttributedFinding]:
        """Each confirmed finding ``attribute_run`` attributed, with ``method``'s ranking."""
        rows = self.con.execute(
            """
            SELECT f.run_id, f.finding_id, f.attribute, f.mode,
                   list(e.example_id ORDER BY e.rank) AS ranked,
                   any_value(a.source) AS top_source, any_value(a.enrichment) AS enrichment
            FROM (SELECT DISTINCT finding_id FROM attributed_examples WHERE run_id = $run) r
            JOIN findings f USING (finding_id)
            JOIN attributed_examples e ON e.finding_id = r.finding_id AND e.run_id = $run
                 AND e.method = $method
            LEFT JOIN attributions a ON a.finding_id = r.finding_id AND a.run_id = $run
                 AND a.method = $method AND a.rank = 1
            WHERE f.confirmed
            GROUP BY ALL ORDER BY f.finding_id
            """,
            {"run": attribute_run, "method": method},
        ).fetchall()
        return [
            AttributedFinding(run, fid, attribute, mode, list(ranked), top, float(enr or 0.0))
            for run, fid, attribute, mode, ranked, top, enr in rows
        ]

    # -- target calls ------------------------------------------------------------
    def cached_answers(self, target: str, params: str) -> list[CachedAnswer]:
        """Every successful answer of ``target`` under ``params`` (GenerationParams.key())."""
        rows = self.con.execute(
            "SELECT prompt, sample, response, mode FROM queries "
            "WHERE target = ? AND params = ? AND status = 'ok'",
            [target, params],
        ).fetchall()
        return [CachedAnswer(*row) for row in rows]

    def search_seed_prompts(self, search_run: str) -> dict[str, set[str]]:
        """Per attribute, every seed prompt the search asked with it (any phase): what a
        verification holds out."""
        rows = self.con.execute(
            "SELECT attribute, list(DISTINCT seed) FROM search_trials WHERE run_id = ? "
            "GROUP BY attribute",
            [search_run],
        ).fetchall()
        return {attribute: set(seeds) for attribute, seeds in rows}

    def flipped_prompts(self, search_run: str, phase: str = "confirm") -> dict[str, list[str]]:
        """Per attribute, the mutated prompts of ``phase`` whose behaviour flipped."""
        rows = self.con.execute(
            "SELECT attribute, list(prompt ORDER BY prompt) FROM search_trials "
            "WHERE run_id = ? AND phase = ? AND flipped GROUP BY attribute",
            [search_run, phase],
        ).fetchall()
        return {attribute: list(prompts) for attribute, prompts in rows}
