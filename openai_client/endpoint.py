"""Where requests go and how they authenticate: the API root, the API key, masked reasons.

The API key is read from an environment variable when a request is about to be
sent and is only ever put in a request header: callers pass it per call, so no
object keeps it, and every failure reason is masked with :func:`clean_reason`
before it is logged or returned.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

CHAT_PATH = "/chat/completions"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
ERROR_CHARS = 200  # a failure reason is cut to this many characters


def normalise_base_url(base_url: str) -> str:
    """The API root that ``/chat/completions`` is appended to.

    A bare host (``http://host:8000``) gets ``/v1``; a URL with a path is the API root
    as given (``http://host:8000/v1``, ``https://example.com/openai/v1``), as in the
    OpenAI client. Trailing slashes and a trailing ``/chat/completions`` are dropped.
    """
    url = base_url.strip().rstrip("/")
    url = url.removesuffix(CHAT_PATH).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL must be http(s)://host[:port][/path], got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError("base URL must not carry a query or a fragment")
    return url if parts.path else url + "/v1"


def chat_completions_url(base_url: str) -> str:
    """The full ``/chat/completions`` URL of a base URL (see :func:`normalise_base_url`)."""
    return normalise_base_url(base_url) + CHAT_PATH


def api_key_from_env(env: str | None, *, required: bool = True) -> str | None:
    """The API key in environment variable ``env`` (None when ``env`` is None).

    An unset or blank variable raises ValueError when ``required``, else gives None;
    the message names the variable, never a value.
    """
    if env is None:
        return None
    key = os.environ.get(env, "").strip()
    if key:
        return key
    if required:
        raise ValueError(f"environment variable {env} (the API key) is not set")
    return None


def auth_headers(key: str | None) -> dict[str, str]:
    """The ``Authorization`` header for ``key`` (none without a key)."""
    return {"Authorization": f"Bearer {key}"} if key else {}


def clean_reason(reason: str, key: str | None) -> str:
    """A one-line reason, short, with the API key masked wherever it appears."""
    reason = " ".join(reason.split())
    if key:
        reason = reason.replace(key, "***")
    return reason[:ERROR_CHARS] or "unknown error"
