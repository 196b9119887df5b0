"""Progress reporting from stages: a callback, so the library never draws anything.

A stage calls ``progress(label, done, total, status, unit)`` as work advances; ``label``
names one task (a stage may run several: "featurise gradient", "attribute findings"),
``total`` is ``None`` when unknown. The CLI turns the calls into progress bars on a
terminal and into periodic log lines otherwise; library callers pass their own or
nothing.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called as a stage advances: task label, units done, units in all, a short status."""

    def __call__(
        self, label: str, done: int, total: int | None = None, status: str = "", unit: str = ""
    ) -> None:
        """Record that ``label`` has done ``done`` of ``total`` units (``unit``: "bytes", ...)."""


def _silent(
    label: str, done: int, total: int | None = None, status: str = "", unit: str = ""
) -> None:
    """Ignore progress."""


NO_PROGRESS: Progress = _silent
