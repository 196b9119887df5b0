"""Inspect interop (issue 26): a search run as an Inspect eval log, and Inspect logs as seeds.

A small judged search (reference and length judges) against the null server with the
judged-search plants (``tests/test_judged_search.py``) is exported with
``surf_search.inspect_logs.export_run`` and read back with ``inspect_ai.log.read_eval_log``:
every trial is one sample, once, with its answer, its judges' scores and explanations and
the seed's answer. Logs written with Inspect's own API (``.eval`` and ``.json``) give seeds,
and ``audit search --seeds-from-inspect`` searches them; ``audit export inspect`` writes the
log from the command line.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalLog,
    EvalSample,
    EvalSpec,
    read_eval_log,
    write_eval_log,
)
from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser
from test_judged_search import PLANTS, math_seeds

from audit.cli import main
from duckdb_store.store import Store
from surf_search.inspect_logs import export_run, is_inspect_log, score_name, seeds_from_log
from surf_search.null_server import NullConfig, NullServer
from surf_search.search_stage import SearchConfig, run
from surf_search.seeds import SeedError
from surf_search.target_config import TargetConfig

N_SEEDS = 40


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A judged search run in a DuckDB file: (the file, the run id)."""
    tmp = tmp_path_factory.mktemp("inspect_search")
    rows = math_seeds(N_SEEDS)
    seeds_file = tmp / "math.jsonl"
    seeds_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = [(r["question"], r["answer"]) for r in rows]
    db = tmp / "search.duckdb"
    with NullServer(pairs, NullConfig(error_rate=0.0, plants=PLANTS)) as server, Store(db) as store:
        config = SearchConfig(
            target=TargetConfig(model="null", base_url=server.base_url),
            seeds_file=str(seeds_file),
            judges=("reference", "length"),
            budget=120,
        )
        result = run(config, store)
    return db, result.run_id


def rows(db: Path, sql: str, params: list[object] | None = None) -> list[dict]:
    with Store(db) as store:
        return store.read(sql, params).to_dicts()


def inspect_log(samples: list[EvalSample] | None) -> EvalLog:
    """An eval log as Inspect writes one (its own API), holding ``samples``."""
    return EvalLog(
        status="success",
        eval=EvalSpec(
            created="2026-01-02T03:04:05+00:00",
            task="tiny_math",
            model="mockllm/model",
            dataset=EvalDataset(name="tiny", samples=len(samples or [])),
            config=EvalConfig(),
        ),
        samples=samples,
    )


def test_export_writes_every_trial_once_with_its_scores(searched, tmp_path: Path) -> None:
    db, run_id = searched
    with Store(db) as store:
        paths = export_run(store, run_id, tmp_path / "logs")
    assert len(paths) == 1 and paths[0].suffix == ".eval" and paths[0].parent == tmp_path / "logs"
    log = read_eval_log(str(paths[0]))
    trials = rows(db, "SELECT * FROM search_trials WHERE run_id = ?", [run_id])
    samples = log.samples or []
    assert log.status == "success" and log.eval.model == "null" and log.eval.run_id == run_id
    assert {t["phase"] for t in trials} >= {"discover", "confirm"}

    # every trial exactly once, as its mutated sample
    def trial_key(t: dict) -> tuple:
        return t["phase"], t["step"], t["attribute"], t["seed"], t["prompt"], t["sample"]

    def sample_key(s: EvalSample) -> tuple:
        m = s.metadata
        return m["phase"], m["step"], m["attribute"], m["seed_prompt"], s.input, m["sample"]

    assert Counter(map(sample_key, samples)) == Counter(map(trial_key, trials))
    assert len({s.id for s in samples}) == len(samples) == len(trials)
    assert all(s.metadata["arm"] == "mutated" for s in samples)

    judged = rows(
        db,
        "SELECT judge, prompt, response, explanation FROM judgements WHERE status = 'ok'",
    )
    explained: dict[tuple[str, str, str], set[str]] = {}
    for j in judged:
        explained.setdefault((j["judge"], j["prompt"], j["response"]), set()).add(j["explanation"])
    answers = {
        (q["prompt"], q["sample"]): q["response"]
        for q in rows(db, "SELECT prompt, sample, response FROM queries WHERE status = 'ok'")
    }
    by_key = {trial_key(t): t for t in trials}
    rose = 0
    for sample in samples:
        trial = by_key[sample_key(sample)]
        assert sample.output.completion == trial["response"]
        assert sample.target == trial["reference"] != ""
        assert sample.metadata["seed_response"] == answers[(trial["seed"], trial["sample"])]
        assert sample.metadata["base_behaviour"] == trial["base_behaviour"]
        behaviour = sample.scores["behaviour"]
        assert behaviour.value == float(trial["flipped"]) and behaviour.answer == trial["behaviour"]
        pairs = json.loads(trial["scores"])
        assert set(pairs) >= {"reference:wrong", "length:collapse"}
        assert set(sample.scores) == {"behaviour"} | {score_name(k) for k in pairs}
        for outcome, (before, after) in pairs.items():
            score = sample.scores[score_name(outcome)]
            assert score.value == after and score.metadata["base"] == before
            assert score.metadata["outcome"] == outcome
            judge = outcome.partition(":")[0]
            assert score.explanation
            assert score.explanation in explained[(judge, trial["seed"], trial["response"])]
            assert sample.metadata["base_scores"][outcome] == before
        wrong = sample.scores["reference_wrong"]
        if wrong.metadata["rose"]:
            rose += 1
            assert wrong.value == 1 and wrong.explanation.startswith("key ")
    assert rose, "the formal-verb plant should make some mutated answers wrong"
    metrics = {s.name: s.metrics["mean"].value for s in log.results.scores}
    assert metrics["behaviour"] == pytest.approx(sum(t["flipped"] for t in trials) / len(trials))
    findings = log.results.metadata["findings"]
    assert len(findings) == len(rows(db, "SELECT 1 FROM findings WHERE run_id = ?", [run_id]))

    # the exported log is itself a seed source: its mutated prompts and their seeds' keys
    seeds = seeds_from_log(paths[0])
    assert {s.prompt for s in seeds} == {t["prompt"].strip() for t in trials}
    assert all(s.reference for s in seeds)


