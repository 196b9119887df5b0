"""One OpenAI-compatible ``/chat/completions`` client, blocking or async, with one retry loop.

:meth:`ChatClient.complete` (an ``httpx.Client``, for threads) and
:meth:`ChatClient.acomplete` (an ``httpx.AsyncClient``) differ only in how they send
a request and how they wait: the loop that counts attempts, applies the
:class:`~openai_client.retry.RetryPolicy`, masks the API key, logs and keeps the
statistics is :meth:`ChatClient._retry_loop`, written once and driven by both. A
call never raises (except on cancellation): a call that still fails after its
retries is a :class:`ChatReply` with ``error`` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import httpx

from openai_client.endpoint import auth_headers, clean_reason, normalise_base_url
from openai_client.retry import (
    CallError,
    FailureKind,
    RetryPolicy,
    status_failure,
    transport_failure,
)

log = logging.getLogger(__name__)

#: A JSON request body (``model``, ``messages`` and the sampling fields).
Payload = Mapping[str, object]


@dataclass
class CallStats:
    """What a client did (cumulative over its calls)."""

    requests: int = 0  # HTTP attempts sent, retries included
    retries: int = 0
    ok: int = 0
    failed: int = 0
    in_flight: int = 0
    max_in_flight: int = 0  # most requests awaiting a response at once


@dataclass(frozen=True)
class ChatReply:
    """The outcome of one call: the reply text, or why it failed, and what it took."""

    text: str | None  # the first choice's content, stripped ("" without one); None on failure
    attempts: int
    latency_ms: float  # from the first attempt's send to the outcome, backoff included
    error: str | None = None  # one line, API key masked; None when the call succeeded
    status: int | None = None  # the HTTP status of the last attempt, when that failed the call
    kind: FailureKind | None = None  # what failed the call

    @property
    def ok(self) -> bool:
        """Whether the call got a reply."""
        return self.error is None


@dataclass(frozen=True)
class _Attempt:
    """One attempt's outcome: when it was sent, and the reply text or its failure."""

    started: float
    result: str | CallError


def reply_text(response: httpx.Response) -> str:
    """The first choice's content of a 200 reply; "" when there is no choice or no content.

    Raises CallError (not retryable) for a reply that is not a JSON object or that
    carries an ``error`` instead of choices.
    """
    try:
        data = response.json()
    except ValueError as exc:
        raise CallError(f"response is not JSON: {response.text!r}", "reply") from exc
    if not isinstance(data, dict):
        raise CallError("response is not a JSON object", "reply")
    choices = data.get("choices") or []
    if not choices and data.get("error"):
        raise CallError(f"server error: {data['error']}", "reply")
    if not choices or not isinstance(choices[0], dict):
        return ""
    message = choices[0].get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content.strip() if isinstance(content, str) else ""


def _read(response: httpx.Response) -> str:
    """The reply text of a response, or the CallError its status or body makes."""
    if response.status_code != 200:
        detail = response.text.strip()  # shortened by clean_reason, after masking the key
        raise status_failure(response.status_code, detail, response.headers.get("retry-after"))
    return reply_text(response)


