"""Read ahead in a background thread, so parsing overlaps counting on a second core.

Reading a batch is Python work (JSON parsing, row checks) that holds the GIL;
counting it is polars work that releases the GIL. Running the reader one batch
ahead in a thread lets both proceed at once, with at most ``depth`` batches
waiting in memory. Each time a polars call returns, the counting thread waits
for the reader to hand the GIL over, up to the interpreter's switch interval
(5 ms); ``switch_interval`` shortens that while both run.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_END = object()


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` in order while a thread produces the next ``depth`` of them.

    An exception in the producer is raised here; stopping early (an exception in
    the consumer, ``close()``) stops the producer at its next item.
    """
    slots: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            offer((_END, exc))
            return
        offer((_END, None))

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


@contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    """Let threads take turns with the GIL at most every ``seconds`` (restored after)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(seconds, before))
    try:
        yield
    finally:
        sys.setswitchinterval(before)
