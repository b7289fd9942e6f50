"""Serve the UI app with uvicorn on a background thread: :func:`serve`.

Semantics: Storm ``storm ui`` (default address 127.0.0.1:8744 here, as the seed's lab).
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import SquallError
from ..extras import require
from ..runtime.local import LocalCluster
from .app import create_app
from .views import ClusterView, CounterHistory

uvicorn = require("uvicorn", "ui")

__all__ = ["serve", "UIServer", "UIServerError", "DEFAULT_HOST", "DEFAULT_PORT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8744


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

    def __enter__(self) -> UIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(cluster: LocalCluster, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          token: str | None = None, sample_s: float = 10.0) -> UIServer:
    """Serve the REST API and ``/metrics`` for ``cluster`` on a background thread.

    Args:
        cluster: the local cluster to watch and act on.
        host: the address to bind; loopback unless another is asked for.
        port: the TCP port; 0 picks a free one (read it from the result's ``url``).
        token: the bearer token that actions (activate, deactivate, kill) need; None
            refuses every action with 403. Never logged.
        sample_s: seconds between two samples of the counters, which the 10-minute,
            3-hour and 1-day figures are computed from (their precision).

    Returns:
        the running :class:`UIServer`; call ``stop()`` when done.

    Raises:
        UIServerError: the server did not start (for instance, the port is in use).
        MissingExtraError: the ``ui`` extra is not installed.
    """
    view = ClusterView(cluster, CounterHistory(sample_s))
    app = create_app(cluster, token=token, view=view)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off")
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # uvicorn exits with SystemExit when it cannot bind
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

    sampler = threading.Thread(target=sample, name="squall-ui-sampler", daemon=True)
    sampler.start()
    return UIServer(server, thread, sampler, stopping, host, bound)
