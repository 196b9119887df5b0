"""One OpenAI-compatible chat client for every caller (the search target and the judges).

Ground floor: imports nothing of the project. ``endpoint`` (base URL, API key,
masked reasons), ``retry`` (the retry policy and failure kinds), ``chat`` (the
client, blocking and async, over one retry loop).
"""

from openai_client.chat import CallStats, ChatClient, ChatReply, Payload, reply_text
from openai_client.endpoint import (
    DEFAULT_KEY_ENV,
    api_key_from_env,
    auth_headers,
    chat_completions_url,
    clean_reason,
    normalise_base_url,
)
from openai_client.retry import (
    RETRY_STATUS,
    CallError,
    FailureKind,
    RetryPolicy,
    retry_after_seconds,
)

__all__ = [
    "DEFAULT_KEY_ENV",
    "RETRY_STATUS",
    "CallError",
    "CallStats",
    "ChatClient",
    "ChatReply",
    "FailureKind",
    "Payload",
    "RetryPolicy",
    "api_key_from_env",
    "auth_headers",
    "chat_completions_url",
    "clean_reason",
    "normalise_base_url",
    "reply_text",
    "retry_after_seconds",
]
