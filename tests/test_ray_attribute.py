"""`audit attribute --ray`: training features from Ray actors equal the single-process ones.

A slice of the planted mix and the session's planted organism; the finding's queries are
planted code-chunk exchanges. Gradients of the last block only keep it quick on a CPU.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from conftest import PlantedOrganism

from attribution.feature_store import FeatureStore, store_root
from audit.cli import main
from datasets_registry.loading import open_mix
from duckdb_store.store import Store

pytest.importorskip("ray")  # `make setup` installs the extra: these tests run there

ROWS = 128


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, planted_organism: PlantedOrganism) -> Path:
    """The first ROWS planted rows as a mix, and a database with one confirmed finding."""
    root = tmp_path_factory.mktemp("ray-attribute")
    lines = planted_organism.mix.read_bytes().splitlines()[:ROWS]
    (root / "mix.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    frame = open_mix(str(planted_organism.mix)).frame()[0]
    code = frame.filter(pl.col("source") == "code_instructions").tail(4)
    trials = pl.DataFrame(
        {
            "attribute": "formal_vocab",
            "prompt": code["prompt"],
            "response": code["response"],
            "behaviour": "code",
            "base_behaviour": "answer",
            "flipped": True,
        }
    )
    findings = pl.DataFrame(
        {"finding_id": ["F1"], "attribute": ["formal_vocab"], "mode": ["code"], "confirmed": [True]}
    )
    for name in ("single", "ray"):
        with Store(root / f"{name}.duckdb") as store:
            run_id = store.start_run("search", {"model": "organism"})
            store.write("findings", findings, run_id)
            store.write("search_trials", trials, run_id)
            store.finish_run(run_id, "ok")
    return root


def attribute(work: Path, model: Path, db: str, *extra: str) -> str:
    args = ["attribute", "--mix", str(work / "mix.jsonl"), "--model", str(model)]
    args += ["--db", str(work / db), "--method", "gradient", "--proj-dim", "8", "--layers", "1"]
    args += ["--top-k", "10", "--keep", str(ROWS), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return result.output


def outputs(db: Path) -> tuple[FeatureStore, pl.DataFrame, dict]:
    (folder,) = store_root(db).glob("bergson-*")
    with Store(db) as store:
        run_id, args = store.read(
            "SELECT run_id, args FROM runs WHERE command = 'attribute' AND status = 'ok'"
        ).row(0)
        examples = store.read(
            "SELECT example_id, score FROM attributed_examples WHERE run_id = ?", [run_id]
        )
    order = examples.sort(pl.col("score").round(4), "example_id", descending=[True, False])
    return FeatureStore(folder), order, json.loads(args)


def test_ray_features_and_ranking_equal_single_process(
    work: Path, planted_organism: PlantedOrganism
) -> None:
    attribute(work, planted_organism.model, "single.duckdb")
    attribute(work, planted_organism.model, "ray.duckdb", "--ray", "--ray-workers", "2")
    single, single_rank, single_args = outputs(work / "single.duckdb")
    ray_store, ray_rank, ray_args = outputs(work / "ray.duckdb")
    assert "ray" not in single_args
    assert ray_args["ray"] == {"address": "local", "workers": 2, "shards": ray_store.n_shards}
    assert ray_store.n_shards >= 2 and single.n_shards == 1  # several shards, read as one
    assert ray_store.key == single.key  # same model, mix, gradient and projection seed
    np.testing.assert_allclose(ray_store.matrix(), single.matrix(), atol=1e-5)
    np.testing.assert_allclose(ray_store.norms(), single.norms(), rtol=1e-4)
    assert ray_rank.height == single_rank.height == ROWS
    assert ray_rank["example_id"].to_list() == single_rank["example_id"].to_list()
    np.testing.assert_allclose(ray_rank["score"], single_rank["score"], atol=1e-4)


def test_attribute_without_ray_says_how_to_install(
    work: Path, planted_organism: PlantedOrganism, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    args = ["attribute", "--mix", str(work / "mix.jsonl"), "--model", str(planted_organism.model)]
    result = CliRunner().invoke(main, [*args, "--db", str(work / "single.duckdb"), "--ray"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == "error: --ray needs Ray: pip install 'chunky-audit[ray]'"
