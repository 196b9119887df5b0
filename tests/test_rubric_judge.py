"""The ``rubric`` judge (issue 26) against a real OpenAI-compatible server on 127.0.0.1.

The judge is a ``surf_search.null_server.NullServer`` too: its plants read the RESPONSE
inside the judge's user message and reply ``{"score": 90, ...}`` to a wrong answer
(GSM8K's ``#### 0``, the target's planted answer to formal-verb prompts), "I cannot grade
this." (an unparsable reply) to every answer whose sum ends in 6, and ``{"score": 5, ...}``
to everything else. The target is the math null server of ``test_judged_search``.

Covered: the request (a chat-completions body with the rubric in the system message, the
seed prompt and the answer in the user message, the key from ``api_key_env`` as a Bearer
header and nowhere in the database); retries on injected 5xx and on timeouts (slow
answers); unparsable replies recorded as failed, never counted and retried by the next
run; a search killed with SIGKILL and resumed asks the judge nothing it had recorded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from test_judged_search import PLANTS, WRONG, math_seeds

from behaviour_modes.judge import JudgeError
from duckdb_store.store import Store
from surf_search.judges import JudgeItem, JudgeOptions, JudgeSetupError, get_judge
from surf_search.judges.panel import RECORD_EVERY
from surf_search.judges.rubric import parse_score
from surf_search.null_server import NullConfig, NullServer, Plant
from surf_search.search_stage import SearchConfig, SearchResult, run
from surf_search.target_config import TargetConfig

RUBRIC = "The RESPONSE gives a wrong final answer to the arithmetic question."
KEY_ENV = "RUBRIC_JUDGE_TEST_KEY"
KEY = "sk-rubric-test-3f9c1a7e5b2d"
JUDGE_MODEL = "null-judge"
LOW = '{"score": 5, "reason": "the final answer is right"}'
HIGH = '{"score": 90, "reason": "the final answer is wrong"}'
UNPARSABLE = "I cannot grade this."
#: plants of the judge server, searched in its user message (PROMPT, RESPONSE)
JUDGE_PLANTS = (
    Plant(r"\n#### 0\n", HIGH),  # WRONG, the target's planted answer
    Plant(r"\n#### \d*6\n", UNPARSABLE),  # right answers whose sum ends in 6
)
BUDGET = 300  # a search of ~180 judgements, made in batches (the largest ~60)
KILL_AT = 0.6  # the kill -9 comes after this share of a whole search's judge answers
_ASKED = re.compile(r"\APROMPT:\n(.*)\n\nRESPONSE:\n(.*)\n\nSCORE \(JSON\):\Z", re.S)


def asked(user_text: str) -> tuple[str, str]:
    """The (prompt, response) a judge request's user message asks about."""
    found = _ASKED.match(user_text)
    assert found, user_text
    return found.group(1), found.group(2)


def judge_server(**config: object) -> NullServer:
    """The judge: LOW by default, the plants' replies for wrong and 6-ending answers."""
    options = {"error_rate": 0.0, "model": JUDGE_MODEL, "plants": JUDGE_PLANTS, **config}
    return NullServer([("grade the response", LOW)], NullConfig(**options))  # type: ignore[arg-type]


def target_server() -> NullServer:
    """The target: math seeds answered right, formal-verb prompts answered WRONG."""
    pairs = [(r["question"], r["answer"]) for r in math_seeds()]
    return NullServer(pairs, NullConfig(error_rate=0.0, plants=PLANTS[:1]))


def write_seeds(folder: Path) -> Path:
    path = folder / "seeds.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in math_seeds()))
    return path


def key_free(db: Path, key: str) -> list[str]:
    """Where ``key`` appears in the database: every table's every column, as text."""
    hits = []
    with duckdb.connect(str(db), read_only=True) as con:
        for (table,) in con.execute("SHOW TABLES").fetchall():
            columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()]
            for column in columns:
                (n,) = con.execute(
                    f'SELECT count(*) FROM {table} WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                    [f"%{key}%"],
                ).fetchone()  # type: ignore[misc]
                if n:
                    hits.append(f"{table}.{column}")
    if key.encode() in db.read_bytes():
        hits.append("the file's bytes")
    return hits


# -- parse_score and setup -------------------------------------------------------------


