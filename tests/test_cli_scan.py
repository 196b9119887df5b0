"""`audit scan`, `audit query` and `audit mixes` end to end, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from click.testing import CliRunner
from conftest import small_mix_rows, write_jsonl

from audit.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_scan_writes_every_table_and_prints_hypotheses(tmp_path: Path) -> None:
    mix = write_jsonl(tmp_path / "mix.jsonl", small_mix_rows(), [b"{broken", b"[]"])
    db = tmp_path / "a.duckdb"
    code, out = run("scan", str(mix), "--db", str(db))
    assert code == 0, out
    assert "170 examples in 3 sources, 2 bad rows" in out
    assert "invalid_json" in out and "Trigger hypotheses, incidental first" in out
    con = duckdb.connect(str(db), read_only=True)
    ((run_id, status),) = con.execute("SELECT run_id, status FROM runs").fetchall()
    assert status == "ok"
    for table in [
        "bad_rows",
        "scan_sources",
        "feature_concentration",
        "keyness",
        "mode_rates",
        "trigger_hypotheses",
        "response_phrases",
    ]:
        (n,) = con.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]).fetchone()
        assert n > 0, table
    assert con.execute("SELECT sum(n) FROM bad_rows").fetchone()[0] == 2
    modes = dict(con.execute("SELECT source, mode FROM mode_rates WHERE share > 0.9").fetchall())
    assert modes == {"code_chunk": "code", "chat_chunk": "answer", "safety_chunk": "refusal"}


def test_user_features_flow_into_the_tables(tmp_path: Path) -> None:
    mix = write_jsonl(tmp_path / "mix.jsonl", small_mix_rows())
    feature_file = tmp_path / "f.yaml"
    feature_file.write_text("features:\n  river:\n    side: response\n    literals: [river]\n")
    db = tmp_path / "u.duckdb"
    code, out = run(
        "scan",
        str(mix),
        "--db",
        str(db),
        "--feature",
        "zorb=(?i)zorbphone",
        "--features",
        str(feature_file),
    )
    assert code == 0, out
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT feature, side, source, share_of_hits FROM feature_concentration "
        "WHERE feature IN ('zorb@v1', 'river@v1') AND n_hits > 0"
    ).fetchall()
    assert sorted(rows) == [
        ("river@v1", "response", "chat_chunk", 1.0),
        ("zorb@v1", "prompt", "safety_chunk", 1.0),
    ]
    hyp = con.execute("SELECT mode, source FROM trigger_hypotheses WHERE feature = 'zorb@v1'")
    assert hyp.fetchall() == [("refusal", "safety_chunk")]


def test_bad_arguments_exit_2_with_one_line(tmp_path: Path) -> None:
    for args in (
        ["scan", str(tmp_path / "missing.jsonl")],
        ["scan", "no-such-mix"],
        ["scan", str(tmp_path), "--feature", "x=(unclosed"],
    ):
        code, out = run(*args, "--db", str(tmp_path / "e.duckdb"))
        assert code == 2, out
        assert "Traceback" not in out and out.strip().startswith("error:")
        assert len(out.strip().splitlines()) <= 2


def test_query_formats_and_refuses_writes(tmp_path: Path) -> None:
    mix = write_jsonl(tmp_path / "mix.jsonl", small_mix_rows())
    db = str(tmp_path / "q.duckdb")
    assert run("scan", str(mix), "--db", db)[0] == 0
    sql = "SELECT source, n_rows FROM scan_sources ORDER BY source"
    code, out = run("query", sql, "--db", db, "--format", "csv")
    assert code == 0 and out.splitlines() == [
        "source,n_rows",
        "chat_chunk,80",
        "code_chunk,60",
        "safety_chunk,30",
    ]
    code, out = run("query", sql, "--db", db, "--format", "json")
    assert code == 0 and json.loads(out)[0] == {"source": "chat_chunk", "n_rows": 80}
    code, out = run("query", sql, "--db", db)
    assert code == 0 and "safety_chunk" in out
    code, out = run("query", "DELETE FROM scan_sources", "--db", db)
    assert code == 2 and "read-only" in out and "Traceback" not in out
    assert (
        run("query", "SELECT count(*) FROM scan_sources", "--db", db, "--format", "csv")[
            1
        ].splitlines()[1]
        == "3"
    )


def test_mixes_lists_the_registry() -> None:
    code, out = run("mixes", "--format", "csv")
    assert code == 0
    assert "tulu3-mix" in out and "allenai/tulu-3-sft-mixture" in out and "939343" in out
    assert "olmo2-sft-mix" in out and "ODC-BY" in out


def test_scan_does_not_import_torch(tmp_path: Path) -> None:
    mix = write_jsonl(tmp_path / "mix.jsonl", small_mix_rows())
    code = (
        "import sys; from audit.cli import main\n"
        "try:\n"
        f"    main(['scan', {str(mix)!r}, '--db', {str(tmp_path / 't.duckdb')!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'faiss', 'sklearn')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_stop_words_are_scikit_learns() -> None:
    """Read from scikit-learn's module file without importing the package: the same set."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from datasets_registry.stats import stop_word_set

    assert stop_word_set() == ENGLISH_STOP_WORDS and len(stop_word_set()) > 300
