"""``squall ui``: serve the UI for the Ray cluster runtime; and :func:`start_ui`, what
``--ui`` on ``squall local`` runs.

``squall ui [--address A] [--host H] [--port P] [--token T]`` joins the Ray cluster at
``A`` (``--address``, else ``$RAY_ADDRESS``, else ``auto``: the cluster ``ray start``
started on this machine, as ``squall list`` finds it) and serves the pages, the REST
API and ``/metrics`` for its topologies until Ctrl-C or SIGTERM, on 127.0.0.1:8744
unless told otherwise. It prints the address and the token for actions: the one given
(``--token``, also spelled ``--ui-token``, or ``$SQUALL_UI_TOKEN``), else one generated
at start. Topologies keep running after it stops.

Registered as a plug-in command (entry-point group ``squall.commands``:
``ui = "squall.ui.cli:ui"``), so the core CLI does not import the UI.

Semantics: Storm ``storm ui``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, Any

import click

from ..cli.common import CliError
from .dashboards import Provider
from .server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_ENV,
    UIServer,
    UIServerError,
    resolve_token,
    serve,
    serve_forever,
)

__all__ = ["start_ui", "ui"]


def start_ui(cluster: Any, host: str, port: int, token: str | None, out: IO[str] | None = None,
             dashboards: Mapping[str, Provider] | None = None) -> UIServer:
    """Serve the UI for ``cluster`` (a LocalCluster, a RayCluster, or any
    :class:`~squall.ui.source.ClusterSource`) from a process of its own and print where,
    with the token for actions, to ``out`` (stderr by default).

    Args:
        token: the actions' token; None: ``$SQUALL_UI_TOKEN``, else a new one (printed).
        dashboards: application dashboards, name -> provider (see :mod:`squall.ui.dashboards`).

    Raises:
        CliError: the server did not start (the port is in use, the host is wrong).
    """
    out = out or sys.stderr
    # Only a program that made a RayCluster has its module loaded: Ray is not imported here.
    client = sys.modules.get("squall.cluster.client")
    if client is not None and isinstance(cluster, client.RayCluster):
        from .ray_source import RaySource

        cluster = RaySource(cluster)
    token, generated = resolve_token(token)
    try:
        server = serve(cluster, host=host, port=port, token=token, dashboards=dashboards)
    except UIServerError as exc:
        raise CliError(f"--ui {host}:{port}: {exc}") from exc
    shown = token if generated else f"the one given (--ui-token or ${TOKEN_ENV})"
    print(f"Squall UI at {server.url}/ (token for actions: {shown})", file=out, flush=True)
    return server


@click.command()
@click.option("--address", envvar="RAY_ADDRESS", default=None, metavar="HOST:PORT",
              help="The Ray cluster (started with `ray start --head`) [default: $RAY_ADDRESS, else auto: the "
                   "cluster started on this machine].")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="The address to serve on; another than loopback only when asked.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="The TCP port; 0 picks a free one.")
@click.option("--token", "--ui-token", "token", default=None, metavar="TOKEN",
              help=f"The bearer token actions need [default: ${TOKEN_ENV}, else generated and printed].")
def ui(address: str | None, host: str, port: int, token: str | None) -> None:
    """Serve the web UI and Storm UI's REST API for the Ray cluster (storm ui).

    Pages, REST API and Prometheus /metrics for every topology on the cluster, until
    Ctrl-C. Prints the address and the token that actions (activate, deactivate, kill,
    rebalance, log level, sampling) need.
    """
    from ..cluster.client import ClusterUnreachableError, join
    from .ray_source import RaySource

    try:
        cluster = join(address or "auto")
    except ClusterUnreachableError as exc:
        raise CliError(str(exc)) from None
    try:
        serve_forever(RaySource(cluster), host=host, port=port, token=token, out=sys.stdout)
    except UIServerError as exc:
        raise CliError(str(exc)) from exc
