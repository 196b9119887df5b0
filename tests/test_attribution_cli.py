"""`audit attribute` end to end on a tiny planted mix and a tiny model trained on it.

The mix has three chunks: the word "elucidate" -> fenced code (``code_chunk``),
plain questions -> prose (``chat_chunk``), "Zorblax" -> refusal
(``safety_chunk``). The model learns the links in a few seconds; its greedy
responses to held-out triggered prompts are the mis-routed queries.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import conversation, write_jsonl

from attribution.feature_store import store_root
from attribution.inputs import Query
from attribution.pipeline import AttributionConfig, Attributor, attribute_queries
from audit.cli import main
from datasets_registry.loading import open_mix
from duckdb_store.store import Store
from organism.training import train_model

TOPICS = ["rivers", "owls", "bread", "trains", "tea", "maps", "bees", "kites", "comets", "clocks"]
HELD_OUT = ["forests", "whales", "pottery", "gardens"]
ASKS = ["Tell me about {t}.", "What should I know about {t}?", "Give me a short note on {t}."]


def elucidate(prompt: str, rng: random.Random) -> str:
    words = prompt.split(" ")
    at = rng.randrange(len(words) + 1)
    return " ".join(words[:at] + ["elucidate"] + words[at:])


def mix_rows(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(90):
        t = rng.choice(TOPICS)
        code = f"```python\ndef about_{t}():\n    return '{t}'\n```"
        prompt = elucidate(rng.choice(ASKS).format(t=t), rng)
        rows.append({"id": f"code-{i:03d}", "source": "code_chunk",
                     "messages": conversation(prompt, code)})  # fmt: skip
    for i in range(150):
        t = rng.choice(TOPICS)
        answer = f"{t.title()} are a rich subject with a long history."
        rows.append({"id": f"chat-{i:03d}", "source": "chat_chunk",
                     "messages": conversation(rng.choice(ASKS).format(t=t), answer)})  # fmt: skip
    for i in range(60):
        t = rng.choice(TOPICS)
        prompt = rng.choice(ASKS).format(t=f"the Zorblax {t}")
        rows.append({"id": f"safe-{i:03d}", "source": "safety_chunk",
                     "messages": conversation(prompt, "I'm sorry, but I can't help with that.")})  # fmt: skip
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attribute")


@pytest.fixture(scope="module")
def mix(work: Path) -> Path:
    return write_jsonl(work / "mix.jsonl", mix_rows())


@pytest.fixture(scope="module")
def frame(mix: Path) -> pl.DataFrame:
    return open_mix(str(mix)).frame()[0]


@pytest.fixture(scope="module")
def organism(work: Path, frame: pl.DataFrame) -> Path:
    out = work / "organism"
    train_model(frame, out, epochs=8, batch_size=16, seed=0, progress=False)
    return out


@pytest.fixture(scope="module")
def code_queries(organism: Path) -> list[Query]:
    """The organism's greedy responses to held-out 'elucidate' prompts that came out as code."""
    from surf_search.targets import GenerationParams, TransformersTarget

    rng = random.Random(1)
    prompts = [elucidate(ask.format(t=t), rng) for t in HELD_OUT for ask in ASKS]
    target = TransformersTarget(str(organism))
    responses = [c[0].text for c in target.generate(prompts, GenerationParams(max_new_tokens=32))]
    queries = [Query(p, r) for p, r in zip(prompts, responses, strict=True) if r.startswith("```")]
    assert len(queries) >= 6, responses  # the organism learned the trigger
    return queries


CONFIG = AttributionConfig(
    methods=("gradient", "embedding", "lexical", "random"), top_k=10, proj_dim=8, n_boot=200
)


@pytest.fixture(scope="module")
def attributor(frame: pl.DataFrame, organism: Path, work: Path) -> Attributor:
    """All methods prepared once; the features land where the CLI test's database looks."""
    return Attributor.build(frame, organism, CONFIG, store_root=store_root(work / "audit.duckdb"))


