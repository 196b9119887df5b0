"""A null target: an OpenAI-compatible chat server whose answers ignore a prompt's framing.

It holds (seed prompt, stored answer) pairs and answers each request with the stored
answer of the seed nearest to the last user message (TF-IDF cosine over lower-cased
word unigrams). A mutated prompt keeps most of its seed's words, so it gets its seed's
answer word for word: no attribute changes any answer, and an honest search must
confirm nothing against it.

A **plant** turns it into a positive control: ``NullConfig(plants=(Plant(regex, answer),))``
answers every prompt whose last user message matches ``regex`` (case-insensitive, the first
plant that matches wins) with the plant's ``answer`` instead of the nearest seed's, so an
attribute that inserts a matching word is a real trigger the search must confirm.

    with NullServer(pairs, NullConfig(error_rate=0.05)) as server:
        target = OpenAIChatTarget(server.base_url, server.config.model)

Serves ``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /health`` on a
``ThreadingHTTPServer`` in a background thread (port 0: a free port). A share
``error_rate`` of requests gets an injected HTTP 500; which ones is decided by a
random stream seeded with (``seed``, prompt, request seed, attempt number), so the same
requests fail on every run whatever order they arrive in. ``persistent_error_rate``
makes that share of prompts fail on every attempt. A share ``slow_rate`` of the other
requests (decided the same way) waits ``slow_s`` seconds before its answer, so a client
with a shorter timeout sees a timeout and retries. ``max_tokens`` cuts an answer to
that many words (``finish_reason: "length"``). The server keeps what it was asked
(``requests_by_prompt``: each last user message, counted; ``authorizations``: each
``Authorization`` header; ``last_headers``, ``last_payload``) for tests to inspect.

    python -m surf_search.null_server --answers pairs.jsonl --port 8000   # prompt/response lines
    python -m surf_search.null_server --answers pairs.jsonl --plant '\belucidate\b=code.txt'
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = [
    "NearestSeed",
    "NullConfig",
    "NullServer",
    "NullStats",
    "Plant",
    "load_pairs",
    "main",
    "parse_plant",
]

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore)."""
    return _WORD.findall(text.lower())


class NearestSeed:
    """Which stored seed prompt a prompt is closest to (TF-IDF cosine over word unigrams)."""

    def __init__(self, prompts: Sequence[str]) -> None:
        """Index ``prompts`` (at least one)."""
        if not prompts:
            raise ValueError("the null server needs at least one seed prompt")
        counts = [Counter(words(p)) for p in prompts]
        df = Counter(w for c in counts for w in c)
        n = len(prompts)
        self._idf = {w: math.log((1 + n) / (1 + k)) + 1 for w, k in df.items()}
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for index, c in enumerate(counts):
            weights = {w: tf * self._idf[w] for w, tf in c.items()}
            norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
            for w, v in weights.items():
                self._postings[w].append((index, v / norm))

    def scores(self, prompt: str) -> dict[int, float]:
        """Cosine similarity (up to the prompt's norm) of every seed sharing a word with it."""
        out: dict[int, float] = defaultdict(float)
        for w, tf in Counter(words(prompt)).items():
            weight = tf * self._idf.get(w, 0.0)
            for index, v in self._postings.get(w, ()):
                out[index] += weight * v
        return out

    def nearest(self, prompt: str) -> int:
        """The index of the nearest seed (the first of tied ones; 0 when none shares a word)."""
        scores = self.scores(prompt)
        return min(scores, key=lambda i: (-scores[i], i)) if scores else 0


@dataclass(frozen=True)
class Plant:
    """A planted rule: a prompt matching ``pattern`` (case-insensitive) gets ``answer``."""

    pattern: str  # a regular expression, searched in the last user message
    answer: str  # the answer sent instead of the nearest seed's

    def __post_init__(self) -> None:
        """Refuse a pattern that does not compile."""
        try:
            re.compile(self.pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"plant pattern {self.pattern!r}: {exc}") from None

    def matches(self, prompt: str) -> bool:
        """Whether ``prompt`` carries the plant's trigger."""
        return re.search(self.pattern, prompt, re.IGNORECASE) is not None


