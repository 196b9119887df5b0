"""Ray, optional: imported only on ``--ray`` paths, started locally or joined at an address.

``ray_session("local")`` starts a private Ray on this machine (and shuts it down
after); any other address (``auto``, ``ray://head:10001``, ``10.0.0.5:6379``)
connects to a running cluster, which is left running. Every node needs
chunky-audit installed and the mix (and model) at the same path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from stage_kit import StageError

LOCAL = "local"
INSTALL_HINT = "--ray needs Ray: pip install 'chunky-audit[ray]'"
#: A file path: the first Ray task or actor call to create it kills its own worker (tests).
CRASH_ONCE_ENV = "CHUNKY_AUDIT_RAY_CRASH_ONCE"
MAX_RETRIES = 3


class RayUnavailable(StageError):
    """Ray is not installed (the message says how to install it); a user-facing stage error."""


def require_ray() -> ModuleType:
    """The ``ray`` module, or :class:`RayUnavailable` with the install command."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(INSTALL_HINT) from None
    return ray


@contextmanager
def ray_session(address: str = LOCAL, num_cpus: int | None = None) -> Iterator[ModuleType]:
    """Ray started locally (``num_cpus``: its CPUs, default all) or joined at ``address``;
    a Ray this call started is shut down at the end."""
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        options = {"logging_level": logging.WARNING, "include_dashboard": False}
        if address == LOCAL:
            ray.init(address="local", num_cpus=num_cpus, **options)
        else:
            ray.init(address=address, **options)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@contextmanager
def task_errors(ray: ModuleType) -> Iterator[None]:
    """An exception raised inside a Ray task re-raised as itself (a ``MixError`` stays one),
    not as Ray's wrapper with the remote traceback in its message."""
    try:
        yield
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


def cluster_cpus(ray: ModuleType) -> int:
    """CPUs in the Ray cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_gpus(ray: ModuleType) -> int:
    """GPUs in the Ray cluster (0 when none)."""
    return int(ray.cluster_resources().get("GPU", 0))


def crash_once(marker: str | None) -> None:
    """Fault injection for tests: the first caller to create ``marker`` exits its process."""
    if not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.close(fd)
    os._exit(1)
