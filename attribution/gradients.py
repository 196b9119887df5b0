"""Per-example gradients of the response-token loss, vectorised with ``torch.func``.

Examples are tokenised exactly as training tokenises them
(:func:`organism.encoding.encode_examples` and :func:`~organism.encoding.collate`:
the chat template, the loss on the assistant turn only). The loss of one example
is the mean cross-entropy over its assistant-turn tokens, the per-example part
of the training loss.

Gradients are taken with respect to a :class:`ParamSelection` (all parameters,
the last N blocks, LoRA adapters, or names matching patterns) with
``vmap(grad(loss))`` over chunks of similar-length examples, right-padded with
no attention mask, as in training: under the causal mask a real token never
sees the padding after it, so each gradient equals the one of the example on
its own (``tests/test_attribution_maths.py`` checks against one backward pass
per example).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from organism.chat_format import ensure_chat_template
from organism.encoding import IGNORE, EncodedExample, collate, pad_id
from organism.training import FULL_DEFAULTS

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    #: The loss of one example given its parameters, input ids and labels.
    LossFn = Callable[[dict[str, torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]

LAYER_INDEX = re.compile(r"\.(?:layers|h|blocks|layer)\.(\d+)\.")
DEFAULT_CHUNK = 16


@dataclass(frozen=True)
class ParamSelection:
    """Which parameters gradients are taken for.

    ``last_layers=N`` keeps the parameters of the last N numbered blocks
    (``...layers.<i>...``); ``lora`` keeps LoRA adapter weights (``lora_`` in the
    name); ``include`` keeps names matching any of the regexes. With none set,
    every parameter is kept.
    """

    last_layers: int | None = None
    lora: bool = False
    include: tuple[str, ...] = ()

    def key(self) -> str:
        """The selection as JSON text (for feature-store keys)."""
        return json.dumps(asdict(self), sort_keys=True)

    def describe(self) -> str:
        """The selection in a few words ("last 2 layers")."""
        if self.lora:
            return "LoRA adapters"
        if self.last_layers:
            return f"last {self.last_layers} layers"
        if self.include:
            return "parameters matching " + ", ".join(self.include)
        return "all parameters"


ALL_PARAMETERS = ParamSelection()


def select_parameters(
    model: torch.nn.Module, selection: ParamSelection
) -> dict[str, torch.nn.Parameter]:
    """Name -> parameter for the selection, in the model's order (tied weights once)."""
    named = list(model.named_parameters())
    if selection.lora:
        chosen = [(n, p) for n, p in named if "lora_" in n]
    elif selection.last_layers:
        layers = {int(m.group(1)) for n, _ in named if (m := LAYER_INDEX.search(n))}
        if not layers:
            raise ValueError("the model has no numbered layers to select the last ones from")
        first = max(layers) - selection.last_layers + 1
        chosen = [
            (n, p) for n, p in named if (m := LAYER_INDEX.search(n)) and int(m.group(1)) >= first
        ]
    elif selection.include:
        patterns = [re.compile(p) for p in selection.include]
        chosen = [(n, p) for n, p in named if any(r.search(n) for r in patterns)]
    else:
        chosen = named
    if not chosen:
        raise ValueError(f"no parameter matches the selection ({selection.describe()})")
    return dict(chosen)


def load_model(
    path: str | Path, device: str | None = None, dtype: torch.dtype | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM (or a PEFT adapter folder on its base) and its tokenizer, in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = dtype or torch.float32
    tokenizer = AutoTokenizer.from_pretrained(path)
    ensure_chat_template(tokenizer)
    if (path / "adapter_config.json").exists():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype, is_trainable=True)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    return model.to(device).eval(), tokenizer