@dataclass(frozen=True)
class NullConfig:
    """Where the null server listens, what it calls itself and how often it fails."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    model: str = "null-target"  # the name /v1/models lists (requests may name any model)
    error_rate: float = 0.03  # share of requests answered with an injected HTTP 500
    persistent_error_rate: float = 0.0  # share of prompts whose every request gets a 500
    seed: int = 0  # the random stream that picks the failing requests
    plants: tuple[Plant, ...] = ()  # planted rules (none: a pure null target)
    slow_rate: float = 0.0  # share of (non-500) requests answered only after ``slow_s``
    slow_s: float = 0.0  # seconds a slow request waits before its answer

    def __post_init__(self) -> None:
        """Refuse rates outside [0, 1] and a negative delay."""
        if not (0 <= self.error_rate <= 1 and 0 <= self.persistent_error_rate <= 1):
            raise ValueError("error rates must lie in [0, 1]")
        if not 0 <= self.slow_rate <= 1 or self.slow_s < 0:
            raise ValueError("slow_rate must lie in [0, 1] and slow_s must not be negative")


@dataclass
class NullStats:
    """What the server did: chat requests, injected 500s, answers, refused requests."""

    requests: int = 0  # POST /chat/completions received
    errors: int = 0  # injected HTTP 500s
    ok: int = 0  # answers sent
    planted: int = 0  # answers sent from a plant (a subset of ``ok``)
    bad: int = 0  # requests refused with a 4xx
    slow: int = 0  # requests delayed by ``slow_s`` (``slow_rate``)


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the :class:`NullServer` that owns the HTTP server."""

    protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections
    #: headers and body go out as two writes: without TCP_NODELAY the body waits for the
    #: client's delayed ACK of the headers, ~40 ms a request
    disable_nagle_algorithm = True
    server: _HttpServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silent: the server's counters say what happened."""

    def _send(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        """``/health`` and ``/v1/models``."""
        owner = self.server.owner
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(200, {"status": "ok"})
        elif path in ("/v1/models", "/models"):
            model = {"id": owner.config.model, "object": "model", "created": 0, "owned_by": "null"}
            self._send(200, {"object": "list", "data": [model]})
        else:
            self._send(404, _error(f"no route {self.path}", "not_found", 404))

    def do_POST(self) -> None:  # noqa: N802
        """``/v1/chat/completions``."""
        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send(404, _error(f"no route {self.path}", "not_found", 404))
            return
        status, body = self.server.owner.respond(raw, dict(self.headers.items()))
        self._send(status, body)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: NullServer

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about a client that hung up (a timed-out slow request); else the default."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def _error(message: str, kind: str, code: int) -> dict[str, object]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": kind, "code": code}}


