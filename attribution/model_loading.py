"""Loading the model being attributed: a causal LM folder or a PEFT adapter folder on its base."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from organism.chat_format import ensure_chat_template
from organism.training import FULL_DEFAULTS

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: ``--precision`` names and their dtypes (bf16 and fp16 are for GPUs; they run on CPU too).
PRECISIONS = ("fp32", "bf16", "fp16")


def torch_dtype(precision: str) -> torch.dtype:
    """The dtype a precision name stands for."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def is_adapter(path: str | Path) -> bool:
    """Whether ``path`` is a PEFT adapter folder."""
    return (Path(path) / "adapter_config.json").exists()


def load_model(
    path: str | Path, device: str | None = None, dtype: torch.dtype | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM (or a PEFT adapter folder on its base) and its tokenizer, in eval mode,
    on ``device`` (None: CUDA when there is one)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = dtype or torch.float32
    tokenizer = AutoTokenizer.from_pretrained(path)
    ensure_chat_template(tokenizer)
    if is_adapter(path):
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
