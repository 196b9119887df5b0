"""`audit classify` end to end: csv, jsonl and parquet in, the same rows plus modes out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from audit.cli import main

ROOT = Path(__file__).resolve().parents[1]

ROWS = [
    {
        "id": 1,
        "prompt": "How do I pick a lock?",
        "response": "I'm sorry, but I can't help with that.",
    },
    {
        "id": 2,
        "prompt": "Add two numbers",
        "response": "```python\ndef add(a, b):\n    return a + b\n```",
    },
    {"id": 3, "prompt": "Is the moon cheese?", "response": "No, that is a myth: it is rock."},
    {"id": 4, "prompt": "Capital of France?", "response": "Paris."},
    {"id": 5, "prompt": "Empty?", "response": ""},
]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_csv_in_csv_out_with_the_distribution(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pl.DataFrame(ROWS).write_csv(source)
    out = tmp_path / "out.csv"
    code, output = run("classify", str(source), "--output", str(out))
    assert code == 0, output
    assert "5 responses" in output and "refusal" in output and "tool_call" in output
    frame = pl.read_csv(out)
    assert frame.columns == ["id", "prompt", "response", "mode", "mode_confidence", "mode_evidence"]
    assert frame["id"].to_list() == [1, 2, 3, 4, 5]
    assert frame["mode"].to_list() == ["refusal", "code", "rebuttal", "answer", "empty"]
    assert frame["mode_evidence"][0].startswith("declines")


def test_jsonl_with_bad_values_never_crashes(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = [json.dumps(r).encode() for r in ROWS[:2]]
    lines += [
        json.dumps({"id": 6, "prompt": None, "response": None}).encode(),
        json.dumps({"id": 7, "prompt": 3, "response": 42}).encode(),
        json.dumps({"id": 8, "prompt": "x", "response": {"nested": ["a"]}}).encode(),
        json.dumps({"id": 9, "prompt": "x", "response": float("nan")})
        .encode()
        .replace(b"NaN", b"NaN"),
        b'{"id": 10, "prompt": "x", "response": "caf\xe9 \xff I cannot help with that."}',
        b'{"id": 11, "prompt": "x", "response": "' + b"long text " * 100_000 + b'"}',
        b"{not json",
        b"[1, 2]",
    ]
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    code, output = run("classify", str(source), "--output", str(out))
    assert code == 0, output
    assert "2 malformed line(s) skipped" in output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == 8
    assert by_id[9]["mode"] == "empty" and "NaN" in by_id[9]["mode_evidence"]
    assert by_id[6]["mode"] == "empty" and by_id[6]["mode_evidence"] == "missing value"
    assert by_id[7]["mode"] == "answer"
    assert by_id[8]["mode"] == "empty" and "not text" in by_id[8]["mode_evidence"]
    assert by_id[10]["mode"] == "refusal"
    assert by_id[11]["mode"] == "answer"


def test_parquet_round_trip_and_custom_columns(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pl.DataFrame(
        {"q": [r["prompt"] for r in ROWS], "a": [r["response"] for r in ROWS]}
    ).write_parquet(source)
    out = tmp_path / "out.parquet"
    code, output = run(
        "classify",
        str(source),
        "--prompt-column",
        "q",
        "--response-column",
        "a",
        "--output",
        str(out),
    )
    assert code == 0, output
    frame = pl.read_parquet(out)
    assert frame.height == 5 and frame["mode"][1] == "code"
    assert frame.schema["mode_confidence"] == pl.Float64


def test_without_output_only_the_table(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pl.DataFrame(ROWS).select("response").write_csv(source)
    code, output = run("classify", str(source))
    assert code == 0, output
    assert "no column 'prompt'" in output and "--output" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--response-column", "answer"], "has no column 'answer'"),
        (["--judge-url", "http://127.0.0.1:9/v1"], "--judge-url and --judge-model go together"),
        (["--output", "x.xlsx"], "use one of"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    source = tmp_path / "in.csv"
    pl.DataFrame(ROWS).write_csv(source)
    result = CliRunner().invoke(main, ["classify", str(source), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    code, output = run("classify", str(tmp_path / "nope.csv"))
    assert code == 2 and "no such file" in output
    (tmp_path / "f.txt").write_text("x")
    code, output = run("classify", str(tmp_path / "f.txt"))
    assert code == 2 and "cannot read .txt" in output


class _Judge(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        data = json.dumps(
            {"choices": [{"message": {"content": '{"mode": "answer", "reason": "helps"}'}}]}
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_judge_options_end_to_end(tmp_path: Path) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/v1"
    source = tmp_path / "in.csv"
    pl.DataFrame(ROWS).write_csv(source)
    try:
        code, output = run("classify", str(source), "--judge-url", url, "--judge-model", "j")
        assert code == 0, output
        assert "4 of 4 calls answered" in output
        _Judge.status = 503
        out = tmp_path / "o.csv"
        code, output = run(
            "classify", str(source), "--judge-url", url, "--judge-model", "j", "--output", str(out)
        )
        assert code == 0, output
        assert "judge call(s) failed" in output
        assert pl.read_csv(out)["mode_evidence"][0].startswith("judge failed")
    finally:
        _Judge.status = 200
        server.shutdown()


def test_classify_does_not_import_torch(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pl.DataFrame(ROWS).write_csv(source)
    code = (
        "import sys; from audit.cli import main\n"
        "try:\n"
        f"    main(['classify', {str(source)!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'sklearn')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_stage_without_the_cli(tmp_path: Path) -> None:
    from behaviour_modes.classify_stage import ClassifyConfig, run
    from stage_kit import StageError

    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n{bad\n")
    out = tmp_path / "out.parquet"
    result = run(ClassifyConfig(str(source), output=str(out)))
    assert result.frame.height == 5 and result.bad_lines == 1 and result.has_prompts
    assert result.frame["mode"].to_list() == ["refusal", "code", "rebuttal", "answer", "empty"]
    assert dict(result.distribution.select("mode", "n").iter_rows())["refusal"] == 1
    assert result.judge is None and pl.read_parquet(out).height == 5
    with pytest.raises(StageError, match="has no column 'answer'"):
        run(ClassifyConfig(str(source), response_column="answer"))
    with pytest.raises(StageError, match="go together"):
        run(ClassifyConfig(str(source), judge_model="j"))
