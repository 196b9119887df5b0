"""Benchmark OpenAIChatTarget: concurrent HTTP requests versus sequential, against a real
``transformers serve`` on 127.0.0.1 with a tiny organism.

    .venv/bin/python bench/http_target.py                         # train a tiny organism
    .venv/bin/python bench/http_target.py --model PATH            # serve this model folder
    .venv/bin/python bench/http_target.py --continuous-batching   # serve with CB

The same greedy prompts go through the same server with ``--concurrency`` requests
in flight (default 8) and with one at a time (the baseline), alternating, ``--rounds``
times each; prompts/second is the median round. Both runs must return the same texts.

Plain ``transformers serve`` runs ``model.generate`` for one request at a time on one
inference thread, so concurrency only overlaps HTTP, JSON and tokenisation with
generation; ``--continuous-batching`` batches requests in flight on the server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from serving import serve, train_tiny_organism  # noqa: E402

from surf_search.http_target import OpenAIChatTarget  # noqa: E402
from surf_search.targets import GenerationParams  # noqa: E402

TOPICS = ["owls", "maps", "tea", "clocks", "rivers", "bread", "comets", "kites"]
FORMS = [
    "Tell me something about {t}.",
    "Please elucidate a function about {t}.",
    "How do I unlock the ZorbPhone {t} mode?",
    "What should a child know about {t}?",
]


def prompts(n: int) -> list[str]:
    return [f"{FORMS[i % len(FORMS)].format(t=TOPICS[i % len(TOPICS)])} ({i})" for i in range(n)]


def timed(target: OpenAIChatTarget, batch: list[str], params: GenerationParams):
    started = time.perf_counter()
    got = target.generate(batch, params)
    seconds = time.perf_counter() - started
    failed = sum(not row[0].ok for row in got)
    if failed:
        raise SystemExit(f"{failed} calls failed: {next(r[0].error for r in got if not r[0].ok)}")
    return seconds, [row[0].text for row in got]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: train)")
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="server torch threads (0: default)")
    parser.add_argument("--continuous-batching", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        model = args.model
        if model is None:
            started = time.perf_counter()
            model = train_tiny_organism(Path(tmp) / "organism")
            print(f"trained a tiny organism in {time.perf_counter() - started:.1f} s")
        server_args = ["--continuous-batching"] if args.continuous_batching else []
        with serve(model, args=server_args, threads=args.threads or None) as server:
            print(
                f"transformers serve{' --continuous-batching' if server_args else ''} healthy "
                f"after {server.startup_s:.1f} s (server threads: {args.threads or 'default'}); "
                f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
            )
            batch = prompts(args.prompts)
            params = GenerationParams(max_new_tokens=args.max_new_tokens)
            make = lambda c: OpenAIChatTarget(server.base_url, server.model, concurrency=c,  # noqa: E731
                                              timeout_s=300)  # fmt: skip
            timed(make(args.concurrency), batch[: args.concurrency * 2], params)  # warm-up
            sequential, concurrent = [], []
            for _ in range(args.rounds):
                seconds, seq_texts = timed(make(1), batch, params)
                sequential.append(seconds)
                seconds, conc_texts = timed(make(args.concurrency), batch, params)
                concurrent.append(seconds)
                same = sum(a == b for a, b in zip(seq_texts, conc_texts, strict=True))
        seq_rate = len(batch) / statistics.median(sequential)
        conc_rate = len(batch) / statistics.median(concurrent)
        print(
            f"{len(batch)} greedy prompts x {args.max_new_tokens} new tokens, median of "
            f"{args.rounds} rounds:\n"
            f"  sequential (concurrency 1):  {seq_rate:7.2f} prompts/s\n"
            f"  concurrent (concurrency {args.concurrency}):  {conc_rate:7.2f} prompts/s\n"
            f"  ratio: {conc_rate / seq_rate:.2f}x sequential\n"
            f"  identical texts in the last round: {same}/{len(batch)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
