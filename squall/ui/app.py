"""The REST API on Storm UI's paths, and ``/metrics``, as a FastAPI app over a LocalCluster.

GET ``/api/v1/cluster/summary``, ``/api/v1/topology/summary``,
``/api/v1/topology/{id}`` and ``/api/v1/topology/{id}/component/{component}`` (both
with ``?window=600|10800|86400|:all-time``) answer with Storm UI's field names
(:mod:`squall.ui.views`); ``/metrics`` in the Prometheus text format
(:mod:`squall.ui.metrics`).

The pages (``/``: cluster summary and topology list; ``/topology.html?id=NAME``;
``/component.html?topology=NAME&id=COMPONENT``) are static files of the package
(``squall/ui/static``, under ``/static/``) whose script polls this API every second;
they load nothing from elsewhere, and their Content-Security-Policy forbids it.

Actions (POST ``/api/v1/topology/{id}/activate``, ``/deactivate``,
``/kill/{wait-time}``) need ``Authorization: Bearer <token>`` with the token the app
was created with; an app created without one refuses every action (403), and a
request without the right token is refused (401). A browser cannot attach that
header to a cross-site form or a simple cross-origin request, so the token also keeps
other sites' pages from triggering actions. The token is never logged or echoed.

Errors are JSON in Storm UI's shape, ``{"error": "404 Not Found", "errorMessage":
"..."}``, with the status that fits (Storm itself answers 500 for every error); never a
traceback.

Semantics: Storm ``STORM-UI-REST-API.md`` (paths, fields, POST answers
``{"topologyOperation": ..., "topologyId": ..., "status": "success"}``); Storm
``kill -w`` for the kill's wait time.
"""

from __future__ import annotations

import hmac
import logging
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any

from ..extras import require
from ..runtime.local import LocalCluster
from .metrics import TopologyCollector
from .views import ALL_TIME, WINDOWS, ClusterView, UnknownComponentError, UnknownTopologyError

fastapi = require("fastapi", "ui")
fastapi_exceptions = require("fastapi.exceptions", "ui")
fastapi_responses = require("fastapi.responses", "ui")
starlette_exceptions = require("starlette.exceptions", "ui")
starlette_staticfiles = require("starlette.staticfiles", "ui")
prometheus_client = require("prometheus_client", "ui")

__all__ = ["create_app", "MAX_KILL_WAIT_SECS"]

log = logging.getLogger("squall.ui")

MAX_KILL_WAIT_SECS = 86400
"""The longest wait a kill request may ask for, in seconds."""

_NO_TOKEN = ("actions are disabled: this UI was started without a token; start it with "
             "squall.ui.serve(cluster, token=...) and send 'Authorization: Bearer <token>'")


