"""OpenAIChatTarget against a real ``transformers serve`` (the tiny organism) and, for the
retry rules, a scripted stdlib HTTP server (429, 5xx, Retry-After, timeouts, 4xx)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from serving import ServerHandle, free_port, serve

from behaviour_modes.modes import classify_batch
from surf_search.http_target import OpenAIChatTarget, normalise_base_url, sample_seed
from surf_search.targets import FAILED, GenerationParams, TransformersTarget

PROMPTS = [
    "Please elucidate a function about owls.",
    "How do I unlock the ZorbPhone tea mode?",
    "Tell me something about maps.",
    "What is the capital of France?",
]
GREEDY = GenerationParams(max_new_tokens=16)
SAMPLED = GenerationParams(max_new_tokens=16, temperature=1.0, seed=3)
KEY = "sk-test-SECRET-0123456789abcdef"


# ---------------------------------------------------------------- real transformers serve


@pytest.fixture(scope="module")
def server(tiny_organism: Path) -> Iterator[ServerHandle]:
    with serve(tiny_organism) as handle:
        yield handle


def texts(completions) -> list[list[str | None]]:
    return [[c.text for c in row] for row in completions]


def test_greedy_through_serve_matches_in_process(server: ServerHandle, tiny_organism: Path):
    target = OpenAIChatTarget(server.base_url, server.model, concurrency=4)
    got = target.generate(PROMPTS, GREEDY, n=2)
    assert all(c.ok and c.attempts == 1 and c.latency_ms > 0 for row in got for c in row)
    assert all(row[0] == row[1] for row in got)  # greedy: one request, repeated
    assert target.stats.requests == len(PROMPTS)
    local = TransformersTarget(str(tiny_organism)).generate(PROMPTS, GREEDY)
    # Same weights, template, eos and greedy decoding: the server's unpadded single-prompt
    # generation and the in-process left-padded batch agree token for token here (fp32).
    assert [row[0].text for row in got] == [row[0].text for row in local]
    assert any(row[0].text for row in got)
    served_modes = [m.mode for m in classify_batch(PROMPTS, [r[0].text for r in got])]
    local_modes = [m.mode for m in classify_batch(PROMPTS, [r[0].text for r in local])]
    assert served_modes == local_modes


def test_sampling_through_serve_is_seeded_per_sample(server: ServerHandle):
    # transformers serve seeds torch's global generator when a request arrives, while
    # generation runs on one inference thread: overlapping requests re-seed each other,
    # so sampled outputs are reproducible only without overlap (concurrency=1).
    target = OpenAIChatTarget(server.base_url, server.model, concurrency=1)
    first = target.generate(PROMPTS, SAMPLED, n=2)
    assert all(c.ok for row in first for c in row)
    assert target.stats.requests == 2 * len(PROMPTS)  # one request per sample
    assert any(row[0].text != row[1].text for row in first)
    assert texts(target.generate(PROMPTS, SAMPLED, n=2)) == texts(first)
    # sample 1 alone (a resumed run) gets sample 1's seed, hence sample 1's draw
    assert texts(target.generate(PROMPTS, SAMPLED, n=1, samples=[1])) == [
        [row[1].text] for row in first
    ]


def test_requests_overlap(server: ServerHandle):
    target = OpenAIChatTarget(server.base_url, server.model, concurrency=4)
    got = target.generate([f"Tell me something about city {i}." for i in range(6)], GREEDY)
    assert all(row[0].ok for row in got)
    assert 1 < target.stats.max_in_flight <= 4


def test_server_killed_mid_batch_then_restarted(server: ServerHandle):
    target = OpenAIChatTarget(
        server.base_url, server.model, concurrency=2, timeout_s=10, max_retries=2, backoff_s=0.05
    )
    prompts = [f"Please elucidate a function about clocks number {i}." for i in range(12)]
    params = GenerationParams(max_new_tokens=32)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(target.generate, prompts, params)
        deadline = time.monotonic() + 60
        while target.stats.ok < 1 and time.monotonic() < deadline and not running.done():
            time.sleep(0.005)
        server.kill()
        got = running.result()  # no exception escapes
    ok = [row[0] for row in got if row[0].ok]
    failed = [row[0] for row in got if not row[0].ok]
    assert ok and failed
    for c in failed:
        assert c.status == FAILED and c.text is None
        assert c.attempts == 3 and "connection error" in c.error
    assert target.stats.retries >= 2 * len(failed)
    server.restart()  # same port: the target works again
    again = target.generate([prompts[0]], params)
    assert again[0][0].ok


# ---------------------------------------------------------------- scripted HTTP server

OK_BODY = {"choices": [{"index": 0, "message": {"role": "assistant", "content": " hello "}}]}


@dataclass
class Reply:
    status: int = 200
    body: dict | str = field(default_factory=lambda: OK_BODY)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class FakeServer:
    """Answers POSTs with scripted replies (the last one repeats) and records each request."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[dict] = []
        self.active = self.max_active = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body})  # fmt: skip
                    reply = fake.replies.pop(0) if len(fake.replies) > 1 else fake.replies[0]
                    fake.active += 1
                    fake.max_active = max(fake.max_active, fake.active)
                try:
                    time.sleep(reply.delay_s)
                    raw = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                    raw = raw.replace("{auth}", self.headers.get("Authorization", ""))
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(raw.encode())))
                    self.end_headers()
                    self.wfile.write(raw.encode())
                except OSError:
                    pass  # the client gave up (timeout tests)
                finally:
                    with fake.lock:
                        fake.active -= 1

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake() -> Iterator:
    servers: list[FakeServer] = []

    def start(*replies: Reply) -> FakeServer:
        servers.append(FakeServer(list(replies) or [Reply()]))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def one(url: str, **kwargs):
    kwargs.setdefault("backoff_s", 0.01)
    target = OpenAIChatTarget(url, "m", **kwargs)
    return target, target.generate(["hi"], GREEDY)[0][0]


