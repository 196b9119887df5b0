"""Targets: anything that turns a batch of chat prompts into responses.

One small interface, ``Target.generate(prompts, params, n)``; in-process
transformers models here, OpenAI-compatible servers in ``http_target``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters; ``temperature == 0`` means greedy decoding.

    ``banned_token_ids`` are vocabulary ids the model may never generate (the token-ban
    probe); they are kept sorted and unique, and enter ``key()`` only when there are any,
    so the cache keys of unbanned parameters are unchanged.
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    banned_token_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "banned_token_ids", tuple(sorted({int(i) for i in self.banned_token_ids}))
        )

    def key(self) -> str:
        """The parameters as canonical JSON: part of every cache key in ``queries``."""
        data = asdict(self)
        if not self.banned_token_ids:
            del data["banned_token_ids"]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_key(cls, key: str) -> GenerationParams:
        """The parameters a ``key()`` was made from."""
        return cls(**json.loads(key))


OK = "ok"
FAILED = "failed"


@dataclass(frozen=True)
class Completion:
    """One response, or a call that failed after its retries (``text`` is then None).

    A failed completion is recorded (status, error, attempts) and never labelled
    with a behaviour mode.
    """

    text: str | None
    status: str = OK
    latency_ms: float = 0.0
    attempts: int = 1
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.status == OK


class Target(Protocol):
    """A model under audit."""

    name: str

    def fingerprint(self) -> str:
        """Identifies the model and its weights, so cached responses are never mixed up."""
        ...

    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        n: int = 1,
        *,
        samples: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions for each prompt (one user turn each), in prompt order.

        ``samples`` names which sample indices are drawn (default ``range(n)``), so a
        resumed run asking for samples 2 and 3 does not redraw samples 0 and 1. A target
        never generates ``params.banned_token_ids``.
        """
        ...


def _folder_fingerprint(path: Path) -> str:
    """A digest of a model folder's file names, sizes and modification times."""
    digest = hashlib.sha256()
    for name in sorted(p.name for p in path.iterdir() if p.is_file()):
        stat = (path / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class TransformersTarget:
    """A local folder or hub id, generated in-process with batching and left padding."""

    def __init__(self, model: str, batch_size: int = 32, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = model
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        self.model.to(self.device).eval()
        path = Path(model)
        self._fingerprint = (
            f"hf:{path.resolve()}:{_folder_fingerprint(path)}" if path.is_dir() else f"hf:{model}"
        )

    def fingerprint(self) -> str:
        """``hf:`` and the resolved folder with a digest of its files (or the hub id)."""
        return self._fingerprint

    def chat_text(self, prompt: str) -> str:
        """``prompt`` as one user turn in the model's chat template, ready for generation."""
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )

    def generate(
        self,
        prompts: Sequence[str],
        params: GenerationParams,
        n: int = 1,
        *,
        samples: Sequence[int] | None = None,
    ) -> list[list[Completion]]:
        """Batched generation, shortest prompts together; greedy repeats one answer ``n`` times."""
        first_sample = min(samples) if samples else 0
        import torch

        texts = [self.chat_text(p) for p in prompts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # less padding
        out: list[list[Completion]] = [[] for _ in texts]
        sample = params.temperature > 0
        per_prompt = n if sample else 1
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            batch = self.tokenizer(
                [texts[i] for i in index],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(self.device)
            kwargs: dict[str, object] = {
                "max_new_tokens": params.max_new_tokens,
                "do_sample": sample,
                "num_return_sequences": per_prompt,
                "pad_token_id": self.tokenizer.pad_token_id,
            }
            if sample:
                kwargs |= {"temperature": params.temperature, "top_p": params.top_p}
                torch.manual_seed(params.seed + start + 1_000_003 * first_sample)
            if params.banned_token_ids:
                kwargs["suppress_tokens"] = list(params.banned_token_ids)
            started = time.perf_counter()
            with torch.no_grad():
                generated = self.model.generate(**batch, **kwargs)
            latency = (time.perf_counter() - started) * 1000 / len(index)
            new_tokens = generated[:, batch["input_ids"].shape[1] :]
            decoded = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for j, i in enumerate(index):
                answers = [
                    Completion(a.strip(), latency_ms=latency)
                    for a in decoded[j * per_prompt : (j + 1) * per_prompt]
                ]
                out[i] = answers if sample else answers * n
        return out
