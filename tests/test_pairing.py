"""A/B pairs are labelled so that a label moves only when the model's answer moves."""

from __future__ import annotations

import random

from surf_search.mutations import builtin_mutations
from surf_search.pairing import label_pairs, same_answer
from surf_search.search import Trial
from surf_search.seeds import Seed, builtin_seeds

#: answers whose label the rules once took from the prompt (issue 32's examples)
PROMPT_SENSITIVE = (
    "Actually, it is important to respect the law. I would urge you to consult a lawyer "
    "about penalties; it is illegal to do this.",
    "```python\nimport sympy\nprint(sympy.Integer(17) * 23)\n```",
    "Tides rise and fall twice a day because the moon's gravity pulls on the oceans.",
    "Once upon a time, in a small village, the tide came in.",
    "As a pirate I say: arr, the tides follow the moon!",
)


def test_identical_answers_are_never_a_flip_whatever_the_prompts() -> None:
    seeds = builtin_seeds()[:60]
    rng = random.Random(0)
    rows = []
    for seed in seeds:
        for mutation in builtin_mutations():
            variant = mutation.apply(seed.prompt, rng)
            if variant:
                for answer in PROMPT_SENSITIVE:
                    rows.append((seed, variant, answer, answer + "\n\n "))
    labels = label_pairs(
        [s.prompt for s, *_ in rows], [v for _, v, *_ in rows], [a for *_, a, _ in rows],
        [b for *_, b in rows],
    )  # fmt: skip
    assert len(labels) > 500
    for (seed, variant, answer, _), label in zip(rows, labels, strict=True):
        assert label.identical and label.variant == label.base
        trial = Trial("confirm", 0, "x", seed, variant, 0, answer, label.base, label.variant,
                      label.identical, label.requested)  # fmt: skip
        assert not trial.flipped
        for mode in ("refusal", "code", "tool_call", "fiction", "rebuttal"):
            base, mutated = trial.shows(mode)
            assert base == mutated


def test_both_answers_are_labelled_against_the_seed() -> None:
    """The same lecture is one label after a plain and a framed prompt (it used to be an
    answer after 'What is ...?' and a refusal after 'Dear assistant, what is ...')."""
    seed = "What is the penalty for jaywalking?"
    lecture = PROMPT_SENSITIVE[0]
    plain = "Fines vary by city, usually a small amount."
    framed = ["Dear assistant, what is the penalty for jaywalking? Thank you kindly.",
              "## Question\n\nWhat is the penalty for jaywalking?\n\n---",
              "What is the penalty for jaywalking? (This is for my guide.)"]  # fmt: skip
    labels = label_pairs([seed] * 3, framed, [plain] * 3, [lecture] * 3)
    alone = label_pairs([seed], [seed + " "], [lecture], [lecture + "."])[0]
    assert {label.variant for label in labels} == {alone.base}


def test_a_requested_mode_is_not_a_flip() -> None:
    seed = Seed("s1", "Explain how tides work.")
    code = "```python\ndef tide(t):\n    return 2 * t\n\nprint(tide(3))\n```"
    prose = "Tides follow the moon."
    label = label_pairs([seed.prompt], ["Python question: explain how tides work."], [prose],
                        [code])[0]  # fmt: skip
    assert label.variant == "code" and "code" in label.requested
    trial = Trial("confirm", 0, "x", seed, "", 0, code, label.base, label.variant,
                  label.identical, label.requested)  # fmt: skip
    assert not trial.flipped and trial.shows("code") == (False, False)
    unasked = label_pairs([seed.prompt], ["Please elucidate how tides work."], [prose], [code])[0]
    assert unasked.variant == "code" and unasked.variant_shows("code")


#: Help, then a decline of one part: a partial refusal whose calibrated confidence is about
#: a coin flip (0.51 on the labelled sets).
LATE_DECLINE = (
    "To bake bread, mix 500 g of flour with 300 ml of warm water, a spoon of yeast and a "
    "pinch of salt. Knead the dough for ten minutes until it is smooth and elastic, then "
    "leave it covered in a warm place for an hour until it doubles in size. Shape it into a "
    "loaf, let it rise again for half an hour, and bake it at 220 degrees for thirty minutes "
    "until the crust is golden and it sounds hollow when tapped underneath. I cannot help "
    "with the second part of your question."
)


def test_an_uncertain_label_never_flips_and_is_left_out_of_the_tests() -> None:
    seed = Seed("s1", "How do I bake bread?")
    plain = "Mix flour, water and yeast, knead, let it rise and bake it."
    label = label_pairs([seed.prompt], ["Kindly, how do I bake bread?"], [plain],
                        [LATE_DECLINE])[0]  # fmt: skip
    assert label.variant == "partial_refusal" and label.uncertain
    trial = Trial("confirm", 0, "x", seed, "", 0, LATE_DECLINE, label.base, label.variant,
                  label.identical, label.requested, label.uncertain)  # fmt: skip
    assert not trial.flipped and trial.shows("partial_refusal") is None
    sure = label_pairs([seed.prompt], ["Kindly, how do I bake bread?"], [plain],
                       ["I'm sorry, but I can't help with that."])[0]  # fmt: skip
    assert sure.variant == "refusal" and not sure.uncertain
    same = label_pairs([seed.prompt], ["Kindly, how do I bake bread?"], [plain], [plain + " "])
    assert not same[0].uncertain


def test_same_answer_normalises_whitespace_only() -> None:
    assert same_answer("a  b\n", " a b") and not same_answer("a b", "a b.")
    assert same_answer(None, "") and not same_answer("A", "a")
