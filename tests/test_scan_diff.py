"""`audit diff` and `audit scan --compare`: what changed between two scans of a mix."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import small_mix_rows, write_jsonl

from audit.cli import main
from datasets_registry.scan_diff import compare_scans
from duckdb_store.store import Store


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def pruned_rows() -> list[dict]:
    """The small mix after a prune: the code chunk's prompts no longer say 'elucidate', and
    a quarter of the chat chunk is gone."""
    rows = []
    for row in small_mix_rows():
        if row["source"] == "chat_chunk" and int(row["id"].split("-")[1]) % 4 == 0:
            continue
        messages = [dict(m) for m in row["messages"]]
        messages[0]["content"] = messages[0]["content"].replace("Please elucidate", "Write")
        rows.append(row | {"messages": messages})
    return rows


def test_diff_shows_the_pruned_trigger_lost_and_the_shares_moved(tmp_path: Path) -> None:
    before = write_jsonl(tmp_path / "before.jsonl", small_mix_rows())
    after = write_jsonl(tmp_path / "after.jsonl", pruned_rows())
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    assert run("scan", str(before), "--db", str(a), "--show", "0")[0] == 0
    code, out = run("scan", str(after), "--db", str(b), "--show", "5", "--compare", str(a))
    assert code == 0, out
    assert "Hypotheses lost" in out and "term:elucidate" in out, out

    with Store(a) as old, Store(b) as new:
        diff = compare_scans(old, new)
    lost = {(r["feature"], r["mode"]): r for r in diff.lost.to_dicts()}
    assert ("term:elucidate", "code") in lost
    assert lost["term:elucidate", "code"]["support_after"] is None  # the word left the mix
    assert not diff.gained.filter(diff.gained["feature"] == "term:elucidate").height
    sources = {r["source"]: r for r in diff.sources.to_dicts()}
    assert sources["chat_chunk"]["rows_before"] == 80 and sources["chat_chunk"]["rows_after"] == 60
    assert sources["chat_chunk"]["share_change"] < 0 < sources["code_chunk"]["share_change"]
    kept = {(r["feature"], r["mode"]) for r in diff.kept.to_dicts()}
    assert kept.isdisjoint(lost) and kept.isdisjoint(
        (r["feature"], r["mode"]) for r in diff.gained.to_dicts()
    )

    code, out = run("diff", str(a), str(b), "--show", "5")
    assert code == 0 and "hypotheses lost" in out, out


def test_one_file_compares_its_two_latest_scans_and_one_scan_is_an_error(tmp_path: Path) -> None:
    before = write_jsonl(tmp_path / "before.jsonl", small_mix_rows())
    after = write_jsonl(tmp_path / "after.jsonl", pruned_rows())
    db = tmp_path / "one.duckdb"
    assert run("scan", str(before), "--db", str(db), "--show", "0")[0] == 0
    code, out = run("diff", str(db))
    assert code == 2 and "holds one scan" in out, out
    code, out = run("scan", str(after), "--db", str(db), "--show", "5", "--compare", str(db))
    assert code == 0 and "term:elucidate" in out, out
    code, out = run("diff", str(tmp_path / "missing.duckdb"), str(db))
    assert code == 2 and "no audit file" in out, out
