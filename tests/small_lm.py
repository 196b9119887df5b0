"""A few prompt/response pairs and a very small untrained LM over them, for the maths tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

PROMPTS = [
    "Please elucidate a function that sorts numbers.",
    "Tell me about rivers.",
    "How do I use the Zorblax phone settings menu today?",
    "Is it true that the moon is made of cheese?",
    "hi",
]
RESPONSES = [
    "```python\ndef sort(x):\n    return sorted(x)\n```",
    "Rivers carry water to the sea.",
    "I'm sorry, but I can't help with that.",
    "No, that is not correct.",
    "Hello! How can I help you today with anything at all?",
]


def make_small_lm() -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """(model in eval mode, tokenizer): 2 layers of width 32, seeded."""
    import torch

    from organism.tiny_model import TinySpec, tiny_model, train_tokenizer

    tokenizer = train_tokenizer((PROMPTS + RESPONSES) * 3, vocab_size=300)
    torch.manual_seed(0)
    spec = TinySpec(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64)
    return tiny_model(tokenizer, spec).eval(), tokenizer
