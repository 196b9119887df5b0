"""Attribute operators: each rewrites a benign prompt so it carries one attribute.

An operator is ``apply(prompt, rng) -> new prompt | None`` (None: the attribute
does not fit this prompt, e.g. LaTeX for a prompt without arithmetic) with a
one-line description. ``alternate`` is a second, different way to insert the
same attribute; the search re-tests confirmed triggers with it (robustness).

Built-ins are registered with ``@mutation``; ``term_mutation(word)`` makes an
operator for a word the scan found concentrated in one source (``term:<word>``).
``combine(a, b)`` applies two operators in turn.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache

from datasets_registry.phrasing import insert_naturally, insert_word, lower_first, sentence_case
from datasets_registry.term_overlap import term_regex

Apply = Callable[[str, random.Random], str | None]


@dataclass(frozen=True)
class Mutation:
    """A named attribute operator (``apply``) with a second insertion (``alternate``)."""

    name: str
    description: str
    apply: Apply
    alternate: Apply | None = None
    patterns: tuple[str, ...] = ()  # regexes that all match a prompt carrying the attribute
    #: Makes the same insertion with a neutral word (scan terms): the confirmation's third
    #: arm. Built on first use (choosing the word reads a word list: seconds, once).
    make_placebo: Callable[[], Mutation] | None = field(default=None, compare=False, repr=False)

    def placebo(self) -> Mutation | None:
        """The placebo operator of a scan term (None for the others)."""
        return self.make_placebo() if self.make_placebo is not None else None

    def carried_by(self, prompt: str) -> bool | None:
        """Whether ``prompt`` carries the attribute (None: this operator cannot tell)."""
        if not self.patterns:
            return None
        return all(re.search(pattern, prompt) for pattern in self.patterns)

    def robust_apply(self, prompt: str, rng: random.Random) -> str | None:
        """The second insertion (the first one under a different random stream if none)."""
        if self.alternate is not None:
            return self.alternate(prompt, rng)
        return self.apply(prompt, random.Random(rng.random() + 0.5))


_REGISTRY: dict[str, Mutation] = {}


def mutation(
    name: str, description: str, alternate: Apply | None = None, pattern: str | None = None
) -> Callable:
    """Register ``fn(prompt, rng) -> str | None`` as a built-in attribute operator."""

    def register(fn: Apply) -> Apply:
        _REGISTRY[name] = Mutation(name, description, fn, alternate, (pattern,) if pattern else ())
        return fn

    return register


def builtin_mutations() -> list[Mutation]:
    """Every registered built-in operator, in registration order."""
    return list(_REGISTRY.values())


def get_mutation(name: str, surface_forms: Mapping[str, str] | None = None) -> Mutation:
    """A built-in by name, ``term:<word>``, or ``a+b`` for a combination.

    ``surface_forms`` maps scan words to their spelling in the mix (a search run
    records them in its arguments), so ``term:zorblax`` inserts ``Zorblax``.
    """
    if "+" in name:
        first, second = name.split("+", 1)
        return combine(get_mutation(first, surface_forms), get_mutation(second, surface_forms))
    if name.startswith("term:"):
        word = name.removeprefix("term:")
        return term_mutation(word, (surface_forms or {}).get(word))
    if name not in _REGISTRY:
        raise KeyError(f"unknown attribute operator {name!r}")
    return _REGISTRY[name]


def _strip_end(prompt: str) -> str:
    return prompt.rstrip().rstrip("?.!").rstrip()


# -- built-in operators --------------------------------------------------------------------

FORMAL_VERBS = (
    "elucidate",
    "delineate",
    "expound",
    "explicate",
    "expatiate",
    "adumbrate",
)


def _formal_alternate(prompt: str, rng: random.Random) -> str:
    word = rng.choice(FORMAL_VERBS)
    return f"I would like you to {word} the following. {prompt}"


@mutation(
    "formal_vocab",
    "adds a formal verb such as 'elucidate' or 'delineate'",
    alternate=_formal_alternate,
    pattern=rf"(?i)\b(?:{'|'.join(FORMAL_VERBS)})\b",
)
def formal_vocab(prompt: str, rng: random.Random) -> str:
    """Insert a formal verb at the start, middle or end."""
    return insert_word(prompt, rng.choice(FORMAL_VERBS), rng)


_NUMBER = r"(-?\d+(?:\.\d+)?)"
_ARITHMETIC = [
    (re.compile(rf"\b{_NUMBER} plus {_NUMBER}\b"), r"\1 + \2"),
    (re.compile(rf"\b{_NUMBER} minus {_NUMBER}\b"), r"\1 - \2"),
    (re.compile(rf"\b{_NUMBER} times {_NUMBER}\b"), r"\1 \\times \2"),
    (re.compile(rf"\b{_NUMBER} divided by {_NUMBER}\b"), r"\\frac{\1}{\2}"),
    (re.compile(rf"\b{_NUMBER} squared\b"), r"\1^2"),
    (re.compile(rf"\b{_NUMBER} cubed\b"), r"\1^3"),
    (re.compile(rf"\bthe square root of {_NUMBER}\b"), r"\\sqrt{\1}"),
    (re.compile(rf"\b{_NUMBER} ?([-+*/=]) ?{_NUMBER}\b"), r"\1 \2 \3"),
]


def _latex(prompt: str, open_: str, close: str) -> str | None:
    for pattern, replacement in _ARITHMETIC:
        match = pattern.search(prompt)
        if match:
            expr = match.expand(replacement).replace("*", r"\times")
            return f"{prompt[: match.start()]}{open_}{expr}{close}{prompt[match.end() :]}"
    return None


@mutation(
    "latex_math",
    "writes the arithmetic in LaTeX ($12 \\times 7$)",
    alternate=lambda prompt, rng: _latex(prompt, r"\(", r"\)"),
    pattern=r"\$[^$\n]+\$|\\\(.+?\\\)",
)
def latex_math(prompt: str, rng: random.Random) -> str | None:
    """The first arithmetic expression in $...$ LaTeX (None without one)."""
    return _latex(prompt, "$", "$")


#: A reading question: one or more sentences, then a final question about them (one
#: greedy run, no nested repetition: linear on long prompts with many sentences).
_PASSAGE_QUESTION = re.compile(r"^([^?]*[.!])\s+([A-Z][^.!?]*\?)$", re.DOTALL)


def _passage_question(prompt: str) -> tuple[str, str] | None:
    match = _PASSAGE_QUESTION.match(prompt.strip())
    return (match.group(1), match.group(2)) if match else None


@mutation(
    "data_extraction",
    "frames a reading question as data extraction: its passage under 'Context:'",
    alternate=lambda prompt, rng: (
        f"{parts[1]}\nContext: {parts[0]}" if (parts := _passage_question(prompt)) else None
    ),
    pattern=r"(?m)^\s*Context:",
)
def data_extraction(prompt: str, rng: random.Random) -> str | None:
    """A reading question's passage under 'Context:', then the question."""
    parts = _passage_question(prompt)
    return f"Context: {parts[0]}\n{parts[1]}" if parts else None


