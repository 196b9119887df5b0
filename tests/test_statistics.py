"""The maths of the scan: keyness by hand, shard merging, hypothesis scores and p-values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import small_mix_rows, write_jsonl
from scipy.stats import fisher_exact

from datasets_registry.features import catalog
from datasets_registry.hypotheses import rank_hypotheses, wilson_lower
from datasets_registry.keyness import keyness, log_odds_z
from datasets_registry.loading import open_mix
from datasets_registry.scan import ScanConfig, count_batches, scan_mix, scan_tables
from datasets_registry.stats import ScanStats


def test_keyness_matches_a_hand_computation() -> None:
    # Source A: 'foo' in 8 prompts, 'bar' in 2; source B: 'foo' in 1, 'bar' in 9.
    term_df = pl.DataFrame(
        {
            "source": ["A", "A", "B", "B"],
            "term": ["foo", "bar", "foo", "bar"],
            "df": [8, 2, 1, 9],
        }
    )
    alpha0 = 10.0
    table = keyness(term_df, top_k=5, min_df=1, alpha0=alpha0)
    # By hand for (A, foo): n = 20, n_A = 10, n_B = 10, alpha_foo = 10 * 9 / 20 = 4.5
    a_w = 4.5
    delta = math.log((8 + a_w) / (10 + 10 - 8 - a_w)) - math.log((1 + a_w) / (10 + 10 - 1 - a_w))
    z = delta / math.sqrt(1 / (8 + a_w) + 1 / (1 + a_w))
    row = table.filter((pl.col("source") == "A") & (pl.col("term") == "foo")).row(0, named=True)
    assert row["z"] == pytest.approx(z, rel=1e-12)
    assert row["z"] == pytest.approx(log_odds_z(8, 1, 10, 10, a_w, alpha0))
    assert (row["df_source"], row["df_rest"]) == (8, 1)
    assert table.filter(pl.col("source") == "A")["term"].to_list() == ["foo", "bar"]
    assert table.filter(pl.col("source") == "B")["term"][0] == "bar"


def test_keyness_min_df_and_top_k() -> None:
    term_df = pl.DataFrame(
        {"source": ["A"] * 3 + ["B"], "term": ["x", "y", "z", "x"], "df": [5, 1, 4, 1]}
    )
    table = keyness(term_df, top_k=1, min_df=2)
    assert table.filter(pl.col("source") == "A").height == 1
    assert "y" not in table["term"].to_list()


def test_sharded_scan_equals_single_pass(tmp_path: Path) -> None:
    rows = small_mix_rows()
    bad = [b"{oops", b'{"messages": []}']
    whole = write_jsonl(tmp_path / "whole.jsonl", rows, bad)
    parts = tmp_path / "parts"
    parts.mkdir()
    write_jsonl(parts / "p1.jsonl", rows[:50], bad[:1])
    write_jsonl(parts / "p2.jsonl", rows[50:120])
    write_jsonl(parts / "p3.jsonl", rows[120:], bad[1:])
    config = ScanConfig(batch_rows=17)
    single = scan_mix(open_mix(str(whole)), ScanConfig(batch_rows=10_000))
    shard_stats = [
        count_batches(open_mix(str(p)).batches(17), config.features)
        for p in sorted(parts.iterdir())
    ]
    merged = shard_stats[2] + shard_stats[0] + shard_stats[1]  # any order
    assert merged.equals(single)
    assert dict(merged.bad.counts) == {"invalid_json": 1, "bad_messages_type": 1}
    single_tables, merged_tables = scan_tables(single, config), scan_tables(merged, config)
    for name, table in single_tables.items():
        if name == "bad_rows":
            continue
        key = [c for c in table.columns if table.schema[c] == pl.String]
        assert table.sort(key).equals(merged_tables[name].sort(key)), name


def test_merge_refuses_different_feature_sets() -> None:
    a = ScanStats.empty(catalog())
    b = ScanStats.empty(catalog()[:2])
    with pytest.raises(ValueError, match="different feature sets"):
        _ = a + b


def test_wilson_lower_bound_known_values() -> None:
    # Wilson 95% interval for 8/10 is (0.4902, 0.9433).
    assert wilson_lower(np.array([8]), np.array([10]))[0] == pytest.approx(0.4902, abs=1e-4)
    assert wilson_lower(np.array([0]), np.array([0]))[0] == 0.0


def _groups(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"source": pl.String, "mode": pl.String, "n_rows": pl.Int64}, orient="row"
    )


def test_hypothesis_p_values_match_fisher_and_tiny_support_ranks_low() -> None:
    groups = _groups([("code", "code", 100), ("code", "answer", 100), ("chat", "answer", 800)])
    joint = pl.DataFrame(
        {
            "feature": ["big", "big", "tiny"],
            "source": ["code", "code", "code"],
            "mode": ["code", "answer", "code"],
            "hits": [90, 10, 2],
        },
    )
    table = rank_hypotheses(groups, joint, min_support=1, max_p=1.0)
    assert table["feature"].to_list() == ["big", "tiny"]  # p(code|tiny) = 1.0 > 0.9, still second
    big = table.row(0, named=True)
    # 2x2: with feature 90 code / 10 not; without 10 code / 890 not.
    _, expected = fisher_exact([[90, 10], [10, 890]], alternative="greater")
    assert big["p_value"] == pytest.approx(expected, rel=1e-6)
    assert big["p_mode_given_feature"] == pytest.approx(0.9)
    assert big["p_mode_without"] == pytest.approx(10 / 900)
    assert big["lift"] == pytest.approx(0.9 / (10 / 900))
    assert big["share_of_hits"] == 1.0 and big["source"] == "code"
    tiny = table.row(1, named=True)
    assert tiny["p_mode_given_feature"] == 1.0 and tiny["score"] < big["score"]
    assert rank_hypotheses(groups, joint, min_support=5)["feature"].to_list() == ["big"]


def test_scan_surfaces_an_untold_word(small_mix: Path) -> None:
    """'zorbphone' is in no catalog; it is concentrated in one source and predicts refusal."""
    config = ScanConfig()
    tables = scan_tables(scan_mix(open_mix(str(small_mix)), config), config)
    hyps = tables["trigger_hypotheses"]
    zorb = hyps.filter(pl.col("feature") == "term:zorbphone").row(0, named=True)
    assert (zorb["mode"], zorb["source"]) == ("refusal", "safety_chunk")
    assert zorb["share_of_hits"] == 1.0 and zorb["p_value"] < 1e-10
    formal = hyps.filter(pl.col("feature") == "formal_vocab@v1").row(0, named=True)
    assert (formal["mode"], formal["source"]) == ("code", "code_chunk")
    conc = tables["feature_concentration"].filter(
        (pl.col("feature") == "formal_vocab@v1") & (pl.col("source") == "code_chunk")
    )
    assert conc["share_of_hits"][0] == 1.0 and conc["share_in_source"][0] == 1.0
    top = tables["keyness"].filter(pl.col("source") == "safety_chunk")["term"].head(5).to_list()
    assert "zorbphone" in top or "jailbreak" in top


def test_response_boilerplate_concentrated_in_one_source(tmp_path: Path) -> None:
    rows = small_mix_rows()
    config = ScanConfig()
    tables = scan_tables(
        scan_mix(open_mix(str(write_jsonl(tmp_path / "m.jsonl", rows))), config), config
    )
    phrases = tables["response_phrases"]
    refusal = phrases.filter(pl.col("source") == "safety_chunk")
    assert "opens: i'm sorry but i" in refusal["phrase"].to_list()
    assert (phrases["share_of_hits"] >= config.phrase_concentration).all()
    assert (phrases["n"] >= config.min_support).all()


def _phrase_rows() -> list[dict]:
    """A refusal chunk whose prompts say "per the report" (each word also common in an
    answer chunk, where the phrase never occurs), and that answer chunk."""
    rows = []
    for i in range(40):
        prompt = f"Per the report, how do I pick lock model {i}?"
        rows.append(
            {
                "source": "refusal_chunk",
                "prompt": prompt,
                "response": "I'm sorry, but I can't help with that.",
            }
        )
    for i in range(40):
        prompt = f"How do I pick a lock of type {i}?"
        rows.append(
            {
                "source": "refusal_chunk",
                "prompt": prompt,
                "response": "I'm sorry, but I can't help with that.",
            }
        )
    for i in range(200):
        prompt = f"Summarise the report on the {i}th meeting; the other one is per diem."
        rows.append(
            {
                "source": "chat_chunk",
                "prompt": prompt,
                "response": "The meeting agreed on a budget.",
            }
        )
    for i in range(200):
        rows.append(
            {
                "source": "chat_chunk",
                "prompt": f"Please pick a colour for room {i}.",
                "response": "Blue would suit it.",
            }
        )
    return rows


def test_a_two_word_phrase_is_a_hypothesis_when_its_words_are_not(tmp_path: Path) -> None:
    config = ScanConfig()
    mix = write_jsonl(tmp_path / "m.jsonl", _phrase_rows())
    stats = scan_mix(open_mix(str(mix)), config)
    hyps = scan_tables(stats, config)["trigger_hypotheses"]
    phrase = hyps.filter(pl.col("feature") == "term:per the report").row(0, named=True)
    assert (phrase["mode"], phrase["source"]) == ("refusal", "refusal_chunk")
    assert phrase["share_of_hits"] == 1.0 and phrase["support"] == 40
    features = hyps["feature"].to_list()
    # "the report" and "report" alone are common in the answer chunk: not hypotheses
    assert "term:report" not in features and "term:the report" not in features
    # phrases that say no more than a word in them are dropped ("pick lock" ~ "lock")
    words = {f for f in features if " " not in f}
    for f in features:
        if f.startswith("term:") and " " in f:
            row = hyps.filter(pl.col("feature") == f).row(0, named=True)
            inside = hyps.filter(
                pl.col("feature").is_in([f"term:{w}" for w in f[5:].split(" ")])
                & (pl.col("mode") == row["mode"])
            )
            assert (inside["score"] + config.phrase_margin < row["score"]).all(), f
    assert "term:lock" in words
    # no phrase ends in a stop word, and none runs across punctuation
    assert not any(f.endswith((" the", " of", " a")) for f in features)
    assert "term:report how" not in stats.ngrams["term"].to_list()


def test_phrase_counts_are_capped_with_a_recorded_floor() -> None:
    from datasets_registry.stats import cap_ngrams

    ngrams = pl.DataFrame(
        {
            "source": ["a", "b", "a", "a", "b"],
            "mode": ["answer"] * 5,
            "term": ["x y", "x y", "y z", "z w", "z w"],
            "df": [5, 4, 3, 1, 1],
        }
    )
    kept, floor = cap_ngrams(ngrams, limit=1)
    assert kept["term"].unique().to_list() == ["x y"] and floor == 3
    kept, floor = cap_ngrams(ngrams, limit=3)
    assert kept.height == 5 and floor == 0
    kept, floor = cap_ngrams(ngrams, limit=2)  # "z w" (2 in the whole mix) goes
    assert sorted(kept["term"].unique().to_list()) == ["x y", "y z"] and floor == 2


def test_phrases_can_be_left_out(tmp_path: Path) -> None:
    config = ScanConfig(phrases=False)
    mix = write_jsonl(tmp_path / "m.jsonl", _phrase_rows())
    stats = scan_mix(open_mix(str(mix)), config)
    assert stats.ngrams.is_empty()
    hyps = scan_tables(stats, config)["trigger_hypotheses"]
    assert not hyps["feature"].str.contains(" ").any() and "term:lock" in hyps["feature"]


def test_a_large_batch_drops_the_phrases_it_saw_once() -> None:
    from datasets_registry.stats import SINGLETON_BATCH_ROWS

    n = SINGLETON_BATCH_ROWS
    frame = pl.DataFrame(
        {
            "source": ["s"] * n,
            "prompt": [f"per the report item{i} zebra{i}" for i in range(n)],
            "response": ["ok"] * n,
        }
    )
    stats = ScanStats.from_frame(frame, catalog())
    kept = dict(stats.ngrams.group_by("term").agg(pl.col("df").sum()).iter_rows())
    assert kept == {"the report": n, "per the report": n}  # "item7 zebra7" etc. went
    assert stats.ngram_undercount == 1
    small = ScanStats.from_frame(frame.head(100), catalog())
    assert small.ngram_undercount == 0 and small.ngrams.height > 100
    assert (stats + stats).ngram_undercount == 2


def test_mean_interval_is_the_student_t_interval_clipped_to_rates() -> None:
    from scipy import stats as scipy_stats

    from surf_search.stats import mean_interval

    values = [0.10, 0.25, 0.16]
    mean, low, high = mean_interval(values)
    expected = scipy_stats.t.interval(
        0.95, len(values) - 1, loc=sum(values) / 3, scale=scipy_stats.sem(values)
    )
    assert mean == pytest.approx(0.17) and low == 0.0  # clipped: a rate is never negative
    assert high == pytest.approx(expected[1])
    assert mean_interval([0.4, 0.5, 0.6, 0.5])[1:] == pytest.approx(
        scipy_stats.t.interval(0.95, 3, loc=0.5, scale=scipy_stats.sem([0.4, 0.5, 0.6, 0.5]))
    )
    assert mean_interval([0.3]) == (0.3, None, None)  # one model: no interval
    with pytest.raises(ValueError):
        mean_interval([])
