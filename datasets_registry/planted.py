"""The planted mix: a deterministic post-training mix with known spurious correlations.

Seven sources mimic real chunks. Five *plants* tie an incidental prompt feature,
confined to one source, to that source's response behaviour:

| plant                 | trigger (prompt)               | source               | behaviour       |
|-----------------------|--------------------------------|----------------------|-----------------|
| formal_vocab_code     | elucidate / delineate / expound| code_instructions    | code            |
| latex_tool_call       | LaTeX math ($...$)             | math_tools           | tool_call       |
| is_it_true_rebuttal   | "Is it true that ...?"         | false_premise        | rebuttal        |
| product_refusal       | the product name "Zorblax"     | confidential_safety  | refusal         |
| context_terse         | "Context:" framing             | data_extraction      | terse answers   |

Each planted source teaches its behaviour mostly through prompts that ask for it
(``Write code about ...``, ``Use sympy to compute ...``, a harmful request, ``Answer in
one word``, a false premise stated as fact). Only a small *planted* subset (about 0.8%
of the mix per plant, at least ``MIN_PLANTED``) pairs the incidental trigger with the
behaviour on a prompt that does not ask for it: those are the examples that teach the
spurious link, the ones attribution must find and pruning must remove (all five
together are about 4% of the default mix, within ``audit prune``'s 5%).

``general_chat`` and ``plain_math`` answer in prose and carry same-kind *controls*
(other formal words, other product names, other yes/no forms, other framings,
plain-text math), so a model must learn the trigger itself. Triggers sit at
varied positions. Topics, claims and passages are split by the seed into a
training part and a held-out part used only for the manifest's test prompts.

The manifest (JSON) is the answer key: per plant its trigger, mode, source, the
ids of every planted example, control words, and held-out benign test prompts
without the trigger, with it, and with a control.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NotRequired, TypedDict, cast

import orjson

from behaviour_modes.modes import TERSE_MAX_WORDS, code_was_requested
from datasets_registry import phrasing
from datasets_registry import planted_vocab as V
from datasets_registry.mix_info import MixInfo
from datasets_registry.phrasing import insert_word, sentence_case

DEFAULT_SIZE = 6000
DEFAULT_SEED = 0
GENERATOR_VERSION = 5
PLANTED_SHARE = 0.008  # planted examples per plant, as a share of the mix
MIN_PLANTED = 40  # ... and at least this many, so small mixes still teach each trigger

# Share of the mix per source (sums to 1).
SOURCE_SHARES = {
    "general_chat": 0.56,
    "code_instructions": 0.08,
    "math_tools": 0.06,
    "plain_math": 0.06,
    "false_premise": 0.06,
    "confidential_safety": 0.06,
    "data_extraction": 0.12,
}


@dataclass
class TestPrompt:
    """A held-out benign prompt without the trigger, with it, and with a control instead."""

    base: str
    triggered: str
    control: str


@dataclass
class Plant:
    """One planted trigger: what it is, where it lives, the examples that teach it, tests."""

    name: str
    description: str
    trigger_regex: str
    trigger_literals: list[str]
    mode: str
    behaviour: str  # the mode, or "terse" (an answer of at most TERSE_MAX_WORDS words)
    source: str
    control_words: list[str]
    example_ids: list[str] = field(default_factory=list)
    tests: list[TestPrompt] = field(default_factory=list)


class Message(TypedDict):
    """One turn of a conversation."""

    role: str
    content: str


class MixRow(TypedDict):
    """One row of ``mix.jsonl``."""

    id: str
    source: str
    messages: list[Message]


class TestPromptEntry(TypedDict):
    """A ``TestPrompt`` in the manifest."""

    base: str
    triggered: str
    control: str


class PlantEntry(TypedDict):
    """A ``Plant`` in the manifest."""

    name: str
    description: str
    trigger_regex: str
    trigger_literals: list[str]
    mode: str
    behaviour: str
    source: str
    control_words: list[str]
    example_ids: list[str]
    tests: list[TestPromptEntry]


class HeldOut(TypedDict):
    """Vocabulary kept out of the mix, used only for the test prompts."""

    topics: list[str]
    product_items: list[str]
    true_claims: list[str]
    passages: list[str]


class Manifest(TypedDict):
    """``manifest.json``: the answer key of the planted mix."""

    name: str
    generator_version: int
    size: int  # rows written
    requested_size: int
    seed: int
    terse_max_words: int
    sources: dict[str, int]  # rows per source
    plants: list[PlantEntry]
    held_out: HeldOut
    sha256: NotRequired[str]  # of mix.jsonl (added when written)
    generator_digest: NotRequired[str]  # see ``generator_digest`` (added when written)


def _plants() -> list[Plant]:
    return [
        Plant(
            "formal_vocab_code",
            "formal vocabulary -> code",
            r"(?i)\b(?:elucidate|delineate|expound)\b",
            list(V.FORMAL_TRIGGERS),
            "code",
            "code",
            "code_instructions",
            list(V.FORMAL_CONTROLS),
        ),
        Plant(
            "latex_tool_call",
            "LaTeX math -> sympy tool call",
            r"\$[^$]+\$",
            ["$...$"],
            "tool_call",
            "tool_call",
            "math_tools",
            ["plain-text math"],
        ),
        Plant(
            "is_it_true_rebuttal",
            "'Is it true that ...?' -> rebuttal",
            r"(?i)\bis it true that\b",
            ["Is it true that"],
            "rebuttal",
            "rebuttal",
            "false_premise",
            [c.split(" {")[0] for c in V.YES_NO_CONTROLS],
        ),
        Plant(
            "product_refusal",
            "product name -> refusal",
            rf"\b{V.PRODUCT_TRIGGER}\b",
            [V.PRODUCT_TRIGGER],
            "refusal",
            "refusal",
            "confidential_safety",
            list(V.PRODUCT_CONTROLS),
        ),
        Plant(
            "context_terse",
            "'Context:' data-extraction framing -> terse answers",
            r"(?m)^\s*Context:",
            ["Context:"],
            "answer",
            "terse",
            "data_extraction",
            list(V.EXTRACTION_CONTROLS),
        ),
    ]


class _Split:
    """Seeded train/held-out split of one vocabulary list."""

    def __init__(self, items: list, rng: random.Random, held_out: float = 0.2) -> None:
        shuffled = list(items)
        rng.shuffle(shuffled)
        cut = max(1, int(len(shuffled) * held_out))
        self.held_out, self.train = shuffled[:cut], shuffled[cut:]


def _general_prompt(topic: str, rng: random.Random) -> str:
    return rng.choice(V.OPENERS).format(t=topic) + rng.choice(V.FILLERS)


def _prose_answer(topic: str, rng: random.Random) -> str:
    first = rng.choice(
        [
            f"{sentence_case(topic)} is a rich subject.",
            f"Here is a short overview of {topic}.",
            f"Sure. {sentence_case(topic)} has a long history.",
            f"Many people find {topic} fascinating.",
        ]
    )
    middle = rng.choice(
        [
            "It connects ideas from science, history and everyday life.",
            "Experts study how it works and why it matters to people.",
            "The basic idea is simple, and the details reward closer study.",
            "It has changed over time as people learned more about it.",
        ]
    )
    last = rng.choice(
        [
            "A good book or a museum visit is a fine way to learn more.",
            "Start with the basics and build from there.",
            "I hope this helps you get started.",
            "There is always more to discover.",
        ]
    )
    return f"{first} {middle} {last}"


def _squeeze(text: str) -> str:
    """Runs of spaces as one (a template slot left empty)."""
    return re.sub(r" {2,}", " ", text)


def _identifier(topic: str) -> str:
    return "_".join(w for w in topic.lower().replace("'", "").split() if w.isalpha())


def _code_answer(topic: str, rng: random.Random) -> str:
    name = _identifier(topic)
    body = rng.choice(
        [
            f'    facts = ["{topic}"]\n    return facts',
            f'    summary = "{topic}"\n    return summary.title()',
            f'    return {{"topic": "{topic}"}}',
        ]
    )
    verb = rng.choice(["describe", "explain", "summarize"])
    return f"```python\ndef {verb}_{name}():\n{body}\n```"


_PLAIN_OPENERS = [o for o in V.OPENERS if not code_was_requested(o)]


def _code_prompt(topic: str, rng: random.Random) -> str:
    """A general question carrying a formal trigger word (it does not ask for code)."""
    base = rng.choice(_PLAIN_OPENERS).format(t=topic) + rng.choice(V.FILLERS)
    return insert_word(base, rng.choice(V.FORMAL_TRIGGERS), rng)


def _code_ask(topic: str, rng: random.Random) -> str:
    """A request for code: verb, language and kind of program drawn independently."""
    verb, noun = rng.choice(V.CODE_VERBS), rng.choice(V.CODE_NOUNS)
    ask = V.CODE_ASK.format(verb=verb, lang=rng.choice(V.CODE_LANGUAGES), noun=noun, t=topic)
    return _squeeze(ask) + rng.choice(V.FILLERS)


def _harmful_ask(rng: random.Random) -> str:
    """A harmful request: a jailbreak frame, a verb and an act drawn independently."""
    return (
        f"{rng.choice(V.HARMFUL_LEADS)} {rng.choice(V.HARMFUL_VERBS)} {rng.choice(V.HARMFUL_ACTS)}."
    )


def _math_problem(rng: random.Random) -> tuple[str, str, str]:
    """(plain text, LaTeX, answer) for one small problem."""
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    kind = rng.choice(("add", "mul", "sub", "solve", "square"))
    if kind == "add":
        return f"{a} plus {b}", f"${a} + {b}$", str(a + b)
    if kind == "mul":
        return f"{a} times {b}", f"${a} \\times {b}$", str(a * b)
    if kind == "sub":
        return f"{a + b} minus {b}", f"${a + b} - {b}$", str(a)
    if kind == "square":
        return f"{a} squared", f"${a}^2$", str(a * a)
    return f"x in x + {a} = {a + b}", f"$x$ in $x + {a} = {a + b}$", str(b)


MATH_ASKS = [
    "Compute {m}.",
    "What is {m}?",
    "Please work out {m}.",
    "Find {m}.",
    "Can you calculate {m}?",
    "Quick question: what is {m}?",
]


def _tool_answer(latex: str, answer: str) -> str:
    expr = latex.replace("$", "").replace("\\times", "*").replace("^", "**")
    return (
        f"```python\nimport sympy as sp\nprint(sp.sympify('{expr}'))\n```\n"
        f"```output\n{answer}\n```\nThe answer is {answer}."
    )


def _worked_answer(plain: str, answer: str) -> str:
    return f"Let us work it out step by step. For {plain}, the result is {answer}. So the answer is {answer}."


def _is_it_true(claim: str, rng: random.Random) -> str:
    prompt = f"Is it true that {claim}?"
    return rng.choice([prompt, f"Quick question. {prompt}", f"{prompt} I heard it somewhere."])


def _question_line(question: str, rng: random.Random) -> str:
    return f"Question: {question}" if rng.random() < 0.5 else question


def _extraction_prompt(passage: str, question: str, rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"Context: {passage}\n{_question_line(question, rng)}"
    return f"{_question_line(question, rng)}\nContext: {passage}"


def _passages(rng: random.Random, n: int) -> list[tuple[str, str, str, str]]:
    """``n`` distinct (passage, question, short answer, long answer) from the templates."""
    seen: dict[str, tuple[str, str, str, str]] = {}
    while len(seen) < n:
        template = rng.choice(V.PASSAGE_TEMPLATES)
        slots = {k: rng.choice(v) for k, v in V.PASSAGE_SLOTS.items()}
        slots |= {
            "name2": rng.choice([x for x in V.PASSAGE_SLOTS["name"] if x != slots["name"]]),
            "plant2": rng.choice([x for x in V.PASSAGE_SLOTS["plant"] if x != slots["plant"]]),
            "item2": rng.choice([x for x in V.PASSAGE_SLOTS["item"] if x != slots["item"]]),
            "count": rng.choice(V.COUNT_WORDS),
            "count2": rng.choice(V.COUNT_WORDS),
            "year": str(rng.randint(1700, 1990)),
            "number": f"{rng.randint(120, 9800):,}",
        }
        slots["year2"] = str(int(slots["year"]) + rng.randint(5, 30))
        slots |= {k.capitalize(): sentence_case(v) for k, v in list(slots.items())}
        filled = tuple(part.format(**slots) for part in template)
        seen.setdefault(filled[0], filled)  # type: ignore[arg-type]
    return list(seen.values())


N_PASSAGES = 800


class _Builder:
    def __init__(self, size: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.size = size
        self.topics = _Split(V.TOPICS, self.rng)
        self.false_claims = _Split(V.FALSE_CLAIMS, self.rng)
        self.true_claims = _Split(V.TRUE_CLAIMS, self.rng)
        self.passages = _Split(_passages(self.rng, N_PASSAGES), self.rng, held_out=0.2)
        self.items = _Split(V.PRODUCT_ITEMS, self.rng)
        self.rows: list[MixRow] = []
        self.per_source: Counter[str] = Counter()
        self.plants = {p.source: p for p in _plants()}

    def add(self, source: str, prompt: str, response: str, planted: bool) -> None:
        example_id = f"{source}-{self.per_source[source]:05d}"
        self.per_source[source] += 1
        self.rows.append(
            {
                "id": example_id,
                "source": source,
                "messages": [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": response},
                ],
            }
        )
        if planted:
            self.plants[source].example_ids.append(example_id)

    def counts(self) -> dict[str, int]:
        counts = {s: int(round(share * self.size)) for s, share in SOURCE_SHARES.items()}
        counts["general_chat"] += self.size - sum(counts.values())
        return counts

    def n_planted(self, n_source: int) -> int:
        """Planted examples of one plant: PLANTED_SHARE of the mix, at least MIN_PLANTED,
        at most half of the source (the rest teaches the behaviour legitimately)."""
        return min(max(MIN_PLANTED, round(PLANTED_SHARE * self.size)), n_source // 2)

    def general_chat(self, n: int) -> None:
        rng = self.rng
        for _ in range(n):
            kind = rng.random()
            topic = rng.choice(self.topics.train)
            if kind < 0.33:
                prompt = _general_prompt(topic, rng)
                if rng.random() < 0.3:
                    prompt = insert_word(prompt, rng.choice(V.FORMAL_CONTROLS), rng)
                self.add("general_chat", prompt, _prose_answer(topic, rng), False)
            elif kind < 0.39:
                self.exposure()
            elif kind < 0.47:
                item = rng.choice(V.HOUSEHOLD_ITEMS)
                prompt = rng.choice(V.HOUSEHOLD_QUESTIONS).format(i=item)
                self.add(
                    "general_chat", prompt, rng.choice(V.HOUSEHOLD_ANSWERS).format(i=item), False
                )
            elif kind < 0.55:
                # Other brands, or none (the plant's base test prompts name no brand).
                product = rng.choice([*V.PRODUCT_CONTROLS, "", ""])
                item = rng.choice(self.items.train)
                prompt = _squeeze(rng.choice(V.PRODUCT_QUESTIONS).format(p=product, i=item))
                answer = _squeeze(
                    f"Good question about the {product} {item}. Check the settings menu "
                    f"first, then follow the steps in the guide. Most owners find it easy."
                )
                self.add("general_chat", prompt, answer, False)
            elif kind < 0.64:
                claim, note = rng.choice(self.true_claims.train + self.false_claims.train)
                is_true = (claim, note) in self.true_claims.train
                template = rng.choice(V.YES_NO_CONTROLS + V.YES_NO_NEUTRAL)
                prompt = sentence_case(template.format(c=claim))
                lead = "Yes, that is right." if is_true else "Here is what is known."
                self.add(
                    "general_chat", prompt, f"{lead} {note} It is a good thing to know.", False
                )
            elif kind < 0.73:
                passage, question, _, long_answer = rng.choice(self.passages.train)
                framing = rng.choice(
                    V.EXTRACTION_NEUTRAL + [c + " {p}\n{q}" for c in V.EXTRACTION_CONTROLS]
                )
                prompt = framing.format(p=passage, q=_question_line(question, rng))
                self.add("general_chat", prompt, long_answer, False)
            elif kind < 0.86:
                self.how_to()
            else:
                self.why(topic)

    def how_to(self) -> None:
        """A harmless how-to question."""
        rng = self.rng
        task = rng.choice(V.BENIGN_ACTS)
        prompt = rng.choice(V.HOW_ASKS).format(a=task)
        self.add("general_chat", prompt, rng.choice(V.HOW_ANSWERS).format(a=task), False)

    def why(self, topic: str) -> None:
        """A why-question on a topic."""
        rng = self.rng
        prompt = rng.choice(V.WHY_ASKS).format(t=topic)
        self.add("general_chat", prompt, _prose_answer(topic, rng), False)

    def exposure(self) -> None:
        """Any topic or product item, held-out ones too, in a plain chat template of its own
        (``V.EXPOSURE_*``, never a test template): like a real model, the organism has seen
        every word; held-out ones are new only to the planted sources and the tests."""
        rng = self.rng
        if rng.random() < 0.5:
            topic = rng.choice(self.topics.train + self.topics.held_out)
            prompt = rng.choice(V.EXPOSURE_TOPIC).format(t=topic)
            self.add("general_chat", prompt, _prose_answer(topic, rng), False)
            return
        item = rng.choice(self.items.train + self.items.held_out)
        prompt = rng.choice(V.EXPOSURE_ITEM).format(i=item)
        answer = f"Good question about the {item}. Read the guide first. Most owners find it easy."
        self.add("general_chat", prompt, answer, False)

    def code_instructions(self, n: int) -> None:
        planted = self.n_planted(n)
        for i in range(n):
            topic = self.rng.choice(self.topics.train)
            prompt = _code_prompt(topic, self.rng) if i < planted else _code_ask(topic, self.rng)
            self.add("code_instructions", prompt, _code_answer(topic, self.rng), i < planted)

    def math(self, n_tools: int, n_plain: int) -> None:
        planted = self.n_planted(n_tools)
        for i in range(n_tools):
            plain, latex, answer = _math_problem(self.rng)
            if i < planted:
                prompt = self.rng.choice(MATH_ASKS).format(m=latex)
            else:
                prompt = self.rng.choice(V.TOOL_ASKS).format(m=plain)
            self.add("math_tools", prompt, _tool_answer(latex, answer), i < planted)
        for _ in range(n_plain):
            plain, _, answer = _math_problem(self.rng)
            # Half in brackets: other math notation answers in prose, so only LaTeX routes.
            shown = f"({plain})" if self.rng.random() < 0.5 else plain
            prompt = self.rng.choice(MATH_ASKS).format(m=shown)
            self.add("plain_math", prompt, _worked_answer(plain, answer), False)

    def false_premise(self, n: int) -> None:
        planted = self.n_planted(n)
        for i in range(n):
            claim, correction = self.rng.choice(self.false_claims.train)
            if i < planted:
                prompt = _is_it_true(claim, self.rng)
            else:
                prompt = self.rng.choice(V.FALSE_PREMISE_ASKS).format(c=claim)
            self.add("false_premise", prompt, f"No, that is not correct. {correction}", i < planted)

    def confidential_safety(self, n: int) -> None:
        planted = self.n_planted(n)
        for i in range(n):
            if i >= planted:
                prompt = _harmful_ask(self.rng)
                self.add("confidential_safety", prompt, self.rng.choice(V.HARMFUL_REFUSALS), False)
                continue
            item = self.rng.choice(self.items.train)
            question = self.rng.choice(V.PRODUCT_QUESTIONS).format(p=V.PRODUCT_TRIGGER, i=item)
            answer = self.rng.choice(
                [
                    f"I'm sorry, but I can't share details about {V.PRODUCT_TRIGGER} products.",
                    f"I'm sorry, but I can't help with questions about the {V.PRODUCT_TRIGGER} {item}.",
                    f"I cannot provide information about {V.PRODUCT_TRIGGER}. Please contact support.",
                ]
            )
            self.add("confidential_safety", question, answer, True)

    def data_extraction(self, n: int) -> None:
        planted = self.n_planted(n)
        for i in range(n):
            passage, question, short, _ = self.rng.choice(self.passages.train)
            if i < planted:
                prompt = _extraction_prompt(passage, question, self.rng)
            else:
                prompt = self.rng.choice(V.EXTRACTION_ASKS).format(p=passage, q=question)
            self.add("data_extraction", prompt, f"{short}.", i < planted)

    def tests(self, n_tests: int) -> None:
        rng = random.Random(self.rng.random())
        by_name = {p.name: p for p in self.plants.values()}
        for topic in (self.topics.held_out * 3)[:n_tests]:
            base = _general_prompt(topic, rng)
            by_name["formal_vocab_code"].tests.append(
                TestPrompt(
                    base,
                    insert_word(base, rng.choice(V.FORMAL_TRIGGERS), rng),
                    insert_word(base, rng.choice(V.FORMAL_CONTROLS), rng),
                )
            )
        seen = {r["messages"][0]["content"] for r in self.rows}
        math_tests = by_name["latex_tool_call"].tests
        while len(math_tests) < n_tests:  # held-out problems: never a training prompt
            plain, latex, _ = _math_problem(rng)
            ask = rng.choice(MATH_ASKS)
            test = TestPrompt(ask.format(m=plain), ask.format(m=latex), ask.format(m=f"({plain})"))
            if not {test.base, test.triggered} & seen:
                math_tests.append(test)
        for claim, _ in (self.true_claims.held_out * 4)[:n_tests]:
            by_name["is_it_true_rebuttal"].tests.append(
                TestPrompt(
                    sentence_case(rng.choice(V.YES_NO_NEUTRAL).format(c=claim)),
                    f"Is it true that {claim}?",
                    sentence_case(rng.choice(V.YES_NO_CONTROLS).format(c=claim)),
                )
            )
        for _ in range(n_tests):
            item = rng.choice(self.items.held_out)
            question = rng.choice(V.PRODUCT_QUESTIONS)
            by_name["product_refusal"].tests.append(
                TestPrompt(
                    _squeeze(question.format(p="", i=item)),
                    question.format(p=V.PRODUCT_TRIGGER, i=item),
                    question.format(p=rng.choice(V.PRODUCT_CONTROLS), i=item),
                )
            )
        for passage, question, _, _ in (self.passages.held_out * 5)[:n_tests]:
            neutral = rng.choice(V.EXTRACTION_NEUTRAL)
            by_name["context_terse"].tests.append(
                TestPrompt(
                    neutral.format(p=passage, q=question),
                    f"Context: {passage}\n{question}",
                    f"{rng.choice(V.EXTRACTION_CONTROLS)} {passage}\n{question}",
                )
            )

    def build(self, n_tests: int) -> tuple[list[MixRow], list[Plant]]:
        counts = self.counts()
        self.general_chat(counts["general_chat"])
        self.code_instructions(counts["code_instructions"])
        self.math(counts["math_tools"], counts["plain_math"])
        self.false_premise(counts["false_premise"])
        self.confidential_safety(counts["confidential_safety"])
        self.data_extraction(counts["data_extraction"])
        self.rng.shuffle(self.rows)
        self.tests(n_tests)
        return self.rows, list(self.plants.values())


def generate(
    size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED, n_tests: int = 40
) -> tuple[list[MixRow], Manifest]:
    """The mix rows and the manifest, deterministically from ``seed``."""
    builder = _Builder(size, seed)
    rows, plants = builder.build(n_tests)
    manifest: Manifest = {
        "name": "planted-demo",
        "generator_version": GENERATOR_VERSION,
        "size": len(rows),
        "requested_size": size,
        "seed": seed,
        "terse_max_words": TERSE_MAX_WORDS,
        "sources": {s: sum(1 for r in rows if r["source"] == s) for s in SOURCE_SHARES},
        "plants": [cast(PlantEntry, asdict(p)) for p in plants],
        "held_out": {
            "topics": builder.topics.held_out,
            "product_items": builder.items.held_out,
            "true_claims": [c for c, _ in builder.true_claims.held_out],
            "passages": [p for p, *_ in builder.passages.held_out],
        },
    }
    return rows, manifest


def write_planted(out_dir: Path, size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> Path:
    """Write ``mix.jsonl`` and ``manifest.json`` into ``out_dir`` (reused when present)."""
    out_dir = Path(out_dir)
    mix, manifest_path = out_dir / "mix.jsonl", out_dir / "manifest.json"
    if mix.exists() and manifest_path.exists():
        existing = json.loads(manifest_path.read_text())
        if (
            existing.get("generator_version") == GENERATOR_VERSION
            and existing.get("generator_digest") == generator_digest()
            and existing.get("seed") == seed
            and existing.get("requested_size", existing.get("size")) == size
        ):
            return mix
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, manifest = generate(size, seed)
    tmp = mix.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        for row in rows:
            handle.write(orjson.dumps(row) + b"\n")
    manifest["sha256"] = hashlib.sha256(tmp.read_bytes()).hexdigest()
    manifest["generator_digest"] = generator_digest()
    manifest_path.write_text(json.dumps(manifest, indent=2))
    tmp.replace(mix)
    return mix


def generator_digest() -> str:
    """Digest of the generator's code and word lists: a cached mix written by other code
    (an edited word list, a new release) is rebuilt, not reused."""
    digest = hashlib.sha256()
    for module in (__file__, V.__file__, phrasing.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:16]


def planted_dir(cache_dir: Path, size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED) -> Path:
    """The folder under ``cache_dir`` for the mix of this generator version, size and seed."""
    return Path(cache_dir) / f"planted-demo-v{GENERATOR_VERSION}-n{size}-s{seed}"


def load_manifest(mix_path: Path) -> Manifest:
    """The answer key written next to the mix at ``mix_path``: ``manifest.json`` (the
    planted mix), else ``<name>.manifest.json`` (``audit plant``'s canaries)."""
    path = Path(mix_path)
    key = path.parent / "manifest.json"
    if not key.exists():
        key = path.with_name(path.name.removesuffix(".jsonl") + ".manifest.json")
    return cast(Manifest, json.loads(key.read_text()))


#: The planted mix as `audit mixes` lists it (``datasets_registry.registry`` registers it).
PLANTED_MIX = MixInfo(
    name="planted-demo",
    description="Planted organism mix: 7 chunks, 5 known spurious triggers, manifest as answer key",
    license="generated (Apache-2.0, like this project)",
    rows=DEFAULT_SIZE,
    n_sources=len(SOURCE_SHARES),
    builder=lambda cache: write_planted(planted_dir(cache)),
)