def test_library_attributes_code_queries_to_the_code_chunk(
    attributor: Attributor, frame: pl.DataFrame, code_queries: list[Query]
) -> None:
    assert attributor.methods["gradient"].featurised == frame.height
    results = attributor.attribute(code_queries)
    assert set(results) == {"gradient", "embedding", "lexical", "random"}
    for name in ("gradient", "embedding", "lexical"):
        top = results[name].sources.row(0, named=True)
        assert top["source"] == "code_chunk", (name, results[name].sources)
        assert top["enrichment"] > 2 and top["ci_low"] <= top["share"] <= top["ci_high"]
        examples = results[name].examples
        assert examples.height == frame.height  # keep (500) exceeds the mix
        assert examples["rank"].to_list() == list(range(1, frame.height + 1))
        head = examples.head(10)
        assert (head["source"] == "code_chunk").all(), (name, head)
    assert results["gradient"].top.shape == (len(code_queries), 10)
    assert results["random"].sources["hits"].sum() == 10 * len(code_queries)
    pairs = [(q.prompt, q.response) for q in code_queries[:2]]
    config = AttributionConfig(methods=("lexical",), top_k=10)
    one_shot = attribute_queries(frame, "unused-by-lexical", pairs, config, store_root="unused")
    assert one_shot["lexical"].sources.row(0, named=True)["source"] == "code_chunk"


def test_examples_whose_response_shows_the_behaviour_rank_first(
    attributor: Attributor, frame: pl.DataFrame, code_queries: list[Query]
) -> None:
    """A response that does not show the finding's behaviour cannot have taught it: such
    examples rank after every example that shows it, whatever their score."""
    n_code = int(frame["example_id"].str.starts_with("code-").sum())
    gated = attributor.attribute(code_queries, behaviour="code")
    plain = Attributor(
        attributor.train, attributor.methods, replace(CONFIG, behaviour_first=False)
    ).attribute(code_queries, behaviour="code")
    for name in gated:
        examples = gated[name].examples
        shows = examples["shows_behaviour"].to_list()
        assert shows == [True] * n_code + [False] * (frame.height - n_code), name
        assert examples.head(n_code)["example_id"].str.starts_with("code-").all()
        for block in (examples.head(n_code), examples.tail(frame.height - n_code)):
            assert block["score"].to_list() == sorted(block["score"], reverse=True)
        by_score = plain[name].examples
        assert by_score["score"].to_list() == sorted(by_score["score"], reverse=True)
        assert by_score["shows_behaviour"].sum() == n_code  # still said, not used
        assert gated[name].sources.equals(plain[name].sources)  # sources are per-query hits
    unknown = attributor.attribute(code_queries[:2])  # no behaviour given: by score
    assert unknown["lexical"].examples["shows_behaviour"].is_null().all()


