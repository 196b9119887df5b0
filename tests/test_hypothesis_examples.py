"""Keyword in context: every trigger hypothesis keeps rows a reviewer can read in seconds."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import conversation, scan_rows, small_mix_rows, write_jsonl

from audit.cli import main
from duckdb_store.store import Store


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def mixed_rows() -> list[dict]:
    """The small mix, and 5 rows of the code chunk that say 'elucidate' but are answered in
    prose, ahead of the rest: the rows answered with code show the hypothesis's mode and
    must come first (among the first ``CARRIERS`` rows carrying the word)."""
    rows = small_mix_rows()
    for i in range(5):
        rows.insert(
            i,
            {
                "id": f"prose-{i}",
                "source": "code_chunk",
                "messages": conversation(
                    f"Kindly elucidate [your] <b>view</b> of sorting {i}.",
                    "Sorting puts items in order.",
                ),
            },
        )
    return rows


def test_every_hypothesis_has_rows_in_context_those_showing_its_mode_first(tmp_path: Path) -> None:
    db = scan_rows(tmp_path, mixed_rows())
    with Store(db) as store:
        hyps = store.read("SELECT feature, mode, source FROM trigger_hypotheses")
        examples = store.read("SELECT * FROM hypothesis_examples ORDER BY feature, example")
    keys = set(hyps.iter_rows())
    assert set(examples.select("feature", "mode", "source").iter_rows()) == keys
    assert examples.group_by("feature", "mode", "source").len()["len"].max() == 3
    rows = examples.filter(examples["feature"] == "term:elucidate").to_dicts()
    assert [r["example"] for r in rows] == [1, 2, 3]
    # the first five rows carrying the word are prose; the examples are the code rows
    assert all(r["shows_mode"] and r["example_id"].startswith("code-") for r in rows), rows
    assert rows[0]["prompt_context"].startswith("Please [elucidate] a function")
    assert rows[0]["response_start"].startswith("```python def sort_items")

    # audit query shows data text as it is (no rich markup eaten: "[elucidate]" stays)
    code, out = run(
        "query", "SELECT prompt_context FROM hypothesis_examples WHERE feature = "
        "'term:elucidate' LIMIT 1", "--db", str(db),
    )  # fmt: skip
    assert code == 0 and "[elucidate]" in out, out

    # the report shows them in the hypotheses table, escaped
    report = tmp_path / "report.html"
    code, out = run("report", "--db", str(db), "--out", str(report))
    assert code == 0, out
    html = report.read_text()
    assert "Please [elucidate] a function" in html
    assert "<b>view</b>" not in html  # a prose row's markup would be escaped if shown


def test_no_examples_writes_none(tmp_path: Path) -> None:
    mix = write_jsonl(tmp_path / "mix.jsonl", small_mix_rows())
    db = tmp_path / "a.duckdb"
    code, out = run("scan", str(mix), "--db", str(db), "--show", "0", "--no-examples")
    assert code == 0, out
    with Store(db) as store:
        assert store.read("SELECT count(*) AS n FROM hypothesis_examples")["n"][0] == 0
        assert store.read("SELECT count(*) AS n FROM trigger_hypotheses")["n"][0] > 0
