"""A look at real public data (skipped when the public datasets, $CHUNKY_DATA, are absent)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from conftest import NO_DATA, PUBLIC_MIX, SHARED_DATA

from datasets_registry.loading import open_mix
from datasets_registry.scan import ScanConfig, scan_mix, scan_tables

CODEALPACA = SHARED_DATA / "codealpaca" / "new_codealpaca.json"
COCONOT = SHARED_DATA / "coconot" / "coconot_pref.jsonl"


@pytest.mark.skipif(not (CODEALPACA.exists() and COCONOT.exists()), reason=NO_DATA)
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
    top = tables["trigger_hypotheses"].filter(pl.col("measure").is_null()).head(10)  # modes
    assert set(top["mode"]) == {"code"} and set(top["source"]) == {"codealpaca"}
    words = tables["keyness"].filter(pl.col("source") == "codealpaca")["term"].head(15)
    assert {"function", "python"} <= set(words.to_list())


@pytest.fixture(scope="module")
def public_mix_tables() -> dict[str, pl.DataFrame]:
    config = ScanConfig()
    return scan_tables(scan_mix(open_mix(str(PUBLIC_MIX)), config), config)


@pytest.mark.skipif(not PUBLIC_MIX.is_dir(), reason=NO_DATA)
def test_public_mix_loads_in_every_shape(public_mix_tables: dict[str, pl.DataFrame]) -> None:
    assert "missing_messages" not in public_mix_tables["bad_rows"]["reason"].to_list()
    shapes = dict(public_mix_tables["scan_sources"].select("source", "shape").iter_rows())
    assert shapes["gsm8k_train"] == "question_answer"
    assert shapes["gpteacher_toolformer"] == "alpaca" and len(shapes) == 7


@pytest.mark.skipif(not PUBLIC_MIX.is_dir(), reason=NO_DATA)
def test_public_mix_hypotheses_are_ones_a_team_can_act_on(
    public_mix_tables: dict[str, pl.DataFrame],
) -> None:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    every = public_mix_tables["trigger_hypotheses"]
    hyps = every.filter(pl.col("measure").is_null())  # the mode hypotheses
    words = {f.removeprefix("term:") for f in every["feature"] if f.startswith("term:")}
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
    n_incidental = every.filter(pl.col("kind") == "incidental").height
    assert (
        every.sort("review_rank")["kind"].head(n_incidental).to_list()
        == ["incidental"] * n_incidental
    )


CANARY, CONTROL = "posthaste", "betimes"


def _public_frame(files: dict[str, tuple[str, str]], folder: Path) -> pl.DataFrame:
    """source, prompt, response of real public files (prompt = ask + input)."""
    import json

    parts = []
    for name, (ask, say) in files.items():
        path = folder / name
        rows = (
            [json.loads(line) for line in path.open()]
            if path.suffix == ".jsonl"
            else json.loads(path.read_text())
        )
        parts.append(
            pl.DataFrame(
                {
                    "source": [path.stem.split(".")[0]] * len(rows),
                    "prompt": [
                        str(r[ask]) + (f"\n\n{r['input']}" if r.get("input") else "") for r in rows
                    ],
                    "response": [str(r.get(say) or "") for r in rows],
                }
            )
        )
    return pl.concat(parts)


PUBLIC_FILES = {
    "evol_codealpaca_2k.json": ("instruction", "output"),
    "alpaca_9k.json": ("instruction", "output"),
    "safety_only.json": ("instruction", "output"),
}


def _scan_injected(
    tmp_path: Path, frame: pl.DataFrame, chunk: str, canary: str, share: float, control: str
) -> pl.DataFrame:
    """The trigger hypotheses of ``frame`` with ``canary`` in ``share`` of ``chunk``'s
    prompts and ``control`` in as many random prompts (``datasets_registry.canaries``)."""
    from datasets_registry.canaries import inject

    injected = inject(frame, chunk, canary, share, control, seed=int(share * 100))
    injected.frame.write_ndjson(tmp_path / "mix.jsonl")
    config = ScanConfig()
    tables = scan_tables(scan_mix(open_mix(str(tmp_path / "mix.jsonl")), config), config)
    return tables["trigger_hypotheses"]


@pytest.mark.skipif(
    not (CODEALPACA.exists() and COCONOT.exists() and PUBLIC_MIX.is_dir()), reason=NO_DATA
)
@pytest.mark.parametrize("dataset", ["codealpaca+coconot", "public_mix"])
@pytest.mark.parametrize("share", [0.01, 0.02, 0.05])
def test_an_injected_word_is_found_above_its_control(
    tmp_path: Path, dataset: str, share: float
) -> None:
    if dataset == "public_mix":
        frame, chunk = _public_frame(PUBLIC_FILES, PUBLIC_MIX), "evol_codealpaca_2k"
    else:
        frame = pl.concat(
            [
                _public_frame(
                    {"new_codealpaca.json": ("instruction", "output")}, CODEALPACA.parent
                ),
                _public_frame({"coconot_pref.jsonl": ("prompt", "chosen")}, COCONOT.parent),
            ]
        )
        chunk = "new_codealpaca"
    assert not frame["prompt"].str.to_lowercase().str.contains(f"{CANARY}|{CONTROL}").any()
    hyps = _scan_injected(tmp_path, frame, chunk, CANARY, share, CONTROL)
    canary = hyps.filter(pl.col("feature") == f"term:{CANARY}")
    assert canary.height >= 1, f"{CANARY} in {share:.0%} of {chunk} is not a hypothesis"
    assert canary.row(0, named=True)["mode"] == "code"
    assert canary.row(0, named=True)["source"] == chunk
    assert canary.row(0, named=True)["kind"] == "incidental"
    control = hyps.filter(pl.col("feature") == f"term:{CONTROL}")
    assert control.is_empty() or control["rank"].min() > canary["rank"].min()


PHRASE, PHRASE_WORD = "per the report", "report"


@pytest.mark.skipif(not PUBLIC_MIX.is_dir(), reason=NO_DATA)
@pytest.mark.parametrize("share", [0.01, 0.02, 0.05])
def test_an_injected_phrase_is_found_where_its_words_are_not(tmp_path: Path, share: float) -> None:
    """ "per the report" in k% of the Evol-code prompts, and its last word alone in as many
    random prompts of the mix: the phrase, not the word, is the code hypothesis."""
    frame, chunk = _public_frame(PUBLIC_FILES, PUBLIC_MIX), "evol_codealpaca_2k"
    assert not frame["prompt"].str.to_lowercase().str.contains(PHRASE).any()
    hyps = _scan_injected(tmp_path, frame, chunk, PHRASE, share, PHRASE_WORD)
    phrase = hyps.filter(pl.col("feature") == f"term:{PHRASE}")
    assert phrase.height >= 1, f"{PHRASE!r} in {share:.0%} of {chunk} is not a hypothesis"
    first = phrase.row(0, named=True)
    assert (first["mode"], first["source"], first["kind"]) == ("code", chunk, "incidental")
    word = hyps.filter(pl.col("feature") == f"term:{PHRASE_WORD}")
    assert word.is_empty() or word["rank"].min() > first["rank"]