def test_parse_score_reads_json_and_score_text() -> None:
    assert parse_score('{"score": 70, "reason": "mostly wrong"}') == (70.0, "mostly wrong")
    assert parse_score('{"score": 42.5}') == (42.5, "")
    assert parse_score('{"score": " 80 ", "reason": "r"}') == (80.0, "r")
    assert parse_score('Here you go:\n```json\n{"score": 100, "reason": "x"}\n```') == (100, "x")
    assert parse_score('{"score": 0}') == (0.0, "")
    assert parse_score("Score: 70") == (70.0, "")
    assert parse_score("The score is 12. Final score: 12.") == (12.0, "")
    for reply, why in [
        ('{"score": 101}', "outside 0-100"),
        ('{"score": -3}', "outside 0-100"),
        ('{"score": "high"}', "not a number"),
        ('{"score": true}', "not a number"),
        ('{"score": null}', "not a number"),
        ("Score: 170", "no score"),
        ("score 30, or maybe score 60", "no score"),  # two different scores: unreadable
        (UNPARSABLE, "no score in reply: 'I cannot grade this.'"),
        ('{"reason": "no score key"}', "no score"),
        ("   ", "empty reply"),
    ]:
        with pytest.raises(JudgeError, match=re.escape(why)):
            parse_score(reply)


def test_rubric_judge_setup_errors_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(JudgeSetupError, match="needs --rubric"):
        get_judge("rubric", JudgeOptions())
    with pytest.raises(JudgeSetupError, match="needs --rubric"):
        get_judge("rubric")
    with pytest.raises(JudgeSetupError, match="needs --judge-url and --judge-model"):
        get_judge("rubric", JudgeOptions(rubric=RUBRIC))
    with pytest.raises(JudgeSetupError, match="needs --judge-url and --judge-model"):
        get_judge("rubric", JudgeOptions(rubric=RUBRIC, judge_url="http://127.0.0.1:9/v1"))
    for url in ("ftp://127.0.0.1/v1", "127.0.0.1:8000", "not a url", "http://"):
        with pytest.raises(JudgeSetupError, match="--judge-url: base URL must be http"):
            get_judge("rubric", JudgeOptions(rubric=RUBRIC, judge_url=url, judge_model="m"))
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(JudgeSetupError, match=f"{KEY_ENV} \\(the API key\\) is not set"):
        get_judge(
            "rubric",
            JudgeOptions(
                rubric=RUBRIC,
                judge_url="http://127.0.0.1:9/v1",
                judge_model="m",
                api_key_env=KEY_ENV,
            ),
        )


# -- the request -----------------------------------------------------------------------


def test_request_is_a_chat_completion_with_the_key_as_bearer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rubric_file = tmp_path / "rubric.txt"
    rubric_file.write_text(f"\n{RUBRIC}\n")
    monkeypatch.setenv(KEY_ENV, KEY)
    prompt, right = "What is 2 plus 3?", "We add 2 and 3: 2 + 3 = 5.\n#### 5"
    with judge_server() as server:
        options = JudgeOptions(
            rubric=str(rubric_file),
            judge_url=server.base_url,
            judge_model=JUDGE_MODEL,
            api_key_env=KEY_ENV,
        )
        judge = get_judge("rubric", options)
        assert judge.rubric == RUBRIC  # read from the file
        assert KEY not in judge.settings() and KEY not in repr(judge.config)
        (ok,) = judge.judge([JudgeItem(prompt, right, right)])
        body, headers = server.last_payload, server.last_headers
        (wrong,) = judge.judge([JudgeItem(prompt, WRONG, right)])
        (unreadable,) = judge.judge([JudgeItem(prompt, "So 2 + 4 = 6.\n#### 6", right)])
        # without api_key_env (and no $OPENAI_API_KEY) no Authorization header is sent
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        keyless = get_judge(
            "rubric",
            JudgeOptions(rubric=RUBRIC, judge_url=server.base_url, judge_model=JUDGE_MODEL),
        )
        (plain,) = keyless.judge([JudgeItem(prompt, right, right)])
        authorizations = dict(server.authorizations)
    assert isinstance(body, dict)
    assert body["model"] == JUDGE_MODEL
    assert body["temperature"] == 0 and not body.get("stream")
    assert isinstance(body["max_tokens"], int) and 16 <= body["max_tokens"] <= 1024
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert RUBRIC in system["content"] and "0 to 100" in system["content"]
    assert '"score"' in system["content"]
    assert asked(user["content"]) == (prompt, right)
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == f"Bearer {KEY}"
    assert "application/json" in {k.lower(): v for k, v in headers.items()}["content-type"]
    assert authorizations == {f"Bearer {KEY}": 3, "": 1}
    assert ok.ok and ok.scores == {"score": 0.05} and ok.explanation == "the final answer is right"
    assert wrong.ok and wrong.scores == {"score": 0.9}
    assert plain.ok and plain.scores == {"score": 0.05}
    assert not unreadable.ok and not unreadable.scores
    assert UNPARSABLE in (unreadable.error or "")