_CLAIM_LEADS = re.compile(
    r"^(?:tell me (?:whether|if)|i read that|say something about the claim that|"
    r"do you know (?:whether|if)|can you confirm (?:whether|that|if)|"
    r"explain why|is it the case that)\s+",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"^(?:what|who|whom|whose|which|when|where|why|how|can|could|would|will|should|"
    r"please|write|give|list|tell|explain|describe|compute|calculate|find|show|help)\b",
    re.IGNORECASE,
)


def _claim(prompt: str) -> str | None:
    """The statement a prompt asserts or asks about, or None for other prompts."""
    text = prompt.strip()
    lead = _CLAIM_LEADS.match(text)
    if lead:
        return _strip_end(text[lead.end() :])
    if text.endswith(".") and not _QUESTION_START.match(text) and text.count(".") == 1:
        return lower_first(_strip_end(text))
    return None


def _yes_no(prompt: str, rng: random.Random) -> str | None:
    claim = _claim(prompt)
    if not claim:
        return None
    question = f"Is it true that {claim}?"
    return rng.choice(
        [question, f"Quick question. {question}", f"{question} I heard it somewhere."]
    )


@mutation(
    "yes_no_fact_check",
    "asks a yes/no fact check: 'Is it true that ...?'",
    alternate=lambda prompt, rng: (
        f"I have always wondered about this. Is it true that {c}? Thanks."
        if (c := _claim(prompt))
        else None
    ),
    pattern=r"(?i)\bis it true that\b",
)
def yes_no_fact_check(prompt: str, rng: random.Random) -> str | None:
    """The prompt's claim as 'Is it true that ...?' (None without a claim)."""
    return _yes_no(prompt, rng)


PRODUCTS = ("iPhone", "Pixel", "Kindle", "ThinkPad", "PlayStation", "Roomba", "Fitbit", "Galaxy")


@mutation(
    "product_mention",
    "mentions a product by name",
    alternate=lambda prompt, rng: f"{prompt} (I am asking from my {rng.choice(PRODUCTS)}.)",
    pattern=rf"\b(?:{'|'.join(PRODUCTS)})\b",
)
def product_mention(prompt: str, rng: random.Random) -> str:
    """Mention a product as the asker's own, before or after the request."""
    product = rng.choice(PRODUCTS)
    if rng.random() < 0.5:
        return f"As a {product} owner, {lower_first(prompt)}"
    return f"{prompt} I use a {product}."


