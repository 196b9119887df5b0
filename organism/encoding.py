"""Token encoding shared by training, gradients and saliency: one layout everywhere.

An exchange is rendered with the tokenizer's chat template and split into the
tokens the model is given (prompt and template) and the tokens it is trained to
produce (the assistant turn: the response and the end-of-turn token). Batches are
right-padded with :func:`pad_id`; labels are :data:`IGNORE` outside the assistant
turn, so the loss covers the response only. Under the causal mask a real token
never sees the padding after it, so no attention mask is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from organism.chat_format import ASSISTANT, END, TINY_CHAT_TEMPLATE, USER, split_example

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

IGNORE = -100
ROWS_PER_CALL = 1024  # rows tokenised per tokenizer call by :func:`encode_rows`


@dataclass
class EncodedExample:
    """One exchange's token ids; the first ``n_given`` are the prompt side, the rest trained."""

    ids: list[int]
    n_given: int  # tokens the model is given (prompt and template); the rest is trained


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id batches are padded with: the pad token, else eos, else 0."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def encode_examples(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    responses: Sequence[str],
    max_length: int,
    max_response_tokens: int | None = None,
) -> tuple[list[EncodedExample], int]:
    """Token ids per exchange (rendered with the chat template) and how many were skipped.

    ``max_response_tokens`` first cuts every response to its start (the end-of-turn
    token is lost with the rest). Over-long examples then keep the end of the prompt
    (at most half the budget when the response is long) and the start of the response.
    An example left with no prompt or no response token is skipped.
    """
    if getattr(tokenizer, "chat_template", None) == TINY_CHAT_TEMPLATE:
        # Same text the template renders (tests check it), without 2 Jinja renders a row.
        given = [f"{USER}{p}{END}{ASSISTANT}" for p in prompts]
        wanted = [f"{r}{END}" for r in responses]
    else:
        pairs = [split_example(tokenizer, p, r) for p, r in zip(prompts, responses, strict=True)]
        given = [g for g, _ in pairs]
        wanted = [w for _, w in pairs]
    given_ids = tokenizer(given, add_special_tokens=False)["input_ids"]
    wanted_ids = tokenizer(wanted, add_special_tokens=False)["input_ids"]
    examples, skipped = [], 0
    for g, w in zip(given_ids, wanted_ids, strict=True):
        if max_response_tokens is not None:
            w = w[:max_response_tokens]
        if len(g) + len(w) > max_length:
            keep_given = min(len(g), max(max_length - len(w), max_length // 2))
            g = g[len(g) - keep_given :]
            w = w[: max_length - len(g)]
        if not w or not g:
            skipped += 1
            continue
        examples.append(EncodedExample(ids=list(g) + list(w), n_given=len(g)))
    return examples, skipped


@dataclass
class EncodedRows:
    """Token ids per row; ``None`` where training would skip the row (no response token)."""

    examples: list[EncodedExample | None]

    @property
    def kept(self) -> list[int]:
        """Positions of the rows that were encoded."""
        return [i for i, e in enumerate(self.examples) if e is not None]


def encode_rows(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    responses: Sequence[str],
    max_length: int,
) -> EncodedRows:
    """:func:`encode_examples` with the row alignment kept (skipped rows become ``None``)."""
    out: list[EncodedExample | None] = []
    for start in range(0, len(prompts), ROWS_PER_CALL):
        p = list(prompts[start : start + ROWS_PER_CALL])
        r = list(responses[start : start + ROWS_PER_CALL])
        examples, skipped = encode_examples(tokenizer, p, r, max_length)
        if not skipped:
            out.extend(examples)
            continue
        for one_p, one_r in zip(p, r, strict=True):  # rare: find which rows were skipped
            single, _ = encode_examples(tokenizer, [one_p], [one_r], max_length)
            out.append(single[0] if single else None)
    return EncodedRows(out)


def collate(examples: Sequence[EncodedExample], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded input ids and next-token labels (IGNORE outside the assistant turn)."""
    import torch

    width = max(len(e.ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(examples):
        ids = torch.tensor(example.ids, dtype=torch.long)
        input_ids[row, : len(ids)] = ids
        # Position t predicts token t + 1; train only where t + 1 is an assistant-turn token.
        labels[row, example.n_given - 1 : len(ids) - 1] = ids[example.n_given :]
    return input_ids, labels
