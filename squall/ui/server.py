"""Serve the UI app with uvicorn in a process of its own (:func:`serve`), or until
stopped (:func:`serve_forever`, what ``squall ui`` runs).

Semantics: Storm ``storm ui`` (default address 127.0.0.1:8744 here, as the seed's lab).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import IO, Self

from ..errors import SquallError
from ..extras import require
from ..runtime.local import LocalCluster
from .dashboards import Provider
from .snapshot import Channel, ChannelClosedError, SnapshotPublisher
from .source import ClusterSource
from .views import as_source

# The UI's process imports them; here, a missing extra is said before it starts.
require("uvicorn", "ui")
require("fastapi", "ui")

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
    """A running UI server (in its own process): :attr:`url`, :meth:`stop`; a context manager."""

    def __init__(self, process: subprocess.Popen, channel: Channel, publisher: SnapshotPublisher,
                 host: str, port: int) -> None:
        self._process = process
        self._channel = channel
        self._publisher = publisher
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """``http://host:port``, the base of every path (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def pid(self) -> int:
        """The UI process's id."""
        return self._process.pid

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving (requests in progress finish) and wait up to ``timeout_s`` seconds
        for the UI's process to end (then it is killed). Topologies keep running."""
        try:
            self._channel.send({"t": "stop"})
        except ChannelClosedError:
            pass            # it has ended already
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._channel.close()
        self._publisher.join(timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(cluster: LocalCluster | ClusterSource, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          token: str | None = None, sample_s: float = 10.0,
          dashboards: Mapping[str, Provider] | None = None, refresh_s: float = 0.5,
          dashboard_s: float = 1.0, start_timeout_s: float = 60.0) -> UIServer:
    """Serve the pages, the REST API and ``/metrics`` for ``cluster`` from a process of
    their own (:mod:`squall.ui.ui_process`), so that polling them costs the topologies
    at most one snapshot of their figures per ``refresh_s`` (see :mod:`squall.ui.snapshot`).

    Args:
        cluster: the cluster to watch and act on: a LocalCluster, or any
            :class:`~squall.ui.source.ClusterSource`.
        host: the address to bind; loopback unless another is asked for.
        port: the TCP port; 0 picks a free one (read it from the result's ``url``).
        token: the bearer token that actions (activate, deactivate, kill) need; None
            refuses every action with 403. Never logged, never on a command line.
        sample_s: seconds between two samples of the counters, which the 10-minute,
            3-hour and 1-day figures are computed from (their precision), and between
            two samples of the dashboards' counters while no page reads them.
        dashboards: application dashboards, name -> provider (see
            :mod:`squall.ui.dashboards`), each at ``/dashboard.html?name=NAME``; a
            provider is called in this process when its dashboard is read and its data
            is older than ``dashboard_s`` (and every ``sample_s``, for its curve).
        refresh_s: the oldest figures a request is answered with, in seconds; a request
            that finds older ones waits for a new snapshot (a few milliseconds).
        dashboard_s: the oldest dashboard data a request is answered with, in seconds.
        start_timeout_s: how long the UI's process may take to start and bind.

    Returns:
        the running :class:`UIServer`; call ``stop()`` when done.

    Raises:
        UIServerError: the server did not start (for instance, the port is in use).
        MissingExtraError: the ``ui`` extra is not installed.

    Semantics: Storm ``storm ui`` (a daemon of its own, reading what Nimbus reports).
    """
    ours, theirs = socket.socketpair()
    try:
        # A session of its own: Ctrl-C in a terminal stops the run, which then stops its UI.
        process = subprocess.Popen([sys.executable, "-m", "squall.ui.ui_process", str(theirs.fileno())],
                                   pass_fds=(theirs.fileno(),), start_new_session=True)
    finally:
        theirs.close()
    channel = Channel(ours)
    publisher = SnapshotPublisher(as_source(cluster), channel, dashboards)
    try:
        ours.settimeout(start_timeout_s)
        channel.send({"t": "config", "host": host, "port": port, "token": token, "sample_s": sample_s,
                      "refresh_s": refresh_s, "dashboard_s": dashboard_s, "dashboards": sorted(dashboards or {})})
        publisher.publish()
        answer = channel.recv()
        ours.settimeout(None)
    except (ChannelClosedError, TimeoutError) as exc:
        answer = {"t": "failed", "error": f"the UI process did not start ({exc}; see its output above)"}
    if answer.get("t") != "started":
        channel.close()
        try:
            process.wait(start_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise UIServerError(f"the UI server could not start on {host}:{port}: {answer.get('error')}")
    publisher.start()
    return UIServer(process, channel, publisher, host, int(answer["port"]))


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