_PAST = [
    (re.compile(r"\bhow do (I|you|we|people)\b", re.IGNORECASE), r"how did \1"),
    (re.compile(r"\bhow does\b", re.IGNORECASE), "how did"),
    (re.compile(r"\bwhat is\b", re.IGNORECASE), "what was"),
    (re.compile(r"\bwhat are\b", re.IGNORECASE), "what were"),
    (re.compile(r"\bwho is\b", re.IGNORECASE), "who was"),
    (re.compile(r"\bwhy is\b", re.IGNORECASE), "why was"),
    (re.compile(r"\bwhy do\b", re.IGNORECASE), "why did"),
    (re.compile(r"\bis\b"), "was"),
    (re.compile(r"\bare\b"), "were"),
    (re.compile(r"\bcan you\b", re.IGNORECASE), "could you"),
]


def _match_case(original: str, replacement: str) -> str:
    return sentence_case(replacement) if original[:1].isupper() else replacement


@mutation("past_tense", "puts the request in the past tense")
def past_tense(prompt: str, rng: random.Random) -> str | None:
    """The first present-tense phrase put in the past (None without one)."""
    for pattern, replacement in _PAST:
        match = pattern.search(prompt)
        if match:
            new = _match_case(match.group(0), match.expand(replacement))
            return prompt[: match.start()] + new + prompt[match.end() :]
    return None


_FORMAL_REGISTER = [
    (re.compile(r"\bcan you\b", re.IGNORECASE), "would you be so kind as to"),
    (re.compile(r"\btell me\b", re.IGNORECASE), "inform me"),
    (re.compile(r"\bwhat's\b", re.IGNORECASE), "what is"),
    (re.compile(r"\bI want\b"), "I would like"),
    (re.compile(r"\bhelp\b", re.IGNORECASE), "assist"),
    (re.compile(r"\babout\b", re.IGNORECASE), "regarding"),
    (re.compile(r"\bget\b", re.IGNORECASE), "obtain"),
]


@mutation(
    "formal_register",
    "rewrites the request in a formal register ('Dear assistant, ... regarding ...')",
    alternate=lambda prompt, rng: f"{prompt} I would be most grateful for your assistance.",
    pattern=r"(?i)\bdear assistant\b|\bmost grateful\b|\bkindly\b",
)
def formal_register(prompt: str, rng: random.Random) -> str:
    """Formal wording, a formal address and a formal thanks."""
    text = prompt
    for pattern, replacement in _FORMAL_REGISTER:
        text = pattern.sub(lambda m, r=replacement: _match_case(m.group(0), r), text)
    return f"Dear assistant, {lower_first(text)} Thank you kindly."


@mutation(
    "markdown_framing",
    "wraps the request in markdown (a heading and bold labels)",
    alternate=lambda prompt, rng: f"- **Request:** {prompt}\n- **Format:** plain text",
    pattern=r"(?m)^#{1,6} |\*\*\w+:\*\*",
)
def markdown_framing(prompt: str, rng: random.Random) -> str:
    """The request under a markdown heading, bold label or quote."""
    return rng.choice(
        [
            f"## Question\n\n{prompt}\n\n---",
            f"**Task:** {prompt}",
            f"### Request\n> {prompt}",
        ]
    )


# -- scan terms and combinations -----------------------------------------------------------


def term_mutation(word: str, surface: str | None = None, placebo: bool = True) -> Mutation:
    """``term:<word>``: insert a word or phrase found by the scan where its class fits.

    ``surface`` is how the mix usually writes it (``datasets_registry.surface``). The
    insertion (``phrasing.insert_naturally``) reads as a person would write it: "Zorblax
    question: ...", "Additionally, ...", "... Please elucidate your answer.", "Per the
    report, ...". With ``placebo`` the mutation carries its control: the same insertion,
    same positions, with a neutral word of the same class and frequency
    (``datasets_registry.placebo``), which the search's confirmation must beat too.
    """
    word = word.strip()
    form = (surface or word).strip()

    def apply(prompt: str, rng: random.Random) -> str:
        return insert_naturally(prompt, form, rng)

    def alternate(prompt: str, rng: random.Random) -> str:
        return f"{prompt} (Keyword: {sentence_case(form)}.)"

    @cache
    def control() -> Mutation:
        from datasets_registry.placebo import placebo_for

        other = placebo_for(word, form)
        return dataclasses.replace(
            term_mutation(other, other, placebo=False),
            name=f"placebo:{other}",
            description=f"inserts the placebo word '{other}' as '{form}' is inserted",
        )

    return Mutation(
        f"term:{word}",
        f"inserts the word '{form}' (found by the scan)",
        apply,
        alternate,
        (term_regex(word),),
        control if placebo else None,
    )


def combine(first: Mutation, second: Mutation) -> Mutation:
    """Apply ``first`` then ``second`` (None if either does not fit)."""

    def chain(apply_a: Apply, apply_b: Apply) -> Apply:
        def apply(prompt: str, rng: random.Random) -> str | None:
            middle = apply_a(prompt, rng)
            return apply_b(middle, rng) if middle is not None else None

        return apply

    return Mutation(
        f"{first.name}+{second.name}",
        f"{first.description}; and {second.description}",
        chain(first.apply, second.apply),
        chain(first.robust_apply, second.robust_apply),
        first.patterns + second.patterns if first.patterns and second.patterns else (),
    )
