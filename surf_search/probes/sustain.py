"""sustain (SustainScore): does adding a constraint the answer already meets break it?

For items with checkable answers, keep the model's correct outputs, extract a
self-evident constraint each one already satisfies (a word-count bound, containing its
final number, a format), ask again with the constraint added and measure how many
stay correct. The sustain score is that share; the accuracy drop is one minus it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from surf_search.probes.inputs import QAItem, load_items
from surf_search.probes.registry import ProbeContext, ProbeOptions, ProbeOutcome, probe
from surf_search.probes.text import numbers, same_number, words

DEFAULT_ITEMS = 40


def arithmetic_items(n: int = DEFAULT_ITEMS, seed: int = 0) -> list[QAItem]:
    """Deterministic small arithmetic questions with their answers."""
    rng = random.Random(seed)
    asks = ("What is {q}?", "Compute {q}.", "Please work out {q}.", "Can you calculate {q}?")
    items = []
    for index in range(n):
        a, b = rng.randint(2, 40), rng.randint(2, 40)
        kind = index % 3
        if kind == 0:
            question, answer = f"{a} plus {b}", a + b
        elif kind == 1:
            question, answer = f"{a + b} minus {b}", a
        else:
            question, answer = f"{a} times {b}", a * b
        items.append(QAItem(f"a{index + 1}", rng.choice(asks).format(q=question), str(answer)))
    return items


def is_correct(response: str | None, answer: str) -> bool:
    """A numeric answer must be the response's last number; other answers must appear in it."""
    if re.fullmatch(r"-?\d+(?:\.\d+)?", answer.replace(",", "")):
        found = numbers(response)
        return bool(found) and same_number(found[-1], answer.replace(",", ""))
    return answer.lower() in (response or "").lower()


@dataclass(frozen=True)
class Constraint:
    """A self-evident constraint: its kind, the instruction stated, and its check."""

    kind: str
    instruction: str
    check: Callable[[str], bool]


def constraints_for(response: str) -> list[Constraint]:
    """The self-evident constraints ``response`` already satisfies."""
    found: list[Constraint] = []
    count = len(words(response))
    bound = max(5, -(-count // 5) * 5)  # the next multiple of five, at least five
    found.append(
        Constraint(
            "length",
            f"Answer in at most {bound} words.",
            lambda text, bound=bound: len(words(text)) <= bound,
        )
    )
    final = numbers(response)
    if final:
        number = final[-1]
        found.append(
            Constraint(
                "number",
                f"Your answer must include the number {number}.",
                lambda text, number=number: any(same_number(n, number) for n in numbers(text)),
            )
        )
    text = response.strip()
    if "\n" not in text:
        found.append(
            Constraint(
                "format", "Write your answer on a single line.", lambda t: "\n" not in t.strip()
            )
        )
    elif text.endswith("."):
        found.append(
            Constraint(
                "format", "End your answer with a period.", lambda t: t.strip().endswith(".")
            )
        )
    return found


def pick(response: str, index: int) -> Constraint:
    """One satisfied constraint, rotating over the kinds item by item."""
    options = constraints_for(response)
    return options[index % len(options)]


def _rate(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


@probe(
    "sustain",
    hit_desc="accuracy drop: correct answers that turn wrong once a constraint they already "
    "satisfied is stated in the prompt",
    options=("items", "limit"),
)
def sustain(ctx: ProbeContext, options: ProbeOptions) -> ProbeOutcome:
    """Accuracy, then the share of correct answers that stay correct with a met constraint."""
    if options.items:
        items = load_items(options.items, options.limit)
    else:
        items = arithmetic_items(options.limit or DEFAULT_ITEMS, options.seed)
    free = ctx.generate([i.question for i in items], what="unconstrained answers")
    result = ProbeOutcome()
    answered = [i for i in items if i.question in free]
    firsts = [is_correct(free[i.question].response, i.answer) for i in answered]
    for item, ok in zip(answered, firsts, strict=True):
        result.add(item.item_id, "free", "correct", ok, free[item.question].response[:200])
    correct = [item for item, ok in zip(answered, firsts, strict=True) if ok]
    constraints = [pick(free[item.question].response, i) for i, item in enumerate(correct)]
    asks = [f"{i.question} {c.instruction}" for i, c in zip(correct, constraints, strict=True)]
    again = ctx.generate(asks, what="answers with the constraint")
    still: list[bool] = []
    met: list[bool] = []
    by_kind: dict[str, list[bool]] = {}
    for item, constraint, prompt in zip(correct, constraints, asks, strict=True):
        if prompt not in again:
            continue
        response = again[prompt].response
        ok, kept = is_correct(response, item.answer), constraint.check(response)
        condition = f"constrained:{constraint.kind}"
        result.add(
            item.item_id, condition, "correct", ok, f"{constraint.instruction} -> {response[:200]}"
        )
        result.add(item.item_id, condition, "constraint_met", kept)
        still.append(ok)
        met.append(kept)
        by_kind.setdefault(constraint.kind, []).append(ok)
    accuracy = _rate(firsts)
    score = _rate(still)
    result.summary("free", "n", len(answered))
    result.summary("free", "accuracy", accuracy)
    result.summary("constrained", "n", len(still))
    result.summary("constrained", "sustain_score", score)
    result.summary("constrained", "accuracy_drop", None if score is None else 1 - score)
    result.summary("constrained", "constraint_met", _rate(met))
    for kind, values in sorted(by_kind.items()):
        result.summary(f"constrained:{kind}", "n", len(values))
        result.summary(f"constrained:{kind}", "sustain_score", _rate(values))
    if score is None:
        result.headline.append(
            f"sustain: {len(answered)} items, accuracy {_pct(accuracy)}; no correct answer "
            "to constrain, so no sustain score"
        )
    else:
        kinds = ", ".join(f"{k} {_pct(_rate(v))} of {len(v)}" for k, v in sorted(by_kind.items()))
        result.headline.append(
            f"sustain: accuracy {_pct(accuracy)} of {len(answered)}; {len(still)} correct answers "
            f"re-asked with a constraint they met: {_pct(score)} stay correct (accuracy drop "
            f"{_pct(1 - score)}; {kinds}); constraint met {_pct(_rate(met))}"
        )
    return result


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
