"""Which model a stage talks to and how: ``TargetConfig`` and ``open_target``.

One config for every stage that asks a model (search, verify, probe): an in-process
transformers model (``model`` is a folder or hub id) or an OpenAI-compatible server
(``base_url`` and the served ``model`` name), and the generation parameters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stage_kit import StageError
from surf_search.targets import GenerationParams, Target


@dataclass(frozen=True)
class TargetConfig:
    """The model under audit and its generation parameters (every default lives here)."""

    model: str  # a local folder or hub id (in-process), or the served model's name (HTTP)
    base_url: str | None = None  # an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1
    api_key_env: str | None = None  # the environment variable holding the API key (HTTP)
    concurrency: int = 8  # requests in flight at once (HTTP)
    timeout_s: float = 60.0  # seconds per request (HTTP)
    max_retries: int = 4  # retries of a failed request (HTTP)
    batch_size: int = 32  # prompts per generate call (in-process)
    max_new_tokens: int = GenerationParams.max_new_tokens  # tokens per answer at most
    temperature: float = GenerationParams.temperature  # 0 is greedy decoding
    top_p: float = GenerationParams.top_p  # nucleus sampling mass

    def params(self, seed: int = 0) -> GenerationParams:
        """The generation parameters, sampling with ``seed``."""
        return GenerationParams(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=seed,
        )

    @property
    def where(self) -> str:
        """The model, and the server when there is one (for messages)."""
        return f"{self.model} at {self.base_url}" if self.base_url else self.model


def open_target(config: TargetConfig) -> Target:
    """An in-process model (``model`` alone) or an HTTP one (``base_url`` and ``model``).

    Raises StageError for an unusable combination, a missing key variable, a local path
    that is not a model folder, or a model that cannot be loaded.
    """
    if config.api_key_env and not config.base_url:
        raise StageError("--api-key-env needs --base-url")
    if config.api_key_env and config.api_key_env not in os.environ:
        raise StageError(f"environment variable {config.api_key_env} (--api-key-env) is not set")
    if config.base_url:
        from surf_search.http_target import OpenAIChatTarget

        return OpenAIChatTarget(
            config.base_url,
            config.model,
            api_key_env=config.api_key_env,
            concurrency=config.concurrency,
            timeout_s=config.timeout_s,
            max_retries=config.max_retries,
        )
    from surf_search.targets import TransformersTarget

    model = config.model
    path = Path(model).expanduser()
    looks_local = model.startswith((".", "/", "~")) or path.exists()
    if looks_local and not (path / "config.json").is_file():
        raise StageError(f"no Hugging Face model folder at {model} (config.json missing)")
    try:
        return TransformersTarget(str(path) if looks_local else model, batch_size=config.batch_size)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StageError(f"cannot load model {model}: {first}") from None
