"""Where the benchmarks read the public datasets: the folder ``$CHUNKY_DATA`` names.

The folder holds ``xstest/``, ``refusal_labelled/``, ``codealpaca/``, ``coconot/``,
``mt_bench/``, ``ifeval/`` and ``public_mix/`` (each with its license); it is read by
path, never copied into the repository. ``$CHUNKY_PUBLIC_MIX`` may name the public mix on
its own. Unset, ``DATA`` is a path that cannot exist, so each benchmark says what it
lacks (``missing``) and skips or falls back as it documents.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "CHUNKY_DATA"
PUBLIC_MIX_ENV = "CHUNKY_PUBLIC_MIX"
_UNSET = Path("/dev/null") / f"{DATA_ENV}-unset"  # under a file: never a folder

DATA = Path(os.environ[DATA_ENV]).expanduser() if os.environ.get(DATA_ENV) else _UNSET
PUBLIC_MIX = (
    Path(os.environ[PUBLIC_MIX_ENV]).expanduser()
    if os.environ.get(PUBLIC_MIX_ENV)
    else DATA / "public_mix"
)


def missing(path: Path) -> str:
    """Why ``path`` cannot be read, and how to point the benchmarks at the data."""
    if DATA == _UNSET and not os.environ.get(PUBLIC_MIX_ENV):
        return f"{DATA_ENV} is not set: set it to the folder of public datasets (xstest/, public_mix/, ...)"
    return f"{path} not found (set {DATA_ENV} to the folder of public datasets)"
