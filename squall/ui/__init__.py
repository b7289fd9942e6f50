"""Squall's UI server: pages, Storm UI's REST API and Prometheus ``/metrics`` for a
LocalCluster, or for any runtime implementing :class:`ClusterSource`.

Needs the ``ui`` extra (``pip install 'squall[ui]'``: fastapi, uvicorn,
prometheus-client); importing this package without it raises
:class:`~squall.extras.MissingExtraError`.

    from squall.runtime.local import LocalCluster
    from squall.ui import serve

    cluster = LocalCluster()
    cluster.submit_topology("wordcount", {}, topology)
    ui = serve(cluster, port=8744, token=os.environ["SQUALL_UI_TOKEN"])
    ...                       # GET ui.url + "/api/v1/topology/summary"
    ui.stop()

The Ray cluster runtime's source is :class:`squall.ui.ray_source.RaySource` (needs
``squall[ray]`` too, so it is not imported here); ``squall ui`` (:mod:`squall.ui.cli`)
serves it for a running cluster.

See ``docs/ui.md`` for the endpoints, fields and how the windows are computed.
"""

from __future__ import annotations

from .app import MAX_KILL_WAIT_SECS, create_app
from .dashboards import Dashboard, DashboardError
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
from .source import ClusterSource, LocalSource, TopologySource
from .views import ALL_TIME, WINDOWS, ClusterView, CounterHistory

__all__ = ["ALL_TIME", "DEFAULT_HOST", "DEFAULT_PORT", "MAX_KILL_WAIT_SECS", "TOKEN_ENV", "WINDOWS",
           "ClusterSource", "ClusterView", "CounterHistory", "Dashboard", "DashboardError", "LocalSource",
           "TopologySource", "UIServer", "UIServerError", "create_app", "resolve_token", "serve",
           "serve_forever"]
