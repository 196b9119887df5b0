"""Fit ``behaviour_modes/weights/confidence.json`` (see ``calibration``) on a labelled
dev table (source, prompt, response, label; ``bench/classify.py --export-dev``):

    python -m behaviour_modes.fit_calibration bench/.cache/dev_labelled.parquet
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from behaviour_modes import rules
from behaviour_modes.calibration import CALIBRATION_FILE, PSEUDO_ROWS, fit


def main(argv: list[str] | None = None) -> None:
    """Fit the table on a labelled dev table (source, prompt, response, label)."""
    import polars as pl

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("dev", type=Path, help="parquet from bench/classify.py --export-dev")
    parser.add_argument("--out", type=Path, default=CALIBRATION_FILE)
    args = parser.parse_args(argv)
    dev = pl.read_parquet(args.dev)
    _, labels = rules.label(dev.select("prompt", "response"), calibrate=False)
    rows = fit(
        labels["mode"].to_list(),
        labels["mode_confidence"].to_list(),
        dev["label"].to_list(),
        dev["source"].to_list(),
    )
    meta = {
        "fitted_on": sorted(set(dev["source"].to_list())),
        "rows": dev.height,
        "sha256": hashlib.sha256(args.dev.read_bytes()).hexdigest(),
        "command": f"python -m behaviour_modes.fit_calibration {args.dev}",
        "pseudo_rows": PSEUDO_ROWS,
    }
    args.out.write_text(json.dumps({"meta": meta, "table": rows}, indent=1) + "\n")
    for row in rows:
        print(
            f"{row['key']:>24}  n={row['n']:>5}  correct {row['correct']:.3f}  -> {row['confidence']:.3f}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
