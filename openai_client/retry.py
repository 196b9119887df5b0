"""The retry policy every call shares: what may be retried, and how long to wait first.

Timeouts, HTTP 408/409/425/429, every 5xx and dropped or refused connections are
retryable; other 4xx, unreadable replies and request errors fail at once. The wait
before attempt ``n + 1`` is ``Retry-After`` when the server sent one (capped at
``max_retry_after_s``), else exponential backoff with jitter: a uniform draw from
the upper half of ``min(max_backoff_s, backoff_s * 2 ** (n - 1))``.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Literal

import httpx

RETRY_STATUS = frozenset({408, 409, 425, 429})  # plus every 5xx
RETRY_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

#: What went wrong in one attempt: no answer in time, no connection, an HTTP error
#: status, a 200 reply that cannot be read, or a request that could not be made.
FailureKind = Literal["timeout", "connection", "status", "reply", "request"]


class CallError(Exception):
    """One failed attempt: why, of what kind, whether to retry, and any ``Retry-After``."""

    def __init__(
        self,
        reason: str,
        kind: FailureKind,
        *,
        retryable: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """A failure; ``retry_after`` is the server's wait in seconds, when it sent one."""
        super().__init__(reason)
        self.reason = reason
        self.kind: FailureKind = kind
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a call is retried and how long it waits between attempts."""

    max_retries: int = 4  # attempts after the first
    backoff_s: float = 0.5  # the first backoff's ceiling; doubles per attempt
    max_backoff_s: float = 20.0  # the largest backoff ceiling
    max_retry_after_s: float = 60.0  # a server's Retry-After is capped at this

    def __post_init__(self) -> None:
        """Refuse a negative retry count or negative waits."""
        if self.max_retries < 0:
            raise ValueError("max_retries >= 0 is required")
        if min(self.backoff_s, self.max_backoff_s, self.max_retry_after_s) < 0:
            raise ValueError("backoff and Retry-After limits must not be negative")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def status_failure(status: int, detail: str, retry_after: str | None = None) -> CallError:
    """The failure for an HTTP status other than 200 (retryable for 408/409/425/429/5xx)."""
    reason = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status in RETRY_STATUS or status >= 500:
        after = retry_after_seconds(retry_after)
        return CallError(reason, "status", retryable=True, status=status, retry_after=after)
    return CallError(reason, "status", status=status)


def transport_failure(exc: Exception, timeout_s: float) -> CallError:
    """The failure for an exception raised while sending a request or awaiting its reply."""
    if isinstance(exc, CallError):
        return exc
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        reason = f"timeout after {timeout_s:g}s ({type(exc).__name__})"
        return CallError(reason, "timeout", retryable=True)
    if isinstance(exc, RETRY_TRANSPORT):
        reason = f"connection error: {type(exc).__name__}: {exc}"
        return CallError(reason, "connection", retryable=True)
    if isinstance(exc, httpx.HTTPError):
        return CallError(f"request error: {type(exc).__name__}: {exc}", "request")
    return CallError(f"{type(exc).__name__}: {exc}", "request")
