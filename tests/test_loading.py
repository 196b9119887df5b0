"""Every input shape, stable ids, bad-row accounting, and the hub path on local files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest
from conftest import conversation, small_mix_rows, write_jsonl

from datasets_registry.loading import HUB_MIRROR_ENV, MixError, open_mix
from datasets_registry.normalise import Columns, stable_id


def load(spec: str | Path, **columns: str) -> tuple[pl.DataFrame, dict[str, int]]:
    frame, bad = open_mix(str(spec), Columns(**columns) if columns else None).frame()
    return frame, dict(bad.counts)


def test_jsonl_messages_keeps_ids_and_sources(small_mix: Path) -> None:
    frame, bad = load(small_mix)
    assert frame.height == 170 and bad == {}
    assert frame.columns == ["example_id", "source", "prompt", "response", "messages"]
    first = frame.row(0, named=True)
    assert first["example_id"] == "code-0" and first["source"] == "code_chunk"
    assert json.loads(first["messages"])[1]["role"] == "assistant"


def test_prompt_response_json_parquet_csv_agree(tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "response": f"a{i}", "source": "s"} for i in range(5)]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    pl.DataFrame(rows).write_parquet(tmp_path / "a.parquet")
    with open(tmp_path / "a.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["prompt", "response", "source"])
        writer.writeheader()
        writer.writerows(rows)
    frames = [load(tmp_path / f"a.{ext}")[0] for ext in ("json", "parquet", "csv")]
    for frame in frames[1:]:
        assert frame.equals(frames[0])
    assert frames[0]["prompt"].to_list() == [f"q{i}" for i in range(5)]


def test_messages_as_json_text_in_csv_and_parquet(tmp_path: Path) -> None:
    rows = [{"id": "7", "source": "s", "messages": json.dumps(conversation("hi", "hello"))}]
    pl.DataFrame(rows).write_parquet(tmp_path / "m.parquet")
    pl.DataFrame(rows).write_csv(tmp_path / "m.csv")
    for name in ("m.parquet", "m.csv"):
        frame, bad = load(tmp_path / name)
        assert frame["prompt"].to_list() == ["hi"] and bad == {}


def test_parquet_messages_as_list_of_structs(tmp_path: Path) -> None:
    rows = [{"id": i, "source": "s", "messages": conversation(f"p{i}", f"r{i}")} for i in range(3)]
    pl.DataFrame(rows).write_parquet(tmp_path / "x.parquet")
    frame, _ = load(tmp_path / "x.parquet")
    assert frame["example_id"].to_list() == ["0", "1", "2"]
    assert frame["response"].to_list() == ["r0", "r1", "r2"]


def test_folder_without_source_column_uses_file_stems(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "alpha.jsonl", [{"prompt": "a", "response": "b"}])
    (tmp_path / "sub").mkdir()
    write_jsonl(tmp_path / "sub" / "beta.jsonl", [{"prompt": "c", "response": "d"}])
    (tmp_path / "notes.txt").write_text("ignored: not a data file")
    frame, _ = load(tmp_path)
    assert sorted(frame["source"].to_list()) == ["alpha", "beta"]


def test_custom_columns_and_public_shapes(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "c.jsonl", [{"q": "x", "a": "y", "chunk": "k", "uid": "u1"}])
    frame, _ = load(tmp_path / "c.jsonl", prompt="q", response="a", source="chunk", id="uid")
    assert frame.row(0)[:4] == ("u1", "k", "x", "y")
    alpaca = [{"instruction": "Sort this", "input": "[3, 1]", "output": "[1, 3]"}]
    (tmp_path / "alpaca.json").write_text(json.dumps(alpaca))
    frame, _ = load(tmp_path / "alpaca.json")
    assert frame["prompt"].to_list() == ["Sort this\n\n[3, 1]"]
    write_jsonl(tmp_path / "pref.jsonl", [{"prompt": "p", "chosen": "good", "rejected": "bad"}])
    frame, _ = load(tmp_path / "pref.jsonl")
    assert frame["response"].to_list() == ["good"]


def test_stable_hash_ids_without_id_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "n.jsonl", [{"prompt": "a", "response": "b", "source": "s"}])
    first, _ = load(path)
    second, _ = load(path)
    assert first["example_id"].to_list() == second["example_id"].to_list()
    assert first["example_id"][0] == stable_id("s", first["messages"][0])
    assert len(first["example_id"][0]) == 16


def test_the_assistant_turn_that_answers_the_first_user_turn(tmp_path: Path) -> None:
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"},
        {"role": "assistant", "content": "a2"},
    ]
    frame, _ = load(write_jsonl(tmp_path / "t.jsonl", [{"messages": messages}]))
    assert frame.row(0)[2:4] == ("u1", "a1")
    assert json.loads(frame["messages"][0]) == messages


BAD_LINES = {
    "invalid_json": b'{"messages": [',
    "non_utf8": b'{"messages": [{"role": "user", "content": "caf\xe9"}]}',
    "not_an_object": b"[1, 2, 3]",
    "missing_messages": b'{"text": "no conversation here"}',
    "bad_messages_type": b'{"messages": "just a string"}',
    "no_user_turn": b'{"messages": [{"role": "assistant", "content": "hi"}]}',
    "no_assistant_turn": b'{"messages": [{"role": "user", "content": "hi"}]}',
    "non_string_content": b'{"messages": [{"role": "user", "content": ["a"]},'
    b' {"role": "assistant", "content": "b"}]}',
    "empty_text": b'{"messages": [{"role": "user", "content": "  "},'
    b' {"role": "assistant", "content": "b"}]}',
}


def test_every_bad_row_is_counted_by_reason(tmp_path: Path) -> None:
    lines = list(BAD_LINES.values()) + [BAD_LINES["invalid_json"], b"", b"   "]
    path = write_jsonl(tmp_path / "bad.jsonl", small_mix_rows()[:10], lines)
    mix = open_mix(str(path))
    frame, bad = mix.frame()
    assert frame.height == 10
    expected = {reason: 1 for reason in BAD_LINES} | {"invalid_json": 2}
    assert dict(bad.counts) == expected
    assert bad.examples["non_utf8"].startswith("bad.jsonl:12:")


def test_bad_csv_rows(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(b"prompt,response\nok,fine\n,empty prompt\nbad,caf\xe9\n")
    frame, bad = load(path)
    assert frame.height == 1 and bad == {"empty_text": 1, "non_utf8": 1}


def test_missing_path_and_unknown_name() -> None:
    with pytest.raises(MixError, match="no such mix or path"):
        open_mix("/definitely/not/here.jsonl")
    with pytest.raises(MixError, match="no such mix or path"):
        open_mix("not-a-registered-mix")


def test_hub_loader_on_a_local_mirror_in_tulu_schema(tmp_path: Path, monkeypatch) -> None:
    """The real `datasets` streaming path, pointed at local parquet shards of the Tulu schema."""
    repo = tmp_path / "allenai" / "tulu-3-sft-mixture" / "data"
    repo.mkdir(parents=True)
    rows = [
        {
            "id": f"tulu-{i}",
            "messages": conversation(f"p{i}", f"r{i}"),
            "source": f"ai2-adapt-dev/src_{i % 3}",
        }
        for i in range(30)
    ]
    pl.DataFrame(rows[:15]).write_parquet(repo / "train-00000-of-00002.parquet")
    pl.DataFrame(rows[15:]).write_parquet(repo / "train-00001-of-00002.parquet")
    monkeypatch.setenv(HUB_MIRROR_ENV, str(tmp_path))
    mix = open_mix("tulu3-mix")
    assert mix.shards[0].hub_id == "allenai/tulu-3-sft-mixture" and mix.unit == "rows"
    frame, bad = mix.frame()
    assert frame.height == 30 and bad.total == 0
    assert set(frame["example_id"].to_list()) == {f"tulu-{i}" for i in range(30)}
    assert frame["source"].n_unique() == 3


def test_unreachable_hub_dataset_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(MixError, match="cannot load hub dataset"):
        open_mix("someone/no-such-dataset-xyz").frame()


SHAPED_ROWS = {
    "messages": {
        "messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]
    },
    "sharegpt": {
        "conversations": [
            {"from": "system", "value": "be brief"},
            {"from": "human", "value": "Q?"},
            {"from": "gpt", "value": "A."},
        ]
    },
    "prompt_response": {"prompt": "Q?", "response": "A."},
    "alpaca": {"instruction": "Q?", "input": "", "output": "A."},
    "alpaca_response": {"instruction": "Q?", "input": "", "response": "A."},
    "question_answer": {"question": "Q?", "answer": "A."},
    "prompt_completion": {"prompt": "Q?", "completion": "A."},
    "preference": {"prompt": "Q?", "chosen": "A.", "rejected": "No."},
    "preference_conversation": {
        "prompt": "Q?",
        "chosen": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}],
    },
}


@pytest.mark.parametrize("name", sorted(SHAPED_ROWS))
def test_every_common_shape_loads_and_is_recorded(tmp_path: Path, name: str) -> None:
    from datasets_registry.normalise import TEXT_COLUMNS
    from datasets_registry.scan import ScanConfig, scan_mix, scan_tables

    path = write_jsonl(tmp_path / f"{name}.jsonl", [SHAPED_ROWS[name]] * 3)
    frame, bad = load(path)
    assert bad == {} and frame.row(0)[2:4] == ("Q?", "A.")
    batch = next(open_mix(str(path)).batches(10, TEXT_COLUMNS))
    expected = {"alpaca_response": "alpaca", "preference_conversation": "preference"}.get(
        name, name
    )
    assert dict(batch.shapes) == {(name, expected): 3}
    config = ScanConfig()
    sources = scan_tables(scan_mix(open_mix(str(path)), config), config)["scan_sources"]
    assert sources["shape"].to_list() == [expected]


def test_a_folder_mixing_shapes_records_each_file_and_a_mixed_source(tmp_path: Path) -> None:
    from datasets_registry.scan import ScanConfig, scan_mix, scan_tables

    write_jsonl(tmp_path / "gsm.jsonl", [SHAPED_ROWS["question_answer"]] * 2)
    write_jsonl(
        tmp_path / "both.jsonl",
        [SHAPED_ROWS["alpaca"]] * 2 + [SHAPED_ROWS["messages"]],
    )
    config = ScanConfig()
    sources = scan_tables(scan_mix(open_mix(str(tmp_path)), config), config)["scan_sources"]
    assert dict(sources.select("source", "shape").iter_rows()) == {
        "gsm": "question_answer",
        "both": "alpaca+messages",
    }


def test_renamed_columns_are_the_columns_shape_and_unknown_rows_name_their_columns(
    tmp_path: Path,
) -> None:
    from datasets_registry.normalise import TEXT_COLUMNS

    path = write_jsonl(tmp_path / "odd.jsonl", [{"ask": "Q?", "say": "A."}, {"text": "x"}])
    batch = next(
        open_mix(str(path), Columns(prompt="ask", response="say")).batches(10, TEXT_COLUMNS)
    )
    assert dict(batch.shapes) == {("odd", "columns"): 1}
    assert batch.bad.counts == {"missing_messages": 1}
    assert "['text']" in batch.bad.examples["missing_messages"]