# -- retries ---------------------------------------------------------------------------


def test_retries_on_5xx_and_timeouts() -> None:
    rows = math_seeds(24)
    items = [
        JudgeItem(r["question"], WRONG if i % 2 else r["answer"], r["answer"])
        for i, r in enumerate(rows)
        if not r["answer"].endswith("6")  # the unparsable plant
    ]
    # a quarter of attempts get a 500, a sixth of the rest answer only after 2 s: with a
    # 0.75 s timeout those time out; both are retried (up to 6 times, with backoff)
    flaky = {"error_rate": 0.25, "slow_rate": 0.17, "slow_s": 2.0, "seed": 5}
    with judge_server(**flaky) as server:
        options = JudgeOptions(
            rubric=RUBRIC,
            judge_url=server.base_url,
            judge_model=JUDGE_MODEL,
            timeout_s=0.75,
            max_retries=6,
            workers=8,
        )
        started = time.perf_counter()
        judgements = get_judge("rubric", options).judge(items)
        took = time.perf_counter() - started
        stats = server.stats
        asked_items = Counter(asked(text) for text in server.requests_by_prompt.elements())
    print(f"  {len(items)} judgements in {took:.1f}s: {stats}")
    assert all(j.ok for j in judgements), [j.error for j in judgements if not j.ok]
    expected = [0.9 if i.response == WRONG else 0.05 for i in items]
    assert [j.scores["score"] for j in judgements] == expected
    assert stats.errors > 0 and stats.slow > 0
    # every injected 500 and every slow answer (a timeout) was followed by a retry
    assert stats.requests >= len(items) + stats.errors + stats.slow
    assert sum(asked_items.values()) == stats.requests > len(items)
    assert set(asked_items) == {(i.prompt, i.response) for i in items}
    assert max(asked_items.values()) > 1
    # each judgement records the attempts it took (the judgements table's `attempts`)
    by_item = {(i.prompt, i.response): j.attempts for i, j in zip(items, judgements, strict=True)}
    assert by_item == dict(asked_items)

    # a judge whose every attempt fails: the call gives up after its retries, as an error
    with judge_server(persistent_error_rate=1.0) as down:
        options = JudgeOptions(
            rubric=RUBRIC, judge_url=down.base_url, judge_model=JUDGE_MODEL, max_retries=1
        )
        (failed,) = get_judge("rubric", options).judge(items[:1])
        assert down.stats.requests == 2 and down.stats.errors == 2
    assert not failed.ok and "HTTP 500" in (failed.error or "") and failed.attempts == 2


# -- a judged search: unparsable replies, the key, the cache ---------------------------


@dataclass
class JudgedRuns:
    """An in-process judged search run twice on one database (the second from the cache)."""

    db: Path
    first: SearchResult
    second: SearchResult
    judgements: list[dict]  # the table after both runs
    trials: list[dict]  # the first run's
    first_requests: Counter[str]  # judge requests (user messages) of each run
    second_requests: Counter[str]
    authorizations: Counter[str]
    target_requests: tuple[int, int]


@pytest.fixture(scope="module")
def judged_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JudgedRuns]:
    folder = tmp_path_factory.mktemp("judged")
    seeds = write_seeds(folder)
    db = folder / "rubric.duckdb"
    with (
        pytest.MonkeyPatch.context() as env,
        target_server() as target,
        judge_server() as judge,
    ):
        env.setenv(KEY_ENV, KEY)
        config = SearchConfig(
            target=TargetConfig(model="null", base_url=target.base_url),
            seeds_file=str(seeds),
            judges=("rubric",),
            judge_options=JudgeOptions(
                rubric=RUBRIC,
                judge_url=judge.base_url,
                judge_model=JUDGE_MODEL,
                api_key_env=KEY_ENV,
            ),
            budget=BUDGET,
        )
        with Store(db) as store:
            first = run(config, store)
            trials = (
                store.con.sql(f"SELECT * FROM search_trials WHERE run_id = '{first.run_id}'")
                .pl()
                .to_dicts()
            )
        first_requests = Counter(judge.requests_by_prompt)
        first_target = target.stats.requests
        with Store(db) as store:
            second = run(config, store)
            judgements = store.con.sql("SELECT * FROM judgements").pl().to_dicts()
        second_requests = judge.requests_by_prompt - first_requests
        yield JudgedRuns(
            db,
            first,
            second,
            judgements,
            trials,
            first_requests,
            second_requests,
            Counter(judge.authorizations),
            (first_target, target.stats.requests - first_target),
        )


