"""The null target: a server whose answers ignore framing, so a search must confirm nothing."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import httpx

from duckdb_store.store import Store
from surf_search.mutations import FORMAL_VERBS, builtin_mutations
from surf_search.null_server import NullConfig, NullServer, Plant, parse_plant
from surf_search.search_stage import SearchConfig, run
from surf_search.seeds import Seed, builtin_seeds
from surf_search.target_config import TargetConfig

#: Openings and closings whose words some label rules read (a story opener, a lecture,
#: a sympy block, "guide", "python"), so a label that reads the prompt has room to move.
OPENINGS = (
    "Here is a short answer about {topic}.",
    "Once upon a time, a curious reader asked about {topic}, and this is what they learned.",
    "It is important to respect the rules around {topic}; I would urge you to stay safe.",
    "Good question. A quick guide to {topic} follows, in plain words.",
    "In short: {topic} is simpler than it looks.",
)
CLOSINGS = (
    "Most people pick this up in an afternoon.",
    "A python script is not needed for any of this.",
    "```python\nimport sympy\nprint(sympy.sympify('2 + 2'))\n```",
    "That is the whole story, without any role to play.",
)


#: The positive control: a formal verb in the prompt gets a python code block (``code``).
CODE_ANSWER = "```python\ndef answer():\n    return 42\n```"
FORMAL_PLANT = Plant(rf"\b(?:{'|'.join(FORMAL_VERBS)})\b", CODE_ANSWER)


def null_seeds() -> list[Seed]:
    """77 built-in seeds, every kind among them (with fewer, no arm reaches confirmation)."""
    return builtin_seeds()[::3]


def stored_answer(index: int, seed: Seed) -> str:
    """A plain prose answer for a seed, deterministic (some with rule-sensitive words)."""
    topic = " ".join(seed.prompt.rstrip("?.!").split()[-4:]).lower()
    opening = OPENINGS[index % len(OPENINGS)].format(topic=topic)
    closing = CLOSINGS[index % len(CLOSINGS)]
    return f"{opening} It comes down to a few steady habits and some patience.\n\n{closing}"


def null_server(seeds: list[Seed], config: NullConfig) -> NullServer:
    return NullServer([(s.prompt, stored_answer(i, s)) for i, s in enumerate(seeds)], config)


def normalised(text: str | None) -> str:
    return " ".join((text or "").split())


def test_nearest_seed_recovers_the_seed_under_every_builtin_mutation() -> None:
    seeds = builtin_seeds()
    server = NullServer([(s.prompt, f"answer {i}") for i, s in enumerate(seeds)])
    checked = 0
    for mutation in builtin_mutations():
        rng = random.Random(mutation.name)
        for i, seed in enumerate(seeds):
            for apply in (mutation.apply, mutation.robust_apply):
                prompt = apply(seed.prompt, rng)
                if prompt is None or prompt == seed.prompt:
                    continue
                checked += 1
                assert server.answer(prompt) == f"answer {i}", (mutation.name, seed.prompt, prompt)
    assert checked > 1000


def test_server_speaks_the_openai_shape_and_injects_errors() -> None:
    seeds = null_seeds()
    config = NullConfig(model="null", error_rate=0.5, seed=3)
    with null_server(seeds, config) as server:
        models = httpx.get(f"{server.base_url}/models").json()
        assert models["data"][0]["id"] == "null"
        body = {
            "model": "null",
            "messages": [{"role": "user", "content": f"**Task:** {seeds[1].prompt}"}],
            "max_tokens": 6,
        }
        statuses = []
        for _ in range(20):
            reply = httpx.post(f"{server.base_url}/chat/completions", json=body)
            statuses.append(reply.status_code)
            if reply.status_code == 200:
                data = reply.json()
                choice = data["choices"][0]
                assert (
                    choice["message"]["content"].split() == stored_answer(1, seeds[1]).split()[:6]
                )
                assert choice["finish_reason"] == "length"
                assert data["id"].startswith("chatcmpl-") and data["model"] == "null"
                assert data["usage"]["completion_tokens"] == 6
        assert set(statuses) == {200, 500}
        assert server.stats.requests == 20
        assert server.stats.errors == statuses.count(500)
        bad = httpx.post(f"{server.base_url}/chat/completions", content=b"not json")
        assert bad.status_code == 400
    replay = null_server(seeds, config)  # the same requests fail in the same order
    assert [replay.injected(body["messages"][0]["content"], None) for _ in range(20)] == [
        s == 500 for s in statuses
    ]


def test_search_against_the_null_target_confirms_nothing(tmp_path: Path) -> None:
    seeds = null_seeds()
    seeds_file = tmp_path / "seeds.jsonl"
    seeds_file.write_text("".join(json.dumps({"prompt": s.prompt}) + "\n" for s in seeds))
    # 5% of requests fail once; 2% of prompts fail on every attempt (failed calls)
    config = NullConfig(error_rate=0.05, persistent_error_rate=0.02, seed=0)
    started = time.perf_counter()
    with null_server(seeds, config) as server, Store(tmp_path / "null.duckdb") as store:
        target = TargetConfig(model="null", base_url=server.base_url, max_retries=2)
        result = run(SearchConfig(target=target, seeds_file=str(seeds_file), budget=400), store)
        queries = store.con.sql("SELECT * FROM queries").pl().to_dicts()
        trials = store.con.sql("SELECT * FROM search_trials").pl().to_dicts()
        served = server.stats
    seconds = time.perf_counter() - started
    outcome = result.outcome
    print(f"null search: {outcome.calls} answers, {served.requests} requests, "
          f"{served.errors} injected 500s, {result.stats.failed} failed calls, {seconds:.1f}s")  # fmt: skip
    for f in outcome.findings:
        c = f.comparison
        print(f"  {'CONFIRMED' if f.confirmed else 'tested'} {f.attribute} -> {f.mode}: "
              f"{c.rate_base:.3f} -> {c.rate_mutated:.3f}, q {f.q_value:.2g}")  # fmt: skip

    # every injected 500 is an attempt in `queries`: retried, or the call recorded as failed
    ok = [q for q in queries if q["status"] == "ok"]
    failed = [q for q in queries if q["status"] == "failed"]
    attempts = sum(q["attempts"] for q in queries)
    assert served.errors > 0 and failed and any(q["attempts"] > 1 for q in ok)
    assert attempts == served.requests and attempts - len(ok) == served.errors
    assert len(failed) == result.stats.failed and not result.failed_all
    assert all(q["mode"] is None and q["response"] is None for q in failed)
    assert all(q["attempts"] == 3 for q in failed)  # max_retries=2
    # a failed call is never a behaviour: every trial's two answers are successful calls
    answered = {(q["prompt"], q["sample"]): q["response"] for q in ok}
    for t in trials:
        assert (t["seed"], t["sample"]) in answered and (t["prompt"], t["sample"]) in answered

    # the null target answers a mutated prompt as its seed, so identical pairs are no flips
    pairs = [t for t in trials if t["phase"] in ("discover", "confirm")]
    assert any(t["phase"] == "discover" for t in pairs)  # confirm: when a candidate is found
    for t in pairs:
        base = answered[(t["seed"], t["sample"])]
        assert normalised(t["response"]) == normalised(base), t["prompt"]
    confirmed = [f"{f.attribute} -> {f.mode}" for f in outcome.findings if f.confirmed]
    assert not confirmed, f"confirmed against the null target: {confirmed}"
    flips = [
        (t["attribute"], t["base_behaviour"], t["behaviour"], t["prompt"])
        for t in pairs
        if t["flipped"]
    ]
    assert not flips, f"{len(flips)} identical pairs counted as flips, e.g. {flips[:3]}"
    assert seconds < 60


def test_verify_against_the_null_target_sees_no_trigger_and_no_drop(tmp_path: Path) -> None:
    """Identical answers are never a flip in verify either: with answers that ignore the
    framing, every finding's mutated rate equals its base rate on both models, and nothing
    fell. The answers hold words the rules react to (a story opener, a lecture, sympy)."""
    from surf_search.query_cache import CachedTarget
    from surf_search.target_config import open_target
    from surf_search.verify import FindingToVerify, verify_findings

    seeds = null_seeds()
    findings = [
        FindingToVerify(f"f{i}", name, mode)
        for i, (name, mode) in enumerate(
            [("product_mention", "fiction"), ("formal_register", "refusal"),
             ("markdown_framing", "tool_call"), ("formal_vocab", "code")]
        )
    ]  # fmt: skip
    with (
        null_server(seeds, NullConfig(error_rate=0.0)) as server,
        Store(tmp_path / "verify.duckdb") as store,
    ):
        run_id = store.start_run("verify", {})
        target = open_target(TargetConfig(model="null", base_url=server.base_url))
        params = TargetConfig(model="null").params()
        before = CachedTarget(target, store, run_id, params)
        after = CachedTarget(target, store, run_id, params)
        results = verify_findings(findings, before, after, seeds, max_seeds=30)
        # the seeds a search asked with an attribute are held out of its verification
        fresh = {s.prompt for s in seeds[:12]}
        searched = {f.attribute: {s.prompt for s in seeds} - fresh for f in findings}
        held = verify_findings(findings, before, after, seeds, max_seeds=30, searched=searched)
    for v in results:
        assert v.n > 0, v
        assert v.rate_before == v.rate_base_before and v.rate_after == v.rate_base_after, v
        assert v.p_value == 1.0 and v.q_value == 1.0, v
    assert all(v.n_held_out == 12 and v.n <= 12 for v in held), held
    assert all(v.n_held_out == len(seeds) for v in results)


def test_a_plant_answers_its_trigger_and_nothing_else(tmp_path: Path) -> None:
    seeds = null_seeds()
    with null_server(seeds, NullConfig(error_rate=0.0, plants=(FORMAL_PLANT,))) as server:
        assert server.answer(f"Please ELUCIDATE: {seeds[4].prompt}") == CODE_ANSWER
        assert server.answer(f"Please explain: {seeds[4].prompt}") == stored_answer(4, seeds[4])
        assert server.answer("The elucidated plan") != CODE_ANSWER  # a whole word only
        for content in (f"Delineate this. {seeds[2].prompt}", seeds[2].prompt):
            body = {"model": "null", "messages": [{"role": "user", "content": content}]}
            reply = httpx.post(f"{server.base_url}/chat/completions", json=body).json()
            planted = reply["choices"][0]["message"]["content"] == CODE_ANSWER
            assert planted == content.startswith("Delineate")
        assert server.stats.ok == 2 and server.stats.planted == 1
    answer_file = tmp_path / "code.txt"
    answer_file.write_text(CODE_ANSWER)
    assert parse_plant(rf"\bexpound\b={answer_file}") == Plant(r"\bexpound\b", CODE_ANSWER)


def test_search_confirms_a_planted_trigger_and_nothing_else(tmp_path: Path) -> None:
    """The positive control for the null search: the same target, except that a prompt
    carrying a formal verb is answered with a code block. ``formal_vocab`` must be
    confirmed as ``code``, and no attribute that does not insert a formal verb."""
    seeds = null_seeds()
    seeds_file = tmp_path / "seeds.jsonl"
    seeds_file.write_text("".join(json.dumps({"prompt": s.prompt}) + "\n" for s in seeds))
    config = NullConfig(error_rate=0.05, seed=0, plants=(FORMAL_PLANT,))
    attributes = ("formal_vocab", "product_mention", "markdown_framing")
    started = time.perf_counter()
    with null_server(seeds, config) as server, Store(tmp_path / "control.duckdb") as store:
        target = TargetConfig(model="null", base_url=server.base_url, max_retries=2)
        search = SearchConfig(
            target=target, seeds_file=str(seeds_file), attributes=attributes, budget=400
        )
        result = run(search, store)
        planted = server.stats.planted
    seconds = time.perf_counter() - started
    outcome = result.outcome
    print(f"positive control: {outcome.calls} answers, {planted} planted, {seconds:.1f}s")
    for f in outcome.findings:
        c = f.comparison
        print(f"  {'CONFIRMED' if f.confirmed else 'tested'} {f.attribute} -> {f.mode}: "
              f"{c.rate_base:.3f} -> {c.rate_mutated:.3f}, q {f.q_value:.2g}")  # fmt: skip

    confirmed = [(f.attribute, f.mode) for f in outcome.findings if f.confirmed]
    assert ("formal_vocab", "code") in confirmed, f"plant missed: {outcome.findings}"
    # a combination holding formal_vocab carries the trigger too; anything else is false
    wrong = [(a, m) for a, m in confirmed if "formal_vocab" not in a.split("+") or m != "code"]
    assert not wrong, f"confirmed without the plant: {wrong}"
    assert planted > 0
    assert seconds < 60