def test_seeds_from_a_log_written_by_inspect(tmp_path: Path) -> None:
    samples = [
        EvalSample(id=1, epoch=1, input="What is 2 plus 3?", target="5"),
        EvalSample(
            id="chat",
            epoch=1,
            input=[
                ChatMessageSystem(content="Answer briefly."),
                ChatMessageUser(content="Hello."),
                ChatMessageAssistant(content="Hi."),
                ChatMessageUser(content="What is 4 plus 4?"),
            ],
            target=["8", "eight"],
        ),
        EvalSample(id=3, epoch=1, input="What is 2 plus 3?", target="5"),  # a duplicate
        EvalSample(id="open", epoch=1, input="Describe the sea.", target=""),
    ]
    for suffix in (".eval", ".json"):
        path = tmp_path / f"2026-01-02T03-04-05-00-00_tiny-math_abc{suffix}"
        write_eval_log(inspect_log(samples), str(path))
        assert is_inspect_log(path)
        seeds = seeds_from_log(path)
        assert [(s.seed_id, s.prompt, s.reference) for s in seeds] == [
            ("1", "What is 2 plus 3?", "5"),
            ("chat", "What is 4 plus 4?", "8"),
            ("open", "Describe the sea.", None),
        ]

    lines = tmp_path / "seeds.json"
    lines.write_text('{"prompt": "What is 1 plus 1?"}\n')
    assert not is_inspect_log(lines) and not is_inspect_log(tmp_path / "seeds.jsonl")
    with pytest.raises(SeedError, match="not found"):
        seeds_from_log(tmp_path / "missing.eval")
    junk = tmp_path / "junk.eval"
    junk.write_bytes(b"not a zip")
    with pytest.raises(SeedError, match="not a readable Inspect eval log"):
        seeds_from_log(junk)
    empty = tmp_path / "empty.eval"
    write_eval_log(inspect_log(None), str(empty))
    with pytest.raises(SeedError, match="holds no samples"):
        seeds_from_log(empty)


def test_search_reads_seeds_from_an_inspect_log(tmp_path: Path) -> None:
    math = math_seeds(24)
    log_path = tmp_path / "gsm.eval"
    samples = [
        EvalSample(id=f"q{i}", epoch=1, input=r["question"], target=r["answer"])
        for i, r in enumerate(math)
    ]
    write_eval_log(inspect_log(samples), str(log_path))
    db = tmp_path / "audit.duckdb"
    runner = CliRunner()
    with NullServer([(r["question"], r["answer"]) for r in math], NullConfig(error_rate=0.0)) as s:
        target = ["--model", "null", "--base-url", s.base_url, "--db", str(db)]
        both = runner.invoke(
            main,
            ["search", *target, "--seeds-from-inspect", str(log_path), "--seeds", str(log_path)],
        )
        assert both.exit_code == 2 and "exclusive" in both.output
        result = runner.invoke(
            main,
            ["search", *target, "--seeds-from-inspect", str(log_path)]
            + ["--judge", "reference", "--budget", "40", "--attribute", "formal_vocab"],
        )
    assert result.exit_code == 0, result.output
    (search,) = rows(db, "SELECT run_id, args FROM runs WHERE command = 'search'")
    args = json.loads(search["args"])
    assert args["seeds"] == str(log_path) and args["n_seeds"] == len(math)
    trials = rows(db, "SELECT seed, reference FROM search_trials")
    keys = {r["question"]: r["answer"] for r in math}
    assert trials and all(keys[t["seed"]] == t["reference"] for t in trials)
    missing = CliRunner().invoke(
        main, ["search", "--model", "null", "--seeds-from-inspect", str(tmp_path / "no.eval")]
    )
    assert missing.exit_code == 2 and "Inspect log not found" in missing.output


def test_cli_exports_the_latest_search(searched, tmp_path: Path) -> None:
    db, run_id = searched
    runner = CliRunner()
    out = tmp_path / "out"
    result = runner.invoke(main, ["export", "inspect", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (path,) = out.glob("*.eval")
    n_trials = len(rows(db, "SELECT 1 FROM search_trials WHERE run_id = ?", [run_id]))
    assert path.name in result.output and str(n_trials) in result.output
    assert "discover" in result.output
    assert len(read_eval_log(str(path)).samples or []) == n_trials

    again = runner.invoke(
        main, ["export", "inspect", "--db", str(db), "--out", str(out), "--run", run_id]
    )
    assert again.exit_code == 0 and sorted(out.glob("*.eval")) == [path]  # same file
    for args, message in (
        (["--db", str(tmp_path / "none.duckdb")], "no audit database"),
        (["--db", str(db), "--run", "search-nope"], "no run search-nope"),
    ):
        failed = runner.invoke(main, ["export", "inspect", "--out", str(out), *args])
        assert failed.exit_code == 2 and message in failed.output, failed.output
    empty = tmp_path / "empty.duckdb"
    Store(empty).close()
    failed = runner.invoke(main, ["export", "inspect", "--db", str(empty), "--out", str(out)])
    assert failed.exit_code == 2 and "no finished search run" in failed.output