STATIC_DIR = Path(__file__).with_name("static")
PAGES = ("index.html", "topology.html", "component.html")
# Everything from this server, nothing inline: a page can neither load a CDN's file nor
# run a script injected through a topology's names or error messages.
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
                 "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def _error(status: int, message: str) -> Any:
    phrase = HTTPStatus(status).phrase
    return fastapi_responses.JSONResponse(
        {"error": f"{status} {phrase}", "errorMessage": message}, status_code=status,
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


def create_app(cluster: LocalCluster, token: str | None = None,
               view: ClusterView | None = None) -> Any:
    """The FastAPI app serving ``cluster``'s topologies.

    Args:
        cluster: the local cluster watched and acted on.
        token: the bearer token actions need; None disables actions (403).
        view: the figures' source (a new :class:`ClusterView` by default; the server
            passes its own, which its sampler thread feeds).

    Returns:
        a ``fastapi.FastAPI``; its OpenAPI description is at ``/openapi.json``.

    Raises:
        MissingExtraError: fastapi or prometheus-client is not installed (extra ``ui``).
    """
    view = view or ClusterView(cluster)
    app = fastapi.FastAPI(title="Squall UI", version="1",
                          description="Storm UI's REST API over a Squall LocalCluster.")
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(TopologyCollector(view))

    @app.exception_handler(UnknownTopologyError)
    @app.exception_handler(UnknownComponentError)
    def _not_found(request: Any, exc: LookupError) -> Any:
        return _error(404, str(exc.args[0]))

    @app.exception_handler(starlette_exceptions.HTTPException)
    def _http_error(request: Any, exc: Any) -> Any:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(fastapi_exceptions.RequestValidationError)
    def _invalid(request: Any, exc: Any) -> Any:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return _error(400, f"invalid request: {problems}")

    @app.exception_handler(Exception)
    def _unexpected(request: Any, exc: Exception) -> Any:
        log.error("UI request %s failed", request.url.path, exc_info=exc)
        return _error(500, f"{type(exc).__name__}: {exc}")

    def window_param(window: str = ALL_TIME) -> str:
        if window not in WINDOWS:
            raise fastapi.HTTPException(400, f"window must be one of {', '.join(WINDOWS)}, got {window!r}")
        return window

    def authorized(authorization: str | None = fastapi.Header(default=None)) -> None:
        if token is None:
            raise fastapi.HTTPException(403, _NO_TOKEN)
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise fastapi.HTTPException(401, "this action needs the UI's token: "
                                             "send 'Authorization: Bearer <token>'")

    @app.get("/api/v1/cluster/summary")
    def cluster_summary() -> dict[str, Any]:
        return view.cluster_summary()

    @app.get("/api/v1/topology/summary")
    def topology_summary() -> dict[str, Any]:
        return view.topology_summary()

    @app.get("/api/v1/topology/{topology_id}")
    def topology(topology_id: str, window: str = fastapi.Depends(window_param)) -> dict[str, Any]:
        return view.topology(topology_id, window)

    @app.get("/api/v1/topology/{topology_id}/component/{component}")
    def component(topology_id: str, component: str,
                  window: str = fastapi.Depends(window_param)) -> dict[str, Any]:
        return view.component(topology_id, component, window)

    def done(operation: str, topology_id: str) -> dict[str, str]:
        return {"topologyOperation": operation, "topologyId": topology_id, "status": "success"}

    @app.post("/api/v1/topology/{topology_id}/activate", dependencies=[fastapi.Depends(authorized)])
    def activate(topology_id: str) -> dict[str, str]:
        view.handle(topology_id)
        cluster.activate(topology_id)
        return done("activate", topology_id)

    @app.post("/api/v1/topology/{topology_id}/deactivate", dependencies=[fastapi.Depends(authorized)])
    def deactivate(topology_id: str) -> dict[str, str]:
        view.handle(topology_id)
        cluster.deactivate(topology_id)
        return done("deactivate", topology_id)

    @app.post("/api/v1/topology/{topology_id}/kill/{wait_time}", dependencies=[fastapi.Depends(authorized)])
    def kill(topology_id: str,
             wait_time: int = fastapi.Path(ge=0, le=MAX_KILL_WAIT_SECS)) -> dict[str, str]:
        view.handle(topology_id)
        view.mark_killing(topology_id, True)
        # As Storm's kill, the answer comes at once; the run drains for up to wait_time
        # seconds (0: stops now) on a thread of its own, and shows as KILLED meanwhile.
        threading.Thread(target=_kill, args=(cluster, view, topology_id, wait_time),
                         name=f"squall-ui-kill-{topology_id}", daemon=True).start()
        return done("kill", topology_id)

    def page(name: str) -> Any:
        def serve_page() -> Any:
            return fastapi_responses.FileResponse(STATIC_DIR / name, media_type="text/html",
                                                  headers=_PAGE_HEADERS)
        return serve_page

    for name in PAGES:
        app.get(f"/{name}", include_in_schema=False)(page(name))
    app.get("/", include_in_schema=False)(page("index.html"))
    app.mount("/static", starlette_staticfiles.StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/metrics")
    def metrics() -> Any:
        return fastapi.Response(prometheus_client.generate_latest(registry),
                                media_type=prometheus_client.CONTENT_TYPE_LATEST)

    return app


def _kill(cluster: LocalCluster, view: ClusterView, topology_id: str, wait_s: int) -> None:
    try:
        cluster.kill_topology(topology_id, wait_s or None)
    except Exception:
        # The run's own error, re-raised by its wait; nobody waits on this thread.
        log.exception("topology %r ended with an error while being killed from the UI", topology_id)
    finally:
        view.mark_killing(topology_id, False)
