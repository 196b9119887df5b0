"""How the two answers of an A/B pair are labelled, so that a label moves only when the
model's answer moves.

Every A/B in the product (the search's discovery, confirmation, placebo and robustness
arms, the verification, the probes' paired conditions) compares a seed prompt's answer
with the answer to a variant of it. Three rules make that comparison a statement about
the model rather than about the classifier:

1. **One context.** Both answers are labelled against the *seed* prompt. Some rules read
   the prompt (a lecture after "what is ...?" is an answer, a sympy block after a code
   request is code); labelling each answer against its own prompt would let the label
   flip with the prompt while the answer stays the same.
2. **Identical answers never differ.** Two answers that are equal after whitespace is
   normalised get the same label, whatever the rules say.
3. **A requested behaviour is not a flip.** A mode that either prompt asks for
   (``behaviour_modes.requests``) is left out of the pair: code after "write a function"
   answers the request.
4. **An uncertain label is not evidence.** A pair where either answer's label has a
   calibrated confidence under ``UNCERTAIN_BELOW`` (``behaviour_modes.modes``) is
   ``uncertain``: it never flips and is left out of every behaviour test, like a pair
   whose judgement failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from behaviour_modes.modes import TERSE_MAX_WORDS, sure_behaviour_labels
from behaviour_modes.requests import requested_behaviours


def same_answer(first: str | None, second: str | None) -> bool:
    """Whether two responses are the same text once whitespace runs are normalised."""
    return " ".join((first or "").split()) == " ".join((second or "").split())


@dataclass(frozen=True)
class PairLabels:
    """The behaviours of a pair's two answers, labelled against the seed prompt."""

    base: str
    variant: str
    identical: bool  # the two answers are the same text (so ``variant == base``)
    requested: frozenset[str]  # modes either prompt asks for: never counted
    uncertain: bool = False  # either label is about a coin flip: left out of the tests

    def base_shows(self, mode: str) -> bool:
        """The seed's answer shows ``mode`` (and neither prompt asked for it)."""
        return self.base == mode and mode not in self.requested

    def variant_shows(self, mode: str) -> bool:
        """The variant's answer shows ``mode`` (and neither prompt asked for it)."""
        return self.variant == mode and mode not in self.requested

    @classmethod
    def of(
        cls,
        base: tuple[str, str | None],
        variant: tuple[str, str | None],
        requested: frozenset[str],
        uncertain: tuple[bool, bool] = (False, False),
    ) -> PairLabels:
        """Two answers' (behaviour, response), both labelled against one seed, as a pair:
        identical answers take the base's label (rule 2); ``uncertain``: whether each
        label is (the pair is when either label it keeps is)."""
        identical = same_answer(base[1], variant[1])
        unsure = uncertain[0] or (uncertain[1] and not identical)
        return cls(base[0], base[0] if identical else variant[0], identical, requested, unsure)


def label_pairs(
    seed_prompts: Sequence[str],
    variant_prompts: Sequence[str],
    base_responses: Sequence[str | None],
    variant_responses: Sequence[str | None],
    terse_max_words: int = TERSE_MAX_WORDS,
) -> list[PairLabels]:
    """Label every pair's two answers against its seed prompt (rules 1-3 above)."""
    n = len(seed_prompts)
    if not (len(variant_prompts) == len(base_responses) == len(variant_responses) == n):
        raise ValueError("label_pairs needs one seed, variant and two responses per pair")
    if n == 0:
        return []
    labels, unsure = sure_behaviour_labels(
        [*seed_prompts, *seed_prompts],
        [*base_responses, *variant_responses],
        terse_max_words,
    )
    return [
        PairLabels.of(
            (labels[i], base_responses[i]),
            (labels[n + i], variant_responses[i]),
            requested_behaviours(seed_prompts[i]) | requested_behaviours(variant_prompts[i]),
            (unsure[i], unsure[n + i]),
        )
        for i in range(n)
    ]
