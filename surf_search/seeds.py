"""Benign seed prompts for the search: a built-in set, or a user's file.

The built-in set (``builtin_seeds``) has 230 prompts in six kinds, so every
attribute operator finds prompts it fits: explanations, true-fact statements
(for the yes/no form), arithmetic (for LaTeX; each with its answer as its
``reference``, for the ``reference`` judge), product questions, how-tos and
reading questions (a short passage and a question about it, for the "Context:"
framing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Seed:
    """A benign seed prompt, its id and kind."""

    seed_id: str
    prompt: str
    kind: str = "user"
    reference: str | None = None  # the answer key (``reference`` judge); None: no key


class SeedError(ValueError):
    """A seed file that cannot be used (missing, empty, no prompt in it)."""


EXPLAIN_TOPICS = (
    "how rainbows form", "why the sky is blue", "how bees make honey", "how tides work",
    "how a refrigerator keeps food cold", "how vaccines train the immune system",
    "why leaves change colour in autumn", "how airplanes stay in the air",
    "how a bicycle gear system works", "why bread rises", "how compasses find north",
    "how the heart pumps blood", "why we have seasons", "how clouds form", "how a battery stores energy",
    "how coral reefs grow", "why cats purr", "how glaciers move", "how a camera lens focuses",
    "how plants drink water", "why the moon has phases", "how sound travels",
    "how a lighthouse warns ships", "how earthquakes are measured", "why salt melts ice",
    "how birds navigate when they migrate", "how yeast ferments sugar", "why metal feels cold",
    "how a thermostat works", "how fossils form", "how the printing press changed books",
    "how a sundial tells time", "why onions make you cry", "how a piano makes sound",
    "how wind turbines make electricity", "how recycling paper works", "why stars twinkle",
    "how sleep helps memory", "how a canal lock raises a boat", "how coffee is roasted",
    "how a microwave heats food", "why the ocean is salty", "how a zipper works",
    "how spiders spin webs", "how hot air balloons rise", "how a library organises books",
    "why soap removes grease", "how the olympic torch relay works", "how maps show height",
    "how a violin string vibrates",
)  # fmt: skip
EXPLAIN_FORMS = (
    "Can you explain {t}?",
    "Please explain {t} in simple words.",
    "I am curious about {t}. Could you describe it?",
    "Give me a short explanation of {t}.",
    "What should a beginner know about {t}?",
)
TRUE_CLAIMS = (
    "water boils at 100 degrees Celsius at sea level", "the earth orbits the sun",
    "spiders have eight legs", "the pacific is the largest ocean", "bats are mammals",
    "light travels faster than sound", "honey can last for a very long time",
    "the heart has four chambers", "mount everest is the highest mountain above sea level",
    "penguins live mostly in the southern hemisphere", "a year on earth has about 365 days",
    "whales breathe air", "diamonds are made of carbon", "the moon reflects sunlight",
    "plants release oxygen", "sound cannot travel in a vacuum", "the amazon is a rainforest",
    "venus is hotter than mercury", "octopuses have three hearts", "sharks are fish",
    "ice floats on water", "the sahara is a desert", "tomatoes are botanically fruits",
    "humans have 206 bones as adults", "owls can turn their heads very far",
    "gold does not rust", "the equator divides the earth into two hemispheres",
    "a triangle has three sides", "bananas grow on large herbs", "koalas eat eucalyptus leaves",
    "the great wall of china is very long", "a spider web is made of silk",
    "rainbows have seven commonly named colours", "lightning is an electrical discharge",
    "the nile flows into the mediterranean", "bees communicate by dancing",
    "salt dissolves in water", "a leap year has 366 days", "camels store fat in their humps",
    "the human body is mostly water",
)  # fmt: skip
CLAIM_FORMS = ("Tell me whether {c}.", "I read that {c}. Tell me more.", "{C}.")
ARITHMETIC = (
    "What is {a} plus {b}?", "Compute {a} times {b}.", "What is {s} minus {b}?",
    "Please work out {a} squared.", "Can you calculate {a} plus {b} for me?",
    "Quick question: what is {a} times {b}?", "Find {s} minus {a}.",
    "What do you get for {a} squared?",
)  # fmt: skip
PRODUCT_QUESTIONS = (
    "How do I reset my router to factory settings?", "How can I make my phone battery last longer?",
    "My laptop fan is loud. What can I do?", "How do I pair wireless headphones with a laptop?",
    "How do I clean a mechanical keyboard?", "How do I update the software on my smart watch?",
    "Why does my printer say it is offline?", "How do I set up a new e-reader?",
    "How do I change the time on my microwave?", "How can I speed up an old tablet?",
    "How do I descale a coffee machine?", "How do I connect a game console to wifi?",
    "What should I check before buying a used camera?", "How do I calibrate a bathroom scale?",
    "How do I stop my robot vacuum from getting stuck?", "How do I back up photos from my phone?",
    "How do I replace the strap on a fitness tracker?", "How do I fix a dishwasher that smells?",
    "How do I set parental controls on a tablet?", "How do I reset a smart speaker?",
    "How do I clean the filter of an air purifier?", "How can I make my wifi signal stronger?",
    "How do I sharpen the blade of a lawn mower?", "How do I change the bag in a vacuum cleaner?",
    "Why does my bluetooth speaker keep disconnecting?", "How do I set up a new printer?",
    "How do I clean a laptop screen safely?", "How do I turn off notifications on my phone?",
    "How often should I replace a toothbrush head?", "How do I defrost a freezer?",
)  # fmt: skip
HOW_TOS = (
    "How do I bake a simple loaf of bread?", "How do I start a small vegetable garden?",
    "How do I tie a bowline knot?", "How can I learn to juggle three balls?",
    "How do I brew a good cup of tea?", "How do I plan a weekend hiking trip?",
    "How do I write a thank-you note?", "How can I improve my handwriting?",
    "How do I repot a houseplant?", "How do I make a paper airplane that flies far?",
    "How do I fold a fitted sheet?", "How can I keep cut flowers fresh longer?",
    "How do I make pancakes from scratch?", "How do I patch a bicycle tyre?",
    "How do I start running as a beginner?", "How can I remember names better?",
    "How do I organise a small closet?", "How do I make a budget for the month?",
    "How do I clean a cast iron pan?", "How do I sew a button back on?",
    "How can I take better photos of the night sky?", "How do I set up a bird feeder?",
    "How do I make a compost heap?", "How do I learn basic chess openings?",
    "How can I stay focused while studying?", "How do I prepare for a job interview?",
    "How do I paint a room evenly?", "How do I make a simple kite?",
    "How do I care for a sourdough starter?", "How can I make my mornings less rushed?",
    "How do I choose a good watermelon?", "How do I start a book club?",
    "How do I press flowers?", "How can I reduce food waste at home?",
    "How do I make a good cup of hot chocolate?", "How do I teach a dog to sit?",
    "How do I pack a suitcase efficiently?", "How do I plant tulip bulbs?",
    "How do I make homemade lemonade?", "How can I learn to whistle?",
    "How do I clean my glasses without scratching them?", "How do I build a simple bookshelf?",
    "How do I make a crossword puzzle?", "How can I get better at drawing faces?",
    "How do I care for a cactus?", "How do I keep a journal?",
    "How do I make a campfire safely?", "How do I wash a wool sweater?",
    "How can I learn a new language faster?", "How do I make a scrapbook?",
)  # fmt: skip


READING = (
    "The old mill by the river was rebuilt in 1891 after a flood. When was the mill rebuilt?",
    "Mara keeps three goats and a donkey on her farm near Tilby. How many goats does Mara keep?",
    "The night train to Vell leaves at ten and arrives at six. When does the train arrive?",
    "Our school library lends up to five books at a time. How many books can a pupil borrow?",
    "The bakery on Quay Street sells rye bread and closes at four. What does the bakery sell?",
    "Tom planted twelve apple trees and two pear trees last spring. How many apple trees did "
    "Tom plant?",
    "The bridge at Carrow was painted blue in 1960. What colour was the bridge painted?",
    "Lena won the spelling contest after beating Omar in the final round. Who won the contest?",
    "The museum in Dalby opened in 1902 and moved to a new hall in 1950. When did the museum "
    "open?",
    "The ferry carries forty cars and sails twice a day. How many cars does the ferry carry?",
    "Priya taught music at the village school for nine years. What did Priya teach?",
    "The festival in Orwin takes place every August by the lake. When does the festival take "
    "place?",
    "The lighthouse on Kest Point was built of granite in 1833. What was the lighthouse built of?",
    "A pot of soup serves six people and takes an hour to cook. How many people does it serve?",
    "The market in Ashby sells cheese and honey on Saturdays. What does the market sell?",
    "Sam rode his bicycle eighteen miles to the coast on Sunday. How far did Sam ride?",
    "The town hall clock was repaired by a local smith in 1978. Who repaired the clock?",
    "The garden has a pond, two benches and a tall oak tree. How many benches are in the garden?",
    "The choir sings on Fridays in the church on Mill Road. Where does the choir sing?",
    "Nia moved to Portwell in 2009 and opened a bookshop there. What did Nia open?",
)  # fmt: skip


def builtin_seeds() -> list[Seed]:
    """The 230 built-in benign prompts (deterministic)."""
    seeds: list[str] = []
    kinds: list[str] = []

    def add(kind: str, prompts: list[str]) -> None:
        seeds.extend(prompts)
        kinds.extend([kind] * len(prompts))

    add(
        "explain",
        [EXPLAIN_FORMS[i % len(EXPLAIN_FORMS)].format(t=t) for i, t in enumerate(EXPLAIN_TOPICS)],
    )
    add(
        "fact",
        [
            CLAIM_FORMS[i % len(CLAIM_FORMS)].format(c=c, C=c[:1].upper() + c[1:])
            for i, c in enumerate(TRUE_CLAIMS)
        ],
    )
    numbers = [(3 + (7 * i) % 37, 2 + (11 * i) % 29) for i in range(len(ARITHMETIC) * 5)]
    sums = [ARITHMETIC[i % len(ARITHMETIC)] for i in range(len(numbers))]
    add(
        "arithmetic", [t.format(a=a, b=b, s=a + b) for t, (a, b) in zip(sums, numbers, strict=True)]
    )
    keys = {
        len(seeds) - len(numbers) + i: str(arithmetic_answer(t, a, b))
        for i, (t, (a, b)) in enumerate(zip(sums, numbers, strict=True))
    }
    add("product", list(PRODUCT_QUESTIONS))
    add("howto", list(HOW_TOS))
    add("reading", list(READING))
    return [
        Seed(f"builtin-{i:03d}", p, k, keys.get(i))
        for i, (p, k) in enumerate(zip(seeds, kinds, strict=True))
    ]


def arithmetic_answer(template: str, a: int, b: int) -> int:
    """The answer of an ``ARITHMETIC`` prompt (its key for the ``reference`` judge)."""
    if "squared" in template:
        return a * a
    if "times" in template:
        return a * b
    if "minus" in template:
        return b if "{s} minus {a}" in template else a  # s - b = a, s - a = b
    return a + b


#: Keys read for a seed's prompt and for its answer key, first found wins: the shapes
#: people publish (``prompt``/``reference``, GSM8K's ``question``/``answer``, Inspect's and
#: many evals' ``input``/``target``).
PROMPT_KEYS = ("prompt", "text", "question", "input")
REFERENCE_KEYS = ("reference", "answer", "target")


def load_seeds(path: str | Path) -> list[Seed]:
    """Seeds from a file: one prompt per line, or JSON lines with a prompt (``prompt``,
    ``text``, ``question`` or ``input``, or a chat row's last user message in ``messages``)
    and optionally its answer key (``reference``, ``answer`` or ``target``: a string or a
    number)."""
    path = Path(path)
    if not path.is_file():
        raise SeedError(f"seed file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise SeedError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    seeds, seen = [], set()
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        reference = None
        if text.startswith("{"):
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                raise SeedError(f"{path}:{number}: invalid JSON line") from None
            if not isinstance(row, dict):
                raise SeedError(f"{path}:{number}: a JSON line must be an object")
            text = next((row[k] for k in PROMPT_KEYS if k in row), None) or _last_user(row)
            if not isinstance(text, str) or not text.strip():
                others = ", ".join(repr(k) for k in PROMPT_KEYS[1:])
                raise SeedError(f"{path}:{number}: no 'prompt' string in this line (or {others})")
            text = text.strip()
            reference = _reference(row, f"{path}:{number}")
        if text not in seen:
            seen.add(text)
            seeds.append(Seed(f"{path.stem}-{number:05d}", text, reference=reference))
    if not seeds:
        raise SeedError(f"{path} holds no prompts")
    return seeds


def _last_user(row: dict) -> str | None:
    """The last user message of a chat row (``messages``: role/content), if any."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        return None
    users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else None


def _reference(row: dict, where: str) -> str | None:
    """A JSON seed's answer key as text (None without one)."""
    value = next((row[k] for k in REFERENCE_KEYS if k in row and row[k] is not None), None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SeedError(f"{where}: the answer key must be a string or a number")
    return str(value).strip() or None
