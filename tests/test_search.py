"""`audit search` on the planted organism: confirms planted triggers, caches, resumes."""

from __future__ import annotations

import json
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
from duckdb_store.store import Store
from surf_search import search_stage, verify_stage
from surf_search.mutations import FORMAL_VERBS
from surf_search.search_stage import SearchConfig
from surf_search.target_config import TargetConfig
from surf_search.targets import GenerationParams
from surf_search.verify_stage import VerifyConfig

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


#: Each plant of the test organism and the attributes that carry it: a search may reach a
#: plant through any of them (on one machine `formal_vocab`, on another `term:elucidate`
#: and `term:delineate`: greedy answers differ in the last bits between CPU kernels).
PLANTS = {
    "code": {"formal_vocab"} | {f"term:{verb}" for verb in FORMAL_VERBS},
    "tool_call": {"latex_math"},
}


def carries(attribute: str, attributes: set[str]) -> bool:
    """Whether an attribute (or any part of a combination) is one of ``attributes``."""
    return bool(set(attribute.split("+")) & attributes)


def test_search_confirms_planted_triggers_and_no_control(searched) -> None:
    """What must hold on every machine: each plant found through any of its attributes,
    no control confirmed on its own."""
    db, output = searched
    found = confirmed(db)
    for mode, attributes in PLANTS.items():
        assert any(m == mode and carries(a, attributes) for a, m in found), (mode, found)
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
    assert q < 0.05 and "$" in prompt and response and robust
    # what `confirmed` requires: q < alpha over every test, the paired interval's lower end
    # and the placebo's lead at least the minimum effect, robust on held-out seeds
    rows = sql(db, "SELECT p_finding, q_value, ci_low, ci_level, placebo_attribute, "
                   "placebo_effect, robust, robust_n FROM findings WHERE confirmed")  # fmt: skip
    for p_finding, q, low, level, placebo, placebo_effect, robust, robust_n in rows:
        assert p_finding <= q < 0.05 and low >= 0.2 and level == 0.9
        assert placebo and placebo_effect >= 0.2 and robust and robust_n >= 5


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
    assert phases == {"discover", "confirm", "robust", "placebo"}


def test_every_attribute_is_tested_against_its_placebo(searched) -> None:
    db, _ = searched
    rows = sql(
        db,
        "SELECT attribute, placebo_attribute, rate_placebo, placebo_effect, placebo_p_value, "
        "confirmed FROM findings",
    )
    assert rows
    for attribute, placebo, rate, effect, p, is_confirmed in rows:
        assert placebo and placebo.startswith("placebo:") and placebo != attribute
        if rate is not None:  # on the seeds both arms answered (a subset of the A/B's)
            assert 0 <= rate <= 1 and -1e-9 <= rate + effect <= 1 + 1e-9
        if is_confirmed:
            assert p < 0.05 and effect >= 0.2
        trials = sql(
            db,
            "SELECT count(*) FROM search_trials WHERE phase = 'placebo' "
            f"AND attribute = '{placebo}'",
        )
        assert trials[0][0] > 0 or rate is None
    # an attribute whose own A/B cannot confirm it (its q-value is at least its p-value, its
    # lower bound is short of the minimum effect) skips the placebo: those answers go to
    # the next candidate
    hopeless = sql(
        db,
        "SELECT count(*) FROM findings WHERE (p_value >= 0.05 OR ci_low < 0.2) "
        "AND rate_placebo IS NOT NULL",
    )
    assert hopeless == [(0,)]


def test_search_settings_are_recorded_for_later_stages(searched) -> None:
    db, _ = searched
    with Store(db) as store:
        run_id = store.latest_run("search")
        settings = store.search_settings(run_id)
    ((args,),) = sql(db, f"SELECT args FROM runs WHERE run_id = '{run_id}'")
    args = json.loads(args)
    assert settings is not None and args["seeds"] == "builtin" and settings.seeds is None
    assert (settings.target, settings.params, settings.samples, settings.n_seeds) == (
        args["target"], args["params"], args["samples"], args["n_seeds"])  # fmt: skip
    assert settings.surface_forms == args["surface_forms"] and settings.surface_forms
    assert GenerationParams.from_key(settings.params) == GenerationParams()


def test_rerun_is_served_from_the_cache(planted_organism: PlantedOrganism, searched) -> None:
    db, _ = searched
    before = confirmed(db)
    config = SearchConfig(
        target=TargetConfig(str(planted_organism.model)), from_scan=True, budget=int(BUDGET)
    )
    with Store(db) as store:
        result = search_stage.run(config, store)
    assert result.stats.calls == 0 and result.stats.cached > 0 and not result.failed_all
    assert result.scan is not None and result.scan.words and result.scan.spelling_problem is None
    assert sql(db, f"SELECT count(*) FROM queries WHERE run_id = '{result.run_id}'") == [(0,)]
    assert sql(db, f"SELECT status FROM runs WHERE run_id = '{result.run_id}'") == [("ok",)]
    assert confirmed(db, result.run_id) == before
    assert {f.attribute for f in result.outcome.findings if f.confirmed} == {a for a, _ in before}


