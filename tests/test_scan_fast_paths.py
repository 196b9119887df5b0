"""The scan's fast paths give exactly what the plain paths give.

Prefiltered feature regexes, text-only batches, the line reader, the read-ahead
thread, mode labels without evidence, many-way merges, and the Fisher p-value
without ``scipy.stats``.
"""

from __future__ import annotations

import io
import random
import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import small_mix_rows, write_jsonl
from test_features import CASES
from test_loading import BAD_LINES

from behaviour_modes.modes import mode_exprs
from datasets_registry.features import catalog, parse_feature_option
from datasets_registry.hypotheses import hypergeom_upper_tail
from datasets_registry.lines import is_blank, iter_lines
from datasets_registry.loading import open_mix
from datasets_registry.normalise import TEXT_COLUMNS
from datasets_registry.prefetch import prefetch, switch_interval
from datasets_registry.prefilter import (
    ascii_mode,
    ascii_split,
    fast_contains,
    without_word_boundaries,
)
from datasets_registry.scan import ScanConfig, count_batches
from datasets_registry.stats import ScanStats, mode_labels
from datasets_registry.user_features import literals_pattern

# Pieces that sit on the edges of the catalog's patterns: words inside words, non-ASCII
# letters against keywords (word boundaries), Unicode spaces, case folding (K, ſ), lines.
FRAGMENTS = [
    "elucidate", "Elucidated", "ELUCIDATE", "delineate", "whereby", "thereof", "inasmuch",
    "é", "ß", "ſ", "\u212a", "日本", "Привет", "ø", "_", "9", " ", "\u00a0", "\u2003", "\t",
    "\n", "\r\n", ".", ",", "?", "'", "’", "-", "context:", "Context :", "  context\t:",
    "You will be shown", "you\u00a0will be given", "answer with only", "Answer  with the",
    "answered with one", "extract all", "EXTRACT the", "extracted", "return your answer as json",
    "Return in a JSON", "I'm sorry, but I", "I cannot help", "I can't assist", "as an AI",
    "as an aide", "i must decline", "I'm unable to provide", "\\frac", "\\text", "\\textit",
    "\\alpha", "$x$", "$5", "$x^2$", "\\(", "```", "def f(x):", "import os", "sorry",
]  # fmt: skip


def tricky_texts(n: int = 3000, seed: int = 0) -> list[str | None]:
    rng = random.Random(seed)
    texts: list[str | None] = [None, ""]
    for positives, negatives in CASES.values():
        texts += positives + negatives
    texts += ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 12))) for _ in range(n)]
    return texts


def test_without_word_boundaries() -> None:
    assert without_word_boundaries(r"(?i)\bfoo\w*\b") == r"(?i)foo\w*"
    assert without_word_boundaries(r"\Bx\\b[\b]") == r"x\\b[\b]"  # only assertions go
    assert without_word_boundaries(r"a\\b") is None  # an escaped backslash, then 'b'
    assert without_word_boundaries(r"x\b[]\b]y\b") == r"x[]\b]y"
    assert without_word_boundaries(r"\b{start}foo") is None
    assert without_word_boundaries(r"[[:alpha:]]+\b") == r"[[:alpha:]]+"
    assert without_word_boundaries("plain") is None
    assert fast_contains(r"\b") is None  # matches the empty string: no fast path


@pytest.mark.parametrize("feature", catalog(), ids=lambda f: f.key)
def test_fast_feature_route_equals_the_definition(feature) -> None:
    frame = pl.DataFrame({"t": tricky_texts()}, schema={"t": pl.String})
    fast = frame.select(feature.scan_expr(pl.col("t")))["t"]
    exact = frame.select(feature.expr(pl.col("t")))["t"]
    assert fast.to_list() == exact.to_list()
    assert fast.null_count() == 0


@pytest.mark.parametrize(
    "option",
    [
        r"w=(?i)\b(?:sorry|context)\b",
        r"x:response=\Bnot\B|^\s*import\b",
        "y=" + literals_pattern(["I think", "perhaps", "ß"]),
        "z=" + literals_pattern(["Elucidate"], case_sensitive=True),
    ],
)
def test_user_regex_features_take_the_fast_route_exactly(option: str) -> None:
    feature = parse_feature_option(option)
    assert feature.fast is not None
    frame = pl.DataFrame({"t": tricky_texts(seed=1)}, schema={"t": pl.String})
    fast = frame.select(feature.scan_expr(pl.col("t")))["t"].to_list()
    assert fast == frame.select(feature.expr(pl.col("t")))["t"].to_list()


def test_ascii_mode_only_where_it_means_the_same() -> None:
    assert ascii_mode(r"(?i)sorry\s+but\b") == r"(?-u)(?i)sorry\s+but\b"
    assert ascii_mode("(?i)\u212a") is None  # Kelvin sign: folds onto ASCII k
    assert ascii_mode("(?i)\\x{212A}") is None
    assert ascii_mode(r"[^$]x") is None  # ASCII mode would match bytes of other characters
    assert ascii_mode(r"\p{Greek}") is None
    for pattern in [r"(?i)i\s+can'?t\b|as\s+an\s+ai\b", r"(?m)^\s*import\s+\w+", "(?i)kiss"]:
        frame = pl.DataFrame({"t": tricky_texts(seed=2)}, schema={"t": pl.String})
        fast = frame.select(ascii_split(pattern)(pl.col("t")).fill_null(False))["t"]
        assert (
            fast.to_list()
            == frame.select(pl.col("t").str.contains(pattern).fill_null(False))["t"].to_list()
        )