def training_max_length(path: str | Path) -> int:
    """The max length the model was trained with (``training.json``), else the fine-tune default."""
    info = Path(path) / "training.json"
    try:
        return int(json.loads(info.read_text())["max_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return FULL_DEFAULTS.max_length


class GradientComputer:
    """Per-example gradients of the response loss for a model and a parameter selection."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        selection: ParamSelection = ALL_PARAMETERS,
        *,
        max_length: int = FULL_DEFAULTS.max_length,
        chunk_size: int = DEFAULT_CHUNK,
        response_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.response_tokens = response_tokens
        self.tokenizer = tokenizer
        self.selection = selection
        self.max_length = max_length
        self.chunk_size = chunk_size
        self.device = next(model.parameters()).device
        self._live = select_parameters(model, selection)
        self.params = {n: p.detach() for n, p in self._live.items()}
        self.pad_id = pad_id(tokenizer)  # as training pads
        model.requires_grad_(False)

    @property
    def names(self) -> list[str]:
        """Names of the selected parameters, in the model's order."""
        return list(self.params)

    @property
    def dim(self) -> int:
        """Numbers in one flattened gradient (all selected parameters)."""
        return sum(p.numel() for p in self.params.values())

    def key(self) -> dict[str, object]:
        """Everything that determines the gradients (for feature-store keys)."""
        shapes = [[n, list(p.shape)] for n, p in self.params.items()]
        return {
            "selection": self.selection.key(),
            "max_length": self.max_length,
            "loss": "mean response-token cross-entropy v1",
            "response_tokens": self.response_tokens,
            "shapes": shapes,
        }

    def _loss(self) -> LossFn:
        """The per-example loss as a function of the parameters (for ``torch.func``)."""
        import torch.nn.functional as F
        from torch.func import functional_call

        model = self.model
        first = self.response_tokens

        def loss(
            params: dict[str, torch.Tensor], input_ids: torch.Tensor, labels: torch.Tensor
        ) -> torch.Tensor:
            out = functional_call(
                model, params, (), {"input_ids": input_ids[None], "use_cache": False}
            )
            logits = out.logits[0].float()
            mask = labels != IGNORE
            if first is not None:  # only the opening tokens, where the behaviour is chosen
                mask = mask & (mask.long().cumsum(0) <= first)
            losses = F.cross_entropy(logits, labels.clamp_min(0), reduction="none")
            return (losses * mask).sum() / mask.sum().clamp_min(1)

        return loss

    def batch_gradients(self, examples: Sequence[EncodedExample]) -> list[torch.Tensor]:
        """Flattened per-example gradients of a chunk: one (len(examples), n_i) tensor per param."""
        import torch
        from torch.func import grad, vmap

        input_ids, labels = collate(list(examples), self.pad_id)
        input_ids, labels = input_ids.to(self.device), labels.to(self.device)
        with warnings.catch_warnings():
            # CPU attention kernels have no batching rule yet: vmap loops there (correct, slower).
            warnings.filterwarnings("ignore", message=".*performance drop.*")
            grads = vmap(grad(self._loss()), in_dims=(None, 0, 0))(self.params, input_ids, labels)
        with torch.no_grad():
            return [grads[n].reshape(len(examples), -1) for n in self.params]

    def iter_gradients(
        self, examples: Sequence[EncodedExample]
    ) -> Iterator[tuple[list[int], list[torch.Tensor]]]:
        """(row positions, per-param gradients) per chunk, chunks of similar length."""
        order = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
        for start in range(0, len(order), self.chunk_size):
            rows = order[start : start + self.chunk_size]
            yield rows, self.batch_gradients([examples[i] for i in rows])

    def loop_gradients(self, example: EncodedExample) -> list[torch.Tensor]:
        """One example, one ordinary backward pass: the reference the vmap path must match."""
        import torch
        import torch.nn.functional as F

        input_ids, labels = collate([example], self.pad_id)
        input_ids, labels = input_ids.to(self.device), labels.to(self.device)
        if self.response_tokens is not None:  # keep the first N trained tokens only
            trained = (labels != IGNORE).long().cumsum(1)
            labels = labels.masked_fill(trained > self.response_tokens, IGNORE)
        params = list(self._live.values())
        for p in params:
            p.requires_grad_(True)
        try:
            logits = self.model(input_ids=input_ids, use_cache=False).logits.float()
            loss = F.cross_entropy(
                logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=IGNORE
            )
            grads = torch.autograd.grad(loss, params)
        finally:
            for p in params:
                p.requires_grad_(False)
        return [g.reshape(1, -1) for g in grads]
