"""Judged search (issue 26): a finding is a confirmed shift of a judge's score.

Against a real OpenAI-compatible server on 127.0.0.1 (``surf_search.null_server``) that
answers arithmetic seeds correctly, in a worked format ending in GSM8K's ``#### N``: a
plant turns the answers of prompts with a formal verb wrong (same length, same format),
another collapses the answers of markdown-framed prompts to one word. The ``reference``
judge must confirm the first, ``length`` (or ``reference``) the second, no other attribute;
the same server without plants must give no confirmed finding.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from duckdb_store.store import Store
from surf_search.judges import JudgeItem, get_judge
from surf_search.judges.reference import final_number, matches, picked_letter
from surf_search.mutations import FORMAL_VERBS
from surf_search.null_server import NullConfig, NullServer, Plant
from surf_search.search import JUDGED_FLIP
from surf_search.search_stage import SearchConfig, run
from surf_search.target_config import TargetConfig

TEMPLATES = (
    "What is {a} plus {b}?",
    "Can you add {a} and {b} for me?",
    "Please work out {a} plus {b}.",
    "A shop sold {a} apples in the morning and {b} in the afternoon. How many apples did it sell?",
    "Tom has {a} marbles and finds {b} more. How many marbles does he have now?",
    "Compute the sum of {a} and {b}.",
)
WRONG = "Let me work it out step by step, adding the two numbers in order and carrying.\n#### 0"
#: a formal verb makes the answer wrong, same length and format; a markdown frame
#: collapses it to one word
PLANTS = (
    Plant(rf"\b(?:{'|'.join(FORMAL_VERBS)})\b", WRONG),
    Plant(r"\*\*[A-Za-z ]+:\*\*", "Done."),
)


def math_seeds(n: int = 120) -> list[dict[str, str]]:
    """GSM8K-shaped seeds (question, answer ending in ``#### N``), distinct number pairs."""
    rows, seen = [], set()
    i = 0
    while len(rows) < n:
        a, b = 3 + (7 * i) % 89, 11 + (13 * i) % 83
        i += 1
        if frozenset((a, b)) in seen or a == b:
            continue
        seen.add(frozenset((a, b)))
        question = TEMPLATES[len(rows) % len(TEMPLATES)].format(a=a, b=b)
        answer = f"We add {a} and {b}: {a} + {b} = {a + b}, which gives the total.\n#### {a + b}"
        rows.append({"question": question, "answer": answer})
    return rows


def judged_search(tmp_path: Path, plants: tuple[Plant, ...], name: str):
    seeds = math_seeds()
    seeds_file = tmp_path / f"{name}.jsonl"
    seeds_file.write_text("".join(json.dumps(r) + "\n" for r in seeds))
    pairs = [(r["question"], r["answer"]) for r in seeds]
    config = NullConfig(error_rate=0.0, plants=plants)  # retries: tests/test_null_target.py
    with NullServer(pairs, config) as server, Store(tmp_path / f"{name}.duckdb") as store:
        target = TargetConfig(model="null", base_url=server.base_url, max_retries=2)
        search = SearchConfig(
            target=target,
            seeds_file=str(seeds_file),
            judges=("reference", "length"),
            budget=700,
        )
        result = run(search, store)
        trials = store.con.sql("SELECT * FROM search_trials").pl().to_dicts()
        findings = store.con.sql("SELECT * FROM findings").pl().to_dicts()
        judgements = store.con.sql("SELECT * FROM judgements").pl().to_dicts()
    for f in result.outcome.findings:
        c = f.comparison
        print(f"  {'CONFIRMED' if f.confirmed else 'tested'} {f.attribute} -> {f.mode}: "
              f"{c.rate_base:.2f} -> {c.rate_mutated:.2f} [{c.ci_low:+.2f}], q {f.q_value:.2g}")  # fmt: skip
    return result, trials, findings, judgements


def test_reference_judge_reads_the_common_keys() -> None:
    assert final_number("so 3 + 4 = 7.\n#### 1,204") == 1204
    assert final_number("The answer is 12.") == 12
    assert matches("Some steps\n#### 42", "Work... #### 42.0")[0]
    assert not matches("#### 42", "Work... #### 41")[0]
    assert picked_letter("The answer is (C).") == "C"
    assert matches("B", "B) blue")[0] and not matches("(B)", "I pick A.")[0]
    assert matches("Paris", "It is the city of Paris.")[0]
    assert not matches("Paris", "It is Lyon.")[0]
    judge = get_judge("reference")
    (missing,) = judge.judge([JudgeItem("q", "7", "7", None)])
    assert missing.ok and not missing.scores and "no reference" in missing.explanation


def test_length_judge_scores_collapse_against_the_plain_answer() -> None:
    judge = get_judge("length")
    plain = "one two three four five six seven eight nine ten eleven twelve"
    same, short, fenced = judge.judge(
        [
            JudgeItem("q", plain, plain),
            JudgeItem("q", "Done.", plain),
            JudgeItem("q", "```python\nprint(1)\n```", plain),
        ]
    )
    assert same.scores["collapse"] == 0 and short.scores["collapse"] == 1
    assert fenced.scores["code_fence"] == 1 and same.scores["code_fence"] == 0


def test_training_rows_show_a_judged_outcome_against_their_source() -> None:
    """Attribution ranks training rows that show a judged failure first: a row has no plain
    answer, so its length is read against its source's median; the format by itself; a
    wrong answer needs a key no training row has."""
    from surf_search.judges import rows_showing

    long, short = "A full answer that explains the idea in words. " * 3, "One line only."
    responses = [long, long, long, short, "```py\nx = 1\n```", "Yes.", "No."]
    sources = ["analytic"] * 5 + ["yes_no"] * 2  # yes_no's answers are all short
    collapse = rows_showing("length:collapse", responses, sources)
    assert collapse == [False, False, False, True, True, False, False]
    assert (
        rows_showing("length:code_fence", responses, sources) == [False] * 4 + [True] + [False] * 2
    )
    assert rows_showing("length:blowup", [long, "a b c d e f g"], ["s", "s"]) == [False, False]
    assert rows_showing("reference:wrong", responses, sources) is None
    assert rows_showing("rubric:score", responses, sources) is None  # needs an endpoint


@pytest.mark.parametrize("planted", [True, False], ids=["planted", "null"])
def test_judged_search_confirms_the_plants_and_nothing_else(tmp_path: Path, planted: bool) -> None:
    result, trials, findings, judgements = judged_search(
        tmp_path, PLANTS if planted else (), "planted" if planted else "null"
    )
    confirmed = {f.attribute: f for f in result.outcome.findings if f.confirmed}
    if not planted:
        assert not confirmed, [f"{f.attribute} -> {f.mode}" for f in confirmed.values()]
    else:
        assert set(confirmed) == {"formal_vocab", "markdown_framing"}, confirmed
        wrong = confirmed["formal_vocab"]
        assert wrong.mode == "reference:wrong" and wrong.judge == "reference"
        assert wrong.comparison.effect >= 0.3 and wrong.judge_version == "1"
        assert confirmed["markdown_framing"].mode in ("length:collapse", "reference:wrong", "terse")
        stored = {f["attribute"]: f for f in findings if f["confirmed"]}
        assert stored["formal_vocab"]["judge"] == "reference"
        assert stored["formal_vocab"]["mode"] == "reference:wrong"
        # the report shows judged findings beside mode findings, with their example pairs
        from click.testing import CliRunner

        from audit.cli import main

        html = tmp_path / "report.html"
        db = str(tmp_path / "planted.duckdb")
        out = CliRunner().invoke(main, ["report", "--db", db, "--out", str(html)])
        assert out.exit_code == 0, out.output
        page = html.read_text()
        assert "reference:wrong 1.00" in page and "reference:wrong 0.00" in page
    # every trial's scores name each judged outcome as [seed's answer, mutated answer]
    scored = [json.loads(t["scores"]) for t in trials if t["scores"]]
    assert len(scored) == len(trials)
    assert all(set(s) >= {"reference:wrong", "length:collapse"} for s in scored)
    # identical answers never differ in score (both judged against the seed prompt)
    for t, s in zip(trials, scored, strict=True):
        if t["identical"]:
            assert all(b == m for b, m in s.values()), t
        rose = any(m - b >= JUDGED_FLIP for b, m in s.values())
        if not planted:
            assert not rose, t
    # each judgement was made once: the table is the cache
    keys = [j["key"] for j in judgements]
    assert len(keys) == len(set(keys)) and all(j["status"] == "ok" for j in judgements)


def test_verify_re_judges_a_judged_finding(tmp_path: Path) -> None:
    """verify re-measures a judged outcome with the judge: wrong answers under the plant
    before, right ones after the plant is gone (the same seeds, held out)."""
    from surf_search.judges.panel import JudgePanel
    from surf_search.query_cache import CachedTarget
    from surf_search.seeds import Seed
    from surf_search.target_config import open_target
    from surf_search.verify import FindingToVerify, verify_findings

    rows = math_seeds(60)
    seeds = [Seed(f"m{i}", r["question"], reference=r["answer"]) for i, r in enumerate(rows)]
    pairs = [(r["question"], r["answer"]) for r in rows]
    finding = FindingToVerify("f1", "formal_vocab", "reference:wrong")
    with (
        NullServer(pairs, NullConfig(error_rate=0.0, plants=PLANTS[:1])) as planted,
        NullServer(pairs, NullConfig(error_rate=0.0, model="clean")) as clean,
        Store(tmp_path / "verify.duckdb") as store,
    ):
        run_id = store.start_run("verify", {})
        params = TargetConfig(model="null").params()
        before = CachedTarget(
            open_target(TargetConfig(model="null", base_url=planted.base_url)),
            store,
            run_id,
            params,
        )
        after = CachedTarget(
            open_target(TargetConfig(model="clean", base_url=clean.base_url)), store, run_id, params
        )
        panel = JudgePanel([get_judge("reference")], store, run_id)
        (result,) = verify_findings([finding], before, after, seeds, max_seeds=30, judges=panel)
        with pytest.raises(ValueError, match="needs its judge"):
            verify_findings([finding], before, after, seeds, max_seeds=5)
    assert result.n == 30 and result.rate_base_before == 0 and result.rate_base_after == 0
    assert result.rate_before == 1 and result.rate_after == 0 and result.p_value < 1e-6


def test_discovered_attribute_is_found_and_confirmed(tmp_path: Path) -> None:
    """``--discover-attributes``: an aside that recurs in a prompt pool ("according to the
    old almanac", in 30 of ~300 prompts across topics) becomes a ``cluster:`` operator; the
    server answers prompts carrying it wrongly, and the search confirms that operator."""
    from test_attribute_discovery import PLANTED, _pool

    pool, _ = _pool()
    pool_file = tmp_path / "pool.txt"
    pool_file.write_text("\n".join(pool) + "\n")
    seeds = math_seeds()
    seeds_file = tmp_path / "seeds.jsonl"
    seeds_file.write_text("".join(json.dumps(r) + "\n" for r in seeds))
    pairs = [(r["question"], r["answer"]) for r in seeds]
    config = NullConfig(error_rate=0.0, plants=(Plant(r"\balmanac\b", WRONG),))
    with NullServer(pairs, config) as server, Store(tmp_path / "discover.duckdb") as store:
        target = TargetConfig(model="null", base_url=server.base_url)
        search = SearchConfig(
            target=target,
            seeds_file=str(seeds_file),
            judges=("reference",),
            discover_attributes=True,
            attribute_pool=str(pool_file),
            budget=700,
        )
        result = run(search, store)
        args = json.loads(store.con.sql("SELECT args FROM runs").fetchall()[0][0])
    for f in result.outcome.findings:
        print(f"  {'CONFIRMED' if f.confirmed else 'tested'} {f.attribute} -> {f.mode}")
    confirmed = [f for f in result.outcome.findings if f.confirmed]
    assert any(
        f.attribute.startswith("cluster:") and f.mode == "reference:wrong" for f in confirmed
    ), [f.attribute for f in confirmed]
    assert all("almanac" in f.example_prompt for f in confirmed), confirmed
    recorded = [m["text"] for c in args["discovered"] for m in c["members"]]
    assert PLANTED in [t.lower() for t in recorded]
    assert any("EM weights" in n for n in result.outcome.notes)