def test_iter_lines_equals_split() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        data = bytes(rng.choice(b"ab \n\r{}") for _ in range(rng.randint(0, 60)))
        expected = data.split(b"\n")
        if expected[-1] == b"":
            expected.pop()
        got = [bytes(line) for line in iter_lines(io.BytesIO(data), rng.randint(1, 12))]
        assert got == expected
        assert [is_blank(line) for line in got] == [not line.strip() for line in got]


def test_text_batches_match_full_batches(tmp_path: Path) -> None:
    lines = list(BAD_LINES.values()) + [b"", b"  \t", b"\xff\xfe"]
    path = write_jsonl(tmp_path / "mix.jsonl", small_mix_rows(), lines)
    full, full_bad = open_mix(str(path)).frame()
    text = list(open_mix(str(path)).batches(7, TEXT_COLUMNS, first_rows=2))
    assert [b.frame.height for b in text[:4]] == [2, 4, 7, 7]
    frame = pl.concat([b.frame for b in text])
    assert frame.columns == list(TEXT_COLUMNS)
    assert frame.equals(full.select(TEXT_COLUMNS))
    bad = text[0].bad
    for batch in text[1:]:
        bad = bad + batch.bad
    assert bad.counts == full_bad.counts and bad.examples == full_bad.examples
    assert sum(b.progress for b in text) == path.stat().st_size


def test_prefetch_keeps_order_and_raises_producer_errors() -> None:
    assert list(prefetch(range(100), depth=3)) == list(range(100))

    def broken():
        yield 1
        raise ValueError("reader failed")

    with pytest.raises(ValueError, match="reader failed"):
        list(prefetch(broken()))


def test_prefetch_stops_the_producer_when_the_consumer_stops() -> None:
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    items = prefetch(endless())
    assert next(items) == 0
    items.close()
    assert len(produced) <= 4
    assert not any(t.name == "prefetch" for t in threading.enumerate())


def test_switch_interval_is_restored() -> None:
    import sys

    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError), switch_interval(before / 10):
        assert sys.getswitchinterval() == pytest.approx(before / 10)
        raise RuntimeError
    assert sys.getswitchinterval() == before


def test_mode_labels_equal_mode_exprs() -> None:
    rows = small_mix_rows()
    frame = pl.DataFrame(
        {
            "prompt": [r["messages"][0]["content"] for r in rows] + ["Is the sky green?", "x"],
            "response": [r["messages"][1]["content"] for r in rows]
            + ["No, that's a common misconception.", "   "],
        }
    )
    expected = frame.select(mode_exprs(pl.col("prompt"), pl.col("response"))[0])["mode"]
    assert mode_labels(frame).to_list() == expected.to_list()


def test_many_way_merge_equals_pairwise_sums(small_mix: Path) -> None:
    features = ScanConfig().features
    parts = [
        ScanStats.from_frame(b.frame, features, b.bad, b.shapes)
        for b in open_mix(str(small_mix)).batches(23, TEXT_COLUMNS)
    ]
    pairwise = parts[0]
    for part in parts[1:]:
        pairwise = pairwise + part
    assert ScanStats.merge(parts).equals(pairwise)
    assert count_batches(open_mix(str(small_mix)).batches(23, TEXT_COLUMNS), features).equals(
        pairwise
    )


@pytest.mark.parametrize("total", [1, 7, 1000, 939_343])
def test_hypergeom_upper_tail_is_scipys_hypergeom_sf_bit_for_bit(total: int) -> None:
    from scipy.stats import hypergeom

    rng = np.random.default_rng(total)
    marked = rng.integers(0, total + 1, 3000).astype(float)
    drawn = rng.integers(0, total + 1, 3000).astype(float)
    a = rng.integers(-2, total + 3, 3000).astype(float)
    a[:100] = np.minimum(marked[:100], drawn[:100])  # the far end of the support
    ours = hypergeom_upper_tail(a, total, marked, drawn)
    assert np.array_equal(ours, hypergeom.sf(a - 1, total, marked, drawn), equal_nan=True)


@pytest.mark.parametrize("total", [50, 1000, 100_000, 939_343])
def test_fast_upper_tail_above_the_mean_agrees_with_scipy(total: int) -> None:
    from scipy.stats import hypergeom

    from datasets_registry.hypotheses import upper_tail_above_mean

    rng = np.random.default_rng(total)
    marked = rng.integers(1, total, 4000).astype(float)
    drawn = rng.integers(1, min(total, 20_000), 4000).astype(float)
    mean = drawn * marked / total
    high = np.minimum(marked, drawn)
    # from just above the mean to the far end of the support, tails down to ~1e-300
    a = np.floor(mean + 1 + rng.random(4000) ** 3 * (high - mean)).clip(max=high)
    a[:50] = high[:50]
    a[50:60] = high[50:60] + 1  # beyond the support: 0
    a[60:70] = np.floor(mean[60:70])  # at or below the mean: the exact routine
    ours = upper_tail_above_mean(a, total, marked, drawn)
    theirs = hypergeom.sf(a - 1, total, marked, drawn)
    tiny = theirs < 1e-290  # both underflow towards 0 there
    assert np.allclose(ours[~tiny], theirs[~tiny], rtol=1e-7, atol=0)
    assert np.all(ours[tiny] < 1e-280)