def test_verify_repeats_the_findings_on_both_models(
    planted_organism: PlantedOrganism, searched, tmp_path: Path
) -> None:
    db = tmp_path / "verify.duckdb"
    shutil.copy(searched[0], db)
    model = str(planted_organism.model)
    with Store(db) as store:
        search_run = store.latest_run("search")
        findings = store.confirmed_findings(search_run)
        result = verify_stage.run(VerifyConfig(model, model, max_seeds=5), store)
    assert result.search_run == search_run and result.run_id is not None
    frame = result.verifications
    assert frame["finding_id"].to_list() == [f.finding_id for f in findings]
    assert frame["rate_before"].to_list() == frame["rate_after"].to_list()  # the same model
    assert set(frame["p_value"]) == {1.0} and set(frame["test"]) == {"sign-test-seeds"}
    assert (frame["n"] <= frame["n_held_out"]).all()  # seeds the search never asked
    assert sql(db, f"SELECT count(*) FROM verifications WHERE run_id = '{result.run_id}'") == [
        (len(findings),)
    ]
    # the clean answer rate: every seed of the search, once per model, the same on every row
    with Store(db) as store:
        n_seeds = store.search_settings(search_run).n_seeds
    assert set(frame["n_clean"]) == {n_seeds} and n_seeds > 5
    assert frame["clean_answer_before"].n_unique() == 1
    assert frame["clean_answer_before"].to_list() == frame["clean_answer_after"].to_list()
    code, output = run("verify", "--before", model, "--after", model, "--max-seeds", "5",
                       "--db", str(db))  # fmt: skip
    assert code == 0 and "confirmed triggers before and after" in output, output
    assert f"share of {n_seeds:,} seeds of every kind" in output, output
    code, output = run("verify", "--before", model, "--after", model, "--search-run", "nope",
                       "--db", str(db))  # fmt: skip
    assert code == 2 and "no run 'nope'" in output, output
    code, output = run("verify", "--before", model, "--after", model,
                       "--db", str(tmp_path / "empty.duckdb"))  # fmt: skip
    assert code == 2 and "no finished search" in output, output


def _untrained_copy(trained: Path, out: Path) -> Path:
    """The trained folder's architecture and tokenizer with fresh random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(trained))
    model.generation_config = AutoModelForCausalLM.from_pretrained(trained).generation_config
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(trained).save_pretrained(out)
    return out


def test_verify_over_several_models_after_reports_mean_and_interval(
    planted_organism: PlantedOrganism, searched, tmp_path: Path
) -> None:
    db = tmp_path / "arms.duckdb"
    shutil.copy(searched[0], db)
    model = str(planted_organism.model)
    other = str(_untrained_copy(planted_organism.model, tmp_path / "untrained"))
    config = VerifyConfig(model, (model, other), max_seeds=5, arm="pruned")
    with Store(db) as store:
        n_findings = len(store.confirmed_findings(store.latest_run("search")))
        frame = verify_stage.run(config, store).verifications
    assert frame.height == 2 * n_findings
    assert set(frame["arm"]) == {"pruned"} and set(frame["n_after_models"]) == {2}
    assert frame["after_model"].n_unique() == 2
    for rows in frame.partition_by("finding_id"):
        mean = rows["rate_after"].mean()
        assert rows["rate_after_mean"].to_list() == pytest.approx([mean, mean])
        assert rows["rate_after_low"][0] <= mean <= rows["rate_after_high"][0]
        clean = rows["clean_answer_after"].mean()
        assert rows["clean_answer_after_mean"][0] == pytest.approx(clean)
        assert rows["clean_answer_after_low"][0] <= clean <= rows["clean_answer_after_high"][0]
    code, output = run("verify", "--before", model, "--after", model, "--after", other,
                       "--arm", "pruned", "--max-seeds", "5", "--db", str(db))  # fmt: skip
    assert code == 0 and "over 2 retrained models" in output, output
    assert "pruned" in output  # the arm names the interval column (wrapped in a narrow table)


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


def test_verify_seeds_cover_every_kind() -> None:
    """The built-in seeds are listed kind by kind; the verification's first 60 take each in turn."""
    from collections import Counter

    from surf_search.seeds import builtin_seeds
    from surf_search.verify import spread_by_kind

    seeds = builtin_seeds()
    spread = spread_by_kind(seeds)
    assert sorted(s.seed_id for s in spread) == sorted(s.seed_id for s in seeds)
    assert Counter(s.kind for s in seeds[:60]).keys() == {"explain", "fact"}  # the list's order
    assert Counter(s.kind for s in spread[:60]) == {k: 10 for k in {s.kind for s in seeds}}
