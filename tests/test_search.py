"""`audit search` on the planted organism: confirms planted triggers, caches, resumes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SEARCH_BUDGET, PlantedOrganism

from audit.cli import main

BUDGET = SEARCH_BUDGET
CONTROLS = {"past_tense", "markdown_framing", "product_mention", "formal_register"}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def sql(db: Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def scanned(planted_scanned: Path) -> Path:
    return planted_scanned


@pytest.fixture(scope="module")
def searched(planted_searched: tuple[Path, str]) -> tuple[Path, str]:
    return planted_searched


def confirmed(db: Path, run_id: str | None = None) -> set[tuple[str, str]]:
    where = (
        f"run_id = '{run_id}'"
        if run_id
        else ("run_id = (SELECT max(run_id) FROM runs WHERE command = 'search')")
    )
    return set(sql(db, f"SELECT attribute, mode FROM findings WHERE {where} AND confirmed"))


def test_search_confirms_planted_triggers_and_no_control(searched) -> None:
    db, output = searched
    found = confirmed(db)
    modes = {mode for _, mode in found}
    assert {"code", "tool_call"} <= modes, found
    assert ("formal_vocab", "code") in found and ("latex_math", "tool_call") in found, found
    assert not {attribute for attribute, _ in found} & CONTROLS, found
    assert "Tested attributes" in output and "confirmed" in output
    ((calls,),) = sql(db, "SELECT count(*) FROM queries")
    assert 0 < calls <= int(BUDGET)
    row = sql(
        db,
        "SELECT n_base, rate_base, rate_mutated, effect, ci_low, ci_high, q_value, example_prompt, "
        "example_response, robust FROM findings WHERE attribute = 'latex_math' AND confirmed",
    )[0]
    n, base, mutated, effect, low, high, q, prompt, response, robust = row
    assert n >= 10 and effect == pytest.approx(mutated - base) and low <= effect <= high
    assert q < 0.05 and "$" in prompt and response and robust is not None


def test_every_call_is_in_queries_once_and_trials_link_to_it(searched) -> None:
    db, _ = searched
    assert not sql(
        db,
        "SELECT target, prompt, params, sample FROM queries WHERE status = 'ok' "
        "GROUP BY ALL HAVING count(*) > 1",
    )
    ((orphans,),) = sql(
        db,
        "SELECT count(*) FROM search_trials t ANTI JOIN queries q "
        "ON q.prompt = t.prompt AND q.sample = t.sample AND q.response = t.response",
    )
    assert orphans == 0
    phases = {p for (p,) in sql(db, "SELECT DISTINCT phase FROM search_trials")}
    assert phases == {"discover", "confirm", "robust"}


def test_rerun_is_served_from_the_cache(planted_organism: PlantedOrganism, searched) -> None:
    db, _ = searched
    before = confirmed(db)
    code, output = run("search", "--model", str(planted_organism.model), "--from-scan",
                       "--budget", BUDGET, "--db", str(db))  # fmt: skip
    assert code == 0, output
    ((run_id,),) = sql(db, "SELECT max(run_id) FROM runs WHERE command = 'search'")
    assert sql(db, f"SELECT count(*) FROM queries WHERE run_id = '{run_id}'") == [(0,)]
    assert confirmed(db, run_id) == before
    assert "0 target calls" in output


def test_killed_search_resumes_without_repeating_calls(
    planted_organism: PlantedOrganism, scanned: Path, searched
) -> None:
    db = scanned.with_name("killed.duckdb")
    shutil.copy(scanned, db)
    args = [str(Path(sys.executable).with_name("audit")), "search", "--model",
            str(planted_organism.model), "--from-scan", "--budget", BUDGET, "--db", str(db)]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    wal = db.with_name(db.name + ".wal")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if wal.exists() and wal.stat().st_size > 200_000:  # some queries are written
            break
        time.sleep(0.05)
    assert process.poll() is None, "the search finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    ((done,),) = sql(db, "SELECT count(*) FROM queries")
    assert done > 0
    code, output = run("search", "--model", str(planted_organism.model), "--from-scan",
                       "--budget", BUDGET, "--db", str(db))  # fmt: skip
    assert code == 0, output
    assert confirmed(db) == confirmed(searched[0])
    assert not sql(
        db,
        "SELECT prompt, sample FROM queries WHERE status = 'ok' GROUP BY ALL HAVING count(*) > 1",
    )
    status = dict(sql(db, "SELECT run_id, status FROM runs WHERE command = 'search'"))
    assert sorted(status.values()) == ["interrupted", "ok"]


def test_bad_arguments_exit_2(planted_organism: PlantedOrganism, tmp_path: Path) -> None:
    db = str(tmp_path / "x.duckdb")
    for args, message in [
        (["--model", str(tmp_path / "nothing")], "no Hugging Face model folder"),
        (["--model", str(planted_organism.model), "--from-scan"], "no finished scan"),
        (["--model", str(planted_organism.model), "--seeds", str(tmp_path / "s.txt")],
         "seed file not found"),
        (["--model", str(planted_organism.model), "--attribute", "nope"], "unknown attribute"),
        (["--model", "m", "--api-key-env", "X"], "--api-key-env needs --base-url"),
    ]:  # fmt: skip
        code, output = run("search", *args, "--db", db)
        assert code == 2 and message in output, output
