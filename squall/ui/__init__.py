"""Squall's UI server: Storm UI's REST API and Prometheus ``/metrics`` for a LocalCluster.

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

See ``docs/ui.md`` for the endpoints, fields and how the windows are computed.
"""

from __future__ import annotations

from .app import MAX_KILL_WAIT_SECS, create_app
from .server import DEFAULT_HOST, DEFAULT_PORT, UIServer, UIServerError, serve
from .views import ALL_TIME, WINDOWS, ClusterView, CounterHistory

__all__ = ["serve", "UIServer", "UIServerError", "create_app", "ClusterView", "CounterHistory",
           "WINDOWS", "ALL_TIME", "DEFAULT_HOST", "DEFAULT_PORT", "MAX_KILL_WAIT_SECS"]
