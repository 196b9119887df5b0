"""`audit search` through a real `transformers serve`: a server killed mid-run, then resumed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
from click.testing import CliRunner
from conftest import PlantedOrganism
from serving import serve

from audit.cli import main

ARGS = ("--attribute", "latex_math", "--attribute", "formal_vocab", "--budget", "160",
        "--max-new-tokens", "48", "--max-retries", "1", "--timeout", "20", "--concurrency", "4")  # fmt: skip


def rows(db: Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def kill_after_requests(handle, n: int) -> threading.Thread:  # noqa: ANN001
    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and handle.alive():
            if handle.log().count("POST /v1/chat/completions") >= n:
                handle.kill()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_server_killed_mid_search_then_resumed(
    planted_organism: PlantedOrganism, tmp_path: Path
) -> None:
    db = tmp_path / "http.duckdb"
    runner = CliRunner()
    with serve(planted_organism.model, log_dir=tmp_path) as handle:
        target = ("--base-url", handle.base_url, "--model", handle.model)
        watcher = kill_after_requests(handle, 40)
        first = runner.invoke(main, ["search", *target, *ARGS, "--db", str(db)])
        watcher.join()
        assert not handle.alive(), "the server was not killed during the search"
        assert first.exit_code in (0, 2), first.output
        assert "failed after retries" in first.output or "every call" in first.output
        ((ok,), (failed,)) = rows(
            db, "SELECT count(*) FROM queries WHERE status IN ('ok') UNION ALL "
            "SELECT count(*) FROM queries WHERE status = 'failed'",
        )  # fmt: skip
        assert ok >= 30 and failed > 0
        assert rows(db, "SELECT DISTINCT attempts FROM queries WHERE status = 'failed'") == [(2,)]
        assert rows(
            db, "SELECT count(*) FROM queries WHERE status = 'failed' AND mode IS NOT NULL"
        ) == [(0,)]
        assert rows(db, "SELECT count(*) FROM search_trials t JOIN queries q ON q.prompt = t.prompt "
                        "AND q.status = 'failed' AND t.response IS NULL") == [(0,)]  # fmt: skip

        handle.restart()
        second = runner.invoke(main, ["search", *target, *ARGS, "--db", str(db)])
        assert second.exit_code == 0, second.output
    ((run_id,),) = rows(db, "SELECT max(run_id) FROM runs WHERE command = 'search'")
    resumed = rows(db, f"SELECT count(*) FROM queries WHERE run_id = '{run_id}'")[0][0]
    assert 0 < resumed <= 160 - ok  # only answers the first run did not get
    assert not rows(db, "SELECT prompt, sample FROM queries WHERE status = 'ok' "
                        "GROUP BY ALL HAVING count(*) > 1")  # fmt: skip
    confirmed = {a for (a,) in rows(db, f"SELECT attribute FROM findings WHERE run_id = "
                                        f"'{run_id}' AND confirmed")}  # fmt: skip
    assert "latex_math" in confirmed
