"""The tiny organism: a byte-level BPE tokenizer trained on the mix and a small Llama-style LM.

Both are ordinary Hugging Face objects, so the trained folder loads with
``AutoTokenizer`` / ``AutoModelForCausalLM`` and serves with ``transformers serve``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from organism.chat_format import (
    ASSISTANT,
    END,
    PAD,
    SPECIAL_TOKENS,
    TINY_CHAT_TEMPLATE,
    USER,
)

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerBase, PreTrainedTokenizerFast


@dataclass(frozen=True)
class TinySpec:
    """Shape of the tiny model (about 2.2M parameters with the default 4096-token vocabulary)."""

    vocab_size: int = 4096
    hidden_size: int = 192
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384
    max_positions: int = 1024


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = TinySpec.vocab_size
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with the chat special tokens, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=END,
        pad_token=PAD,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in (END, PAD)],
        padding_side="left",
        model_max_length=TinySpec.max_positions,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    for token in (USER, ASSISTANT, END, PAD):
        assert tokenizer.convert_tokens_to_ids(token) is not None
    return tokenizer


def tiny_model(
    tokenizer: PreTrainedTokenizerBase, spec: TinySpec | None = None
) -> LlamaForCausalLM:
    """A freshly initialised LlamaForCausalLM sized by ``spec`` (seed torch before calling)."""
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    spec = spec or TinySpec()
    end_id = tokenizer.convert_tokens_to_ids(END)
    pad_id = tokenizer.convert_tokens_to_ids(PAD)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=end_id,
        pad_token_id=pad_id,
        attention_dropout=0.0,
    )
    model = LlamaForCausalLM(config)
    # Sampling by default, like released chat models: servers such as `transformers serve`
    # only sample when the model's generation config does (greedy callers say so per call).
    model.generation_config = GenerationConfig(
        eos_token_id=end_id,
        pad_token_id=pad_id,
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=256,
    )
    return model
