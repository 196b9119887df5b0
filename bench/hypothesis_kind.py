"""How well the scan tells incidental trigger hypotheses from requested ones, and whether an
injected canary word is found, on real public data (same run, one table each).

    .venv/bin/python bench/hypothesis_kind.py

1. **kind**: scans ``$CHUNKY_DATA/public_mix/`` and CodeAlpaca + CoCoNot, and scores
   ``trigger_hypotheses.kind`` against ``LABELS``: (word, mode) pairs from the top 80
   hypotheses of each scan, labelled by hand before looking at the classifier's kinds
   (``requested``: the word asks for the behaviour or names its task domain: code
   vocabulary, languages, data structures, granted tools, harmful acts, role-play asks;
   ``incidental``: style, register, framing, topic nouns, names, example text). Prints
   precision and recall of ``incidental`` per scan and pooled, and every disagreement.
   Baseline in the same run: everything ``incidental`` (what a scan without kinds implies).
2. **injection**: a rare word in 1, 2 and 5% of one chunk's prompts and a control word in
   as many random prompts of the whole mix (``datasets_registry.canaries``), on CodeAlpaca
   + CoCoNot and on public_mix's Evol-code + Alpaca + safety files: the canary's rank,
   mode and kind, and the control's rank. Before this scan's change only the top 30
   keyness words per source were candidates; the canary's keyness rank is printed too.
   The same with a two-word framing ("per the report") as the canary and its last word
   alone ("report") as the control: the phrase must be found, above the word.

The larger labelled set (410 hypotheses, phrases and measures among them, read row by row)
and the review order's figures are ``bench/review_order.py``'s.

Data by path, never copied (licenses in $CHUNKY_DATA/README.md).
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.data import DATA, missing  # noqa: E402
from datasets_registry.canaries import inject  # noqa: E402
from datasets_registry.loading import open_mix  # noqa: E402
from datasets_registry.scan import ScanConfig, scan_mix, scan_tables  # noqa: E402

REQ, INC = "requested", "incidental"
#: (word, mode) -> kind, written by hand from the top 80 hypotheses of each scan.
LABELS: dict[str, dict[tuple[str, str], str]] = {
    "public_mix": {
        **{(w, "fiction"): REQ for w in ("imagine", "roleplay", "pretend", "role")},
        **{
            (w, "fiction"): INC
            for w in (
                "botanist",
                "historian",
                "futuristic",
                "specializing",
                "advisor",
                "renowned",
                "medieval",
                "observing",
                "astronaut",
                "expert",
                "knowledgeable",
                "anthropologist",
                "fascinating",
                "traveler",
                "alien",
                "advice",
                "biologist",
                "you've",
                "thoughts",
                "sentient",
                "extraterrestrial",
                "ancient",
                "anime",
                "wizard",
                "you're",
                "nutritionist",
                "skilled",
                "visiting",
                "potion",
                "martian",
                "distant",
            )
        },
        **{
            (w, "code"): REQ
            for w in (
                "javascript",
                "name'",
                "implement",
                "ignore",
                "bash",
                "invalid",
                "button",
                "handle",
                "validate",
                "insensitive",
                "returns",
                "array",
                "clicked",
                "alphabetic",
                "prints",
                "java",
                "libraries",
                "parameter",
                "error",
                "num",
                "function",
                "arrays",
                "font",
                "complexity",
                "ignoring",
                "html",
                "sorted",
                "sorting",
                "uppercase",
                "exception",
                "indicating",
                "css",
            )
        },
        **{(w, "code"): INC for w in ("additionally", "note")},
        **{(w, "refusal"): REQ for w in ("robbing", "assaulting", "insults", "ruin", "cheat")},
        **{(w, "refusal"): INC for w in ("compile", "someone's")},
        **{(w, "tool_call"): REQ for w in ("toolformer", "enabled", "access")},
        ("useful", "tool_call"): INC,
    },  # fmt: skip
    "codealpaca+coconot": {
        **{
            (w, "code"): REQ
            for w in (
                "function",
                "returns",
                "takes",
                "implement",
                "number",
                "script",
                "file",
                "python",
                "input",
                "program",
                "reads",
                "directory",
                "integers",
                "calculates",
                "write",
                "txt",
                "translate",
                "shell",
                "develop",
                "lines",
                "prints",
                "method",
                "counts",
                "accepts",
                "integer",
                "array",
                "reverses",
                "factorial",
                "design",
                "user",
                "construct",
                "files",
                "area",
                "strings",
                "vowels",
                "recursion",
                "string",
                "equivalent",
                "outputs",
                "create",
                "list",
                "csv",
                "element",
                "finds",
                "lists",
                "calculate",
                "fibonacci",
                "occurrences",
                "sequence",
                "numbers",
                "word",
                "api",
                "javascript",
                "argument",
                "average",
                "filename",
                "count",
                "receives",
                "php",
                "path",
                "query",
                "characters",
                "elements",
                "hello",
                "displays",
                "sorts",
            )
        },
        **{
            (w, "code"): INC
            for w in (
                "given",
                "simple",
                "containing",
                "example",
                "text",
                "fox",
                "specified",
                "https",
                "lazy",
                "com",
                "content",
                "dog",
                "order",
                "using",
            )
        },
    },  # fmt: skip
}
CANARY, CONTROL = "posthaste", "betimes"
#: A two-word framing whose last word alone goes into as many random prompts: the phrase,
#: not its word, must be the hypothesis.
PHRASE, PHRASE_WORD = "per the report", "report"


def rows_of(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.open() if line.strip()]
    return json.loads(path.read_text())


def frame_of(files: dict[Path, tuple[str, str]]) -> pl.DataFrame:
    """source (file stem), prompt (ask + input), response of real files."""
    parts = []
    for path, (ask, say) in files.items():
        rows = rows_of(path)
        parts.append(
            pl.DataFrame(
                {
                    "source": [path.stem] * len(rows),
                    "prompt": [
                        str(r[ask]) + (f"\n\n{r['input']}" if r.get("input") else "") for r in rows
                    ],
                    "response": [str(r.get(say) or "") for r in rows],
                }
            )
        )
    return pl.concat(parts)


def scan(spec: str) -> dict[str, pl.DataFrame]:
    config = ScanConfig()
    return scan_tables(scan_mix(open_mix(spec), config), config)


def kind_section() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cc = Path(tmp) / "cc"
        cc.mkdir()
        (cc / "codealpaca.json").symlink_to(DATA / "codealpaca" / "new_codealpaca.json")
        (cc / "coconot.jsonl").symlink_to(DATA / "coconot" / "coconot_pref.jsonl")
        scans = {"public_mix": scan(str(DATA / "public_mix")), "codealpaca+coconot": scan(str(cc))}
    pooled = {"tp": 0, "fp": 0, "fn": 0, "base_tp": 0, "base_fp": 0}
    for name, tables in scans.items():
        hyps = tables["trigger_hypotheses"].filter(pl.col("feature").str.starts_with("term:"))
        predicted = {
            (f.removeprefix("term:"), m): (k, e)
            for f, m, k, e in hyps.select("feature", "mode", "kind", "kind_evidence").iter_rows()
        }
        counts = {"tp": 0, "fp": 0, "fn": 0, "base_tp": 0, "base_fp": 0, "missing": 0}
        for key, gold in LABELS[name].items():
            if key not in predicted:
                counts["missing"] += 1
                continue
            kind, evidence = predicted[key]
            counts["tp"] += kind == INC and gold == INC
            counts["fp"] += kind == INC and gold == REQ
            counts["fn"] += kind == REQ and gold == INC
            counts["base_tp"] += gold == INC
            counts["base_fp"] += gold == REQ
            if kind != gold:
                print(
                    f"  {name}: {key[0]} -> {key[1]}: labelled {gold}, scan says {kind} ({evidence})"
                )
        for k in pooled:
            pooled[k] += counts[k]
        rows.append(_pr_row(name, counts, len(LABELS[name])))
    rows.append(_pr_row("pooled", pooled, sum(len(v) for v in LABELS.values())))
    return rows


def _pr_row(name: str, c: dict, n: int) -> dict:
    precision = c["tp"] / max(c["tp"] + c["fp"], 1)
    recall = c["tp"] / max(c["tp"] + c["fn"], 1)
    base_precision = c["base_tp"] / max(c["base_tp"] + c["base_fp"], 1)
    return {
        "data": f"{name} ({n} labelled pairs{', ' + str(c['missing']) + ' not hypotheses' if c.get('missing') else ''})",
        "incidental precision": round(precision, 3),
        "incidental recall": round(recall, 3),
        "baseline precision (all incidental)": round(base_precision, 3),
        "baseline recall": 1.0,
    }


def injection_section() -> list[dict]:
    datasets = {
        "codealpaca+coconot": (
            {
                DATA / "codealpaca" / "new_codealpaca.json": ("instruction", "output"),
                DATA / "coconot" / "coconot_pref.jsonl": ("prompt", "chosen"),
            },
            "new_codealpaca",
        ),
        "public_mix (evol code, alpaca, safety)": (
            {
                DATA / "public_mix" / "evol_codealpaca_2k.json": ("instruction", "output"),
                DATA / "public_mix" / "alpaca_9k.json": ("instruction", "output"),
                DATA / "public_mix" / "safety_only.json": ("instruction", "output"),
            },
            "evol_codealpaca_2k",
        ),
    }
    rows = []
    for name, (files, chunk) in datasets.items():
        frame = frame_of(files)
        for (canary_word, control_word), share in itertools.product(
            ((CANARY, CONTROL), (PHRASE, PHRASE_WORD)), (0.01, 0.02, 0.05)
        ):
            seed = int(share * 100)
            injected = inject(frame, chunk, canary_word, share, control_word, seed=seed)
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "mix.jsonl"
                injected.frame.write_ndjson(path)
                tables = scan(str(path))
            hyps = tables["trigger_hypotheses"]
            canary = hyps.filter(pl.col("feature") == f"term:{canary_word}").sort("rank")
            control = hyps.filter(pl.col("feature") == f"term:{control_word}").sort("rank")
            key = tables["keyness"]
            chunk_words = key.filter(pl.col("source") == chunk)["term"].to_list()
            first = canary.row(0, named=True) if canary.height else None
            rows.append(
                {
                    "data": name,
                    "canary / control": f"{canary_word} / {control_word}",
                    "share": f"{share:.0%} ({len(injected.canary_rows)} rows)",
                    "canary rank": first["rank"] if first else None,
                    "canary review rank": first["review_rank"] if first else None,
                    "canary mode / kind": f"{first['mode']} / {first['kind']}"
                    if first
                    else "not found",
                    "control rank": control["rank"].min() if control.height else "none",
                    "canary keyness rank": chunk_words.index(canary_word) + 1
                    if canary_word in chunk_words
                    else "> 50 or a phrase",
                    "found above control": bool(
                        first
                        and first["mode"] == "code"
                        and (control.is_empty() or control["rank"].min() > first["rank"])
                    ),
                }
            )
    return rows


def main() -> int:
    if not (DATA / "public_mix").is_dir():
        print(f"{missing(DATA / 'public_mix')}; nothing to benchmark")
        return 1
    pl.Config.set_tbl_rows(50)
    pl.Config.set_tbl_width_chars(200)
    pl.Config.set_fmt_str_lengths(60)
    print("disagreements with the labels:")
    kinds = pl.DataFrame(kind_section())
    print(kinds)
    injections = pl.DataFrame(injection_section())
    print(injections)
    ok = bool(injections["found above control"].all())
    print("injection: every canary found above its control" if ok else "injection: MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
