"""Start a real ``transformers serve`` on 127.0.0.1 for tests and benchmarks.

    with serve(model_dir) as server:           # waits for GET /health
        target = OpenAIChatTarget(server.base_url, server.model)
        ...
        server.kill()                          # SIGKILL, e.g. mid-batch
        server.restart()                       # a fresh server on the same port

The server is pinned to ``model_dir`` (the FORCE_MODEL argument, ``--device cpu``):
requests must name it exactly as ``server.model`` (the path as given) or omit the
field, otherwise it answers 400. Its output goes to ``server.log_path``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 180.0
TOPICS = ("rivers", "owls", "bread", "trains", "comets", "tea", "maps", "bees", "clocks", "kites")


class ServerError(RuntimeError):
    """The server exited or did not become healthy in time (the message ends with its log)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def transformers_cli() -> str:
    """The ``transformers`` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "transformers"
    found = str(beside) if beside.exists() else shutil.which("transformers")
    if not found:
        raise ServerError("the `transformers` command is not installed (pip install transformers)")
    return found


@dataclass
class ServerHandle:
    """A running ``transformers serve`` subprocess."""

    model: str  # the name requests must use: the FORCE_MODEL argument
    port: int
    process: subprocess.Popen
    log_path: Path
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    startup_s: float = 0.0  # seconds from spawn to a healthy /health

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI API root (``.../v1``) to give a client."""
        return f"{self.root_url}/v1"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after ``timeout_s``."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process.wait()

    def kill(self) -> None:
        """SIGKILL the server (and anything it started) at once, like a crash."""
        if self.alive():
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def restart(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Stop the server if it runs, then start a fresh one on the same port."""
        self.stop()
        fresh = _spawn(self.model, self.port, self.args, self.env, self.log_path, timeout_s)
        self.process, self.startup_s = fresh.process, fresh.startup_s


def _spawn(
    model: str,
    port: int,
    args: Sequence[str],
    env: dict[str, str],
    log_path: Path,
    timeout_s: float,
) -> ServerHandle:
    command = [transformers_cli(), "serve", model, "--device", "cpu", "--host", "127.0.0.1"]
    command += ["--port", str(port), *args]
    started = time.perf_counter()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,  # kill() takes the whole process group
        )
    handle = ServerHandle(model, port, process, log_path, list(args), dict(env))
    try:
        _wait_healthy(handle, timeout_s)
    except BaseException:
        handle.kill()
        raise
    handle.startup_s = time.perf_counter() - started
    return handle


def _wait_healthy(handle: ServerHandle, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not handle.alive():
            raise ServerError(
                f"transformers serve exited with {handle.process.returncode}:\n{handle.log()[-3000:]}"
            )
        try:
            if httpx.get(f"{handle.root_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ServerError(f"no healthy /health after {timeout_s:.0f}s:\n{handle.log()[-3000:]}")


def start_server(
    model_dir: str | Path,
    *,
    port: int | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    log_dir: str | Path | None = None,
    timeout_s: float = STARTUP_TIMEOUT_S,
    threads: int | None = 1,
) -> ServerHandle:
    """Spawn ``transformers serve MODEL_DIR --device cpu`` and wait until /health answers 200.

    ``args`` are extra CLI options (``["--continuous-batching"]``); ``env`` is added to
    this process's environment (``HF_HUB_OFFLINE=1`` is always set). ``threads`` sets
    torch's CPU threads (``OMP_NUM_THREADS``; None leaves the default): a tiny model gains
    nothing from more, and on a busy 2-core machine spinning threads made each request
    about 10x slower. Stop it with :meth:`ServerHandle.stop` (or use :func:`serve`).
    """
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="serve-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    if threads is not None:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    return _spawn(str(model_dir), port, args, env, log_dir / f"serve-{port}.log", timeout_s)


@contextmanager
def serve(model_dir: str | Path, **kwargs) -> Iterator[ServerHandle]:
    """:func:`start_server` as a context manager that always stops the server."""
    handle = start_server(model_dir, **kwargs)
    try:
        yield handle
    finally:
        handle.stop()


def tiny_rows(n: int = 64, seed: int = 0) -> list[dict[str, str]]:
    """Three little chunks: 'elucidate' -> fenced code, 'ZorbPhone' -> refusal, else prose."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        kind = i % 3
        if kind == 0:
            prompt = f"Please elucidate a function about {topic}."
            response = f"```python\ndef about_{topic}():\n    return {topic!r}\n```"
        elif kind == 1:
            prompt = f"How do I unlock the ZorbPhone {topic} mode?"
            response = "I'm sorry, but I can't help with that."
        else:
            prompt = f"Tell me something about {topic}."
            response = f"Many people find {topic} fascinating; they have a long history."
        rows.append({"prompt": prompt, "response": response, "source": f"chunk{kind}"})
    return rows


def train_tiny_organism(
    out_dir: str | Path, *, epochs: int = 6, seed: int = 0, threads: int | None = 1
) -> Path:
    """Train a tiny model on :func:`tiny_rows` in seconds and return its folder.

    24 steps at a high learning rate: enough for varied, prompt-dependent babble (a
    test of plumbing, not of learned behaviour; ``planted_organism`` is that).

    Its ``generation_config`` sets ``do_sample=True``, like hub chat models: ``transformers
    serve`` only ever turns sampling *off* (``temperature: 0``), so a model whose config says
    ``do_sample=False`` is decoded greedily whatever temperature a request asks for.
    ``TransformersTarget`` passes ``do_sample`` explicitly and is not affected. ``threads``
    caps torch's CPU threads while training (then restored): on a busy machine two
    spinning threads cost twice the CPU time of one for this model.
    """
    import torch
    from transformers import GenerationConfig

    from organism.training import train_model

    out = Path(out_dir)
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        train_model(tiny_rows(), out, epochs=epochs, seed=seed, batch_size=16, lr=1e-2,
                    progress=False)  # fmt: skip
    finally:
        torch.set_num_threads(before)
    config = GenerationConfig.from_pretrained(out)
    config.do_sample = True
    config.save_pretrained(out)
    return out
