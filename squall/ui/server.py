"""Serve the UI app with uvicorn on a background thread (:func:`serve`), or until
stopped (:func:`serve_forever`, what ``squall ui`` runs).

Semantics: Storm ``storm ui`` (default address 127.0.0.1:8744 here, as the seed's lab).
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from collections.abc import Mapping
from typing import IO, Any, Self

from ..errors import SquallError
from ..extras import require
from ..runtime.local import LocalCluster
from .app import create_app
from .dashboards import DashboardError, Provider
from .source import ClusterSource
from .views import ClusterView, CounterHistory

uvicorn = require("uvicorn", "ui")

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "UIServer",
    "UIServerError",
    "resolve_token",
    "serve",
    "serve_forever",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8744
TOKEN_ENV = "SQUALL_UI_TOKEN"
"""The environment variable that sets the actions' token when none is given."""


class UIServerError(SquallError):
    """The UI server could not start (address in use, bad host)."""


class UIServer:
    """A running UI server: :attr:`url`, :meth:`stop`; a context manager."""

    def __init__(self, server: Any, thread: threading.Thread, sampler: threading.Thread,
                 stopping: threading.Event, host: str, port: int) -> None:
        self._server = server
        self._thread = thread
        self._sampler = sampler
        self._stopping = stopping
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """``http://host:port``, the base of every path (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving (requests in progress finish) and wait up to ``timeout_s`` seconds.
        Topologies keep running."""
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sampler.join(timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(cluster: LocalCluster | ClusterSource, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          token: str | None = None, sample_s: float = 10.0,
          dashboards: Mapping[str, Provider] | None = None) -> UIServer:
    """Serve the pages, the REST API and ``/metrics`` for ``cluster`` on a background thread.

    Args:
        cluster: the cluster to watch and act on: a LocalCluster, or any
            :class:`~squall.ui.source.ClusterSource`.
        host: the address to bind; loopback unless another is asked for.
        port: the TCP port; 0 picks a free one (read it from the result's ``url``).
        token: the bearer token that actions (activate, deactivate, kill) need; None
            refuses every action with 403. Never logged.
        sample_s: seconds between two samples of the counters, which the 10-minute,
            3-hour and 1-day figures are computed from (their precision), and between
            two samples of the dashboards' counters while no page reads them.
        dashboards: application dashboards, name -> provider (see
            :mod:`squall.ui.dashboards`), each at ``/dashboard.html?name=NAME``.

    Returns:
        the running :class:`UIServer`; call ``stop()`` when done.

    Raises:
        UIServerError: the server did not start (for instance, the port is in use).
        MissingExtraError: the ``ui`` extra is not installed.
    """
    view = ClusterView(cluster, CounterHistory(sample_s))
    app = create_app(cluster, token=token, view=view, dashboards=dashboards)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off")
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # noqa: BLE001  uvicorn exits with SystemExit when it cannot bind
            failure.append(exc)

    thread = threading.Thread(target=run, name="squall-ui", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.01)
    if not server.started:
        reason = f": {failure[0]!r}" if failure else " (see the log above)"
        raise UIServerError(f"the UI server could not start on {host}:{port}{reason}")
    bound = server.servers[0].sockets[0].getsockname()[1]
    stopping = threading.Event()

    def sample() -> None:
        while not stopping.wait(sample_s):
            view.sample()
            # Dashboards too, so a page opened later shows the recent curve.
            for board in app.state.dashboards.values():
                try:
                    board.read()
                except DashboardError:
                    pass    # the page shows the provider's error when it asks

    sampler = threading.Thread(target=sample, name="squall-ui-sampler", daemon=True)
    sampler.start()
    return UIServer(server, thread, sampler, stopping, host, bound)


def resolve_token(token: str | None) -> tuple[str, bool]:
    """The actions' token: ``token``, else ``$SQUALL_UI_TOKEN``, else a new random one
    (32 URL-safe characters). Returns it and whether it was generated."""
    given = token or os.environ.get(TOKEN_ENV)
    if given:
        return given, False
    return secrets.token_urlsafe(24), True


def serve_forever(cluster: LocalCluster | ClusterSource, host: str = DEFAULT_HOST,
                  port: int = DEFAULT_PORT, token: str | None = None,
                  dashboards: Mapping[str, Provider] | None = None,
                  out: IO[str] | None = None, stop: threading.Event | None = None) -> None:
    """Serve the UI until Ctrl-C, SIGTERM or ``stop`` is set; what ``squall ui`` runs.

    Prints the address and the actions' token to ``out`` (stderr by default): the token
    is ``token``, else ``$SQUALL_UI_TOKEN``, else generated now (then it is printed, so
    the user can paste it into the pages' Token field). Topologies keep running after.

    Args:
        cluster: what to serve (see :func:`serve`).
        host, port: the address; loopback:8744 by default, 0 picks a free port.
        token: the actions' token (see above).
        dashboards: application dashboards (see :func:`serve`).
        out: where the two lines go.
        stop: an event that ends serving when set (tests, an embedding program);
            signals are then left alone when not on the main thread.

    Raises:
        UIServerError: the server did not start (port in use, bad host).
    """
    out = out or sys.stderr
    token, generated = resolve_token(token)
    stop = stop or threading.Event()
    restore = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            restore[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        with serve(cluster, host=host, port=port, token=token, dashboards=dashboards) as ui:
            print(f"Squall UI at {ui.url}/", file=out)
            if generated:
                print(f"token for actions (Authorization: Bearer): {token}", file=out)
            else:
                print(f"token for actions: the one given (--ui-token or ${TOKEN_ENV})", file=out)
            out.flush()
            while not stop.wait(0.5):
                pass
    finally:
        for signum, handler in restore.items():
            signal.signal(signum, handler)
