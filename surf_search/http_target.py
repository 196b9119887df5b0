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
import hashlib
import json
from collections.abc import Coroutine, Mapping, Sequence
from typing import TypeVar

from openai_client import (
    RETRY_STATUS,
    CallStats,
    ChatClient,
    ChatReply,
    RetryPolicy,
    api_key_from_env,
    normalise_base_url,
)
from surf_search.targets import FAILED, Completion, GenerationParams

__all__ = [
    "RETRY_STATUS",
    "HttpStats",
    "OpenAIChatTarget",
    "normalise_base_url",
    "sample_seed",
]

T = TypeVar("T")

#: What the target did (cumulative over ``generate`` calls): the shared client's stats.
HttpStats = CallStats

#: A JSON value that ``extra_body`` may carry.
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def sample_seed(seed: int, prompt: str, sample: int) -> int:
    """The request seed of one sample: distinct per (seed, prompt, sample), stable across runs.

    Distinct per prompt so samples of different prompts are independent draws.
    """
    digest = hashlib.sha256(f"{seed}:{sample}:{prompt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _run(coro: Coroutine[object, object, T]) -> T:
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
    Requests, retries and failures go through :class:`openai_client.ChatClient`.
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
        extra_body: Mapping[str, JsonValue] | None = None,
        revision: str | None = None,
    ) -> None:
        """A target of ``model`` at ``base_url``; the key, if any, is in ``$api_key_env``."""
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
        api_key_from_env(api_key_env)  # fail now, not at the first request, when it is unset
        policy = RetryPolicy(max_retries, backoff_s, max_backoff_s, max_retry_after_s)
        self._client = ChatClient(self.base_url, timeout_s=timeout_s, policy=policy, name=self.name)
        self.stats: HttpStats = self._client.stats
        fingerprint = f"openai:{self.base_url}:{model}"
        if revision:
            fingerprint += f":{revision}"
        if self.extra_body:
            body = json.dumps(self.extra_body, sort_keys=True, default=str).encode()
            fingerprint += f":extra={hashlib.sha256(body).hexdigest()[:12]}"
        self._fingerprint = fingerprint

    def __repr__(self) -> str:
        """The target's URL, model, key variable and concurrency (never the key)."""
        return (
            f"OpenAIChatTarget(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r}, concurrency={self.concurrency})"
        )

    def fingerprint(self) -> str:
        """``openai:`` base URL, model, revision and a digest of ``extra_body``."""
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
        key = api_key_from_env(self.api_key_env)
        slots = asyncio.Semaphore(self.concurrency)
        async with self._client.async_http(key, self.concurrency) as http:
            tasks = [
                self._client.acomplete(http, self._payload(prompt, params, sample), key, slots)
                for prompt in prompts
                for sample in draws
            ]
            replies = await asyncio.gather(*tasks) if tasks else []
        results = [_completion(reply) for reply in replies]
        per_prompt = len(draws)
        out = [results[i * per_prompt : (i + 1) * per_prompt] for i in range(len(prompts))]
        return [answers * n if greedy else answers for answers in out]

    def _payload(self, prompt: str, params: GenerationParams, sample: int) -> dict[str, JsonValue]:
        """The request body of one sample."""
        payload: dict[str, JsonValue] = {
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


def _completion(reply: ChatReply) -> Completion:
    """A client reply as a target Completion."""
    if reply.ok:
        return Completion(reply.text, latency_ms=reply.latency_ms, attempts=reply.attempts)
    return Completion(
        None, FAILED, latency_ms=reply.latency_ms, attempts=reply.attempts, error=reply.error
    )