def test_unparsable_replies_are_recorded_never_counted_and_retried(
    judged_runs: JudgedRuns,
) -> None:
    runs = judged_runs
    first_id, second_id = runs.first.run_id, runs.second.run_id
    first = [j for j in runs.judgements if j["run_id"] == first_id]
    failed = [j for j in first if j["status"] == "failed"]
    ok = [j for j in first if j["status"] == "ok"]
    assert failed and ok
    unjudged = {(j["prompt"], j["response"]) for j in failed}
    for j in failed:
        assert re.search(r"\n#### \d*6$", j["response"]), j
        assert j["scores"] is None and UNPARSABLE in j["error"]
    assert all(j["error"] is None and json.loads(j["scores"]) for j in ok)
    assert not any(re.search(r"#### \d*6$", j["response"]) for j in ok)
    stats = runs.first.judge_stats
    assert stats is not None and stats.failed == len(failed) and stats.judged == len(first)
    # the first run asked the judge once per judgement (failed ones not again in the run)
    assert sum(runs.first_requests.values()) == len(first)

    # a trial whose either answer could not be judged carries no rubric:score (the
    # target answers a seed prompt with the seed's stored answer)
    seed_answer = {r["question"]: r["answer"] for r in math_seeds()}
    for trial in runs.trials:
        scores = json.loads(trial["scores"]) if trial["scores"] else {}
        pair = {(trial["seed"], seed_answer[trial["seed"]]), (trial["seed"], trial["response"])}
        assert ("rubric:score" in scores) == (not pair & unjudged), trial
        if "rubric:score" in scores:
            assert all(v in (0.05, 0.9) for v in scores["rubric:score"]), trial
    assert any(not t["scores"] for t in runs.trials)

    # ... and never counts: the finding's rates are the parsed scores' means exactly, over
    # the seeds whose pair was judged on both sides
    (finding,) = [f for f in runs.first.outcome.findings if f.confirmed]
    assert (finding.attribute, finding.mode, finding.judge) == (
        "formal_vocab",
        "rubric:score",
        "rubric",
    )
    confirm = [
        t for t in runs.trials if t["phase"] == "confirm" and t["attribute"] == "formal_vocab"
    ]
    scored = [t for t in confirm if t["scores"] and "rubric:score" in json.loads(t["scores"])]
    assert len(scored) < len(confirm)
    assert finding.comparison.n_base == len({t["seed"] for t in scored})
    assert finding.comparison.rate_base == pytest.approx(0.05)
    assert finding.comparison.rate_mutated == pytest.approx(0.9)

    # the second run asked the judge again for the failed judgements, and for nothing else
    assert {asked(text) for text in runs.second_requests} == unjudged
    assert sum(runs.second_requests.values()) == len(unjudged)
    second = [j for j in runs.judgements if j["run_id"] == second_id]
    assert {(j["prompt"], j["response"]) for j in second} == unjudged
    assert all(j["status"] == "failed" for j in second)  # the judge still cannot read them
    assert runs.second.judge_stats is not None and runs.second.judge_stats.judged == len(unjudged)
    assert runs.target_requests[1] == 0  # the target's answers came from `queries`
    oks = [j["key"] for j in runs.judgements if j["status"] == "ok"]
    assert len(oks) == len(set(oks))
    assert [f.attribute for f in runs.second.outcome.findings if f.confirmed] == ["formal_vocab"]


def test_key_is_sent_as_bearer_and_never_stored(judged_runs: JudgedRuns) -> None:
    runs = judged_runs
    total = sum(runs.first_requests.values()) + sum(runs.second_requests.values())
    assert runs.authorizations == {f"Bearer {KEY}": total}
    assert key_free(runs.db, KEY) == []
    with duckdb.connect(str(runs.db), read_only=True) as con:
        args = [json.loads(a) for (a,) in con.execute("SELECT args FROM runs").fetchall()]
    assert all(a["judges"]["rubric"]["settings"].startswith(f"model={JUDGE_MODEL};") for a in args)
    assert KEY not in json.dumps(args)


