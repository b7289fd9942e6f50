"""The UI's own process: ``python -m squall.ui.ui_process FD``, started by
:func:`squall.ui.serve` with one end of a UNIX socket pair as file descriptor ``FD``.

It reads its settings (``config``: host, port, token, sample and refresh periods,
dashboard names) and the first snapshot from the socket, binds the address, answers
``started`` with the bound port (or ``failed`` with the reason), then serves the app
(:func:`squall.ui.app.create_app`) over a :class:`~squall.ui.snapshot.SnapshotSource`
with uvicorn until the runtime's process says ``stop`` or closes the socket. The token
travels over the socket, never on the command line (which other users can read).

Semantics: Storm's ``storm ui`` daemon, a process apart from the workers.
"""

from __future__ import annotations

import socket
import sys
import threading
from typing import Any

from ..extras import require
from .app import create_app
from .dashboards import DashboardError
from .snapshot import Channel, ChannelClosedError, SnapshotSource
from .views import ClusterView, CounterHistory

uvicorn = require("uvicorn", "ui")
fastapi_concurrency = require("fastapi.concurrency", "ui")

__all__ = ["main"]

_FRESH_PATHS = ("/api/", "/metrics")     # answers built from figures; pages and assets are files
_DASHBOARD = "/api/v1/dashboard/"


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    # As uvicorn binds: a restarted UI takes its port back at once.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: list[str]) -> int:
    channel = Channel(socket.socket(fileno=int(argv[1])))
    try:
        config = channel.recv()
        source = SnapshotSource(channel, float(config["refresh_s"]), float(config["dashboard_s"]))
        first = channel.recv()
        source.apply(first["data"])
    except (ChannelClosedError, KeyError, TypeError, ValueError) as exc:
        print(f"squall UI process: no settings from the runtime's process: {exc}", file=sys.stderr)
        return 2
    host, port = str(config["host"]), int(config["port"])
    try:
        listener = _bind(host, port)
    except OSError as exc:
        channel.send({"t": "failed", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    sample_s = float(config["sample_s"])
    view = ClusterView(source, CounterHistory(sample_s))
    boards = {name: source.dashboard_provider(name) for name in config["dashboards"]}
    app = create_app(source, token=config.get("token"), view=view, dashboards=boards)

    @app.middleware("http")
    async def fresh_figures(request: Any, call_next: Any) -> Any:
        path = request.url.path
        if path.startswith(_FRESH_PATHS):
            board = path[len(_DASHBOARD):] if path.startswith(_DASHBOARD) else None
            # An unknown name (a 404) must not cost the runtime a snapshot.
            await fastapi_concurrency.run_in_threadpool(source.fresh, [board] if board in boards else [])
        return await call_next(request)

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    stopping = threading.Event()

    def receive() -> None:
        source.receive_forever()
        # The runtime said stop, or its process ended: nothing left to serve.
        stopping.set()
        server.should_exit = True

    def announce() -> None:
        while not server.started and not stopping.wait(0.01):
            pass
        if server.started:
            channel.send({"t": "started", "port": listener.getsockname()[1]})

    def sample() -> None:
        # The windows' history and the dashboards' curves, while no page reads them.
        while not stopping.wait(sample_s):
            source.fresh(boards)
            view.sample()
            for board in app.state.dashboards.values():
                try:
                    board.read()
                except DashboardError:
                    pass    # the page shows the provider's error when it asks

    for target, name in ((receive, "squall-ui-receive"), (announce, "squall-ui-announce"),
                         (sample, "squall-ui-sampler")):
        threading.Thread(target=target, name=name, daemon=True).start()
    try:
        server.run(sockets=[listener])
    finally:
        stopping.set()
        channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
