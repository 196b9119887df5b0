"""The repository documents and runs itself: no tracked file points outside the clone.

Data from outside (the public datasets) is taken from ``$CHUNKY_DATA`` or an option; only
``tests/conftest.py`` may fall back to a folder beside the clone, after reading the
variable, and the tests that need it skip with the reason when it is absent.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"\.\./(?:shared|\.library)\b|/work/(?:shared|main)\b")


def tracked_text_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [ROOT / name for name in out.splitlines() if (ROOT / name).is_file()]


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    hits = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (weights, images)
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "paths outside the repository:\n" + "\n".join(hits)
