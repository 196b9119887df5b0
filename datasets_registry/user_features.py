"""User-defined features from a TOML or YAML file.

```toml
[features.product_mention]
side = "prompt"                 # prompt (default) or response
regex = "(?i)\\bacmephone\\b"
description = "mentions our product"

[features.hedging]
side = "response"
literals = ["I think", "perhaps"]   # matched as whole words, case-insensitive by default
case_sensitive = false
```

YAML takes the same shape under a top-level ``features:`` mapping.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from datasets_registry.features import SIDES, Feature, regex_feature


class FeatureFileError(ValueError):
    """A feature file that cannot be used; the message names the file and the entry."""


def literals_pattern(literals: list[str], case_sensitive: bool = False) -> str:
    """A regex matching any of ``literals`` as whole words."""
    alternatives = "|".join(re.escape(word) for word in sorted(literals, key=len, reverse=True))
    flags = "" if case_sensitive else "(?i)"
    return rf"{flags}(?:^|\b|\W)(?:{alternatives})(?:\b|\W|$)"


def load_feature_file(path: str | Path) -> list[Feature]:
    """The features of a TOML or YAML file (a ``features`` table); FeatureFileError says why not."""
    path = Path(path)
    if not path.exists():
        raise FeatureFileError(f"feature file not found: {path}")
    text = path.read_text(encoding="utf-8")
    import yaml  # here: a scan without a feature file does not pay for it

    try:
        if path.suffix.lower() == ".toml":
            data: object = tomllib.loads(text)
        elif path.suffix.lower() in {".yaml", ".yml"}:
            data = yaml.safe_load(text)
        else:
            raise FeatureFileError(f"{path}: feature files must be .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise FeatureFileError(f"{path}: cannot parse: {str(exc).splitlines()[0]}") from None
    entries = (data or {}).get("features") if isinstance(data, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise FeatureFileError(f"{path}: expected a 'features' table with at least one entry")
    return [_entry(path, name, spec) for name, spec in entries.items()]


def _entry(path: Path, name: str, spec: object) -> Feature:
    where = f"{path}: feature {name!r}"
    if not isinstance(spec, dict):
        raise FeatureFileError(f"{where}: expected a table with 'regex' or 'literals'")
    side = spec.get("side", "prompt")
    if side not in SIDES:
        raise FeatureFileError(f"{where}: side must be prompt or response, got {side!r}")
    if "regex" in spec:
        pattern = spec["regex"]
    elif "literals" in spec:
        literals = spec["literals"]
        if not isinstance(literals, list) or not all(isinstance(w, str) and w for w in literals):
            raise FeatureFileError(f"{where}: 'literals' must be a list of non-empty strings")
        pattern = literals_pattern(literals, bool(spec.get("case_sensitive", False)))
    else:
        raise FeatureFileError(f"{where}: needs 'regex' or 'literals'")
    if not isinstance(pattern, str) or not pattern:
        raise FeatureFileError(f"{where}: 'regex' must be a non-empty string")
    try:
        return regex_feature(
            name, side, pattern, str(spec.get("description", "")), int(spec.get("version", 1))
        )
    except ValueError as exc:
        raise FeatureFileError(f"{where}: {exc}") from None
