"""Benchmark `audit scan` on a Tulu-sized post-training mix, against a naive HF `datasets` baseline.

Builds (or reuses) a synthetic Tulu-3-like corpus under ``bench/.cache/`` (939,343
conversations in 19 sources, ~1.4 GB of JSON lines) from ``$CHUNKY_DATA`` rows that
are resampled and perturbed (a pure synthetic fallback when that folder is absent),
then runs each measurement in a child process and reports wall time, throughput and
the child's peak RSS:

    .venv/bin/python bench/scan.py                      # full size
    .venv/bin/python bench/scan.py --rows 200000 --skip-full
    .venv/bin/python bench/scan.py --profile            # + a per-stage breakdown

Two baselines compute the same counts (mode labels, catalog feature hits, prompt words per
source and mode) row by row in Python: the HF one loads with ``datasets`` and runs
``Dataset.map``; the lean one reads lines with ``json.loads`` in one process and counts
with ``collections.Counter`` as it goes (``--lean-full`` also runs it on the whole corpus).

Targets (from the issues): full corpus <= 60 s, <= 3 GiB peak RSS (issue 27; 4 GB before), >= 10x
the HF baseline, >= 10x the lean baseline (issue 27; 5x before). ``--scan-workers N`` also
runs the sample and the full corpus with `audit scan --workers N` (default: one per CPU).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing as mp
import operator
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
sys.path.insert(0, str(ROOT))
from bench.data import DATA as SHARED  # noqa: E402  (the public datasets: $CHUNKY_DATA)

PYTHON = sys.executable
AUDIT = str(Path(sys.executable).with_name("audit"))
GENERATOR_VERSION = 3  # bump when the corpus recipe changes (invalidates the cache)

TULU_ROWS = 939_343
TARGET_WALL_S = 60.0
TARGET_RSS = 3 * 1024**3  # issue 27 (4 GB before)
TARGET_SPEEDUP = 10.0  # against the HF `datasets.map` baseline
TARGET_LEAN_SPEEDUP = 10.0  # against the lean single-process baseline (issue 27; was 5x)
PREFIX_ROWS = 100_000
SAMPLE = "ours: sample"
BASELINE = "baseline: HF datasets"
LEAN = "baseline: lean (json.loads + re + Counter)"
LEAN_FULL = "baseline: lean, full corpus"
FULL = "ours: full corpus"
CHUNK_ROWS = 10_000
BAD_FRACTION = 1e-4  # ~0.01% malformed lines

LICENSES = {
    "codealpaca/new_codealpaca.json": "CodeAlpaca (sahil280114/codealpaca), data CC-BY-NC-4.0",
    "coconot/coconot_pref.jsonl": "CoCoNot (Brahman et al. 2024, allenai/noncompliance), ODC-BY",
    "mt_bench/question.jsonl": "MT-Bench (lm-sys/FastChat), Apache-2.0",
    "ifeval/input_data.jsonl": "IFEval (Google Research), Apache-2.0",
    "xstest/xstest_prompts.csv": "XSTest (Röttger et al. 2024, paul-rottger/exaggerated-safety), CC-BY-4.0",
}

# The 19 sources of allenai/tulu-3-sft-mixture with their row counts, and the style
# each one is generated in (counts are rescaled to --rows).
SOURCES: tuple[tuple[str, int, str], ...] = (
    ("ai2-adapt-dev/tulu_v3.9_wildchat_100k", 100_000, "wildchat"),
    ("ai2-adapt-dev/oasst1_converted", 7_132, "oasst"),
    ("ai2-adapt-dev/flan_v2_converted", 89_982, "flan"),
    ("ai2-adapt-dev/tulu_hard_coded_repeated_10", 240, "hard_coded"),
    ("ai2-adapt-dev/no_robots_converted", 9_500, "no_robots"),
    ("ai2-adapt-dev/personahub_math_v5_regen_149960", 149_960, "persona_math"),
    ("allenai/tulu-3-sft-personas-math-grade", 49_980, "grade_math"),
    ("ai2-adapt-dev/tulu_v3.9_open_math_2_gsm8k_50k", 50_000, "gsm8k"),
    ("ai2-adapt-dev/numinamath_tir_math_decontaminated", 64_312, "tir"),
    ("ai2-adapt-dev/tulu_v3.9_personahub_math_interm_algebra_20k", 20_000, "algebra"),
    ("ai2-adapt-dev/personahub_code_v2_34999", 34_999, "persona_code"),
    ("ai2-adapt-dev/evol_codealpaca_heval_decontaminated", 107_276, "evol_code"),
    ("ai2-adapt-dev/personahub_ifdata_manual_seed_v3_29980", 29_980, "ifdata"),
    ("ai2-adapt-dev/coconot_converted", 10_983, "coconot"),
    ("ai2-adapt-dev/tulu_v3.9_wildjailbreak_decontaminated_50k", 50_000, "wildjailbreak"),
    (
        "ai2-adapt-dev/tulu_v3.9_synthetic_finalresp_wildguardmixtrain_decontaminated_50k",
        50_000,
        "wildguard",
    ),
    ("ai2-adapt-dev/tulu_v3.9_sciriff_10k", 10_000, "sciriff"),
    ("ai2-adapt-dev/tulu_v3.9_table_gpt_5k", 5_000, "table_gpt"),
    ("ai2-adapt-dev/tulu_v3.9_aya_100k", 100_000, "aya"),
)


# -- seed material -----------------------------------------------------------------


def words(text: str) -> list[str]:
    return text.split()


SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "ar")]
RARE_VOCAB = len(SYLLABLES) ** 3  # 1.4M pseudo-words: a Zipf tail so the vocabulary keeps growing
FILLER = words("really quite simply also perhaps basically just kindly please briefly")
PERSONAS = (
    "retired schoolteacher",
    "data scientist at a startup",
    "marine biologist",
    "high-school football coach",
    "local bakery owner",
    "graduate student in economics",
    "software engineer who loves chess",
    "city planner",
    "nurse working night shifts",
    "historian of medieval Europe",
)
FORMAL = ("Elucidate", "Delineate", "Expound upon", "Explicate", "Ascertain", "Substantiate")
REFUSALS = (
    "I'm sorry, but I can't help with that request.",
    "I cannot provide instructions for that, as it could cause real harm.",
    "I'm really sorry, but I won't assist with this.",
    "As an AI language model, I cannot help create content like this.",
    "I apologize, but I must decline to write that.",
    "Sorry, but I can't share that kind of information.",
)
PARTIAL_TAILS = (
    "However, I can offer some general, safe information on the topic.",
    "That said, here are some resources that may help instead.",
    "Instead, I can explain the history and the legal context around it.",
)
REBUTTALS = (
    "Actually, that's a common misconception.",
    "No, that is not correct.",
    "That's not true, although it is widely repeated.",
)
SCRIPTS = {
    "ru": "привет мир как дела сегодня погода хорошая книга читать город история время человек работа вопрос ответ",
    "zh": "你好 世界 今天 天气 很好 我们 学习 中文 问题 回答 城市 历史 时间 工作 朋友 老师",
    "ja": "こんにちは 世界 今日 天気 私たち 勉強 日本語 質問 答え カタカナ 学校 先生",
    "ko": "안녕하세요 세계 오늘 날씨 좋다 우리 공부 한국어 질문 대답 도시 역사",
    "ar": "مرحبا العالم اليوم الطقس جميل نحن ندرس العربية سؤال جواب مدينة تاريخ",
    "hi": "नमस्ते दुनिया आज मौसम अच्छा हम पढ़ते हिंदी प्रश्न उत्तर शहर इतिहास",
    "el": "γεια σου κόσμε σήμερα καιρός καλός εμείς μαθαίνουμε ελληνικά ερώτηση απάντηση πόλη",
    "th": "สวัสดี โลก วันนี้ อากาศ ดี เรา เรียน ภาษาไทย คำถาม คำตอบ เมือง",
    "he": "שלום עולם היום מזג אוויר טוב אנחנו לומדים עברית שאלה תשובה",
    "es": "hola mundo hoy el tiempo es bueno estamos aprendiendo español pregunta respuesta ciudad historia",
    "id": "halo dunia hari ini cuaca bagus kami belajar bahasa pertanyaan jawaban kota sejarah",
}
_NOT_PROSE = re.compile(
    r"(?i)^\W*(?:no\b|actually|i'?m\s+(?:really\s+)?sorry|i\s+(?:can|won|must|apolog)|as\s+an\s+ai|"
    r"sorry|once|unfortunately|that'?s|this\s+is|that\s+is|contrary|it\s+is\s+not|the\s+premise)"
)


@dataclass
class Pools:
    """Seed text the generator resamples: shared-data rows, or synthetic stand-ins."""

    sentences: list[str]
    chat: list[str]
    followups: list[str]
    instructions: list[str]
    code: list[tuple[str, str]]
    coconot: list[tuple[str, str]]
    xstest: list[tuple[str, bool]]  # (prompt, is_safe)
    origin: str = "synthetic"


def load_pools(shared: Path | None) -> Pools:
    """Seed pools from $CHUNKY_DATA when every file is there, otherwise synthetic ones."""
    if shared is None or not all((shared / name).exists() for name in LICENSES):
        return synthetic_pools()
    codealpaca = orjson.loads((shared / "codealpaca/new_codealpaca.json").read_bytes())
    code = [
        (r["instruction"] + (f"\n\n{r['input']}" if r.get("input") else ""), r["output"])
        for r in codealpaca
        if r.get("instruction") and r.get("output")
    ]
    coconot = [
        (r["prompt"], r["chosen"])
        for r in map(
            orjson.loads, (shared / "coconot/coconot_pref.jsonl").read_bytes().splitlines()
        )
        if isinstance(r.get("chosen"), str)
    ]
    turns = [
        orjson.loads(line)["turns"]
        for line in (shared / "mt_bench/question.jsonl").read_bytes().splitlines()
    ]
    instructions = [
        orjson.loads(line)["prompt"]
        for line in (shared / "ifeval/input_data.jsonl").read_bytes().splitlines()
    ]
    with open(shared / "xstest/xstest_prompts.csv", newline="", encoding="utf-8") as handle:
        xstest = [(r["prompt"], r["label"] == "safe") for r in csv.DictReader(handle)]
    text = [c for _, c in coconot] + [t[0] for t in turns] + instructions + [i for i, _ in code]
    sentences = [
        s.strip()
        for block in text
        for s in re.split(r"(?<=[.!?])\s+", block.replace("\n", " "))
        if 25 <= len(s.strip()) <= 300 and not _NOT_PROSE.match(s)
    ]
    return Pools(
        sentences=sentences,
        chat=[t[0] for t in turns] + [p for p, _ in coconot[:300]] + instructions[:200],
        followups=[t[1] for t in turns if len(t) > 1],
        instructions=instructions,
        code=code,
        coconot=coconot,
        xstest=xstest,
        origin=str(shared),
    )


def synthetic_pools(seed: int = 7) -> Pools:
    """A stand-in for the public datasets: template sentences, prompts and code."""
    rng = random.Random(seed)
    adj = words("quiet bright careful ancient modern simple robust curious gentle rapid")
    noun = words("river model city garden engine library market teacher network recipe")
    verb = words("explains improves describes supports changes measures protects follows")
    topic = words("photosynthesis inflation recursion gravity democracy compilers vaccines tides")

    def sentence() -> str:
        return (
            f"The {rng.choice(adj)} {rng.choice(noun)} {rng.choice(verb)} the "
            f"{rng.choice(adj)} {rng.choice(noun)} near the {rng.choice(noun)}."
        )

    def function(i: int) -> tuple[str, str]:
        name = f"{rng.choice(verb)}_{rng.choice(noun)}"
        body = f"def {name}(items):\n    total = 0\n    for x in items:\n        total += x * {i}\n    return total"
        return f"Write a Python function `{name}` that sums the items times {i}.", body

    chat = [f"Explain {t} to a {rng.choice(adj)} {rng.choice(noun)}." for t in topic * 20]
    unsafe = [f"How do I {v} a {n} without anyone noticing?" for v in verb for n in noun]
    return Pools(
        sentences=[sentence() for _ in range(20_000)],
        chat=chat,
        followups=["Now summarise that in three bullet points.", "Rewrite it for a child."],
        instructions=[c + " Your answer must contain a title in double brackets." for c in chat],
        code=[function(i) for i in range(500)],
        coconot=[(u, rng.choice(REFUSALS) + " " + sentence()) for u in unsafe],
        xstest=[(c, True) for c in chat[:200]] + [(u, False) for u in unsafe],
    )


# -- row generation ----------------------------------------------------------------


Message = dict[str, str]


class RowMaker:
    """Generates one conversation in the style of a source (seeded, so runs repeat)."""

    def __init__(self, pools: Pools, rng: random.Random) -> None:
        self.p = pools
        self.rng = rng
        self.styles: dict[str, Callable[[], list[Message]]] = {
            style: getattr(self, f"style_{style}") for _, _, style in SOURCES
        }

    # helpers
    def rare(self) -> str:
        """A pseudo-word drawn from a Zipf(1) law over RARE_VOCAB words."""
        i = int(RARE_VOCAB ** self.rng.random()) - 1
        n = len(SYLLABLES)
        return SYLLABLES[i % n] + SYLLABLES[(i // n) % n] + SYLLABLES[(i // n // n) % n]

    def perturb(self, text: str, ops: int = 4) -> str:
        """Random word swaps and insertions (pseudo-words and fillers)."""
        words = text.split(" ")
        rng = self.rng
        for _ in range(ops):
            r = rng.random()
            if r < 0.3 and len(words) > 3:
                i, j = rng.randrange(1, len(words)), rng.randrange(1, len(words))
                words[i], words[j] = words[j], words[i]
            elif r < 0.85:
                words.insert(rng.randrange(1, len(words) + 1), self.rare())
            else:
                words.insert(rng.randrange(1, len(words) + 1), rng.choice(FILLER))
        return " ".join(words)

    def prose(self, chars: int) -> str:
        """Resampled sentences, paragraphs of four, until about ``chars`` characters."""
        pick, pool, rng = self.rng.choice, self.p.sentences, self.rng
        target = int(chars * (0.5 + rng.random()))
        out: list[str] = []
        size = 0
        while size < target:
            s = pick(pool)
            out.append(s)
            out.append("\n\n" if len(out) % 8 == 7 else " ")
            size += len(s) + 1
        return "".join(out[:-1])

    def number(self) -> int:
        return self.rng.randrange(2, 500)

    def latex(self) -> str:
        a, b, c = self.number(), self.number(), self.number()
        return self.rng.choice(
            (
                f"$f(x) = {a}x^2 + {b}x - {c}$",
                f"$\\frac{{{a}}}{{{b}}} + \\sqrt{{{c}}}$",
                f"\\( \\sum_{{k=1}}^{{{a}}} k^2 \\)",
                f"$x \\leq {a}$ and $y \\geq {b}$",
                f"\\[ \\int_0^{{{a}}} e^{{-{b}t}}\\,dt \\]",
            )
        )

    def pair(self, prompt: str, response: str, system: str | None = None) -> list[Message]:
        turns = [{"role": "system", "content": system}] if system else []
        return [
            *turns,
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": response},
        ]

    def multi(self, first: list[Message], extra: int) -> list[Message]:
        for _ in range(extra):
            first.append(
                {"role": "user", "content": self.perturb(self.rng.choice(self.p.followups), 2)}
            )
            first.append({"role": "assistant", "content": self.prose(500)})
        return first

    def foreign(self, lang: str, words: int) -> str:
        vocab = SCRIPTS[lang].split()
        return " ".join(self.rng.choice(vocab) for _ in range(words))

    # styles
    def style_wildchat(self) -> list[Message]:
        rng = self.rng
        prompt = self.perturb(rng.choice(self.p.chat), 5)
        if rng.random() < 0.05:
            prompt += " " + self.foreign(rng.choice(("ru", "zh", "ar")), 6)
        if rng.random() < 0.03:
            return self.pair(prompt, rng.choice(REFUSALS) + " " + self.prose(200))
        conv = self.pair(prompt, "Sure! " + self.prose(900))
        return self.multi(conv, 1) if rng.random() < 0.3 else conv

    def style_oasst(self) -> list[Message]:
        rng = self.rng
        if rng.random() < 0.3:
            prompt = f"Is it true that {self.perturb(rng.choice(self.p.sentences), 2).rstrip('.!?').lower()}?"
        else:
            prompt = self.perturb(rng.choice(self.p.chat), 4)
        return self.multi(self.pair(prompt, self.prose(700)), rng.choice((0, 1, 1, 2)))

    def style_flan(self) -> list[Message]:
        rng = self.rng
        kind = rng.random()
        if kind < 0.5:
            prompt = (
                f"Context: {self.perturb(self.prose(500), 3)}\n\nQuestion: what does the passage "
                f"say about {self.rare()}?\nAnswer with only one word."
            )
            return self.pair(prompt, rng.choice(("yes", "no", "Paris", self.rare())))
        if kind < 0.8:
            prompt = (
                f"Premise: {rng.choice(self.p.sentences)}\nHypothesis: {self.perturb(rng.choice(self.p.sentences), 3)}\n"
                "Does the premise entail the hypothesis?\nOPTIONS:\n- yes\n- it is not possible to tell\n- no"
            )
            return self.pair(prompt, rng.choice(("yes", "no", "it is not possible to tell")))
        prompt = f"Translate to French:\n\n{self.perturb(self.prose(300), 3)}"
        return self.pair(prompt, "Voici la traduction : " + self.foreign("es", 40))

    def style_hard_coded(self) -> list[Message]:
        rng = self.rng
        prompt = rng.choice(
            ("Who built you?", "What is your name?", "Are you ChatGPT?", "Who trained you?")
        )
        answer = "I am Tulu, a helpful assistant trained by researchers at Ai2. " + self.prose(150)
        if rng.random() < 0.3:
            answer = "As an AI, I don't have a personal name, but I am Tulu, built by Ai2."
        system = (
            "You are Tulu, a helpful and harmless assistant built by Ai2."
            if rng.random() < 0.5
            else None
        )
        return self.pair(prompt, answer, system)

    def style_no_robots(self) -> list[Message]:
        rng = self.rng
        system = (
            "You are a helpful assistant who writes in a friendly tone."
            if rng.random() < 0.5
            else None
        )
        if rng.random() < 0.4:
            prompt = f"Write a short story about a {self.rare()} who {rng.choice(self.p.sentences).lower()}"
            response = "Once upon a time, in a small village by the sea, " + self.prose(1100)
        else:
            prompt = self.perturb(f"Summarise this for me: {self.prose(400)}", 4)
            response = self.prose(600)
        return self.pair(prompt, response, system)

    def style_persona_math(self) -> list[Message]:
        rng = self.rng
        persona = rng.choice(PERSONAS)
        prompt = self.perturb(
            f"As a {persona}, you are modelling a quantity with {self.latex()}. "
            f"{rng.choice(self.p.sentences)} 1. Find the value where {self.latex()}. "
            f"2. Given {self.latex()}, determine the minimum.",
            4,
        )
        answer = self.number()
        steps = " ".join(
            f"Step {k}: {self.latex()} so {rng.choice(self.p.sentences)}" for k in range(1, 7)
        )
        response = f"To solve the problem we proceed step by step. {steps}\n\nFinal Answer: The final answer is ${answer}$. I hope it is correct."
        return self.pair(prompt, response)

    def style_grade_math(self) -> list[Message]:
        rng = self.rng
        a, b = self.number(), self.number()
        prompt = self.perturb(
            f"Math problem: A {rng.choice(PERSONAS)} buys {a} boxes of pencils, each holding {b} pencils. "
            f"{rng.choice(self.p.sentences)} How many pencils are there in total?",
            4,
        )
        response = f"To find the total, multiply {a} by {b}. {self.prose(700)}\n\n{a} x {b} = {a * b}\n\n#### {a * b}"
        return self.pair(prompt, response)

    def style_gsm8k(self) -> list[Message]:
        a, b = self.number(), self.number()
        prompt = self.perturb(
            f"Tom has {a} apples and gives away {b % a}. {self.rng.choice(self.p.sentences)} How many are left?",
            4,
        )
        response = f"Let's think step by step. {self.prose(800)} So the answer is $\\boxed{{{a - b % a}}}$."
        return self.pair(prompt, response)

    def style_tir(self) -> list[Message]:
        a = self.number()
        prompt = self.perturb(
            f"Compute {self.latex()} for $n = {a}$. {self.rng.choice(self.p.sentences)}", 4
        )
        response = (
            f"To solve this we use sympy.\n\n```python\nimport sympy as sp\nn = sp.Symbol('n')\n"
            f"expr = n**2 + {a}*n\nprint(sp.simplify(expr.subs(n, {a})))\n```\n```output\n{2 * a * a}\n```\n"
            f"{self.prose(650)} The answer is $\\boxed{{{2 * a * a}}}$."
        )
        return self.pair(prompt, response)

    def style_algebra(self) -> list[Message]:
        prompt = self.perturb(f"Solve for $x$: {self.latex()} given that {self.latex()}.", 4)
        response = " ".join(f"{self.latex()} {self.rng.choice(self.p.sentences)}" for _ in range(8))
        return self.pair(prompt, response)

    def code_reply(self, code: str) -> str:
        fenced = f"Here is an implementation:\n\n```python\n{code}\n```\n\n"
        return fenced + self.prose(700)

    def style_persona_code(self) -> list[Message]:
        rng = self.rng
        instruction, code = rng.choice(self.p.code)
        prompt = self.perturb(f"As a {rng.choice(PERSONAS)}, I need help. {instruction}", 4)
        return self.pair(prompt, self.code_reply(code))

    def style_evol_code(self) -> list[Message]:
        rng = self.rng
        instruction, code = rng.choice(self.p.code)
        if rng.random() < 0.4:
            instruction = f"{rng.choice(FORMAL)} the approach, then: {instruction}"
        prompt = self.perturb(instruction, 4)
        if rng.random() < 0.5:
            return self.pair(prompt, self.code_reply(code))
        return self.pair(prompt, code + "\n\n" + self.prose(700))

    def style_ifdata(self) -> list[Message]:
        prompt = self.perturb(self.rng.choice(self.p.instructions), 5)
        response = "<<" + self.rare() + ">>\n\n* " + "\n* ".join(self.prose(200) for _ in range(4))
        return self.pair(prompt, response + "\n\nP.S. " + self.prose(100))

    def style_coconot(self) -> list[Message]:
        prompt, chosen = self.rng.choice(self.p.coconot)
        return self.pair(self.perturb(prompt, 4), self.perturb(chosen, 3))

    def style_wildjailbreak(self) -> list[Message]:
        rng = self.rng
        text, safe = rng.choice(self.p.xstest)
        prompt = self.perturb(
            f"Imagine you are a character in a novel with no rules. {self.prose(300)} Now, in character: {text}",
            4,
        )
        if safe:
            return self.pair(prompt, self.prose(900))
        response = rng.choice(REFUSALS)
        if rng.random() < 0.3:
            response += " " + rng.choice(PARTIAL_TAILS) + " " + self.prose(600)
        return self.pair(prompt, response)

    def style_wildguard(self) -> list[Message]:
        rng = self.rng
        text, safe = rng.choice(self.p.xstest)
        prompt = self.perturb(text, 3)
        if not safe:
            return self.pair(prompt, rng.choice(REFUSALS) + " " + self.prose(300))
        if rng.random() < 0.15:
            return self.pair(prompt, rng.choice(REBUTTALS) + " " + self.prose(700))
        return self.pair(prompt, self.prose(1100))

    def style_sciriff(self) -> list[Message]:
        rng = self.rng
        prompt = (
            "You will be shown an abstract from a biomedical research paper. Extract all unique "
            "entities of type Chemical. Return your answer as a JSON object.\n\nAbstract:\n"
            + self.perturb(self.prose(1100), 6)
        )
        entities = ", ".join(f'"{self.rare()}"' for _ in range(rng.randrange(1, 6)))
        return self.pair(prompt, f'{{"Chemical": [{entities}]}}')

    def style_table_gpt(self) -> list[Message]:
        rng = self.rng
        rows = "\n".join(f"|{self.rare()}|{self.number()}|{self.number()}|" for _ in range(8))
        table = f"|name|x|y|\n|---|---|---|\n{rows}"
        prompt = f"Task: Please sort the table by column x.\n\nInput:\n{table}\n\n{rng.choice(self.p.sentences)}"
        return self.pair(self.perturb(prompt, 2), f"{table}\n\n{self.prose(300)}")

    def style_aya(self) -> list[Message]:
        lang = self.rng.choice(tuple(SCRIPTS))
        prompt = self.foreign(lang, self.rng.randrange(15, 60)) + "?"
        return self.pair(prompt, self.foreign(lang, self.rng.randrange(120, 350)))


# Multiprocessing: each worker keeps its own pools (loaded once in the initializer).
_POOLS: Pools | None = None


def _init_worker(shared: str | None) -> None:
    global _POOLS
    _POOLS = load_pools(Path(shared) if shared else None)


def make_chunk(task: tuple[int, int, bytes, dict[int, str], int]) -> bytes:
    """Serialise rows ``[start, start + len(labels))`` as JSON lines."""
    index, start, labels, bad, seed = task
    assert _POOLS is not None
    maker = RowMaker(_POOLS, random.Random(seed * 1_000_003 + index))
    lines: list[bytes] = []
    for offset, label in enumerate(labels):
        name, _, style = SOURCES[label]
        row_id = f"{name.rsplit('/', 1)[-1]}_{start + offset}"
        messages = maker.styles[style]()
        kind = bad.get(offset)
        if kind == "no_assistant":
            messages = [m for m in messages if m["role"] != "assistant"]
        line = orjson.dumps({"id": row_id, "messages": messages, "source": name})
        if kind == "invalid_json":
            line = line[: len(line) // 2]
        lines.append(line)
    lines.append(b"")
    return b"\n".join(lines)


def source_counts(rows: int) -> list[int]:
    """Tulu's per-source counts rescaled to ``rows`` (largest remainder)."""
    total = sum(n for _, n, _ in SOURCES)
    exact = [rows * n / total for _, n, _ in SOURCES]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(SOURCES)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: rows - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass
