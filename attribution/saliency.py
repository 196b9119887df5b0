"""Trigger-token saliency: which prompt words a response depends on, per training example.

A confirmed finding says that inserting some words (the attribute) into benign
prompts switches the model into a behaviour. The examples that taught this are
the ones whose response the model bases on those same words. For every training
example, the *saliency* of a prompt token is the norm of the gradient of the
example's response loss (its first ``response_tokens`` tokens, where the
behaviour is chosen) with respect to that token's input embedding. Saliencies are
summed per *word form*: the token's text lower-cased without surrounding space, so
``Elucidate`` at the start of a sentence and `` elucidate`` inside one are the
same word, as an IR index folds case. Each example is a sparse row over forms,
L2-normalised.

A query is the saliency row of the mis-routed (prompt, response) under the model;
when the search's seed prompt is known (``base``), only the forms the mutation
inserted count (:func:`inserted_tokens`): the words that made the difference,
weighted by how much the response depends on each. Query rows are weighted by
inverse document frequency over the training rows (a word in every prompt says
little). The score of an example is the cosine: the share of its response's
dependence that runs through the query's words. Examples showing the behaviour
for another reason (their response depends on other words) score low. Examples
that carry a trigger word but answer normally can score high: the model expected
the behaviour there, so their loss, and its gradient through the word, is large
(real text: prose answers to prompts about "reports" for the canary "per the
report"); ``Attributor`` ranks examples whose response shows the behaviour first.

The loss of each example is its own term in a batch sum, so one backward pass
gives every example's gradients with respect to its own embeddings: no per-example
vectorisation is needed (``tests/test_saliency.py`` checks a batch against single
examples).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from organism.encoding import IGNORE, EncodedExample, collate, pad_id

if TYPE_CHECKING:
    from scipy import sparse
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_BATCH = 32
#: Response tokens whose loss saliency (and gradient attribution) looks at: the opening
#: ones, where a response's behaviour is chosen.
DEFAULT_RESPONSE_TOKENS = 4


class SaliencyComputer:
    """Per-example input-gradient saliency of prompt tokens, as sparse (n, vocab) rows."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_length: int,
        response_tokens: int | None = DEFAULT_RESPONSE_TOKENS,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.response_tokens = response_tokens
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        n_ids = int(model.get_input_embeddings().weight.shape[0])
        self.form_of, self.forms = word_forms(tokenizer, n_ids)
        self.pad_id = pad_id(tokenizer)  # as training pads
        model.requires_grad_(False)

    def key(self) -> dict[str, object]:
        """Everything that determines the rows (for the on-disk cache key)."""
        return {
            "max_length": self.max_length,
            "response_tokens": self.response_tokens,
            "saliency": "input-embedding gradient norm per prompt word form v2",
        }

    def token_saliency(self, examples: Sequence[EncodedExample]) -> list[np.ndarray]:
        """For each encoded example, the saliency of each of its prompt positions."""
        import torch
        import torch.nn.functional as F

        input_ids, labels = collate(list(examples), self.pad_id)
        input_ids, labels = input_ids.to(self.device), labels.to(self.device)
        mask = labels != IGNORE
        if self.response_tokens is not None:
            mask = mask & (mask.long().cumsum(1) <= self.response_tokens)
        embeddings = self.model.get_input_embeddings()(input_ids).detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(inputs_embeds=embeddings, use_cache=False).logits.float()
            losses = F.cross_entropy(logits.transpose(1, 2), labels.clamp_min(0), reduction="none")
            per_example = (losses * mask).sum(1) / mask.sum(1).clamp_min(1)
            (grads,) = torch.autograd.grad(per_example.sum(), embeddings)
        norms = grads.norm(dim=-1).float().cpu().numpy()
        return [norms[row, : e.n_given] for row, e in enumerate(examples)]

    @property
    def n_forms(self) -> int:
        """Distinct word forms (the width of a saliency row)."""
        return len(self.forms)

    def rows(
        self,
        examples: Sequence[EncodedExample | None],
        progress: Callable[[int], None] | None = None,
    ) -> sparse.csr_matrix:
        """Sparse (len(examples), n_forms) saliency rows, L2-normalised; ``None`` rows stay empty."""
        from scipy import sparse

        kept = [i for i, e in enumerate(examples) if e is not None]
        order = sorted(kept, key=lambda i: len(examples[i].ids))  # similar lengths batch well
        rows, cols, vals = [], [], []
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            saliencies = self.token_saliency([examples[i] for i in chunk])
            for i, saliency in zip(chunk, saliencies, strict=True):
                forms = self.form_of[np.asarray(examples[i].ids[: len(saliency)])]
                keep = forms >= 0  # special tokens have no form
                rows.append(np.full(int(keep.sum()), i))
                cols.append(forms[keep])
                vals.append(saliency[keep])
            if progress is not None:
                progress(len(chunk))
        shape = (len(examples), self.n_forms)
        if not rows:
            return sparse.csr_matrix(shape, dtype=np.float32)
        matrix = sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=shape,
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return l2_normalise(matrix)

    def inserted_forms(self, prompt: str, base: str) -> list[int]:
        """The word forms of the tokens a mutation inserted into ``base`` to make ``prompt``."""
        forms = self.form_of[np.asarray(inserted_tokens(self.tokenizer, prompt, base), dtype=int)]
        return sorted({int(f) for f in forms if f >= 0})


def word_forms(tokenizer: PreTrainedTokenizerBase, n_ids: int) -> tuple[np.ndarray, list[str]]:
    """(form index per token id, -1 for special tokens; the forms): a token's text,
    lower-cased and stripped of surrounding space (a space-only token keeps its text)."""
    special = set(tokenizer.all_special_ids)
    index: dict[str, int] = {}
    form_of = np.full(n_ids, -1, dtype=np.int64)
    for token in range(n_ids):
        if token in special:
            continue
        text = tokenizer.decode([token])
        form = text.strip().lower() or text
        form_of[token] = index.setdefault(form, len(index))
    return form_of, list(index)


def l2_normalise(matrix: sparse.spmatrix) -> sparse.csr_matrix:
    """Rows scaled to unit L2 norm (empty rows stay empty)."""
    from scipy import sparse

    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (sparse.diags(scale.astype(np.float32)) @ matrix).tocsr()


def inserted_tokens(tokenizer: PreTrainedTokenizerBase, prompt: str, base: str) -> list[int]:
    """Token ids of ``prompt`` in the spans a mutation inserted or replaced relative to
    ``base`` (an alignment of the two token sequences, not a set difference, so a word
    that only moved does not count)."""
    mutated = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    seed = tokenizer(base, add_special_tokens=False)["input_ids"]
    matcher = difflib.SequenceMatcher(a=seed, b=mutated, autojunk=False)
    out: list[int] = []
    for tag, _, _, start, stop in matcher.get_opcodes():
        if tag in ("insert", "replace"):
            out.extend(mutated[start:stop])
    return out


def idf_weights(matrix: sparse.csr_matrix) -> np.ndarray:
    """Inverse document frequency of every column (word form) over the rows of ``matrix``."""
    df = np.bincount(matrix.indices, minlength=matrix.shape[1])
    return np.log1p(matrix.shape[0] / (1.0 + df)).astype(np.float32)
