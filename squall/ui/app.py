"""The REST API on Storm UI's paths, the pages, and ``/metrics``, as one FastAPI app.

GET (Storm UI's paths and field names, :mod:`squall.ui.views`):
``/api/v1/cluster/summary``, ``/api/v1/nimbus/summary``, ``/api/v1/supervisor/summary``,
``/api/v1/topology/summary``, ``/api/v1/topology/{id}`` and
``/api/v1/topology/{id}/component/{component}`` and ``/api/v1/topology/{id}/visualization``
(with ``?window=600|10800|86400|:all-time``), ``/api/v1/topology/{id}/lag``,
``/api/v1/topology/{id}/logconfig``. Squall's own: ``/api/v1/topology/{id}/rules`` (the
CEP statements with their counters), ``/api/v1/topology/{id}/events`` (sampled tuples),
``/api/v1/dashboard`` and ``/api/v1/dashboard/{name}`` (application dashboards,
:mod:`squall.ui.dashboards`); ``/metrics`` in the Prometheus text format
(:mod:`squall.ui.metrics`); the OpenAPI description at ``/openapi.json``.

The pages (``/``, ``/topology.html?id=NAME``, ``/component.html?topology=NAME&id=C``,
``/events.html?id=NAME``, ``/dashboard.html?name=D``) are static files of the package
(``squall/ui/static``, under ``/static/``) whose script polls this API every second;
they load nothing from elsewhere, and their Content-Security-Policy forbids it.

Actions (POST ``/api/v1/topology/{id}/activate``, ``/deactivate``,
``/kill/{wait-time}``, ``/rebalance/{wait-time}``, ``/logconfig``,
``/debug/{action}/{spct}``, ``/component/{component}/debug/{action}/{spct}``, and
Squall's ``/rules/{component}``) need ``Authorization: Bearer <token>`` with the token
the app was created with; an app created without one refuses every action (403), a
request without the right token is refused (401), and so is one whose ``Origin`` is
another site's (403). A browser cannot attach that header to a cross-site form or a
simple cross-origin request, so the token also keeps other sites' pages from triggering
actions. The token is never logged or echoed.

Errors are JSON in Storm UI's shape, ``{"error": "404 Not Found", "errorMessage":
"..."}``, with the status that fits (Storm itself answers 500 for every error); never a
traceback.

Semantics: Storm ``STORM-UI-REST-API.md`` (paths, fields, POST answers
``{"topologyOperation": ..., "topologyId": ..., "status": "success"}``); Storm
``StormApiResource`` for the paths that document omits (visualization, lag, logconfig,
debug); Storm ``kill -w`` for the kill's wait time.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import SquallError
from ..extras import require
from ..runtime.local import LocalCluster
from .actions import (
    EventLog,
    LogLevelError,
    LogLevels,
    RulesNotAppliedError,
    RulesRejectedError,
)
from .dashboards import Dashboard, DashboardError, Provider
from .metrics import TopologyCollector
from .source import ClusterSource, RebalanceUnsupportedError, RulesUnsupportedError
from .views import (
    ALL_TIME,
    WINDOWS,
    ClusterView,
    UnknownComponentError,
    UnknownTopologyError,
)

fastapi = require("fastapi", "ui")
fastapi_exceptions = require("fastapi.exceptions", "ui")
fastapi_responses = require("fastapi.responses", "ui")
fastapi_concurrency = require("fastapi.concurrency", "ui")
starlette_exceptions = require("starlette.exceptions", "ui")
starlette_staticfiles = require("starlette.staticfiles", "ui")
prometheus_client = require("prometheus_client", "ui")

__all__ = ["MAX_KILL_WAIT_SECS", "MAX_RULES_BYTES", "create_app"]

log = logging.getLogger("squall.ui")

MAX_KILL_WAIT_SECS = 86400
"""The longest wait a kill or rebalance request may ask for, in seconds."""

MAX_RULES_BYTES = 1 << 20
"""The largest rule file the rules action takes, in bytes (UTF-8)."""

_NO_TOKEN = ("actions are disabled: this UI was started without a token; start it with "
             "squall.ui.serve(cluster, token=...) and send 'Authorization: Bearer <token>'")


STATIC_DIR = Path(__file__).with_name("static")
PAGES = ("index.html", "topology.html", "component.html", "events.html", "dashboard.html")
# Everything from this server, nothing inline: a page can neither load a CDN's file nor
# run a script injected through a topology's names or error messages.
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
                 "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
_NAME = r"^[^/\x00-\x1f]{1,200}$"        # ids in paths: no slash, no control character


class _ApiError(Exception):
    """An error answer with extra fields (the rule file's compile errors)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


def _error(status: int, message: str, **extra: Any) -> Any:
    phrase = HTTPStatus(status).phrase
    return fastapi_responses.JSONResponse(
        {"error": f"{status} {phrase}", "errorMessage": message, **extra}, status_code=status,
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


def create_app(cluster: LocalCluster | ClusterSource, token: str | None = None,
               view: ClusterView | None = None,
               dashboards: Mapping[str, Provider] | None = None) -> Any:
    """The FastAPI app serving ``cluster``'s topologies.

    Args:
        cluster: the cluster watched and acted on: a :class:`LocalCluster`, or any
            :class:`~squall.ui.source.ClusterSource` (the cluster runtime's).
        token: the bearer token actions need; None disables actions (403).
        view: the figures' source (a new :class:`ClusterView` by default; the server
            passes its own, which its sampler thread feeds).
        dashboards: application dashboards, name -> provider (:mod:`squall.ui.dashboards`).

    Returns:
        a ``fastapi.FastAPI``; its OpenAPI description is at ``/openapi.json``.

    Raises:
        MissingExtraError: fastapi or prometheus-client is not installed (extra ``ui``).
    """
    view = view or ClusterView(cluster)
    source = view.source
    boards = {name: Dashboard(name, provider) for name, provider in (dashboards or {}).items()}
    events = EventLog()
    # Levels are per process: a source whose topologies run in another process sets them there.
    log_levels = getattr(source, "log_levels", None) or LogLevels()
    # No /docs or /redoc: FastAPI's pages load their scripts from a CDN.
    app = fastapi.FastAPI(title="Squall UI", version="1", docs_url=None, redoc_url=None,
                          description="Storm UI's REST API over a Squall cluster, with Squall's "
                                      "checkpoints, rules, sampled events and dashboards.")
    app.state.log_levels = log_levels
    app.state.events = events
    app.state.dashboards = boards
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(TopologyCollector(view))

    @app.exception_handler(UnknownTopologyError)
    @app.exception_handler(UnknownComponentError)
    def _not_found(request: Any, exc: LookupError) -> Any:
        return _error(404, str(exc.args[0]))

    @app.exception_handler(_ApiError)
    def _api_error(request: Any, exc: _ApiError) -> Any:
        return _error(exc.status, str(exc), **exc.extra)

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

    def authorized(request: fastapi.Request,
                   authorization: str | None = fastapi.Header(default=None)) -> None:
        origin = request.headers.get("origin")
        if origin is not None and not _same_origin(origin, request):
            raise fastapi.HTTPException(403, f"cross-site request refused: Origin {origin!r} is not "
                                             f"this UI's address")
        if token is None:
            raise fastapi.HTTPException(403, _NO_TOKEN)
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise fastapi.HTTPException(401, "this action needs the UI's token: "
                                             "send 'Authorization: Bearer <token>'")

    guarded = [fastapi.Depends(authorized)]
    topology_id_path = fastapi.Path(pattern=_NAME)
    component_path = fastapi.Path(pattern=_NAME)

    @app.get("/api/v1/cluster/summary")
    def cluster_summary() -> dict[str, Any]:
        return view.cluster_summary()

    @app.get("/api/v1/nimbus/summary")
    def nimbus_summary() -> dict[str, Any]:
        return view.nimbus_summary()

    @app.get("/api/v1/supervisor/summary")
    def supervisor_summary() -> dict[str, Any]:
        return view.supervisor_summary()

    @app.get("/api/v1/topology/summary")
    def topology_summary() -> dict[str, Any]:
        return view.topology_summary()

    @app.get("/api/v1/topology/{topology_id}")
    def topology(topology_id: str = topology_id_path,
                 window: str = fastapi.Depends(window_param)) -> dict[str, Any]:
        return view.topology(topology_id, window)

    @app.get("/api/v1/topology/{topology_id}/component/{component}")
    def component(topology_id: str = topology_id_path, component: str = component_path,
                  window: str = fastapi.Depends(window_param)) -> dict[str, Any]:
        return view.component(topology_id, component, window)

    @app.get("/api/v1/topology/{topology_id}/visualization")
    def visualization(topology_id: str = topology_id_path,
                      window: str = fastapi.Depends(window_param)) -> dict[str, Any]:
        return view.visualization(topology_id, window)

    @app.get("/api/v1/topology/{topology_id}/lag")
    def lag(topology_id: str = topology_id_path) -> dict[str, Any]:
        return view.lag(topology_id)

    @app.get("/api/v1/topology/{topology_id}/rules")
    def rules(topology_id: str = topology_id_path) -> dict[str, Any]:
        return view.rules(topology_id)

    @app.get("/api/v1/topology/{topology_id}/events")
    def sampled_events(topology_id: str = topology_id_path,
                       after: int = fastapi.Query(default=0, ge=0, le=2**62),
                       component: str | None = fastapi.Query(default=None, pattern=_NAME)) -> dict[str, Any]:
        view.handle(topology_id)
        debug, pct = view.debug(topology_id)
        return {"topologyId": topology_id, "debug": debug, "samplingPct": pct,
                "sampling": view.sampling(topology_id),
                "events": events.events(topology_id, after, component)}

    @app.get("/api/v1/topology/{topology_id}/logconfig")
    def logconfig(topology_id: str = topology_id_path) -> dict[str, Any]:
        view.handle(topology_id)
        return log_levels.config()

    @app.get("/api/v1/dashboard")
    def dashboard_list() -> dict[str, Any]:
        return {"dashboards": sorted(boards)}

    @app.get("/api/v1/dashboard/{name}")
    def dashboard(name: str = fastapi.Path(pattern=_NAME)) -> dict[str, Any]:
        board = boards.get(name)
        if board is None:
            raise fastapi.HTTPException(404, f"no dashboard named {name!r} (dashboards: {sorted(boards)})")
        try:
            return board.read()
        except DashboardError as exc:
            log.warning("%s", exc, exc_info=exc.__cause__)
            raise _ApiError(500, str(exc)) from None

    def done(operation: str, topology_id: str) -> dict[str, str]:
        return {"topologyOperation": operation, "topologyId": topology_id, "status": "success"}

    @app.post("/api/v1/topology/{topology_id}/activate", dependencies=guarded)
    def activate(topology_id: str = topology_id_path) -> dict[str, str]:
        view.handle(topology_id)
        source.activate(topology_id)
        return done("activate", topology_id)

    @app.post("/api/v1/topology/{topology_id}/deactivate", dependencies=guarded)
    def deactivate(topology_id: str = topology_id_path) -> dict[str, str]:
        view.handle(topology_id)
        source.deactivate(topology_id)
        return done("deactivate", topology_id)

    @app.post("/api/v1/topology/{topology_id}/kill/{wait_time}", dependencies=guarded)
    def kill(topology_id: str = topology_id_path,
             wait_time: int = fastapi.Path(ge=0, le=MAX_KILL_WAIT_SECS)) -> dict[str, str]:
        handle = view.handle(topology_id)
        view.mark_killing(topology_id, True)
        # As Storm's kill, the answer comes at once; the run drains for up to wait_time
        # seconds (0: stops now) on a thread of its own, and shows as KILLED meanwhile.
        threading.Thread(target=_kill, args=(source, view, events, handle, wait_time),
                         name=f"squall-ui-kill-{topology_id}", daemon=True).start()
        return done("kill", topology_id)

    @app.post("/api/v1/topology/{topology_id}/rebalance/{wait_time}", dependencies=guarded)
    async def rebalance(request: fastapi.Request, topology_id: str = topology_id_path,
                        wait_time: int = fastapi.Path(ge=0, le=MAX_KILL_WAIT_SECS)) -> dict[str, str]:
        view.handle(topology_id)
        num_workers, executors = _rebalance_options(await _json_body(request, required=False))
        try:
            # A cluster's rebalance moves workers: off the event loop.
            await fastapi_concurrency.run_in_threadpool(source.rebalance, topology_id, wait_time,
                                                        num_workers, executors)
        except RebalanceUnsupportedError as exc:
            raise _ApiError(501, str(exc)) from None
        except SquallError as exc:      # the runtime refused it (no checkpoints, a bad executor count)
            raise _ApiError(409, " ".join(str(exc).split())) from None
        return done("rebalance", topology_id)

    @app.post("/api/v1/topology/{topology_id}/logconfig", dependencies=guarded)
    async def set_logconfig(request: fastapi.Request, topology_id: str = topology_id_path) -> dict[str, Any]:
        handle = view.handle(topology_id)
        body = await _json_body(request, required=True)
        named = body.get("namedLoggerLevels") if isinstance(body, dict) else None
        if not isinstance(named, dict):
            raise _ApiError(400, 'the body must be {"namedLoggerLevels": {"LOGGER": {"target_level": '
                                 '"DEBUG", "timeout": 30}}} (target_level null restores the level)')
        # Every entry checked before any is applied: a bad one changes nothing.
        for name, entry in named.items():
            if not isinstance(entry, dict):
                raise _ApiError(400, f"logger {name!r}: its setting must be an object with "
                                     f"target_level and timeout")
            try:
                log_levels.check(name, entry.get("target_level"), entry.get("timeout", 0))
            except LogLevelError as exc:
                raise _ApiError(400, str(exc)) from None
        # Here (the runtime's process), and in the topology's own worker processes when
        # they are elsewhere; off the event loop, as either may be another process.
        in_workers = getattr(handle, "set_log_level", None)

        def set_levels() -> dict[str, Any]:
            for name, entry in named.items():
                log_levels.set(name, entry.get("target_level"), entry.get("timeout", 0))
                if in_workers is not None:
                    in_workers(name, entry.get("target_level"), entry.get("timeout", 0))
            return log_levels.config()
        return await fastapi_concurrency.run_in_threadpool(set_levels)

    def set_debug(topology_id: str, component: str | None, action: str, spct: float) -> None:
        handle = view.handle(topology_id)
        if component is not None and component not in handle.shape.components:
            raise UnknownComponentError(f"topology {topology_id!r} has no component {component!r} "
                                        f"(components: {sorted(handle.shape.components)})")
        if action not in ("enable", "disable"):
            raise fastapi.HTTPException(400, f"debug action must be enable or disable, got {action!r}")
        if action == "enable" and spct > 0:
            handle.set_sampling(component, spct, events.sink(topology_id))
            view.set_debug(topology_id, component, spct)
        else:
            handle.set_sampling(component, 0, None)
            view.set_debug(topology_id, component, None)

    @app.post("/api/v1/topology/{topology_id}/debug/{action}/{spct}", dependencies=guarded)
    def debug(topology_id: str = topology_id_path, action: str = fastapi.Path(),
              spct: float = fastapi.Path(ge=0, le=100)) -> dict[str, str]:
        set_debug(topology_id, None, action, spct)
        return done(f"debug/{action}", topology_id)

    @app.post("/api/v1/topology/{topology_id}/component/{component}/debug/{action}/{spct}",
              dependencies=guarded)
    def component_debug(topology_id: str = topology_id_path, component: str = component_path,
                        action: str = fastapi.Path(), spct: float = fastapi.Path(ge=0, le=100)) -> dict[str, str]:
        set_debug(topology_id, component, action, spct)
        return done(f"debug/{action}", topology_id)

    @app.post("/api/v1/topology/{topology_id}/rules/{component}", dependencies=guarded)
    async def apply_rule_file(request: fastapi.Request, topology_id: str = topology_id_path,
                              component: str = component_path) -> dict[str, Any]:
        handle = view.handle(topology_id)
        if component not in handle.shape.components:
            raise UnknownComponentError(f"topology {topology_id!r} has no component {component!r} "
                                        f"(components: {sorted(handle.shape.components)})")
        body = await _json_body(request, required=True)
        text = body.get("rules") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise _ApiError(400, 'the body must be {"rules": "<the rule file\'s text>"}')
        try:
            result = await fastapi_concurrency.run_in_threadpool(handle.apply_rules, component, text)
        except RulesUnsupportedError as exc:
            raise _ApiError(409, str(exc)) from None
        except RulesRejectedError as exc:
            raise _ApiError(422, str(exc), errors=exc.errors) from None
        except RulesNotAppliedError as exc:
            raise _ApiError(504, str(exc)) from None
        return {"topologyOperation": "rules", "topologyId": topology_id, "component": component,
                "status": "success", **result}

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


def _same_origin(origin: str, request: Any) -> bool:
    """True when ``origin`` is the address the request was sent to (scheme, host, port)."""
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


async def _json_body(request: Any, required: bool) -> Any:
    raw = await request.body()
    if len(raw) > MAX_RULES_BYTES + 4096:
        raise _ApiError(413, f"the body is {len(raw)} bytes; at most {MAX_RULES_BYTES} are taken")
    if not raw.strip():
        if required:
            raise _ApiError(400, "this action needs a JSON body")
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _ApiError(400, f"the body is not JSON: {exc}") from None


def _rebalance_options(body: Any) -> tuple[int | None, dict[str, int]]:
    """Storm's ``{"rebalanceOptions": {"numWorkers": N, "executors": {component: N}}}``."""
    options = body.get("rebalanceOptions", {}) if isinstance(body, dict) else None
    if not isinstance(options, dict):
        raise _ApiError(400, 'the body must be {"rebalanceOptions": {"numWorkers": N, "executors": '
                             '{"component": N}}}')
    workers = options.get("numWorkers")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 256):
        raise _ApiError(400, f"numWorkers must be a whole number from 1 to 256, got {workers!r}")
    executors = options.get("executors") or {}
    out = {}
    for name, n in (executors.items() if isinstance(executors, dict) else [(None, executors)]):
        try:
            count = int(n)          # Storm's own example sends some counts as strings
        except (TypeError, ValueError):
            count = 0
        if name is None or not 1 <= count <= 10_000 or isinstance(n, bool):
            raise _ApiError(400, f"executors must map component names to counts from 1 to 10000, "
                                 f"got {executors!r}")
        out[str(name)] = count
    return workers, out


def _kill(source: ClusterSource, view: ClusterView, events: EventLog, handle: Any, wait_s: int) -> None:
    try:
        handle.set_sampling(None, 0, None)
        source.kill(handle.name, wait_s)
    except Exception:
        # The run's own error, re-raised by its wait; nobody waits on this thread.
        log.exception("topology %r ended with an error while being killed from the UI", handle.name)
    finally:
        view.mark_killing(handle.name, False)
        events.forget(handle.name)