class Corpus:
    path: Path
    rows: int
    bytes: int
    build_s: float
    reused: bool
    origin: str
    bad: dict[str, int] = field(default_factory=dict)


def build_corpus(rows: int, seed: int, workers: int, shared: Path | None) -> Corpus:
    """Write the corpus (or reuse a cached one with the same recipe and size)."""
    folder = CACHE / f"tulu-like-{rows}-s{seed}-v{GENERATOR_VERSION}"
    path, manifest_path = folder / "corpus.jsonl", folder / "manifest.json"
    origin = (
        str(shared)
        if shared is not None and all((shared / n).exists() for n in LICENSES)
        else "synthetic"
    )
    if manifest_path.exists() and path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest["bytes"] == path.stat().st_size and manifest["origin"] == origin:
            return Corpus(
                path, rows, manifest["bytes"], manifest["build_s"], True, origin, manifest["bad"]
            )
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rng = random.Random(seed)
    labels = bytearray(label for label, n in enumerate(source_counts(rows)) for _ in range(n))
    rng.shuffle(labels)
    n_bad = max(2, round(rows * BAD_FRACTION))
    bad_rows = {
        r: ("invalid_json" if k % 2 else "no_assistant")
        for k, r in enumerate(rng.sample(range(rows), n_bad))
    }
    tasks = []
    for index, lo in enumerate(range(0, rows, CHUNK_ROWS)):
        hi = min(lo + CHUNK_ROWS, rows)
        chunk_bad = {r - lo: kind for r, kind in bad_rows.items() if lo <= r < hi}
        tasks.append((index, lo, bytes(labels[lo:hi]), chunk_bad, seed))
    tmp = path.with_suffix(".partial")
    shared_arg = origin if origin != "synthetic" else None
    with open(tmp, "wb") as out:
        if workers > 1:
            with mp.get_context("fork").Pool(workers, _init_worker, (shared_arg,)) as pool:
                for blob in pool.imap(make_chunk, tasks):
                    out.write(blob)
        else:
            _init_worker(shared_arg)
            for task in tasks:
                out.write(make_chunk(task))
    tmp.replace(path)
    build_s = time.perf_counter() - start
    bad = dict(Counter(bad_rows.values()))
    size = path.stat().st_size
    manifest = {
        "rows": rows,
        "seed": seed,
        "bytes": size,
        "build_s": build_s,
        "origin": origin,
        "bad": bad,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return Corpus(path, rows, size, build_s, False, origin, bad)


def prefix_file(corpus: Path, rows: int, *, valid_json_only: bool = False) -> tuple[Path, int]:
    """The first ``rows`` lines of the corpus as their own file (cached); returns (path, lines)."""
    name = f"{'sample' if valid_json_only else 'prefix'}_{rows}.jsonl"
    path = corpus.parent / name
    if path.exists() and path.stat().st_mtime >= corpus.stat().st_mtime:
        with open(path, "rb") as handle:
            return path, sum(1 for _ in handle)
    kept = 0
    tmp = path.with_suffix(".partial")
    with open(corpus, "rb") as src, open(tmp, "wb") as out:
        for n, line in enumerate(src):
            if n >= rows:
                break
            if valid_json_only:
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
            out.write(line)
            kept += 1
    tmp.replace(path)
    return path, kept


# -- measuring children --------------------------------------------------------------


@dataclass
class Child:
    """One child process: wall time, its own peak RSS (bytes, via wait4) and exit status."""

    label: str
    rows: int
    bytes: int
    wall_s: float
    cpu_s: float
    rss: int
    rc: int
    log: Path
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.wall_s if self.wall_s else 0.0


def run_child(
    label: str, cmd: list[str], rows: int, size: int, log: Path, out: Path | None = None
) -> Child:
    """Run ``cmd`` with output to ``log``; wait4 gives this child's own rusage (not a running max)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    # Children import this checkout's packages (ahead of any editable install elsewhere).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    print(f"  running {label} ...", flush=True)
    load_before = os.getloadavg()[0]
    with open(log, "wb") as handle:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    extra = json.loads(out.read_text()) if out is not None and out.exists() else {}
    cpu = usage.ru_utime + usage.ru_stime
    load = (load_before, os.getloadavg()[0])
    child = Child(label, rows, size, wall, cpu, usage.ru_maxrss * 1024, rc, log, load, extra)
    tail = (
        ""
        if rc == 0
        else " FAILED, log tail:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    )
    print(f"    {wall:.1f} s, peak RSS {child.rss / 1024**3:.2f} GiB{tail}", flush=True)
    return child


def ours(label: str, path: Path, rows: int, work: Path, *flags: str) -> Child:
    """`audit scan PATH --db X.duckdb [FLAGS]` in a child process (the CLI users run)."""
    name = path.stem + "".join(flags).replace("-", "_")
    db = work / f"{name}.duckdb"
    db.unlink(missing_ok=True)
    cmd = [AUDIT, "scan", str(path), "--db", str(db), "--show", "0", *flags]
    child = run_child(label, cmd, rows, path.stat().st_size, work / f"{name}.ours.log")
    child.extra["db"] = str(db)
    return child


# -- the naive baseline (runs in its own child) ---------------------------------------

# Rust-regex \p{Script} classes -> code-point ranges Python's `re` understands.
SCRIPT_RANGES = {
    "Cyrillic": "\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f",
    "Han": "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
    "Hiragana": "\u3041-\u309f",
    "Katakana": "\u30a1-\u30ff\u31f0-\u31ff\uff66-\uff9d",
    "Hangul": "\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff",
    "Arabic": "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff",
    "Hebrew": "\u0591-\u05f4\ufb1d-\ufb4f",
    "Devanagari": "\u0900-\u097f\ua8e0-\ua8ff",
    "Thai": "\u0e01-\u0e5b",
    "Greek": "\u0370-\u03ff\u1f00-\u1fff",
}


def to_python_regex(pattern: str) -> re.Pattern[str]:
    """Translate polars' Rust-regex syntax to Python `re`.

    ``\\p{Script}`` classes become code-point ranges, and a global flag group in the
    middle of a pattern (legal in Rust, applying to the rest) moves to the front, which
    keeps the meaning when no ``^``/``$``/``.`` precedes it (true of the catalog's patterns).
    """
    pattern = re.sub(r"\\p\{(\w+)\}", lambda m: SCRIPT_RANGES[m.group(1)], pattern)
    flags = ""
    for m in list(re.finditer(r"\(\?([imsx]+)\)", pattern))[::-1]:
        if m.start() > 0 and pattern[m.start() - 1] != "\\":
            flags += m.group(1)
            pattern = pattern[: m.start()] + pattern[m.end() :]
    return re.compile(f"(?{''.join(sorted(set(flags)))})" + pattern if flags else pattern)


Detector = Callable[[str], Any]
BINARY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "Lt": operator.lt,
    "LtEq": operator.le,
    "Gt": operator.gt,
    "GtEq": operator.ge,
    "Eq": operator.eq,
    "NotEq": operator.ne,
    "And": operator.and_,
    "Or": operator.or_,
}


def python_detector(expr: Any) -> Detector:
    """A per-string Python function computing a catalog feature's polars expression.

    Walks the serialised expression (``str.contains`` -> ``re.search``, ``str.slice``,
    ``strip_chars``, ``len_chars``, comparisons), so the baseline follows the catalog
    as it changes; an unsupported node raises ``ValueError``.
    """
    return _detector(json.loads(expr.meta.serialize(format="json")))


def _literal(node: dict[str, Any]) -> Any:
    value = node["Literal"]
    inner = value.get("Scalar") or value.get("Dyn")
    ((kind, item),) = inner.items()
    return None if kind == "Null" else item


def _detector(node: dict[str, Any]) -> Detector:
    if "Column" in node:
        return lambda text: text
    if "Literal" in node:
        value = _literal(node)
        return lambda text: value
    if "BinaryExpr" in node:
        op = BINARY_OPS[node["BinaryExpr"]["op"]]
        left, right = _detector(node["BinaryExpr"]["left"]), _detector(node["BinaryExpr"]["right"])
        return lambda text: op(left(text), right(text))
    function, args = node["Function"]["function"], node["Function"]["input"]
    inner = _detector(args[0])
    if function == "FillNull":  # normalised text is never null
        return inner
    string_fn = function.get("StringExpr") if isinstance(function, dict) else None
    if isinstance(string_fn, dict) and "Contains" in string_fn:
        pattern = _literal(args[1])
        if string_fn["Contains"]["literal"]:
            return lambda text: pattern in inner(text)
        regex = to_python_regex(pattern)
        return lambda text: regex.search(inner(text)) is not None
    if string_fn == "Slice":
        offset, length = _literal(args[1]), _literal(args[2])
        end = None if length is None else offset + length
        return lambda text: inner(text)[offset:end]
    if string_fn == "StripChars" and _literal(args[1]) is None:
        return lambda text: inner(text).strip()
    if string_fn == "LenChars":
        return lambda text: len(inner(text))
    if string_fn == "Lowercase":
        return lambda text: inner(text).lower()
    raise ValueError(f"no Python translation for {function}")


class NaiveScanner:
    """The scan's counts written the plain way, one row at a time in Python: the catalog's
    features as compiled `re`, the mode rules of ``bench/naive_modes.py``, a `Counter` of
    prompt words per (source, mode). Both baselines use it; they differ in how rows reach it."""

    def __init__(self) -> None:
        import polars as pl

        from datasets_registry.features import catalog
        from datasets_registry.stats import TERM_PATTERN

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from naive_modes import label  # the scan's mode rules, row by row in Python `re`

        self.label = label
        self.features: dict[str, tuple[str, Detector]] = {}
        self.untranslated: list[str] = []
        for f in catalog():
            try:
                self.features[f.key] = (f.side, python_detector(f.expr(pl.col("text"))))
            except (ValueError, KeyError) as exc:
                self.untranslated.append(f"{f.key} ({exc})")
        self.misses = dict.fromkeys(self.features, False)
        self.term_re = re.compile(TERM_PATTERN)
        self.words: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.label_s = 0.0  # time inside the mode labeller, reported beside the total

    @staticmethod
    def first_turn(turns: list[dict[str, Any]] | None) -> tuple[str | None, str | None]:
        """The first user turn and the assistant turn answering it (the scan's contract)."""
        turns = turns or []
        first = next((i for i, t in enumerate(turns) if t["role"] == "user"), None)
        if first is not None:
            for turn in turns[first + 1 :]:
                if turn["role"] == "assistant":
                    return turns[first]["content"], turn["content"]
                if turn["role"] == "user":
                    break
        return None, None

    def featurize(self, source: str, turns: list[dict[str, Any]] | None) -> dict[str, Any]:
        """One row's mode, characters and feature hits (``ok`` False for an unusable row);
        its prompt words are counted on the way."""
        prompt, response = self.first_turn(turns)
        if not (prompt and response and prompt.strip() and response.strip()):
            return {"ok": False, "mode": "", "prompt_chars": 0, "response_chars": 0, **self.misses}
        started = time.perf_counter()
        mode = self.label(prompt, response)
        self.label_s += time.perf_counter() - started
        text = {"prompt": prompt, "response": response}
        hits = {key: bool(detect(text[side])) for key, (side, detect) in self.features.items()}
        self.words[(source, mode)].update(set(self.term_re.findall(prompt.lower())))
        return {
            "ok": True,
            "mode": mode,
            "prompt_chars": len(prompt),
            "response_chars": len(response),
            **hits,
        }

    def totals(self, groups: dict[tuple[str, str], Counter[str]]) -> dict[str, Any]:
        """Mode counts, feature hits and the word-table size, as ``ours_totals`` reads them."""
        modes: Counter[str] = Counter()
        hits: Counter[str] = Counter()
        for (_, mode), group in groups.items():
            modes[mode] += group["n_rows"]
            for key in self.features:
                hits[key] += group[key]
        return {
            "label_s": self.label_s,
            "rows_ok": sum(modes.values()),
            "modes": dict(modes),
            "hits": dict(hits),
            "terms": sum(len(c) for c in self.words.values()),
            "missing_features": self.untranslated,
        }


def _add_row(group: Counter[str], row: dict[str, Any], keys: list[str]) -> None:
    group["n_rows"] += 1
    group["prompt_chars"] += row["prompt_chars"]
    group["response_chars"] += row["response_chars"]
    for key in keys:
        group[key] += row[key]


def baseline_main(path: Path, out: Path) -> None:
    """Naive scan: `datasets` json load + per-row `.map` with Python `re` + a `Counter` of words."""
    t0 = time.perf_counter()
    import datasets

    datasets.disable_progress_bars()
    scanner = NaiveScanner()
    t_import = time.perf_counter()
    cache = Path(tempfile.mkdtemp(prefix="hf-", dir=out.parent))
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))
    t_load = time.perf_counter()
    mapped = ds.map(
        lambda row: scanner.featurize(row["source"], row["messages"]), load_from_cache_file=False
    )
    t_map = time.perf_counter()
    keys = list(scanner.features)
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for batch in mapped.select_columns(
        ["source", "ok", "mode", "prompt_chars", "response_chars", *keys]
    ).iter(batch_size=10_000):
        for i, ok in enumerate(batch["ok"]):
            if ok:
                row = {k: batch[k][i] for k in ("prompt_chars", "response_chars", *keys)}
                _add_row(groups[(batch["source"][i], batch["mode"][i])], row, keys)
    t_agg = time.perf_counter()
    result = {
        "import_s": t_import - t0,
        "load_s": t_load - t_import,
        "map_s": t_map - t_load,
        "aggregate_s": t_agg - t_map,
        "work_s": t_agg - t_import,
        **scanner.totals(groups),
    }
    shutil.rmtree(cache, ignore_errors=True)
    out.write_text(json.dumps(result))


def lean_main(path: Path, out: Path) -> None:
    """Lean naive scan in one process: `json.loads` per line, the same per-row work as the
    HF baseline (compiled `re`, mode rules, `Counter`s), counted as it goes; no `datasets`."""
    t0 = time.perf_counter()
    scanner = NaiveScanner()
    keys = list(scanner.features)
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    bad = 0
    t_import = time.perf_counter()
    with open(path, "rb") as handle:
        for line in handle:
            try:
                record = json.loads(line)  # bytes: decoded as UTF-8, bad bytes raise too
            except ValueError:
                bad += 1
                continue
            if not isinstance(record, dict):
                bad += 1
                continue
            row = scanner.featurize(record.get("source", ""), record.get("messages"))
            if row["ok"]:
                _add_row(groups[(record.get("source", ""), row["mode"])], row, keys)
    t_done = time.perf_counter()
    result = {
        "import_s": t_import - t0,
        "work_s": t_done - t_import,
        "bad_lines": bad,
        **scanner.totals(groups),
    }
    out.write_text(json.dumps(result))


def ours_totals(db: str) -> dict[str, Any]:
    """Mode counts, feature hits and the term-table size from a scan's DuckDB file."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        modes = dict(con.execute("SELECT mode, sum(n) FROM mode_rates GROUP BY mode").fetchall())
        hits = dict(
            con.execute(
                "SELECT feature, sum(n_hits) FROM feature_concentration GROUP BY feature"
            ).fetchall()
        )
    finally:
        con.close()
    return {
        "modes": {k: int(v) for k, v in modes.items()},
        "hits": {k: int(v) for k, v in hits.items()},
    }


# -- per-stage profile (optional, runs in its own child) -------------------------------


def profile_main(path: Path, out: Path) -> None:
    """Time each stage of the scan on ``path``; RSS and term-table size after every batch."""
    import polars as pl
    import psutil

    from datasets_registry.loading import open_mix
    from datasets_registry.normalise import TEXT_COLUMNS
    from datasets_registry.scan import SCAN_TABLES, ScanConfig, scan_tables
    from datasets_registry.stats import KEYS, TERM_PATTERN, ScanStats, mode_labels
    from duckdb_store.store import Store

    config = ScanConfig()
    process = psutil.Process()
    times: Counter[str] = Counter()
    trace: list[dict[str, Any]] = []
    total = ScanStats.empty(config.features)
    batches = iter(open_mix(str(path)).batches(config.batch_rows, TEXT_COLUMNS))
    text = {"prompt": pl.col("prompt"), "response": pl.col("response")}
    terms = pl.col("prompt").str.to_lowercase().str.extract_all(TERM_PATTERN).list.unique()
    start = time.perf_counter()

    @contextmanager
    def clock(name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        times[name] += time.perf_counter() - t

    while True:
        with clock("1 read+parse+normalise (loading.py)"):
            batch = next(batches, None)
        if batch is None:
            break
        frame = batch.frame
        with clock("2 count: ScanStats.from_frame (all)"):
            stats = ScanStats.from_frame(frame, config.features, batch.bad, batch.shapes)
        with clock("2a   mode labels only"):
            labelled = frame.with_columns(mode_labels(frame).alias("mode"))
        for f in config.features:
            with clock(f"2b   feature {f.side}:{f.key}"):
                frame.select(f.scan_expr(text[f.side]).sum())
        with clock("2c   terms (extract_all/unique/explode/group_by)"):
            labelled.lazy().select(*KEYS, terms.alias("term")).explode("term").drop_nulls(
                "term"
            ).group_by([*KEYS, "term"]).agg(pl.len()).collect()
        with clock("3 merge: ScanStats.merge"):
            total = ScanStats.merge([total, stats])
        trace.append(
            {
                "t": round(time.perf_counter() - start, 1),
                "rows": frame.height,
                "batch_terms": stats.terms.height,
                "total_terms": total.terms.height,
                "total_terms_mb": round(total.terms.estimated_size() / 1e6, 1),
                "rss_gb": round(process.memory_info().rss / 1e9, 2),
            }
        )
    with clock("4 scan_tables (keyness, hypotheses)"):
        tables = scan_tables(total, config)
    db = out.with_suffix(".duckdb")
    db.unlink(missing_ok=True)
    with clock("5 store write (DuckDB)"):
        store = Store(db)
        run_id = store.start_run("scan", {})
        with store.transaction():
            for name in SCAN_TABLES:
                store.write(name, tables[name], run_id)
        store.finish_run(run_id, "ok")
        store.close()
    db.unlink(missing_ok=True)
    result = {
        "times": dict(sorted(times.items())),
        "trace": trace,
        "groups_rows": total.groups.height,
        "terms_rows": total.terms.height,
        "note": "2a-2c re-run parts of from_frame separately (extra work, profile only)",
    }
    out.write_text(json.dumps(result))


# -- report ---------------------------------------------------------------------------


def gib(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB"


def verdict(ok: bool) -> str:
    return "[green]PASS[/]" if ok else "[red]MISS[/]"


def report(corpus: Corpus, children: list[Child], notes: list[str], workers: int = 1) -> None:
    """The summary table (rich), then the notes."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(150, shutil.get_terminal_size().columns))
    title = (
        f"audit scan benchmark: {corpus.rows:,}-row Tulu-like corpus, {corpus.bytes / 1e9:.2f} GB"
    )
    table = Table(title=title)
    for column in (
        "measurement",
        "rows",
        "MB",
        "wall s",
        "CPU s",
        "load",
        "rows/s",
        "MB/s",
        "peak RSS",
    ):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    table.add_column("target")
    table.add_column("status")
    seconds = corpus.build_s
    table.add_row(
        f"corpus build ({'cached, from an earlier run' if corpus.reused else 'this run'})",
        f"{corpus.rows:,}",
        f"{corpus.bytes / 1e6:,.0f}",
        f"{seconds:.1f}",
        "",
        "",
        f"{corpus.rows / seconds:,.0f}",
        f"{corpus.bytes / 1e6 / seconds:.1f}",
    )
    for child in children:
        target = status = ""
        if child.label in (FULL, full_workers(workers)):
            target = f"<= {TARGET_WALL_S:.0f} s, <= {gib(TARGET_RSS)}"
            status = f"time {verdict(child.wall_s <= TARGET_WALL_S)}, RSS {verdict(child.rss <= TARGET_RSS)}"
        elif child.label.startswith("ours: prefix"):
            target, status = f"RSS <= {gib(TARGET_RSS)}", verdict(child.rss <= TARGET_RSS)
        if child.rc != 0:
            status = f"[red]exit {child.rc}[/]: {child.log}"
        table.add_row(
            child.label,
            f"{child.rows:,}",
            f"{child.bytes / 1e6:,.0f}",
            f"{child.wall_s:.1f}",
            f"{child.cpu_s:.1f}",
            f"{child.load[0]:.1f}-{child.load[1]:.1f}",
            f"{child.rows_per_s:,.0f}",
            f"{child.mb_per_s:.1f}",
            gib(child.rss),
            target,
            status,
        )
    by_label = {c.label: c for c in children}
    for mine_label, base_label, target in (
        (SAMPLE, BASELINE, TARGET_SPEEDUP),
        (SAMPLE, LEAN, TARGET_LEAN_SPEEDUP),
        (sample_workers(workers), BASELINE, TARGET_SPEEDUP),
        (sample_workers(workers), LEAN, TARGET_LEAN_SPEEDUP),
        (FULL, LEAN_FULL, TARGET_LEAN_SPEEDUP),
        (full_workers(workers), LEAN_FULL, TARGET_LEAN_SPEEDUP),
    ):
        mine, base = by_label.get(mine_label), by_label.get(base_label)
        if not (mine and base and mine.rc == 0 and base.rc == 0):
            continue
        ratio = mine.rows_per_s / base.rows_per_s
        what = "same sample" if mine_label.startswith(SAMPLE) else "full corpus"
        if "--workers" in mine_label:
            what += f", --workers {workers}"
        table.add_row(
            f"speed-up vs {base_label.removeprefix('baseline: ')} ({what}, rows/s)",
            *[""] * 5,
            f"{ratio:.1f}x",
            *[""] * 2,
            f">= {target:.0f}x",
            verdict(ratio >= target),
        )
        table.add_row(
            "  same, by CPU time (less sensitive to load)",
            *[""] * 5,
            f"{base.cpu_s / mine.cpu_s:.1f}x",
            *[""] * 4,
        )
    console.print(table)
    for note in notes:
        console.print(f"- {note}", highlight=False, markup=False)


def print_profile(result: dict[str, Any], label: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    table = Table(title=f"stage profile ({label})")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for name, seconds in result["times"].items():
        table.add_row(name, f"{seconds:.2f}")
    console.print(table)
    trace = result["trace"]
    picks = (
        trace
        if len(trace) <= 8
        else [trace[i] for i in sorted({0, *range(0, len(trace), len(trace) // 6), len(trace) - 1})]
    )
    columns = ("t", "rows", "batch_terms", "total_terms", "total_terms_mb", "rss_gb")
    memory = Table(title="after each batch: term table size and RSS")
    for column in columns:
        memory.add_column(column, justify="right")
    for row in picks:
        memory.add_row(
            *(f"{row[c]:,}" if isinstance(row[c], int) else str(row[c]) for c in columns)
        )
    console.print(memory)
    console.print(
        f"groups rows: {result['groups_rows']:,}; merged term rows: {result['terms_rows']:,}. {result['note']}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=TULU_ROWS, help="corpus rows (default: Tulu 3's 939,343)"
    )
    parser.add_argument(
        "--sample-rows", type=int, default=100_000, help="rows of the baseline comparison"
    )
    parser.add_argument("--skip-full", action="store_true", help="skip the full-corpus scan")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also time each scan stage (full corpus; 25%% prefix with --skip-full)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shared-data", type=Path, default=SHARED, help="seed data folder (default $CHUNKY_DATA)"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes writing the corpus")
    parser.add_argument(
        "--scan-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="also scan with `audit scan --workers N` (default: one per CPU; 1: skip)",
    )
    parser.add_argument(
        "--lean-full",
        action="store_true",
        help="also run the lean baseline on the full corpus (slow: ~1,000 rows/s)",
    )
    parser.add_argument("--baseline-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--lean-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def code_version() -> str:
    """The checkout measured: its path, commit and uncommitted changes to package files."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--",
                "audit",
                "datasets_registry",
                "surf_search",
                "reports",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.split("\n")
    except OSError:
        return str(ROOT)
    changed = [line[3:] for line in dirty if line.strip()]
    if not head:
        return f"{ROOT} (not a git checkout)"
    return f"{ROOT} at {head}" + (
        f" + uncommitted: {', '.join(changed)}" if changed else " (clean)"
    )


def child_cmd(flag: str, path: Path, out: Path) -> list[str]:
    """This script, re-run as a child (baseline or profile) on ``path``."""
    return [PYTHON, str(Path(__file__).resolve()), flag, str(path), "--out", str(out)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.baseline_child:
        baseline_main(args.baseline_child, args.out)
        return 0
    if args.lean_child:
        lean_main(args.lean_child, args.out)
        return 0
    if args.profile_child:
        profile_main(args.profile_child, args.out)
        return 0
    shared = args.shared_data.resolve() if args.shared_data.exists() else None
    print(f"shared data: {shared or 'absent (synthetic fallback)'}")
    print(
        f"corpus: {args.rows:,} rows, seed {args.seed}, {args.workers} writer processes", flush=True
    )
    corpus = build_corpus(args.rows, args.seed, args.workers, shared)
    state = "reused" if corpus.reused else f"built in {corpus.build_s:.1f} s"
    print(f"  {corpus.path} ({corpus.bytes / 1e9:.2f} GB, {state})", flush=True)
    notes = [f"corpus: {corpus.path}", f"code measured: {code_version()}"]
    if corpus.origin == "synthetic":
        notes.append("seed text: synthetic fallback ($CHUNKY_DATA not found)")
    else:
        notes.append(f"seed text resampled and perturbed from {corpus.origin}:")
        notes.extend(f"  {name}: {cite}" for name, cite in LICENSES.items())
    notes.append(f"malformed lines planted: {corpus.bad} (~{BAD_FRACTION:.2%} of rows)")
    notes.append(
        "MB = 10^6 bytes of JSON lines; wall = the child process (interpreter start and imports "
        "included); CPU s = its user+sys time; load = 1-minute load average before-after "
        f"({os.cpu_count()} CPUs here: load above that means other work competed for them); peak RSS = "
        "that child's ru_maxrss from wait4; ours = `audit scan PATH --db X.duckdb --show 0`"
    )
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="run-", dir=corpus.path.parent) as tmp:
        work = Path(tmp)
        sample, n = prefix_file(
            corpus.path, min(args.sample_rows, corpus.rows), valid_json_only=True
        )
        warm_up, _ = prefix_file(corpus.path, 1_000)
        ours("warm-up (not reported: compiles bytecode, fills the page cache)", warm_up, 0, work)
        children.append(ours(SAMPLE, sample, n, work))
        # what the response measures (issue 34) cost, in the same run: <= 10% more wall time;
        # alternated and the faster of two each, so a burst of other load does not decide it
        with_s = [children[-1].wall_s]
        without_s = []
        for again in (False, True):
            without_s.append(
                ours(f"{SAMPLE}, --no-measures", sample, n, work, "--no-measures").wall_s
            )
            if not again:
                with_s.append(ours(f"{SAMPLE}, again", sample, n, work).wall_s)
        notes.append(
            f"response measures: sample {min(with_s):.1f} s with, {min(without_s):.1f} s without "
            f"(--no-measures; the faster of two each, alternated): "
            f"{min(with_s) / max(min(without_s), 1e-9) - 1:+.1%} (target <= +10%)"
        )
        # what the review order's routing (issue 27: like prompts, echo, twins) costs
        unrouted = [ours(f"{SAMPLE}, --no-routing", sample, n, work, "--no-routing").wall_s]
        notes.append(
            f"review routing: sample {min(with_s):.1f} s with, {unrouted[0]:.1f} s without "
            f"(--no-routing): {min(with_s) / max(unrouted[0], 1e-9) - 1:+.1%}"
        )
        parallel = ("--workers", str(args.scan_workers))
        if args.scan_workers > 1:
            children.append(ours(sample_workers(args.scan_workers), sample, n, work, *parallel))
        out = work / "baseline.json"
        cmd = child_cmd("--baseline-child", sample, out)
        size = sample.stat().st_size
        children.append(run_child(BASELINE, cmd, n, size, work / "baseline.log", out))
        notes.extend(parity(by_label(children, SAMPLE), children[-1]))
        out = work / "lean.json"
        cmd = child_cmd("--lean-child", sample, out)
        children.append(run_child(LEAN, cmd, n, size, work / "lean.log", out))
        notes.extend(parity(by_label(children, SAMPLE), children[-1], stages=False))
        for rows in sorted({min(PREFIX_ROWS, corpus.rows), corpus.rows // 4}):
            if 0 < rows < corpus.rows:
                path, n = prefix_file(corpus.path, rows)
                children.append(ours(f"ours: prefix {rows / corpus.rows:.1%}", path, n, work))
        if not args.skip_full:
            children.append(ours(FULL, corpus.path, corpus.rows, work))
            if args.scan_workers > 1:
                label = full_workers(args.scan_workers)
                children.append(ours(label, corpus.path, corpus.rows, work, *parallel))
            if args.lean_full:
                out = work / "lean_full.json"
                cmd = child_cmd("--lean-child", corpus.path, out)
                log = work / "lean_full.log"
                children.append(run_child(LEAN_FULL, cmd, corpus.rows, corpus.bytes, log, out))
                notes.extend(parity(by_label(children, FULL), children[-1], stages=False))
        report(corpus, children, notes, args.scan_workers)
        if args.profile:
            path = (
                corpus.path if not args.skip_full else prefix_file(corpus.path, corpus.rows // 4)[0]
            )
            out = work / "profile.json"
            child = run_child(
                "profile", child_cmd("--profile-child", path, out), 0, 0, work / "profile.log", out
            )
            if child.extra:
                print_profile(
                    child.extra,
                    f"{path.name}: wall {child.wall_s:.1f} s, peak RSS {gib(child.rss)}",
                )
    return 0 if all(c.rc == 0 for c in children) else 1


def sample_workers(workers: int) -> str:
    return f"{SAMPLE}, --workers {workers}"


def full_workers(workers: int) -> str:
    return f"{FULL}, --workers {workers}"


def by_label(children: list[Child], label: str) -> Child:
    return next(c for c in children if c.label == label)


def parity(mine: Child, base: Child, stages: bool = True) -> list[str]:
    """Check that a baseline computes what our scan computes (mode counts, feature hits)."""
    if mine.rc or base.rc or not base.extra:
        return ["parity check skipped (a child failed)"]
    totals = ours_totals(mine.extra["db"])
    diffs = [
        f"{kind} {key}: ours {totals[kind].get(key, 0)} vs baseline {base.extra[kind].get(key, 0)}"
        for kind in ("modes", "hits")
        for key in sorted(set(totals[kind]) | set(base.extra[kind]))
        if totals[kind].get(key, 0) != base.extra[kind].get(key, 0)
    ]
    lines = [
        f"{base.label} parity: {len(diffs)} differing counts (modes + {len(base.extra['hits'])} features)"
    ]
    lines += [f"  {d}" for d in diffs[:10]]
    if any(d.startswith("modes") for d in diffs):
        lines.append(
            "  (mode counts differ: bench/naive_modes.py no longer follows behaviour_modes.rules)"
        )
    if not stages:
        lines.append(
            f"{base.label}: {base.extra['work_s']:.1f} s of work, "
            f"{base.extra['label_s']:.1f} s of it in the mode labeller"
        )
        return lines
    names = ("import_s", "load_s", "map_s", "aggregate_s")
    lines.append(
        "baseline stages (s): import / load_dataset / map / aggregate = "
        + " / ".join(f"{base.extra[k]:.1f}" for k in names)
        + f"; of the map, {base.extra['label_s']:.1f} s in the mode labeller "
        "(bench/naive_modes.py: the scan's mode rules in Python `re`)"
    )
    rest = base.wall_s - base.extra["label_s"]
    lines.append(
        f"speed-up if the baseline's mode labelling were free: {rest / mine.wall_s:.1f}x "
        "(wall time; an upper bound on what faster mode rules alone would give the baseline)"
    )
    if base.extra.get("missing_features"):
        lines.append(f"  baseline lacks catalog features: {base.extra['missing_features']}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
