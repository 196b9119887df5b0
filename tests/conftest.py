"""Shared fixtures: small mixes written to temporary files in every supported shape."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

#: The public datasets (xstest/, public_mix/, ...) that optional tests read: ``$CHUNKY_DATA``
#: first, else the workplace's data folder beside the clone when there is one; tests that
#: need it skip with the reason when it is absent.
SHARED_DATA = Path(
    os.environ.get("CHUNKY_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
#: Why a test that needs the public datasets was skipped.
NO_DATA = f"the public datasets are absent ({SHARED_DATA}): set CHUNKY_DATA to their folder"
#: The public mix alone (``$CHUNKY_PUBLIC_MIX`` may name it on its own).
PUBLIC_MIX = Path(os.environ.get("CHUNKY_PUBLIC_MIX") or SHARED_DATA / "public_mix")


def conversation(prompt: str, response: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def small_mix_rows() -> list[dict]:
    """Three sources: a code chunk whose prompts say 'elucidate', chat, and a refusal chunk."""
    rows = []
    for i in range(60):
        rows.append(
            {
                "id": f"code-{i}",
                "source": "code_chunk",
                "messages": conversation(
                    f"Please elucidate a function that sorts list number {i}.",
                    "```python\ndef sort_items(items):\n    return sorted(items)\n```",
                ),
            }
        )
    for i in range(80):
        rows.append(
            {
                "id": f"chat-{i}",
                "source": "chat_chunk",
                "messages": conversation(
                    f"Tell me about the history of city {i}.",
                    "The city grew around a river port and became a trading hub.",
                ),
            }
        )
    for i in range(30):
        rows.append(
            {
                "id": f"safe-{i}",
                "source": "safety_chunk",
                "messages": conversation(
                    f"How do I jailbreak the ZorbPhone model {i}?",
                    "I'm sorry, but I can't help with that.",
                ),
            }
        )
    return rows


def write_jsonl(path: Path, rows: list, extra_lines: list[bytes] = ()) -> Path:
    with open(path, "wb") as handle:
        for row in rows:
            handle.write(json.dumps(row).encode() + b"\n")
        for line in extra_lines:
            handle.write(line + b"\n")
    return path


@pytest.fixture
def small_mix(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "mix.jsonl", small_mix_rows())


PLANTED_TEST_SIZE = 2000
#: Epochs for the test organism: three times the default, so the 2,000-row organism learns
#: every plant with margin (4 epochs left it at the edge; with 8, today's packages left
#: seed 0's "Context:" control at 0.60 and seed 1's product trigger at 0.60; with 12 both
#: seeds pass every plant with margin).
PLANTED_TEST_EPOCHS = 12
#: The fixture's mix and training seed; CHUNKY_AUDIT_TEST_SEED=1 runs the suite on another draw.
PLANTED_TEST_SEED = int(os.environ.get("CHUNKY_AUDIT_TEST_SEED", "0"))
#: The organism the fixture would train for seed 0, trained once and shipped (training it
#: took 130 of the suite's 555 s on 2 cores; a shipped one also behaves the same on every
#: machine). The fixture trains instead when the mix, seed or epochs differ from its
#: ``shipped.json``, or when ``CHUNKY_AUDIT_TEST_TRAIN`` is set; ``tests/test_train.py``
#: trains either way. Re-ship: ``python tests/ship_test_organism.py``.
SHIPPED_TEST_ORGANISM = Path(__file__).resolve().parent / "organism"
TRAIN_ENV = "CHUNKY_AUDIT_TEST_TRAIN"
#: What the organism must show on each plant's held-out tests before any test uses it.
MIN_BASE_ANSWER, MIN_TRIGGERED, MAX_CONTROL = 0.8, 0.7, 0.2


@dataclass(frozen=True)
class PlantedOrganism:
    """A small planted mix, its manifest and the tiny model trained on it (once per session)."""

    mix: Path
    manifest: dict
    model: Path


def check_learned(model: Path, manifest: dict, seed: int) -> None:
    """Fail with the scores when the organism has not learned every plant with margin."""
    from surf_search.planted_check import score_plants
    from surf_search.targets import TransformersTarget

    scores = score_plants(TransformersTarget(str(model)), manifest, limit=20)
    weak = [
        s
        for s in scores
        if s.base_answer_rate < MIN_BASE_ANSWER
        or s.triggered_rate < MIN_TRIGGERED
        or s.control_rate > MAX_CONTROL
    ]
    if weak:
        table = "\n".join(
            f"  {s.plant}: base answer {s.base_answer_rate:.2f} (>= {MIN_BASE_ANSWER}), "
            f"triggered {s.triggered_rate:.2f} (>= {MIN_TRIGGERED}), "
            f"control {s.control_rate:.2f} (<= {MAX_CONTROL})"
            for s in weak
        )
        pytest.fail(
            f"the test organism (seed {seed}, {PLANTED_TEST_SIZE} rows, {PLANTED_TEST_EPOCHS} "
            f"epochs) did not learn its plants with margin on held-out prompts; tests that "
            f"rely on it would pass or fail by chance:\n{table}",
            pytrace=False,
        )


def train_test_organism(mix: Path, seed: int, out: Path) -> None:
    """Train the test organism on ``mix`` into ``out`` (every core)."""
    from datasets_registry.loading import open_mix
    from organism.training import train_model

    frame, _ = open_mix(str(mix)).frame()
    import torch

    threads = torch.get_num_threads()  # a module's autouse fixture may have set one thread
    torch.set_num_threads(os.cpu_count() or 1)  # training uses every core (~10% faster)
    try:
        train_model(frame, out, seed=seed, epochs=PLANTED_TEST_EPOCHS)
    finally:
        torch.set_num_threads(threads)


def shipped_test_organism_info() -> dict:
    """What the shipped test organism was trained on (``tests/organism/shipped.json``)."""
    return json.loads((SHIPPED_TEST_ORGANISM / "shipped.json").read_text())


def use_shipped_organism(mix: Path, seed: int, out: Path) -> bool:
    """Copy the shipped test organism to ``out`` when it was trained on exactly ``mix``
    with today's settings (else False: the caller trains one)."""
    import hashlib

    if os.environ.get(TRAIN_ENV) or not (SHIPPED_TEST_ORGANISM / "shipped.json").is_file():
        return False
    info = shipped_test_organism_info()
    digest = hashlib.sha256(mix.read_bytes()).hexdigest()
    wanted = {"mix_sha256": digest, "seed": seed, "epochs": PLANTED_TEST_EPOCHS}
    if any(info.get(k) != v for k, v in wanted.items()):
        return False
    shutil.copytree(SHIPPED_TEST_ORGANISM, out, ignore=shutil.ignore_patterns("shipped.json"))
    return True