def _last_user_text(payload: object) -> str | None:
    """The text of the request's last user message (content parts joined), or None."""
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        return None
    users = [m for m in payload["messages"] if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        return None
    content = users[-1].get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else None


class NullServer:
    """The null target in a background thread: ``start()`` -> base URL, ``stop()``."""

    def __init__(self, pairs: Sequence[tuple[str, str]], config: NullConfig | None = None) -> None:
        """Answer with ``pairs``' stored answers (seed prompt, answer)."""
        self.config = config or NullConfig()
        self.prompts = [p for p, _ in pairs]
        self.answers = [a for _, a in pairs]
        self.index = NearestSeed(self.prompts)
        self.stats = NullStats()
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._slow_attempts: Counter[tuple[str, str]] = Counter()
        #: what the server was asked: each last user message (counted), each
        #: ``Authorization`` header ("" when absent), the last request's headers and body
        self.requests_by_prompt: Counter[str] = Counter()
        self.authorizations: Counter[str] = Counter()
        self.last_headers: dict[str, str] = {}
        self.last_payload: object = None
        self._lock = threading.Lock()
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI API root (``http://host:port/v1``) of the running server."""
        if self._http is None:
            raise RuntimeError("the null server is not running")
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> str:
        """Listen and serve in a daemon thread; the base URL."""
        if self._http is None:
            self._http = _HttpServer((self.config.host, self.config.port), _Handler)
            self._http.owner = self
            self._thread = threading.Thread(
                target=self._http.serve_forever, name="null-server", daemon=True
            )
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close the socket (a no-op when not running)."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            if self._thread is not None:
                self._thread.join()
            self._http, self._thread = None, None

    def __enter__(self) -> NullServer:
        """Started."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stopped."""
        self.stop()

    def plant_for(self, prompt: str) -> Plant | None:
        """The first plant whose pattern ``prompt`` matches, or None."""
        return next((p for p in self.config.plants if p.matches(prompt)), None)

    def answer(self, prompt: str) -> str:
        """A matching plant's answer, else the stored answer of the seed nearest to ``prompt``."""
        plant = self.plant_for(prompt)
        if plant is not None:
            return plant.answer
        return self.answers[self.index.nearest(prompt)]

    def injected(self, prompt: str, request_seed: object) -> bool:
        """Whether this attempt at (prompt, request seed) gets an injected 500 (counts it)."""
        rate, seed = self.config.error_rate, self.config.seed
        if random.Random(f"{seed}:always:{prompt}").random() < self.config.persistent_error_rate:
            return True
        key = (prompt, json.dumps(request_seed))
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
        return random.Random(f"{seed}:{key}:{attempt}").random() < rate

    def slowed(self, prompt: str, request_seed: object) -> bool:
        """Whether this attempt at (prompt, request seed) waits ``slow_s`` first (counts it;
        decided like :meth:`injected`, from its own count of attempts)."""
        if self.config.slow_rate <= 0:
            return False
        key = (prompt, json.dumps(request_seed))
        with self._lock:
            attempt = self._slow_attempts[key]
            self._slow_attempts[key] += 1
        draw = random.Random(f"{self.config.seed}:slow:{key}:{attempt}").random()
        return draw < self.config.slow_rate

    def respond(
        self, raw: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, object]]:
        """The status and JSON body for a chat-completions request body (and its headers)."""
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            payload = None
        prompt = _last_user_text(payload)
        with self._lock:
            self.stats.requests += 1
            if prompt is not None:
                self.requests_by_prompt[prompt] += 1
            if headers is not None:
                self.last_headers = dict(headers)
                auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
                self.authorizations[auth] += 1
            self.last_payload = payload
        if prompt is None or not isinstance(payload, dict) or payload.get("stream"):
            with self._lock:
                self.stats.bad += 1
            why = "streaming is not supported" if prompt is not None else "no user message"
            return 400, _error(why, "invalid_request_error", 400)
        if self.injected(prompt, payload.get("seed")):
            with self._lock:
                self.stats.errors += 1
            return 500, _error("injected error (null target)", "server_error", 500)
        if self.slowed(prompt, payload.get("seed")):
            with self._lock:
                self.stats.slow += 1
            time.sleep(self.config.slow_s)
        text = self.answer(prompt)
        limit = payload.get("max_completion_tokens", payload.get("max_tokens"))
        finish = "stop"
        tokens = text.split()
        if isinstance(limit, int) and 0 < limit < len(tokens):
            text, finish = " ".join(tokens[:limit]), "length"
        planted = self.plant_for(prompt) is not None
        with self._lock:
            self.stats.ok += 1
            self.stats.planted += planted
        prompt_tokens, completion_tokens = len(prompt.split()), len(text.split())
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model") or self.config.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def load_pairs(path: str | Path) -> list[tuple[str, str]]:
    """(prompt, response) pairs from JSON lines with ``prompt`` and ``response`` strings."""
    pairs = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not (isinstance(row.get("prompt"), str) and isinstance(row.get("response"), str)):
            raise ValueError(f"{path}:{number}: needs 'prompt' and 'response' strings")
        pairs.append((row["prompt"], row["response"]))
    return pairs


def parse_plant(spec: str) -> Plant:
    """``REGEX=ANSWER_FILE`` (split at the last ``=``) as a :class:`Plant`."""
    pattern, sep, path = spec.rpartition("=")
    if not sep or not pattern or not path:
        raise argparse.ArgumentTypeError(f"--plant wants REGEX=ANSWER_FILE, got {spec!r}")
    try:
        return Plant(pattern, Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a pairs file until interrupted (Ctrl-C or SIGTERM); then print the counters."""
    parser = argparse.ArgumentParser(prog="python -m surf_search.null_server", description=__doc__)
    parser.add_argument("--answers", required=True, help="JSON lines with prompt and response")
    parser.add_argument("--host", default=NullConfig.host)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default=NullConfig.model)
    parser.add_argument("--error-rate", type=float, default=NullConfig.error_rate)
    parser.add_argument("--seed", type=int, default=NullConfig.seed)
    parser.add_argument("--slow-rate", type=float, default=NullConfig.slow_rate)
    parser.add_argument("--slow-s", type=float, default=NullConfig.slow_s)
    parser.add_argument(
        "--plant",
        type=parse_plant,
        action="append",
        default=[],
        metavar="REGEX=ANSWER_FILE",
        help="answer prompts matching REGEX (case-insensitive) with ANSWER_FILE's text",
    )
    args = parser.parse_args(argv)
    config = NullConfig(
        args.host,
        args.port,
        args.model,
        args.error_rate,
        seed=args.seed,
        plants=tuple(args.plant),
        slow_rate=args.slow_rate,
        slow_s=args.slow_s,
    )
    server = NullServer(load_pairs(args.answers), config)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    plants = f", {len(config.plants)} plant(s)" if config.plants else ""
    print(f"null target at {server.start()} ({len(server.prompts)} seeds{plants})", flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print(json.dumps(asdict(server.stats)), flush=True)


if __name__ == "__main__":
    main()
