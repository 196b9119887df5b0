"""Attribution maths: per-example gradients, projections, the feature store, BM25, bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from small_lm import PROMPTS, RESPONSES

from attribution.aggregate import aggregate_sources, bootstrap_shares, hit_counts
from attribution.feature_store import FeatureStore, normalise_rows
from attribution.gradient_features import gradient_features
from attribution.gradients import GradientComputer, ParamSelection, select_parameters
from attribution.lexical import BM25, tokenize
from attribution.methods import top_k
from attribution.pipeline import rank_rows, standardised_mean
from attribution.projection import GAUSSIAN, RADEMACHER, RandomProjector, jl_failure_bound
from attribution.scoring import Preconditioner, cosine_scores
from organism.encoding import encode_examples, encode_rows
from organism.tiny_model import TinySpec, tiny_model


def test_vmap_gradients_equal_one_backward_per_example(small_lm) -> None:
    model, tokenizer = small_lm
    for selection, first in ((ParamSelection(), None), (ParamSelection(last_layers=1), None),
                             (ParamSelection(), 3)):  # fmt: skip
        computer = GradientComputer(
            model, tokenizer, selection, max_length=64, chunk_size=3, response_tokens=first
        )
        examples = encode_rows(tokenizer, PROMPTS, RESPONSES, 64).examples
        lengths = {len(e.ids) for e in examples}
        assert len(lengths) > 1  # chunks mix lengths: padding must not change any gradient
        seen = 0
        for rows, grads in computer.iter_gradients(examples):
            for j, row in enumerate(rows):
                reference = computer.loop_gradients(examples[row])
                for got, want in zip(grads, reference, strict=True):
                    torch.testing.assert_close(got[j : j + 1], want, rtol=1e-4, atol=1e-6)
                seen += 1
        assert seen == len(examples)
        assert computer.dim == sum(p.numel() for p in select_parameters(model, selection).values())


def test_opening_token_gradients_ignore_the_rest_of_the_response(small_lm) -> None:
    model, tokenizer = small_lm
    examples = encode_rows(tokenizer, PROMPTS[:1], RESPONSES[:1], 64).examples
    changed = encode_rows(tokenizer, PROMPTS[:1], ["```python\nprint('other tail')"], 64).examples
    computer = GradientComputer(model, tokenizer, max_length=64, response_tokens=2)
    assert examples[0].ids[: examples[0].n_given + 2] == changed[0].ids[: changed[0].n_given + 2]
    a = torch.cat(computer.loop_gradients(examples[0]), dim=1)
    b = torch.cat(computer.loop_gradients(changed[0]), dim=1)
    torch.testing.assert_close(a, b)  # same prompt and opening, different tail: same gradient
    assert computer.key()["response_tokens"] == 2


def test_parameter_selection(small_lm) -> None:
    model, _ = small_lm
    everything = select_parameters(model, ParamSelection())
    last = select_parameters(model, ParamSelection(last_layers=1))
    assert len(everything) == len(list(model.parameters()))  # tied lm_head counted once
    assert last and all(".layers.1." in name for name in last)
    norms = select_parameters(model, ParamSelection(include=(r"norm",)))
    assert norms and all("norm" in name for name in norms)
    with pytest.raises(ValueError):
        select_parameters(model, ParamSelection(lora=True))  # no adapters in this model


def test_lora_selection_takes_only_adapters(small_lm) -> None:
    from peft import LoraConfig, get_peft_model

    model, tokenizer = small_lm
    peft_model = get_peft_model(
        tiny_model(tokenizer, TinySpec(hidden_size=32, num_layers=2, num_heads=2)),
        LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    chosen = select_parameters(peft_model, ParamSelection(lora=True))
    assert chosen and all("lora_" in name for name in chosen)
    assert len(chosen) == 2 * 2 * 2  # A and B, q and v, 2 layers


def test_rows_are_encoded_exactly_like_training(small_lm) -> None:
    _, tokenizer = small_lm
    encoded = encode_rows(tokenizer, PROMPTS, RESPONSES, 16)
    expected, skipped = encode_examples(tokenizer, PROMPTS, RESPONSES, 16)
    assert skipped == 0 and encoded.kept == list(range(len(PROMPTS)))
    assert [e.ids for e in encoded.examples] == [e.ids for e in expected]
    assert all(len(e.ids) <= 16 for e in encoded.examples)


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    x[1] = x[0] + 0.3 * rng.standard_normal(dim)  # correlated pairs too, not only near-orthogonal
    x[2] = -x[0] + 0.5 * rng.standard_normal(dim)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", [RADEMACHER, GAUSSIAN])
def test_projection_keeps_inner_products_within_jl_bounds(kind: str) -> None:
    n, dim, proj_dim, eps = 20, 6000, 1024, 0.3
    pairs = n * (n + 1) // 2
    # Union bound over every pair (and every norm): the test fails with probability < 1e-5.
    assert pairs * jl_failure_bound(eps, proj_dim) < 1e-5
    x = unit_vectors(n, dim, seed=1)
    projector = RandomProjector(dim, proj_dim, seed=3, kind=kind, block_rows=1000)
    y = projector.project([torch.from_numpy(x).float()]).double().numpy()
    error = np.abs(y @ y.T - x @ x.T)
    assert error.max() <= eps
    # The error of one inner product has variance about (1 + <x,y>^2) / proj_dim.
    off = ~np.eye(n, dtype=bool)
    assert np.sqrt(np.mean(error[off] ** 2)) < 2.5 / math.sqrt(proj_dim)


def test_projection_is_seeded_and_independent_of_batching_and_caching() -> None:
    x = torch.randn(6, 2500, generator=torch.Generator().manual_seed(0))
    a = RandomProjector(2500, 64, seed=7, block_rows=700)
    b = RandomProjector(2500, 64, seed=7, block_rows=700, cache_bytes=0)
    whole = a.project([x])
    pieces = b.project([x[:, :10], x[:, 10:1400], x[:, 1400:]])  # splits cross block edges
    torch.testing.assert_close(whole, pieces, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.project([x[:2]]), whole[:2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(whole, x @ a.matrix(), rtol=1e-4, atol=1e-4)
    assert a.blocks_generated == b.blocks_generated == a.n_blocks
    torch.testing.assert_close(a.matrix(), b.matrix())
    assert a.blocks_generated == a.n_blocks  # cached after the first call
    assert b.blocks_generated == 2 * b.n_blocks  # nothing cached: regenerated per call
    values = set(a.matrix().flatten().tolist())
    assert values == {1 / 8, -1 / 8}  # Rademacher, scaled by 1/sqrt(64)
    other = RandomProjector(2500, 64, seed=8, block_rows=700)
    assert not torch.allclose(other.project([x]), whole)


def test_gradient_features_are_deterministic_on_cpu(small_lm) -> None:
    model, tokenizer = small_lm
    computer = GradientComputer(model, tokenizer, max_length=64, chunk_size=2)
    examples = encode_rows(tokenizer, PROMPTS, RESPONSES, 64).examples
    projector = RandomProjector(computer.dim, 32, seed=0, block_rows=5000)
    first = gradient_features(computer, projector, examples)
    second = gradient_features(
        computer, RandomProjector(computer.dim, 32, seed=0, block_rows=5000), examples
    )
    assert np.array_equal(first, second)
    loop = gradient_features(computer, projector, examples, vectorised=False)
    np.testing.assert_allclose(first, loop, rtol=1e-3, atol=1e-5)


def test_feature_store_shards_read_as_one(tmp_path) -> None:
    ids = [f"ex-{i}" for i in range(10)]
    rng = np.random.default_rng(0)
    raw = rng.standard_normal((10, 4)).astype(np.float32)
    raw[3] = 0  # an example without a feature
    key = {"model": "m1", "mix": "x"}
    store = FeatureStore.open_or_create(tmp_path, "test", key, ids, 4, rows_per_shard=4)
    assert store.n_shards == 3 and store.missing_shards() == [0, 1, 2]
    for index in (2, 0):  # any order, as independent workers would
        start, stop = store.shard_range(index)
        store.write_shard(index, raw[start:stop])
    assert store.missing_shards() == [1]
    again = FeatureStore.open_or_create(tmp_path, "test", key, ids, 4, rows_per_shard=4)
    assert again.directory == store.directory and again.missing_shards() == [1]
    again.write_shard(1, raw[4:8])
    unit, norms = normalise_rows(raw)
    np.testing.assert_allclose(again.matrix(), unit, rtol=1e-6)
    np.testing.assert_allclose(again.norms(), norms, rtol=1e-6)
    assert again.example_ids() == ids and not again.matrix()[3].any()
    queries = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(again.dot(queries), queries @ unit.T, rtol=1e-5)
    np.testing.assert_allclose(again.gram(), unit.T.astype(np.float64) @ unit, rtol=1e-5)
    changed = FeatureStore.open_or_create(tmp_path, "test", {**key, "model": "m2"}, ids, 4)
    assert changed.directory != store.directory and not changed.complete
    with pytest.raises(ValueError):
        changed.write_shard(0, raw[:3])


def test_cosine_and_preconditioned_scores() -> None:
    rng = np.random.default_rng(1)
    train = normalise_rows(rng.standard_normal((30, 5)))[0]
    queries = rng.standard_normal((3, 5))
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    np.testing.assert_allclose(cosine_scores(queries, train), unit @ train.T, rtol=1e-5)
    pre = Preconditioner.from_matrix(train, damping=0.1)
    gram = train.T.astype(np.float64) @ train
    lam = 0.1 * np.trace(gram) / 5
    expected = unit @ np.linalg.inv(gram + lam * np.eye(5)) @ train.T
    got = cosine_scores(queries, train, pre)
    ratio = got / expected  # the same up to one positive factor per query
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-4)
    assert (ratio > 0).all()


def test_bm25_against_a_hand_computation() -> None:
    docs = ["the cat sat", "the dog sat on the dog", "a bird"]
    bm25 = BM25(docs, k1=1.5, b=0.75)
    assert tokenize("The Cat, sat!") == ["the", "cat", "sat"]
    n, avgdl = 3, (3 + 6 + 2) / 3

    def idf(df: int) -> float:
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def term(tf: int, dl: int, df: int) -> float:
        return idf(df) * tf * 2.5 / (tf + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl))

    # "dog sat dog": dog counted twice (once per query occurrence); "zebra" is unknown.
    scores = bm25.scores(["dog sat dog zebra"])[0]
    expected = [
        term(1, 3, 2),  # doc 0: sat
        2 * term(2, 6, 1) + term(1, 6, 2),  # doc 1: dog x2, sat
        0.0,
    ]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert bm25.scores(["unknown words"]).sum() == 0


def test_top_k_orders_best_first_with_ties_by_index() -> None:
    scores = np.array([[0.1, 0.9, 0.9, 0.5, 0.0]])
    values, index = top_k(scores, 3)
    assert index.tolist() == [[1, 2, 3]] and values.tolist() == [[0.9, 0.9, 0.5]]
    assert top_k(scores, 10)[1].shape == (1, 5)


def test_source_aggregation_and_seeded_bootstrap() -> None:
    codes = np.array([0] * 6 + [1] * 3 + [2] * 1)  # sources a, b, c: 60/30/10% of the mix
    rng = np.random.default_rng(0)
    top = np.stack([rng.choice(10, size=4, replace=False, p=[0.15] * 6 + [0.03] * 3 + [0.01])
                    for _ in range(25)])  # fmt: skip
    table = aggregate_sources(top, codes, ["a", "b", "c"], [0.6, 0.3, 0.1], n_boot=500, seed=3)
    counts = hit_counts(top, codes, 3)
    assert table["hits"].to_list() == sorted(counts.sum(axis=0).tolist(), reverse=True)
    row = table.row(0, named=True)
    assert row["source"] == "a" and row["rank"] == 1
    assert row["share"] == pytest.approx(row["hits"] / 100)
    assert row["enrichment"] == pytest.approx(row["share"] / 0.6)
    for r in table.iter_rows(named=True):
        assert r["ci_low"] <= r["share"] <= r["ci_high"]
    same = aggregate_sources(top, codes, ["a", "b", "c"], [0.6, 0.3, 0.1], n_boot=500, seed=3)
    assert same.equals(table)
    other = bootstrap_shares(counts, 500, seed=4)
    assert not np.array_equal(other, bootstrap_shares(counts, 500, seed=3))
    assert np.allclose(bootstrap_shares(counts, 50, seed=1).sum(axis=1), 1)


def test_standardised_mean_weighs_queries_equally() -> None:
    scores = np.array([[1.0, 2.0, 3.0], [100.0, 300.0, 200.0]])
    np.testing.assert_allclose(standardised_mean(scores), [-1.2247449, 0.6123724, 0.6123724])
    assert standardised_mean(np.zeros((0, 3))).tolist() == [0, 0, 0]


def test_rank_rows_puts_the_first_group_ahead_and_orders_by_score_within() -> None:
    scores = np.array([0.5, 2.0, 1.0, 2.0, -1.0])
    assert rank_rows(scores).tolist() == [1, 3, 2, 0, 4]  # ties by row order
    shows = np.array([True, False, True, False, True])
    assert rank_rows(scores, shows).tolist() == [2, 0, 4, 1, 3]