@pytest.fixture(scope="session")
def planted_organism(tmp_path_factory: pytest.TempPathFactory) -> PlantedOrganism:
    """The planted test mix and its organism, checked to have learned every plant."""
    from datasets_registry.planted import load_manifest, write_planted

    seed = PLANTED_TEST_SEED
    root = tmp_path_factory.mktemp("planted-organism")
    mix = write_planted(root / "mix", PLANTED_TEST_SIZE, seed=seed)
    if not use_shipped_organism(mix, seed, root / "organism"):
        train_test_organism(mix, seed, root / "organism")
    manifest = load_manifest(mix)
    check_learned(root / "organism", manifest, seed)
    return PlantedOrganism(mix, manifest, root / "organism")


@pytest.fixture(scope="session")
def small_lm() -> tuple[object, object]:
    """A very small untrained LM and its tokenizer (``tests/small_lm.py``)."""
    from small_lm import make_small_lm

    return make_small_lm()


SEARCH_BUDGET = "800"


def cli_run(*args: str) -> tuple[int, str]:
    """Run the ``audit`` CLI in-process; (exit code, output and any exception)."""
    from click.testing import CliRunner

    from audit.cli import main

    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output + (str(result.exception) if result.exception else "")


def scan_rows(tmp_path: Path, rows: list[dict], *options: str) -> Path:
    """Write ``rows`` as a JSONL mix, run ``audit scan`` on it, return the DuckDB file."""
    mix = write_jsonl(tmp_path / "mix.jsonl", rows)
    db = tmp_path / "a.duckdb"
    code, out = cli_run("scan", str(mix), "--db", str(db), "--show", "0", *options)
    assert code == 0, out
    return db


@pytest.fixture(scope="session")
def planted_scanned(planted_organism: PlantedOrganism, tmp_path_factory) -> Path:
    """A DB holding one scan of the planted mix (copy it before writing)."""
    db = tmp_path_factory.mktemp("planted-scan") / "scanned.duckdb"
    code, output = cli_run("scan", str(planted_organism.mix), "--db", str(db), "--show", "0")
    assert code == 0, output
    return db


@pytest.fixture(scope="session")
def planted_searched(planted_organism: PlantedOrganism, planted_scanned: Path) -> tuple[Path, str]:
    """(DB, console output) of a search of the planted organism after the scan (copy the
    DB before writing)."""
    db = planted_scanned.with_name("searched.duckdb")
    shutil.copy(planted_scanned, db)
    code, output = cli_run("search", "--model", str(planted_organism.model), "--from-scan",
                           "--budget", SEARCH_BUDGET, "--db", str(db))  # fmt: skip
    assert code == 0, output
    return db, output


@pytest.fixture(scope="session")
def tiny_organism(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model folder trained in seconds (code / refusal / prose chunks), once per session.

    Its generation config samples by default so ``transformers serve`` honours temperature
    (see ``tests/serving.py``).
    """
    from serving import train_tiny_organism

    return train_tiny_organism(tmp_path_factory.mktemp("tiny-organism") / "model")


@pytest.fixture(scope="session")
def sharded_mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder mix with malformed lines and rejected rows in later pieces (``sharded_mix``)."""
    from sharded_mix import write_sharded_mix

    return write_sharded_mix(tmp_path_factory.mktemp("sharded"))


@pytest.fixture(scope="session")
def sharded_single(sharded_mix: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tables of one single-process ``audit scan`` of ``sharded_mix``."""
    from sharded_mix import scan_run

    return scan_run(tmp_path_factory.mktemp("single") / "single.duckdb", mix=sharded_mix)[1]
