"""The shared tabular reader: JSON lines and documents, CSV records, whole tables in and out."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tabular_files import (
    INVALID_JSON,
    NON_UTF8,
    BadLine,
    TabularError,
    as_record,
    csv_rows,
    document_rows,
    has_invalid_utf8,
    json_lines,
    parse_json_line,
    read_table,
    write_table,
)


def test_one_json_parser_with_a_strict_mode():
    assert parse_json_line(b'{"a": 1}') == {"a": 1}
    assert parse_json_line(memoryview(b'"x"')) == "x"
    nan = parse_json_line(b'{"a": NaN}')
    assert isinstance(nan, dict) and nan["a"] != nan["a"]
    assert parse_json_line(b"[Infinity]") == [float("inf")]
    for line, reason in [(b'{"a": NaN}', INVALID_JSON), (b'"caf\xe9"', NON_UTF8)]:
        with pytest.raises(BadLine) as raised:
            parse_json_line(line, strict=True)
        assert raised.value.reason == reason
    with pytest.raises(BadLine) as raised:
        parse_json_line(b'"caf\xe9"')
    assert raised.value.reason == NON_UTF8
    assert parse_json_line(b'"caf\xe9"', lossy=True) == "caf\ufffd"
    with pytest.raises(BadLine) as raised:
        parse_json_line(b"{nope")
    assert raised.value.reason == INVALID_JSON and raised.value.detail


def test_json_lines_number_lines_and_name_bad_ones():
    data = b'{"a": 1}\n\n   \n{bad\n[1]\r\n"caf\xe9"\n'
    got = list(json_lines(data))
    assert [n for n, _ in got] == [1, 4, 5, 6]
    assert got[0][1] == {"a": 1} and got[2][1] == [1]
    assert [v.reason for _, v in got if isinstance(v, BadLine)] == [INVALID_JSON, NON_UTF8]
    assert list(json_lines('{"b": 2}\n'))[0] == (1, {"b": 2})


def test_document_rows():
    assert document_rows([1, 2]) == [1, 2]
    assert document_rows({"data": [1, 2]}) == [{"data": [1, 2]}]
    assert document_rows({"data": [1, 2]}, unwrap=True) == [1, 2]
    assert document_rows({"a": [1], "b": [2]}, unwrap=True) == [{"a": [1], "b": [2]}]
    assert document_rows(5) == [5]


def test_csv_records(tmp_path: Path):
    path = tmp_path / "r.csv"
    path.write_bytes(b'\xef\xbb\xbf\nprompt,response\n"two\nlines",ok\n\nshort\nx,caf\xe9,extra\n')
    rows = list(csv_rows(path))
    assert rows[0] == (2, ["prompt", "response"])
    assert rows[1] == (4, ["two\nlines", "ok"]) and rows[2] == (5, [])
    header = rows[0][1]
    assert as_record(header, rows[3][1]) == {"prompt": "short", "response": None}
    last = as_record(header, rows[4][1])
    assert list(last) == ["prompt", "response"] and has_invalid_utf8(last["response"])
    assert not has_invalid_utf8("café") and not has_invalid_utf8(None)
    with pytest.raises(UnicodeDecodeError):
        list(csv_rows(path, errors="strict"))


def test_read_table_counts_bad_lines_and_keeps_nested_values(tmp_path: Path):
    path = tmp_path / "t.jsonl"
    lines = [
        json.dumps({"id": 1, "response": "fine"}).encode(),
        json.dumps({"id": 2, "response": {"nested": ["a"]}, "extra": [1, 2]}).encode(),
        b'{"id": 3, "response": "caf\xe9"}',
        b"{not json",
        b"[1, 2]",
        b"",
    ]
    path.write_bytes(b"\n".join(lines))
    table = read_table(path)
    assert table.bad == 2 and table.frame.height == 3
    assert table.frame.columns == ["id", "response", "extra"]
    assert table.frame["response"].to_list() == ["fine", '{"nested":["a"]}', "caf\ufffd"]
    assert table.raw["response"][1] == {"nested": ["a"]} and table.raw["extra"][0] is None


def test_read_table_formats_and_errors(tmp_path: Path):
    csv_file = tmp_path / "t.csv"
    csv_file.write_bytes(b'id,response\n1,caf\xe9\n2,""\n3,\n')
    frame = read_table(csv_file).frame
    assert frame.schema == {"id": pl.String, "response": pl.String}
    assert frame["response"].to_list() == ["caf\ufffd", "", None]
    parquet = tmp_path / "t.parquet"
    pl.DataFrame({"b": [b"caf\xe9"]}).write_parquet(parquet)
    assert read_table(parquet).frame["b"].to_list() == ["caf\ufffd"]
    array = tmp_path / "t.json"
    array.write_text('[{"a": 1}, 2, {"a": 3}]')
    table = read_table(array)
    assert table.frame["a"].to_list() == [1, 3] and table.bad == 1
    array.write_text('{"a": ')
    with pytest.raises(TabularError, match=r"t\.json: not valid JSON \("):
        read_table(array)
    with pytest.raises(TabularError, match=r"cannot read \.txt \(use \.csv"):
        read_table(tmp_path / "t.txt")
    with pytest.raises(TabularError, match="cannot read"):
        read_table(tmp_path / "missing.csv")


def test_write_table_round_trips_and_flattens_nested_columns_for_csv(tmp_path: Path):
    frame = pl.DataFrame({"id": [1, 2], "tags": [["a"], []], "text": ["x", None]})
    for suffix in (".jsonl", ".json", ".parquet"):
        write_table(frame, tmp_path / "sub" / f"o{suffix}")
        assert read_table(tmp_path / "sub" / f"o{suffix}").frame.height == 2
    write_table(frame, tmp_path / "o.csv")
    assert pl.read_csv(tmp_path / "o.csv")["tags"].to_list() == ['["a"]', "[]"]
    with pytest.raises(TabularError, match="cannot write .xlsx"):
        write_table(frame, tmp_path / "o.xlsx")
