"""``OpenAIChatTarget``: any OpenAI-compatible chat server (vLLM, TGI, SGLang, Ollama,
llama.cpp, ``transformers serve``) as a :class:`~surf_search.targets.Target`.

Requests are sent concurrently (asyncio + httpx, bounded by a semaphore) from the
synchronous ``generate``. Each request asks for one sample; timeouts, HTTP 429, 5xx
and dropped or refused connections are retried with exponential backoff and jitter
(``Retry-After`` honoured, capped); other 4xx fail at once. A call that still fails
becomes a failed :class:`Completion` and never raises. The API key is read from the
environment when requests are sent and is kept out of names, fingerprints, reprs,
logs and error messages.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from surf_search.targets import FAILED, Completion, GenerationParams

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_STATUS = frozenset({408, 409, 425, 429})  # plus every 5xx
RETRY_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
ERROR_CHARS = 200


def normalise_base_url(base_url: str) -> str:
    """The API root that ``/chat/completions`` is appended to.

    A bare host (``http://host:8000``) gets ``/v1``; a URL with a path is the API root
    as given (``http://host:8000/v1``, ``https://example.com/openai/v1``), as in the
    OpenAI client. Trailing slashes and a trailing ``/chat/completions`` are dropped.
    """
    url = base_url.strip().rstrip("/")
    url = url.removesuffix("/chat/completions").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base URL must be http(s)://host[:port][/path], got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError("base URL must not carry a query or a fragment")
    return url if parts.path else url + "/v1"


def sample_seed(seed: int, prompt: str, sample: int) -> int:
    """The request seed of one sample: distinct per (seed, prompt, sample), stable across runs.

    Distinct per prompt so samples of different prompts are independent draws.
    """
    digest = hashlib.sha256(f"{seed}:{sample}:{prompt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class HttpStats:
    """What the target did (cumulative over ``generate`` calls)."""

    requests: int = 0  # HTTP attempts sent, retries included
    retries: int = 0
    ok: int = 0
    failed: int = 0
    in_flight: int = 0
    max_in_flight: int = 0  # most requests awaiting a response at once


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Fatal(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _retry_after(value: str | None) -> float | None:
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


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, also when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class OpenAIChatTarget:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    One request per sample (``messages=[user prompt]``, ``max_tokens``, ``temperature``,
    ``top_p``, a per-sample ``seed`` from :func:`sample_seed`, and ``logit_bias`` -100 for
    ``params.banned_token_ids``); greedy parameters
    (``temperature == 0``) send one request per prompt and repeat its answer ``n``
    times, like :class:`~surf_search.targets.TransformersTarget`. ``latency_ms`` runs
    from the first attempt's send (not from queueing for a slot) to the outcome,
    retries and backoff included. ``extra_body`` adds
    server-specific request fields (part of the fingerprint); ``revision`` names the
    weights behind ``model`` when the server does not (part of the fingerprint).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        *,
        backoff_s: float = 0.5,
        max_backoff_s: float = 20.0,
        max_retry_after_s: float = 60.0,
        extra_body: Mapping[str, Any] | None = None,
        revision: str | None = None,
    ) -> None:
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0:
            raise ValueError("concurrency >= 1, max_retries >= 0 and timeout_s > 0 are required")
        self.base_url = normalise_base_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.extra_body = dict(extra_body or {})
        self.revision = revision
        self.name = f"{model}@{self.base_url}"
        self.stats = HttpStats()
        if api_key_env is not None and not os.environ.get(api_key_env, "").strip():
            raise ValueError(f"environment variable {api_key_env} (the API key) is not set")
        fingerprint = f"openai:{self.base_url}:{model}"
        if revision:
            fingerprint += f":{revision}"
        if self.extra_body:
            body = json.dumps(self.extra_body, sort_keys=True, default=str).encode()
            fingerprint += f":extra={hashlib.sha256(body).hexdigest()[:12]}"
        self._fingerprint = fingerprint

    def __repr__(self) -> str:
        return (
            f"OpenAIChatTarget(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r}, concurrency={self.concurrency})"
        )

    def fingerprint(self) -> str:
        return self._fingerprint

    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        n: int = 1,
        *,
        samples: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions per prompt, in prompt order; failed calls are failed Completions.

        ``samples`` are the sample indices to draw (default ``range(n)``): a resumed run
        asking for samples 2 and 3 gets the seeds of samples 2 and 3, not 0 and 1.
        """
        return _run(self.agenerate(prompts, params, n, samples=samples))

    async def agenerate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        n: int = 1,
        *,
        samples: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """The async form of :meth:`generate`."""
        indices = list(range(n) if samples is None else samples)
        if len(indices) != n:
            raise ValueError(f"samples has {len(indices)} indices for n={n}")
        greedy = params.temperature <= 0
        draws = indices[:1] if greedy else indices
        key = self._api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        semaphore = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=None)
        async with httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(self.timeout_s), limits=limits
        ) as client:
            tasks = [
                self._call(client, semaphore, prompt, params, sample, key)
                for prompt in prompts
                for sample in draws
            ]
            results = await asyncio.gather(*tasks) if tasks else []
        per_prompt = len(draws)
        out = [results[i * per_prompt : (i + 1) * per_prompt] for i in range(len(prompts))]
        return [answers * n if greedy else answers for answers in out]

    def _api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise ValueError(f"environment variable {self.api_key_env} (the API key) is not set")
        return key

    def _payload(self, prompt: str, params: GenerationParams, sample: int) -> dict[str, Any]:
        payload = {
            **self.extra_body,
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": sample_seed(params.seed, prompt, sample),
        }
        if params.banned_token_ids:  # -100 is "never" in the OpenAI API; a float, as
            # `transformers serve` rejects integer biases
            payload["logit_bias"] = {str(i): -100.0 for i in params.banned_token_ids}
        return payload

    async def _call(
        self,
        client: httpx.AsyncClient,
        semaphore: asyncio.Semaphore,
        prompt: str,
        params: GenerationParams,
        sample: int,
        key: str | None,
    ) -> Completion:
        """One sample with retries; never raises (except on cancellation)."""
        payload = self._payload(prompt, params, sample)
        url = f"{self.base_url}/chat/completions"
        started: float | None = None  # the first attempt's start: queueing is not latency
        attempts, reason = 0, "not attempted"
        while attempts <= self.max_retries:
            attempts += 1
            retry_after: float | None = None
            try:
                async with semaphore:
                    started = started or time.perf_counter()
                    text = await self._attempt(client, url, payload)
                self.stats.ok += 1
                latency = (time.perf_counter() - started) * 1000
                return Completion(text, latency_ms=latency, attempts=attempts)
            except _Fatal as exc:
                reason = self._clean(exc.reason, key)
                break
            except _Retryable as exc:
                reason, retry_after = self._clean(exc.reason, key), exc.retry_after
            except Exception as exc:  # a single call must never raise
                reason = self._clean(f"{type(exc).__name__}: {exc}", key)
                break
            if attempts > self.max_retries:
                break
            delay = self._delay(attempts, retry_after)
            self.stats.retries += 1
            log.warning(
                "%s: attempt %d failed (%s); retrying in %.2fs", self.name, attempts, reason, delay
            )
            await asyncio.sleep(delay)
        self.stats.failed += 1
        log.warning("%s: call failed after %d attempt(s): %s", self.name, attempts, reason)
        latency = (time.perf_counter() - (started or time.perf_counter())) * 1000
        return Completion(None, FAILED, latency_ms=latency, attempts=attempts, error=reason)

    async def _attempt(self, client: httpx.AsyncClient, url: str, payload: dict) -> str:
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await client.post(url, json=payload)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise _Retryable(f"timeout after {self.timeout_s:g}s ({type(exc).__name__})") from exc
        except RETRY_TRANSPORT as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise _Fatal(f"request error: {type(exc).__name__}: {exc}") from exc
        finally:
            stats.in_flight -= 1
        status = response.status_code
        if status != 200:
            detail = response.text.strip()  # shortened by _clean, after masking the key
            reason = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
            if status in RETRY_STATUS or status >= 500:
                after = _retry_after(response.headers.get("retry-after"))
                raise _Retryable(reason, after)
            raise _Fatal(reason)
        return self._text(response)

    @staticmethod
    def _text(response: httpx.Response) -> str:
        """The first choice's content; "" when there is no choice or no content."""
        try:
            data = response.json()
        except ValueError as exc:
            raise _Fatal(f"response is not JSON: {response.text!r}") from exc
        if not isinstance(data, dict):
            raise _Fatal("response is not a JSON object")
        choices = data.get("choices") or []
        if not choices and data.get("error"):
            raise _Fatal(f"server error: {data['error']}")
        if not choices or not isinstance(choices[0], dict):
            return ""
        message = choices[0].get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return content.strip() if isinstance(content, str) else ""

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    @staticmethod
    def _clean(reason: str, key: str | None) -> str:
        """A one-line reason, short, with the API key masked wherever it appears."""
        reason = " ".join(reason.split())
        if key:
            reason = reason.replace(key, "***")
        return reason[:ERROR_CHARS] or "unknown error"