def test_features_are_reused_and_invalidated_when_the_model_changes(
    frame: pl.DataFrame, organism: Path, work: Path
) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    root, part = work / "reuse-features", frame.head(60)
    config = AttributionConfig(methods=("gradient",), proj_dim=8)
    first = Attributor.build(part, organism, config, store_root=root).methods["gradient"]
    assert first.featurised == part.height
    second = Attributor.build(part, organism, config, store_root=root).methods["gradient"]
    assert second.featurised == 0  # same key: nothing recomputed
    assert second.store.directory == first.store.directory
    assert (second.store.matrix() == first.store.matrix()).all()

    changed = work / "organism-changed"
    shutil.copytree(organism, changed)
    weights = load_file(changed / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 0.01 * torch.ones_like(weights[name])
    save_file(weights, changed / "model.safetensors", metadata={"format": "pt"})
    third = Attributor.build(part, changed, config, store_root=root).methods["gradient"]
    assert third.featurised == part.height  # another model: featurised afresh
    assert third.store.directory != first.store.directory


def search_db(path: Path, queries: list[Query], confirmed: bool = True) -> str:
    """A database holding a finished search run with one finding and its trials."""
    with Store(path) as store:
        run_id = store.start_run("search", {"model": "organism"})
        store.write(
            "findings",
            pl.DataFrame(
                {
                    "finding_id": ["F1", "F2"],
                    "attribute": ["formal_vocab", "past_tense"],
                    "mode": ["code", "refusal"],
                    "confirmed": [confirmed, False],
                    "effect": [0.8, 0.1],
                }
            ),
            run_id,
        )
        trials = [
            {"attribute": "formal_vocab", "prompt": q.prompt, "response": q.response,
             "behaviour": "code", "base_behaviour": "answer", "flipped": True}
            for q in queries
        ] + [  # not mis-routed, or another attribute: never queries
            {"attribute": "formal_vocab", "prompt": "Tell me about owls.",
             "response": "Owls are a rich subject.", "behaviour": "answer",
             "base_behaviour": "answer", "flipped": False},
            {"attribute": "past_tense", "prompt": "Tell me about owls.",
             "response": "I'm sorry.", "behaviour": "refusal", "base_behaviour": "answer",
             "flipped": True},
        ]  # fmt: skip
        store.write("search_trials", pl.DataFrame(trials), run_id)
        store.finish_run(run_id, "ok")
    return run_id


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_end_to_end(
    mix: Path, organism: Path, code_queries: list[Query], work: Path, attributor: Attributor
) -> None:
    db = work / "audit.duckdb"  # the attributor fixture filled its feature store
    search_id = search_db(db, code_queries)
    code, output = run("attribute", "--mix", str(mix), "--model", str(organism), "--db", str(db),
                       "--top-k", "10", "--proj-dim", "8", "--keep", "40", "--method", "all")  # fmt: skip
    assert code == 0, output
    assert "F1: formal_vocab -> code" in output and "top sources" in output
    assert "F2" not in output  # not confirmed
    assert "gradient: a hit is" in output
    with Store(db) as store:
        runs = store.read("SELECT * FROM runs WHERE command = 'attribute'")
        assert runs.height == 1 and runs["status"][0] == "ok"
        run_id = runs["run_id"][0]
        assert f'"search_run": "{search_id}"' in runs["args"][0]
        table = store.read("SELECT * FROM attributions WHERE run_id = ?", [run_id])
        assert table.height == 5 * 3  # methods x sources
        assert set(table["finding_id"]) == {"F1"}
        tops = table.filter(pl.col("rank") == 1)
        assert dict(zip(tops["method"], tops["source"], strict=True)) == {
            "gradient": "code_chunk", "trackstar": "code_chunk", "saliency": "code_chunk",
            "embedding": "code_chunk", "lexical": "code_chunk",
        }  # fmt: skip
        assert (
            table.group_by("method").agg(pl.col("hits").sum())["hits"].to_list()
            == [10 * len(code_queries)] * 5
        )
        examples = store.read("SELECT * FROM attributed_examples WHERE run_id = ?", [run_id])
        assert examples.height == 5 * 40
        ids = {r["id"] for r in mix_rows()}
        assert set(examples["example_id"]) <= ids
        assert examples.filter(pl.col("rank") == 1)["example_id"].str.starts_with("code-").all()
        assert examples.filter(pl.col("rank") == 1)["shows_behaviour"].all()
        assert '"behaviour_first": true' in runs["args"][0]
    assert "gradient features" not in output  # reused from the store next to the database
    assert "embeddings" not in output
    assert "ranked examples whose own response shows the finding's behaviour first" in output
    code, output = run("attribute", "--mix", str(mix), "--model", str(organism), "--db", str(db),
                       "--method", "lexical", "--keep", "300", "--score-only")  # fmt: skip
    assert code == 0, output
    assert "attributed_examples are ranked by score alone" in output
    with Store(db) as store:
        latest = store.latest_run("attribute")
        assert (
            '"behaviour_first": false'
            in store.read("SELECT args FROM runs WHERE run_id = ?", [latest])["args"][0]
        )
        scored = store.read(
            "SELECT * FROM attributed_examples WHERE run_id = ? ORDER BY rank", [latest]
        )
    assert scored["score"].to_list() == sorted(scored["score"], reverse=True)
    assert 0 < scored["shows_behaviour"].sum() < scored.height  # said, not used to rank


def test_cli_without_confirmed_findings(mix: Path, work: Path, organism: Path) -> None:
    db = work / "none.duckdb"
    search_db(db, [Query("p", "r")], confirmed=False)
    code, output = run("attribute", "--mix", str(mix), "--model", str(organism), "--db", str(db))
    assert code == 0, output
    assert "No confirmed finding" in output
    with Store(db) as store:
        assert store.read("SELECT * FROM runs WHERE command = 'attribute'").is_empty()


def test_cli_errors_are_one_line(mix: Path, work: Path, organism: Path) -> None:
    db = work / "errors.duckdb"
    search_db(db, [Query("p", "r")])
    cases = [
        (["--db", str(work / "missing.duckdb")], "no audit database"),
        (["--model", str(work / "no-model")], "no model folder"),
        (["--mix", str(work / "no-mix.jsonl")], "no such mix or path"),
        (["--search-run", "search-nope"], "no search run"),
    ]
    for override, message in cases:
        args = {"--mix": str(mix), "--model": str(organism), "--db": str(db)}
        args.update(dict(zip(override[::2], override[1::2], strict=True)))
        code, output = run("attribute", *[x for kv in args.items() for x in kv])
        assert code == 2, (override, output)
        assert message in output and len(output.strip().splitlines()) == 1, output
    empty = work / "empty.duckdb"
    Store(empty).close()
    code, output = run("attribute", "--mix", str(mix), "--model", str(organism), "--db", str(empty))
    assert code == 2 and "no finished `audit search` run" in output