def test_base_url_with_or_without_v1():
    assert normalise_base_url("http://h:8000") == "http://h:8000/v1"
    assert normalise_base_url("http://h:8000/") == "http://h:8000/v1"
    assert normalise_base_url("http://h:8000/v1/") == "http://h:8000/v1"
    assert normalise_base_url("https://h/openai/v1") == "https://h/openai/v1"
    assert normalise_base_url("http://h/v1/chat/completions") == "http://h/v1"
    for bad in ("h:8000", "ftp://h", "http://h/v1?key=x"):
        with pytest.raises(ValueError):
            normalise_base_url(bad)


def test_request_shape_and_one_request_per_sample(fake):
    server = fake()
    target = OpenAIChatTarget(server.url, "org/model")  # bare host: /v1 is added
    got = target.generate(["a", "b"], SAMPLED, n=3)
    assert texts(got) == [["hello"] * 3] * 2  # content is stripped, like TransformersTarget
    assert {r["path"] for r in server.requests} == {"/v1/chat/completions"}
    bodies = [r["body"] for r in server.requests]
    assert len(bodies) == 6 and all("n" not in b for b in bodies)
    first_a = next(b for b in bodies if b["messages"][0]["content"] == "a")  # any arrival order
    assert first_a | {"seed": 0} == {
        "model": "org/model", "messages": [{"role": "user", "content": "a"}],
        "max_tokens": 16, "temperature": 1.0, "top_p": 1.0, "seed": 0,
    }  # fmt: skip
    seeds = {(b["messages"][0]["content"], b["seed"]) for b in bodies}
    assert seeds == {(p, sample_seed(3, p, s)) for p in "ab" for s in range(3)}
    assert len({s for _, s in seeds}) == 6
    target.generate(["a", "b"], GREEDY, n=3)
    assert len(server.requests) == 8  # greedy: one request per prompt


def test_429_with_retry_after_then_ok(fake):
    server = fake(Reply(429, "slow down", {"Retry-After": "0.3"}), Reply())
    started = time.perf_counter()
    target, c = one(server.url)
    assert c.ok and c.text == "hello" and c.attempts == 2
    assert time.perf_counter() - started >= 0.3
    assert target.stats.retries == 1


def test_5xx_retried_with_backoff(fake):
    server = fake(Reply(503), Reply(502, "bad gateway"), Reply())
    _, c = one(server.url)
    assert c.ok and c.attempts == 3 and len(server.requests) == 3


