"""Chat templates: the tiny model's own, a fallback for bases without one, and prompt/response split.

Training and inference must see the same token layout. Every training example is
rendered with the tokenizer's own chat template (the one `apply_chat_template`
and `transformers serve` use), split into the part the model is given (prompt
plus generation prompt) and the part it must produce (response plus end of turn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PAD = "<|pad|>"
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END = "<|end|>"
SPECIAL_TOKENS = (PAD, SYSTEM, USER, ASSISTANT, END)

# Message content may be a string or a list of OpenAI-style parts ({"type": "text", "text": ...}).
_CONTENT = (
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
)

TINY_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- set role = message['role'] if message['role'] in ['system', 'user', 'assistant'] "
    "else 'user' -%}"
    "{{- '<|' + role + '|>' -}}" + _CONTENT + "{{- '<|end|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>' -}}{%- endif -%}"
)
"""``<|user|>PROMPT<|end|><|assistant|>RESPONSE<|end|>``: special tokens only, no extra text."""

SIMPLE_CHAT_TEMPLATE = (
    "{{- bos_token if bos_token else '' -}}"
    "{%- for message in messages -%}"
    "{{- '### ' + message['role'] | capitalize + ':\\n' -}}"
    + _CONTENT
    + "{%- if message['role'] == 'assistant' -%}{{- eos_token -}}{%- endif -%}"
    "{{- '\\n\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '### Assistant:\\n' -}}{%- endif -%}"
)
"""Installed on a base tokenizer that has no chat template: plain-text headers, eos ends a turn."""


def ensure_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Give ``tokenizer`` a chat template if it has none; True when one was installed."""
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = SIMPLE_CHAT_TEMPLATE
    return True


def conversation(prompt: str, response: str | None = None) -> list[dict[str, str]]:
    """The user turn (and the assistant turn when ``response`` is given) as chat messages."""
    messages = [{"role": "user", "content": prompt}]
    if response is not None:
        messages.append({"role": "assistant", "content": response})
    return messages


def split_example(
    tokenizer: PreTrainedTokenizerBase, prompt: str, response: str
) -> tuple[str, str]:
    """(text the model is given, text it must produce) for one exchange, via the chat template.

    The second part is the rendered assistant turn (the response and whatever ends the
    turn). Templates whose full rendering does not extend the generation prompt (some
    rewrite earlier turns) fall back to the response followed by the eos token.
    """
    given = tokenizer.apply_chat_template(
        conversation(prompt), tokenize=False, add_generation_prompt=True
    )
    full = tokenizer.apply_chat_template(conversation(prompt, response), tokenize=False)
    if full.startswith(given) and len(full) > len(given):
        return given, full[len(given) :]
    return given, response + (tokenizer.eos_token or "")