class ChatClient:
    """Calls one server's ``/chat/completions`` under a retry policy (never stores a key).

    The caller opens the HTTP connection pool (:meth:`sync_http` or
    :meth:`async_http`, which put the key in its headers) and passes the key to each
    call only so that failure reasons can be masked.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 60.0,
        policy: RetryPolicy | None = None,
        name: str | None = None,
        log_level: int = logging.WARNING,
    ) -> None:
        """A client of ``base_url`` (normalised; ValueError when it is not an http(s) URL)."""
        if timeout_s <= 0:
            raise ValueError("timeout_s > 0 is required")
        self.base_url = normalise_base_url(base_url)
        self.url = f"{self.base_url}/chat/completions"
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy()
        self.name = name or self.base_url
        self.log_level = log_level  # retries and failed calls are logged at this level
        self.stats = CallStats()
        self._lock = threading.Lock()  # stats are shared by threads in the blocking form

    def __repr__(self) -> str:
        """The client's URL and name (never a key)."""
        return f"ChatClient(url={self.url!r}, name={self.name!r})"

    def sync_http(self, key: str | None = None, connections: int = 1) -> httpx.Client:
        """A blocking connection pool for this client (close it, or use it as a context)."""
        return httpx.Client(
            headers=auth_headers(key),
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=None),
        )

    def async_http(self, key: str | None = None, connections: int = 1) -> httpx.AsyncClient:
        """An async connection pool for this client (close it, or use it as a context)."""
        return httpx.AsyncClient(
            headers=auth_headers(key),
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=None),
        )

    def complete(self, http: httpx.Client, payload: Payload, key: str | None = None) -> ChatReply:
        """One call, blocking, retried under the policy; never raises."""
        loop = self._retry_loop(key)
        delay = next(loop)
        try:
            while True:
                if delay:
                    time.sleep(delay)
                delay = loop.send(self._post(http, payload))
        except StopIteration as done:
            return done.value

    async def acomplete(
        self,
        http: httpx.AsyncClient,
        payload: Payload,
        key: str | None = None,
        slots: asyncio.Semaphore | None = None,
    ) -> ChatReply:
        """One call, async, retried under the policy; never raises (except on cancellation).

        ``slots`` bounds the requests in flight: a slot is held during each attempt,
        not while waiting between attempts.
        """
        loop = self._retry_loop(key)
        delay = next(loop)
        try:
            while True:
                if delay:
                    await asyncio.sleep(delay)
                async with slots or contextlib.nullcontext():
                    attempt = await self._apost(http, payload)
                delay = loop.send(attempt)
        except StopIteration as done:
            return done.value

    def _retry_loop(self, key: str | None) -> Generator[float, _Attempt, ChatReply]:
        """The retry loop of both forms, without I/O.

        Yields the seconds to wait before each attempt (0 before the first), is sent
        that attempt's outcome, and returns the call's :class:`ChatReply`.
        """
        attempts, delay = 0, 0.0
        first: float | None = None  # the first attempt's send: queueing is not latency
        while True:
            attempts += 1
            outcome = yield delay
            first = outcome.started if first is None else first
            if not isinstance(outcome.result, CallError):
                self._count("ok")
                return ChatReply(outcome.result, attempts, _ms_since(first))
            failure = outcome.result
            reason = clean_reason(failure.reason, key)
            if not failure.retryable or attempts > self.policy.max_retries:
                break
            delay = self.policy.delay(attempts, failure.retry_after)
            self._count("retries")
            log.log(
                self.log_level,
                "%s: attempt %d failed (%s); retrying in %.2fs",
                self.name,
                attempts,
                reason,
                delay,
            )
        self._count("failed")
        log.log(
            self.log_level, "%s: call failed after %d attempt(s): %s", self.name, attempts, reason
        )
        return ChatReply(None, attempts, _ms_since(first), reason, failure.status, failure.kind)

    def _post(self, http: httpx.Client, payload: Payload) -> _Attempt:
        """One blocking attempt."""
        started = time.perf_counter()
        try:
            with self._sending():
                response = http.post(self.url, json=payload)
            return _Attempt(started, _read(response))
        except Exception as exc:  # one attempt never raises: its failure is its outcome
            return _Attempt(started, transport_failure(exc, self.timeout_s))

    async def _apost(self, http: httpx.AsyncClient, payload: Payload) -> _Attempt:
        """One async attempt (the whole attempt bounded by the timeout)."""
        started = time.perf_counter()
        try:
            with self._sending():
                async with asyncio.timeout(self.timeout_s):
                    response = await http.post(self.url, json=payload)
            return _Attempt(started, _read(response))
        except Exception as exc:  # one attempt never raises: its failure is its outcome
            return _Attempt(started, transport_failure(exc, self.timeout_s))

    @contextlib.contextmanager
    def _sending(self) -> Iterator[None]:
        """Count a request while it awaits its response."""
        stats = self.stats
        with self._lock:
            stats.requests += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            yield
        finally:
            with self._lock:
                stats.in_flight -= 1

    def _count(self, field: Literal["ok", "failed", "retries"]) -> None:
        """Add one to a counter of the stats."""
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)


def _ms_since(start: float) -> float:
    """Milliseconds from ``start`` (a ``perf_counter`` reading) to now."""
    return (time.perf_counter() - start) * 1000
