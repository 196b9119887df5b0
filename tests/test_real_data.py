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