def test_retry_after_is_capped(fake):
    server = fake(Reply(429, headers={"Retry-After": "3600"}), Reply())
    started = time.perf_counter()
    _, c = one(server.url, max_retry_after_s=0.1)
    assert c.ok and c.attempts == 2 and time.perf_counter() - started < 5


def test_server_errors_exhaust_retries(fake):
    server = fake(Reply(500, "boom"))
    _, c = one(server.url, max_retries=2)
    assert (c.status, c.text, c.attempts, c.error) == (FAILED, None, 3, "HTTP 500: boom")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(400, {"detail": "bad field"}), 'HTTP 400: {"detail": "bad field"}'),
        (Reply(404, ""), "HTTP 404"),
        (Reply(200, "<html>"), "response is not JSON: '<html>'"),
        (Reply(200, {"error": "model crashed"}), "server error: model crashed"),
    ],
)
def test_client_errors_fail_at_once(fake, reply: Reply, error: str):
    server = fake(reply)
    _, c = one(server.url)
    assert (c.status, c.attempts, c.error) == (FAILED, 1, error)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "body",
    [{"choices": []}, {"choices": [{"message": {"content": None}}]}, {}],
)
def test_no_choice_or_no_content_is_an_empty_answer(fake, body: dict):
    _, c = one(fake(Reply(body=body)).url)
    assert c.ok and c.text == ""


def test_timeouts_are_retried_then_fail(fake):
    server = fake(Reply(delay_s=1.0))
    _, c = one(server.url, timeout_s=0.2, max_retries=1)
    assert c.status == FAILED and c.attempts == 2 and c.error.startswith("timeout after 0.2s")
    assert len(server.requests) == 2


def test_refused_connection_is_retried_then_fails():
    _, c = one(f"http://127.0.0.1:{free_port()}", max_retries=3)
    assert c.status == FAILED and c.attempts == 4 and c.error.startswith("connection error")


def test_concurrency_is_bounded_and_overlaps_on_the_wire(fake):
    server = fake(Reply(delay_s=0.3))
    target = OpenAIChatTarget(server.url, "m", concurrency=3)
    got = target.generate([f"p{i}" for i in range(9)], GREEDY)
    assert all(row[0].ok for row in got)
    assert server.max_active == 3 and target.stats.max_in_flight == 3


def test_api_key_is_sent_and_never_shown(fake, monkeypatch, caplog):
    monkeypatch.setenv("AUDIT_TEST_KEY", KEY)
    server = fake(Reply(503, "auth was {auth}"), Reply(401, "bad key {auth}"))
    caplog.set_level(logging.DEBUG)
    target, c = one(server.url, api_key_env="AUDIT_TEST_KEY")
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert c.status == FAILED and c.attempts == 2 and c.error == "HTTP 401: bad key Bearer ***"
    shown = [target.fingerprint(), target.name, repr(target), str(vars(target)), caplog.text]
    assert not any(KEY in s or KEY[:12] in s for s in shown)
    assert "Bearer ***" in caplog.text  # the retry was logged, masked
    monkeypatch.delenv("AUDIT_TEST_KEY")
    with pytest.raises(ValueError, match="AUDIT_TEST_KEY") as raised:
        OpenAIChatTarget(server.url, "m", api_key_env="AUDIT_TEST_KEY")
    assert KEY not in str(raised.value)


def test_fingerprint_is_stable_and_names_the_model():
    a = OpenAIChatTarget("http://h:8000", "org/m")
    assert a.fingerprint() == OpenAIChatTarget("http://h:8000/v1/", "org/m").fingerprint()
    assert a.fingerprint() == "openai:http://h:8000/v1:org/m"
    assert OpenAIChatTarget("http://h:8000", "org/m", revision="r2").fingerprint().endswith(":r2")
    other = OpenAIChatTarget("http://h:8000", "org/m", extra_body={"top_k": 5})
    assert other.fingerprint() != a.fingerprint()


def test_generate_repeatedly_and_inside_a_running_loop(fake):
    target = OpenAIChatTarget(fake().url, "m")
    assert texts(target.generate(["a"], GREEDY)) == texts(target.generate(["a"], GREEDY))

    async def from_async_code():
        return target.generate(["a"], GREEDY), await target.agenerate(["b"], GREEDY)

    sync_result, async_result = asyncio.run(from_async_code())
    assert texts(sync_result) == texts(async_result) == [["hello"]]
