"""The ``--ray [ADDRESS]`` option shared by `audit scan` and `audit attribute` (Ray itself is
imported only when the option is given)."""

from __future__ import annotations

from types import ModuleType

import click

from audit.output import CliError

#: ``--ray`` alone starts a local Ray; ``--ray ADDRESS`` joins a cluster (``auto``, ``ray://...``).
RAY_OPTION = click.option(
    "--ray",
    "ray",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Run on Ray: alone, a local Ray on this machine; with ADDRESS (auto, ray://host:10001), "
    "that cluster. Needs `pip install 'chunky-audit[ray]'`.",
)


def require_ray_cli() -> ModuleType:
    """The ``ray`` module, or a one-line error (exit 2) saying how to install it."""
    from datasets_registry.ray_cluster import RayUnavailable, require_ray

    try:
        return require_ray()
    except RayUnavailable as exc:
        raise CliError(str(exc)) from None
