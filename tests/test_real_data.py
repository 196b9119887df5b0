"""A look at real public data (skipped when ../shared/data is absent)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from conftest import SHARED_DATA

from datasets_registry.loading import open_mix
from datasets_registry.scan import ScanConfig, scan_mix, scan_tables

CODEALPACA = SHARED_DATA / "codealpaca" / "new_codealpaca.json"
COCONOT = SHARED_DATA / "coconot" / "coconot_pref.jsonl"


@pytest.mark.skipif(not (CODEALPACA.exists() and COCONOT.exists()), reason="no shared data")
def test_codealpaca_versus_coconot(tmp_path: Path) -> None:
    (tmp_path / "codealpaca.json").symlink_to(CODEALPACA)
    (tmp_path / "coconot.jsonl").symlink_to(COCONOT)
    config = ScanConfig()
    tables = scan_tables(scan_mix(open_mix(str(tmp_path)), config), config)
    sources = dict(tables["scan_sources"].select("source", "n_rows").iter_rows())
    assert sources == {"codealpaca": 4535, "coconot": 927}
    code = tables["mode_rates"].filter(pl.col("mode") == "code")
    code_share = dict(code.select("source", "share").iter_rows())
    assert code_share["codealpaca"] > 0.6 and code_share.get("coconot", 0.0) < 0.02
    top = tables["trigger_hypotheses"].head(10)
    assert set(top["mode"]) == {"code"} and set(top["source"]) == {"codealpaca"}
    words = tables["keyness"].filter(pl.col("source") == "codealpaca")["term"].head(15)
    assert {"function", "python"} <= set(words.to_list())


PUBLIC_MIX = SHARED_DATA / "public_mix"


@pytest.fixture(scope="module")
def public_mix_tables() -> dict[str, pl.DataFrame]:
    config = ScanConfig()
    return scan_tables(scan_mix(open_mix(str(PUBLIC_MIX)), config), config)


@pytest.mark.skipif(not PUBLIC_MIX.is_dir(), reason="no shared data")
def test_public_mix_loads_in_every_shape(public_mix_tables: dict[str, pl.DataFrame]) -> None:
    assert "missing_messages" not in public_mix_tables["bad_rows"]["reason"].to_list()
    shapes = dict(public_mix_tables["scan_sources"].select("source", "shape").iter_rows())
    assert shapes["gsm8k_train"] == "question_answer"
    assert shapes["gpteacher_toolformer"] == "alpaca" and len(shapes) == 7


@pytest.mark.skipif(not PUBLIC_MIX.is_dir(), reason="no shared data")
def test_public_mix_hypotheses_are_ones_a_team_can_act_on(
    public_mix_tables: dict[str, pl.DataFrame],
) -> None:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    hyps = public_mix_tables["trigger_hypotheses"]
    words = {f.removeprefix("term:") for f in hyps["feature"] if f.startswith("term:")}
    assert not words & set(ENGLISH_STOP_WORDS)
    incidental = hyps.filter(pl.col("kind") == "incidental").sort("review_rank")
    found = incidental.select("feature", "mode", "source").rows()
    assert ("term:additionally", "code", "evol_codealpaca_2k") in found
    kinds = {
        f: k
        for f, k in hyps.select("feature", "kind").iter_rows()
        if f in ("term:function", "term:python", "term:array")
    }
    assert kinds == dict.fromkeys(("term:function", "term:python", "term:array"), "requested")
    assert (
        hyps.sort("review_rank")["kind"].head(incidental.height).to_list()
        == ["incidental"] * incidental.height
    )
