"""The feature catalog: named, versioned, side-aware detectors over prompt or response text.

A feature is a function from a polars text expression to a boolean expression,
registered with ``@feature``. Most are one regex (Rust regex syntax: no
look-around). Users add their own with ``--feature NAME=REGEX`` or a TOML/YAML
file (see ``user_features``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from datasets_registry.prefilter import ascii_split, fast_contains

Side = Literal["prompt", "response"]
SIDES: tuple[str, ...] = ("prompt", "response")
#: A detector: a polars text expression to a boolean expression.
Detector = Callable[[pl.Expr], pl.Expr]


@dataclass(frozen=True)
class Feature:
    """A named detector; ``key`` (``name@vN``) is what the tables store."""

    name: str
    side: Side
    description: str
    detect: Detector
    version: int = 1
    builtin: bool = True
    #: The same booleans as ``detect`` by a cheaper route (see ``prefilter``), if any.
    fast: Detector | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """``name@vN``: the name and version the tables store."""
        return f"{self.name}@v{self.version}"

    def expr(self, text: pl.Expr) -> pl.Expr:
        """Whether each text hits (null texts do not)."""
        return self.detect(text).fill_null(False)

    def scan_expr(self, text: pl.Expr) -> pl.Expr:
        """``expr`` by the fast route where there is one (what the scan counts with)."""
        return (self.fast or self.detect)(text).fill_null(False)


_CATALOG: dict[str, Feature] = {}


def feature(
    side: Side,
    description: str,
    version: int = 1,
    fast: Detector | None = None,
) -> Callable[[Detector], Detector]:
    """Register a built-in feature: ``@feature("prompt", "what a hit means")``; ``fast``
    is an equivalent cheaper detector (tests check that it agrees with the function)."""

    def register(fn: Detector) -> Detector:
        item = Feature(fn.__name__, side, description, fn, version, fast=fast)
        _CATALOG[item.key] = item
        return fn

    return register


def regex_feature(
    name: str,
    side: Side,
    pattern: str,
    description: str = "",
    version: int = 1,
    builtin: bool = False,
) -> Feature:
    """A feature from one regex; the pattern is checked now so a typo fails early."""
    check_regex(pattern)
    return Feature(
        name,
        side,
        description or f"matches /{pattern}/",
        lambda text: text.str.contains(pattern),
        version,
        builtin,
        fast_contains(pattern),
    )


def check_regex(pattern: str) -> None:
    """Raise ``ValueError`` with a one-line reason if polars cannot compile ``pattern``."""
    try:
        pl.select(pl.lit("x").str.contains(pattern))
    except Exception as exc:  # polars raises ComputeError for a bad pattern
        first = str(exc).strip().splitlines()
        raise ValueError(f"invalid regex {pattern!r}: {first[-1] if first else exc}") from None


def catalog() -> list[Feature]:
    """All built-in features, in registration order."""
    return list(_CATALOG.values())


def get(key: str) -> Feature:
    """A built-in by key (``name@vN``) or by name (its latest version); KeyError otherwise."""
    if key in _CATALOG:
        return _CATALOG[key]
    by_name = [f for f in _CATALOG.values() if f.name == key]
    if by_name:
        return max(by_name, key=lambda f: f.version)
    raise KeyError(f"unknown feature {key!r}")


# -- prompt side -------------------------------------------------------------


@feature("prompt", "LaTeX math: $...$, \\(...\\), \\frac, \\sqrt, \\begin{...}")
def latex_math(text: pl.Expr) -> pl.Expr:
    """Prompts with LaTeX math."""
    return text.str.contains(
        r"\$[^$\n]{0,200}[\\^_={}+*/<>-][^$\n]{0,200}\$|\$[a-zA-Z]\$|\\\(|\\\[|\\(?:frac|sqrt|cdot|times|sum|int|begin|left|right|alpha|beta|"
        r"theta|pi|leq|geq|neq|mathbb|mathrm|text)\b"
    )


FORMAL_WORDS = (
    "elucidate",
    "delineate",
    "expound",
    "explicate",
    "ascertain",
    "promulgate",
    "adumbrate",
    "enumerate",
    "substantiate",
    "expatiate",
    "illuminate",
    "aforementioned",
    "heretofore",
    "notwithstanding",
    "henceforth",
    "whereby",
    "therein",
    "thereof",
    "hitherto",
    "inasmuch",
)


FORMAL_VOCAB = r"(?i)\b(?:" + "|".join(FORMAL_WORDS) + r")\w*\b"


@feature(
    "prompt",
    "formal vocabulary: elucidate, delineate, expound, explicate, ...",
    fast=fast_contains(FORMAL_VOCAB),
)
def formal_vocab(text: pl.Expr) -> pl.Expr:
    """Prompts with a formal word (``FORMAL_WORDS``, any ending)."""
    return text.str.contains(FORMAL_VOCAB)


DATA_EXTRACTION = (
    r"(?i)you\s+will\s+be\s+(?:shown|given|presented)|(?m:^\s*context\s*:)|"
    r"\banswer\s+with\s+(?:only|just|a\s+single|one|the)\b|\bextract\s+(?:all|the)\b|"
    r"return\s+(?:your\s+answer\s+)?(?:as|in)\s+(?:a\s+)?json"
)


@feature(
    "prompt",
    "data-extraction framing: 'You will be shown', 'Context:', 'Answer with ...'",
    fast=fast_contains(DATA_EXTRACTION),
)
def data_extraction_framing(text: pl.Expr) -> pl.Expr:
    """Prompts framed as a data-extraction task."""
    return text.str.contains(DATA_EXTRACTION)


@feature("prompt", "yes/no question form: 'Is it true that ...?', 'Does ...?', 'Can ...?'")
def yes_no_question(text: pl.Expr) -> pl.Expr:
    """Prompts that are one yes/no question."""
    return text.str.contains(
        r"(?i)^\W*(?:is\s+it\s+true\s+that|true\s+or\s+false\s*:?|is|are|was|were|does|do|did|can|could|"
        r"will|would|should|has|have|had)\s+[^?]{3,300}\?\s*$"
    )


@feature("prompt", "program code inside the prompt")
def code_in_prompt(text: pl.Expr) -> pl.Expr:
    """Prompts that contain program code."""
    return text.str.contains(r"```|(?m)^\s*(?:def |class |import |#include|public static)")


@feature("prompt", "non-Latin script (Cyrillic, CJK, Arabic, Devanagari, ...)")
def non_latin_script(text: pl.Expr) -> pl.Expr:
    """Prompts with two or more letters of a non-Latin script in a row."""
    return text.str.contains(
        r"[\p{Cyrillic}\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Arabic}\p{Hebrew}"
        r"\p{Devanagari}\p{Thai}\p{Greek}]{2,}"
    )


# -- response side -----------------------------------------------------------


@feature("response", "python/sympy tool-call block, fenced output block, or <tool_call> call")
def tool_call_block(text: pl.Expr) -> pl.Expr:
    """Responses that call a tool (sympy block, output block, tool-call markup)."""
    return text.str.contains(
        r"(?s)```(?:python|py)\s*\n[^`]*(?:import\s+sympy|from\s+sympy|sympy\.)|```output\s*\n|"
        r"<tool_call>|\"arguments\"\s*:\s*\{"
    )


@feature("response", "program code in the response (fenced or unfenced)")
def code_in_response(text: pl.Expr) -> pl.Expr:
    """Responses that contain program code."""
    return text.str.contains(
        r"```|(?m)^\s*(?:def\s+\w+\(|class\s+\w+[(:]|import\s+\w+|#include\s*<|"
        r"public\s+(?:static\s+)?(?:class|void)|function\s+\w+\s*\()"
    )


REFUSAL_PHRASE = (
    r"(?i)i'?m\s+(?:really\s+)?sorry,?\s+but\s+i|i\s+(?:can(?:no|')t|cannot|won'?t)\s+"
    r"(?:help|assist|provide|comply|fulfil+|share|disclose)|as\s+an\s+ai\b|"
    r"i\s+(?:must|have\s+to)\s+decline|i'?m\s+(?:not\s+able|unable)\s+to\s+(?:help|assist|provide)"
)


@feature(
    "response",
    "refusal phrasing: 'I'm sorry, but I can't ...', 'As an AI ...'",
    fast=ascii_split(REFUSAL_PHRASE),
)
def refusal_phrase(text: pl.Expr) -> pl.Expr:
    """Responses with refusal phrasing."""
    return text.str.contains(REFUSAL_PHRASE)


@feature("response", "rebuttal opener: 'No,', 'That's not correct', 'Actually, ...'")
def rebuttal_opener(text: pl.Expr) -> pl.Expr:
    """Responses whose first 200 characters open with a rebuttal."""
    return text.str.slice(0, 200).str.contains(
        r"(?i)^\W*(?:no[,.!]\s|actually,|that'?s\s+(?:not\s+(?:correct|true|right)|incorrect|a\s+"
        r"(?:common\s+)?misconception)|that\s+is\s+(?:not\s+(?:correct|true)|incorrect)|"
        r"this\s+is\s+a\s+(?:common\s+)?misconception)"
    )


@feature("response", "'I hope it is correct' sign-off (a math-set artefact)")
def hope_it_is_correct(text: pl.Expr) -> pl.Expr:
    """Responses with the 'I hope it is correct' sign-off."""
    return text.str.contains(r"(?i)i\s+hope\s+it\s+is\s+correct")


@feature("response", "markdown table")
def markdown_table(text: pl.Expr) -> pl.Expr:
    """Responses with a markdown table (a row, then a separator row)."""
    return text.str.contains(r"(?m)^\s*\|.*\|\s*$\n^\s*\|?\s*:?-{3,}")


@feature("response", "very short response (under 40 characters)")
def very_short_response(text: pl.Expr) -> pl.Expr:
    """Responses under 40 characters once trimmed."""
    return text.str.strip_chars().str.len_chars() < 40


def parse_feature_option(option: str) -> Feature:
    """Parse ``NAME=REGEX`` or ``NAME:SIDE=REGEX`` (side defaults to prompt)."""
    if "=" not in option:
        raise ValueError(f"--feature expects NAME=REGEX, got {option!r}")
    name, pattern = option.split("=", 1)
    side: str = "prompt"
    if ":" in name:
        name, side = name.split(":", 1)
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z_][\w-]*", name):
        raise ValueError(f"feature name {name!r} must be an identifier")
    if side not in SIDES:
        raise ValueError(f"feature side must be prompt or response, got {side!r}")
    return regex_feature(name, side, pattern)  # type: ignore[arg-type]
