"""Train the test organism (the planted test mix, seed 0) and ship it in ``tests/organism/``.

Run when ``tests/test_train.py::test_shipped_test_organism_fits_todays_mix`` fails (the
planted generator, the test mix's size or the epochs changed):

    .venv/bin/python tests/ship_test_organism.py
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import (  # noqa: E402
    PLANTED_TEST_EPOCHS,
    PLANTED_TEST_SIZE,
    SHIPPED_TEST_ORGANISM,
    check_learned,
    train_test_organism,
)

from datasets_registry.planted import GENERATOR_VERSION, load_manifest, write_planted  # noqa: E402


def main() -> None:
    seed = 0
    with tempfile.TemporaryDirectory() as tmp:
        mix = write_planted(Path(tmp) / "mix", PLANTED_TEST_SIZE, seed=seed)
        model = Path(tmp) / "organism"
        train_test_organism(mix, seed, model)
        check_learned(model, load_manifest(mix), seed)
        shutil.rmtree(SHIPPED_TEST_ORGANISM, ignore_errors=True)
        shutil.copytree(model, SHIPPED_TEST_ORGANISM)
        info = {
            "size": PLANTED_TEST_SIZE,
            "seed": seed,
            "epochs": PLANTED_TEST_EPOCHS,
            "mix_sha256": hashlib.sha256(mix.read_bytes()).hexdigest(),
            "generator_version": GENERATOR_VERSION,
            "trained_with": "python tests/ship_test_organism.py",
        }
        (SHIPPED_TEST_ORGANISM / "shipped.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"shipped {SHIPPED_TEST_ORGANISM}")


if __name__ == "__main__":
    main()