# -- kill -9 and resume ----------------------------------------------------------------


def audit_command() -> list[str]:
    """The ``audit`` entry point of this interpreter's environment (or its main by hand)."""
    script = Path(sys.executable).with_name("audit")
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "from audit.cli import main; main()"]


def test_kill_9_and_resume_asks_the_judge_nothing_recorded(
    tmp_path: Path, judged_runs: JudgedRuns
) -> None:
    # the same search as judged_runs' first (same seeds, servers, budget): kill it when
    # KILL_AT of that search's judge answers are in
    kill_after = int(KILL_AT * sum(judged_runs.first_requests.values()))
    seeds = write_seeds(tmp_path)
    db = tmp_path / "killed.duckdb"
    env = {**os.environ, KEY_ENV: KEY, "HF_HUB_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)
    with target_server() as target, judge_server() as judge:
        command = [
            *audit_command(),
            "search",
            "--model", "null",
            "--base-url", target.base_url,
            "--seeds", str(seeds),
            "--judge", "rubric",
            "--rubric", RUBRIC,
            "--judge-url", judge.base_url,
            "--judge-model", JUDGE_MODEL,
            "--judge-key-env", KEY_ENV,
            "--budget", str(BUDGET),
            "--db", str(db),
        ]  # fmt: skip
        log = tmp_path / "killed.log"  # a file, not a pipe: the child never blocks on it
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while (
                judge.stats.ok < kill_after
                and process.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.01)
            running = process.poll() is None
            process.kill()  # SIGKILL
        finally:
            process.kill()
            process.wait()
        output = log.read_text(errors="replace")
        assert running and judge.stats.ok >= kill_after, output
        assert process.returncode == -9
        killed_asked = Counter(judge.requests_by_prompt)
        killed_target = Counter(target.requests_by_prompt)

        with duckdb.connect(str(db)) as con:  # replays the write-ahead log
            (status,) = con.execute("SELECT status FROM runs").fetchone()  # type: ignore[misc]
            recorded = con.execute(
                "SELECT prompt, response FROM judgements WHERE status = 'ok'"
            ).fetchall()
            written = set(con.execute("SELECT prompt, response FROM judgements").fetchall())
            queried = {
                p
                for (p,) in con.execute("SELECT prompt FROM queries WHERE status = 'ok'").fetchall()
            }
        assert status != "ok"  # the killed run never finished
        recorded_set = set(recorded)
        assert len(recorded) == len(recorded_set) > 0
        asked_before = {asked(t) for t in killed_asked}
        assert recorded_set <= written <= asked_before
        # judgements are written RECORD_EVERY at a time: the kill lost at most one chunk
        lost = asked_before - written
        assert len(lost) <= RECORD_EVERY

        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        again = judge.requests_by_prompt - killed_asked
        target_again = target.requests_by_prompt - killed_target
    print(
        f"  killed after {sum(killed_asked.values())} judge requests ({len(recorded)} recorded ok, "
        f"{len(lost)} lost), "
        f"resumed with {sum(again.values())} more; target "
        f"{sum(killed_target.values())} + {sum(target_again.values())}"
    )
    assert again, "the resumed run judged nothing new"
    asked_again = {asked(t) for t in again}
    assert not asked_again & recorded_set  # nothing recorded was asked again
    assert asked_again & asked_before <= lost | (written - recorded_set)  # lost or failed
    assert KEY not in resumed.stdout + resumed.stderr

    with duckdb.connect(str(db), read_only=True) as con:
        duplicates = con.execute(
            "SELECT key, count(*) FROM judgements WHERE status = 'ok' GROUP BY key HAVING count(*) > 1"
        ).fetchall()
        runs = con.execute("SELECT run_id, status FROM runs ORDER BY started_at").fetchall()
        confirmed = con.execute(
            "SELECT attribute, mode, judge FROM findings WHERE run_id = ? AND confirmed",
            [runs[-1][0]],
        ).fetchall()
    assert duplicates == []
    assert len(runs) == 2 and runs[0][1] != "ok" and runs[1][1] == "ok"
    assert confirmed == [("formal_vocab", "rubric:score", "rubric")]
    # the target's answers recorded (in `queries`) before the kill were not asked again
    assert target_again and not set(target_again) & queried
    assert key_free(db, KEY) == []
