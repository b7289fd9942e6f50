"""The local runtime: workers, executors, the acker, metrics.

Nothing here is imported by the core (``squall.tuple``/``component``/``topology``).
"""

from .local import LocalCluster, RunResult, TopologyHandle, run_topology
from .worker import StopReport, Worker

__all__ = ["LocalCluster", "RunResult", "StopReport", "TopologyHandle", "Worker", "run_topology"]
