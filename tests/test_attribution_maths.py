"""Attribution maths: encoding, the feature store, cosine and TrackStar scores, BM25, bootstrap.

Per-example gradients themselves are Bergson's (``tests/test_bergson_gradients.py``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from small_lm import PROMPTS, RESPONSES

from attribution.aggregate import aggregate_sources, bootstrap_shares, hit_counts
from attribution.feature_store import FeatureStore, normalise_rows
from attribution.lexical import BM25, tokenize
from attribution.methods import top_k
from attribution.methods.trackstar import TrackstarMethod
from attribution.pipeline import rank_rows, standardised_mean
from attribution.scoring import Preconditioner, cosine_scores
from organism.encoding import encode_examples, encode_rows


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


def test_trackstar_whitens_each_module_by_its_training_autocorrelation(tmp_path) -> None:
    from types import SimpleNamespace

    rng = np.random.default_rng(2)
    raw = rng.standard_normal((40, 7)) * np.array([5, 1, 1, 0.2, 3, 1, 1])  # uneven scales
    ids = [str(i) for i in range(40)]
    store = FeatureStore.open_or_create(tmp_path, "t", {}, ids, 7, rows_per_shard=16)
    for index in range(store.n_shards):
        start, stop = store.shard_range(index)
        store.write_shard(index, raw[start:stop])
    method = TrackstarMethod(recipe=None, store_root=tmp_path)  # type: ignore[arg-type]
    method.featuriser = SimpleNamespace(module_sizes={"a": 3, "b": 4})  # type: ignore[assignment]
    method.store = store
    method.fit(store, None)  # type: ignore[arg-type]  # the Gram needs the store only

    def whiten(block: np.ndarray, rows: np.ndarray) -> np.ndarray:
        gram = block.T @ block / len(block)
        values, vectors = np.linalg.eigh(gram)
        power = (values + 0.1 * values.mean()) ** -0.5  # Bergson's damped inverse, H^-1/2
        return rows @ (vectors * power) @ vectors.T

    def expected(rows: np.ndarray) -> np.ndarray:
        out = np.concatenate([whiten(raw[:, :3], rows[:, :3]), whiten(raw[:, 3:], rows[:, 3:])], 1)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    queries = rng.standard_normal((2, 7))
    method.query_features = lambda _: queries  # type: ignore[method-assign]
    got = method.scores([])
    np.testing.assert_allclose(got, expected(queries) @ expected(raw).T, atol=1e-5)


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
