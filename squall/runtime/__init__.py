"""The local runtime: workers, executors, the acker, metrics.

One concept per module: ``worker`` (the scheduling loop), ``executor`` (executors,
tasks and their collectors: the per-tuple path), ``routing`` (where emits go),
``acker``, ``checkpoint`` (barriers, rollback, the final checkpoint), ``metrics``
(counters and their per-component roll-up), ``local`` (``LocalCluster``,
``run_topology``), ``errors``.

Nothing here is imported by the core (``squall.tuple``/``component``/``topology``).
"""

from .errors import FieldCountError, InvalidDirectTaskError, NotRunningError, UndeclaredStreamError
from .local import LocalCluster, RunResult, TopologyHandle, run_topology
from .worker import StopReport, Worker

__all__ = ["FieldCountError", "InvalidDirectTaskError", "LocalCluster", "NotRunningError", "RunResult",
           "StopReport", "TopologyHandle", "UndeclaredStreamError", "Worker", "run_topology"]
