"""The shared chat client: the retry policy by hand, and the blocking and async calls
against a scripted stdlib server (same loop, same outcomes)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from serving import free_port

from openai_client import (
    ChatClient,
    ChatReply,
    RetryPolicy,
    api_key_from_env,
    chat_completions_url,
    clean_reason,
    retry_after_seconds,
)
from openai_client.retry import status_failure

OK = {"choices": [{"message": {"role": "assistant", "content": " fine "}}]}
KEY = "sk-test-0123456789-SECRET"


# ---------------------------------------------------------------- the policy by hand


def test_backoff_doubles_with_jitter_in_the_upper_half_and_is_capped():
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=3.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 3.0), (6, 3.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > 0  # jitter


def test_retry_after_wins_and_is_capped():
    policy = RetryPolicy(max_retry_after_s=5.0)
    assert policy.delay(1, retry_after=2.0) == 2.0
    assert policy.delay(3, retry_after=3600.0) == 5.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    later = retry_after_seconds(formatdate(time.time() + 30, usegmt=True))
    assert later is not None and 25 < later <= 30


def test_which_statuses_are_retried():
    retried = [s for s in (400, 401, 404, 408, 409, 422, 425, 429, 500, 503) if
               status_failure(s, "").retryable]  # fmt: skip
    assert retried == [408, 409, 425, 429, 500, 503]
    assert status_failure(429, "x", "2").retry_after == 2.0
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


def test_urls_keys_and_masking(monkeypatch):
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/chat/completions/") == (
        "http://h:1/v1/chat/completions"
    )
    monkeypatch.delenv("OC_TEST_KEY", raising=False)
    assert api_key_from_env(None) is None
    assert api_key_from_env("OC_TEST_KEY", required=False) is None
    with pytest.raises(ValueError, match="OC_TEST_KEY"):
        api_key_from_env("OC_TEST_KEY")
    monkeypatch.setenv("OC_TEST_KEY", f"  {KEY} ")
    assert api_key_from_env("OC_TEST_KEY") == KEY
    assert clean_reason(f"bad\n key {KEY}", KEY) == "bad key ***"
    assert clean_reason("", None) == "unknown error"


# ---------------------------------------------------------------- both forms, one loop


class Scripted:
    """Replies with scripted (status, body, headers) tuples, the last one repeating."""

    def __init__(self, *replies: tuple[int, object, dict[str, str]]) -> None:
        self.replies = list(replies)
        self.auth: list[str | None] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                scripted.auth.append(self.headers.get("Authorization"))
                replies = scripted.replies
                status, body, headers = replies.pop(0) if len(replies) > 1 else replies[0]
                raw = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def scripted() -> Iterator:
    servers: list[Scripted] = []

    def start(*replies: tuple[int, object, dict[str, str]]) -> Scripted:
        servers.append(Scripted(*replies))
        return servers[-1]

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


def call(url: str, form: str, key: str | None = None, **policy: float) -> ChatReply:
    """One call made in ``form`` ("blocking" or "async")."""
    settings = {"backoff_s": 0.01, **policy}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    client = ChatClient(url, timeout_s=2, policy=RetryPolicy(**settings))  # type: ignore[arg-type]
    if form == "blocking":
        with client.sync_http(key) as http:
            return client.complete(http, body, key)

    async def async_call() -> ChatReply:
        async with client.async_http(key) as http:
            return await client.acomplete(http, body, key, asyncio.Semaphore(1))

    return asyncio.run(async_call())


def both(url: str, key: str | None = None, **policy: float) -> list[ChatReply]:
    """The same call made blocking and async (for scripts whose last reply repeats)."""
    return [call(url, form, key, **policy) for form in ("blocking", "async")]


@pytest.mark.parametrize("form", ["blocking", "async"])
def test_retried_then_ok(scripted, form: str):
    server = scripted((503, "busy", {}), (429, "slow", {"Retry-After": "0.2"}), (200, OK, {}))
    started = time.perf_counter()
    reply = call(server.url, form)
    assert (reply.text, reply.attempts, reply.ok) == ("fine", 3, True)
    assert time.perf_counter() - started >= 0.2
    assert reply.latency_ms >= 200


def test_failures_are_replies_not_exceptions_in_both_forms(scripted):
    server = scripted((400, {"detail": "bad"}, {}))
    for reply in both(server.url):
        assert (reply.ok, reply.text, reply.attempts, reply.status, reply.kind) == (
            False, None, 1, 400, "status")  # fmt: skip
        assert reply.error == 'HTTP 400: {"detail": "bad"}'
    server = scripted((500, "boom", {}))
    for reply in both(server.url, max_retries=2):
        assert (reply.attempts, reply.error, reply.kind) == (3, "HTTP 500: boom", "status")
    for reply in both(scripted((200, "<html>", {})).url):
        assert (reply.attempts, reply.kind) == (1, "reply")
    for reply in both(f"http://127.0.0.1:{free_port()}", max_retries=1):
        assert (reply.attempts, reply.kind) == (2, "connection")
        assert reply.error and reply.error.startswith("connection error")


def test_key_is_sent_masked_in_errors_and_stats_count(scripted):
    server = scripted((401, "no access for Bearer " + KEY, {}))
    for reply in both(server.url, key=KEY):
        assert reply.error == "HTTP 401: no access for Bearer ***"
    assert server.auth == [f"Bearer {KEY}"] * 2
    client = ChatClient(scripted((503, "", {}), (200, OK, {})).url, policy=RetryPolicy(1, 0.01))
    with client.sync_http() as http:
        assert client.complete(http, {"model": "m"}).ok
    stats = client.stats
    assert (stats.requests, stats.retries, stats.ok, stats.failed, stats.in_flight) == (
        2, 1, 1, 0, 0)  # fmt: skip
    assert KEY not in repr(client) and KEY not in str(vars(client))
