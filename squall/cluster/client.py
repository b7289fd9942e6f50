"""The client of the cluster runtime: connect to Ray, submit, watch, kill.

``RayCluster()`` starts Ray in this process (``ray.init``: no set-up, one machine);
``RayCluster(address="HOST:PORT")`` (or ``"auto"``) joins a cluster started with
``ray start --head`` on one machine and ``ray start --address=...`` on the others.
Topologies run on ``topology.workers`` worker processes (``workers=`` overrides).

Example (``topology`` built with a :class:`~squall.topology.TopologyBuilder`)::

    with RayCluster() as cluster:
        handle = cluster.submit_topology("wc", {}, topology, workers=2, until_complete=True)
        handle.wait()
        print(handle.stats()["count"].executed)

Semantics: Storm ``StormSubmitter`` / ``storm jar``, ``storm list``, ``storm kill``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..config import TOPOLOGY_WORKERS
from ..errors import SquallError
from ..extras import MissingExtraError, require
from ..runtime.metrics import ComponentStats, merge_stats
from ..topology import Topology
from .nimbus import NIMBUS_NAME, Nimbus, TopologyNotFoundError

__all__ = ["RayCluster", "ClusterTopologyHandle", "join", "ClusterUnreachableError"]


class ClusterUnreachableError(SquallError):
    """No Ray cluster answers at the address given, or joining it failed."""


def join(address: str) -> RayCluster:
    """A :class:`RayCluster` joined to the cluster at ``address`` (``HOST:PORT``, or
    ``"auto"``: the one started on this machine).

    Raises:
        MissingExtraError: Ray is not installed.
        ClusterUnreachableError: nothing answers there (checked first: ``ray.init`` would
            retry a silent address for a minute), or joining failed.
    """
    import socket

    host, _, port = address.rpartition(":")
    if host and port.isdigit() and "://" not in address:
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as exc:
            raise ClusterUnreachableError(
                f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                f"`ray start --head --port {port}` or give --address HOST:PORT") from None
    try:
        return RayCluster(address)
    except MissingExtraError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ClusterUnreachableError(
            f"cannot join the Ray cluster at {address}: {detail} (start one with `ray start --head`, or "
            f"give --address HOST:PORT or $RAY_ADDRESS)") from exc


class RayCluster:
    """A connection to a Ray cluster running Squall's Nimbus (started on first use).

    Args:
        address: a Ray cluster to join (``ray start``); None starts Ray in this process
            for as long as this object lives.
        namespace: the Ray namespace of Squall's actors.
        num_cpus: CPUs of an in-process Ray (default: the machine's).

    Raises:
        MissingExtraError: Ray is not installed (``pip install 'squall[ray]'``).
    """

    def __init__(self, address: str | None = None, *, namespace: str = "squall",
                 num_cpus: int | None = None) -> None:
        ray = require("ray", "ray")
        self._ray = ray
        self.namespace = namespace
        self._owns_ray = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, namespace=namespace, log_to_driver=False)
            else:
                ray.init(namespace=namespace, include_dashboard=False, log_to_driver=False,
                         num_cpus=num_cpus or os.cpu_count(),
                         runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(_importable_paths())}})
                self._owns_ray = True
        self.nimbus = ray.remote(Nimbus).options(
            name=NIMBUS_NAME, namespace=namespace, get_if_exists=True, lifetime="detached",
            max_restarts=-1, max_task_retries=-1, max_concurrency=32, num_cpus=0).remote(namespace)
        self._submitted: list[str] = []

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def submit_topology(self, name: str, conf: Mapping[str, Any] | None, topology: Topology, *,
                        workers: int | None = None, until_complete: bool = False,
                        state_backend: Callable[[str], Any] | None = None) -> ClusterTopologyHandle:
        """Start ``topology`` as ``name`` on the cluster; returns at once.

        Args:
            workers: worker processes (default ``topology.workers`` of ``conf``, 1).
            until_complete: a bounded run: it ends once every spout is exhausted.
            state_backend: ``partition name -> StateBackend`` for checkpoints: called in
                the worker processes with ``"task-<id>"`` for each task's state and
                ``"worker-<index>"`` for each worker's checkpoint record; it must name
                the same storage for the same partition in every process (a RocksDB
                directory per partition, a Redis key prefix per partition).

        Raises:
            SquallError: the name runs already; the spec cannot be pickled.
        """
        conf = dict(conf or {})
        if workers is not None:
            conf[TOPOLOGY_WORKERS] = workers
        pickle = self._ray.cloudpickle
        try:
            blob = pickle.dumps(topology)
            backend_blob = pickle.dumps(state_backend) if state_backend is not None else None
        except Exception as exc:
            raise SquallError(f"topology {name!r} cannot be shipped to worker processes: {exc} (give "
                              f"components as factories or picklable instances; nothing live)") from exc
        self._ray.get(self.nimbus.submit.remote(name, blob, conf, until_complete, backend_blob))
        self._submitted.append(name)
        return ClusterTopologyHandle(self, name)

    def kill_topology(self, name: str, wait_secs: float | None = None) -> dict[str, Any]:
        summary = self._ray.get(self.nimbus.kill.remote(name, wait_secs or 0.0))
        if name in self._submitted:
            self._submitted.remove(name)
        return summary

    def rebalance(self, name: str, workers: int | None = None,
                  executors: dict[str, int] | None = None) -> dict[str, Any]:
        """Move a running topology to ``workers`` processes and new executor counts
        without killing it; see :meth:`squall.cluster.nimbus.Nimbus.rebalance`. Returns
        its summary (``rebalance_pause_s``: how long its spouts were paused)."""
        return self._ray.get(self.nimbus.rebalance.remote(name, workers, executors))

    def activate(self, name: str) -> None:
        self._ray.get(self.nimbus.activate.remote(name))

    def deactivate(self, name: str) -> None:
        self._ray.get(self.nimbus.deactivate.remote(name))

    def list_topologies(self) -> list[dict[str, Any]]:
        return self._ray.get(self.nimbus.list.remote())

    def get_stats(self, name: str) -> dict[str, ComponentStats]:
        return ClusterTopologyHandle(self, name).stats()

    def shutdown(self) -> None:
        """Kill the topologies this client submitted; stop Ray if this client started it."""
        for name in list(self._submitted):
            try:
                self.kill_topology(name)
            except Exception:       # already gone
                pass
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False


class ClusterTopologyHandle:
    """A topology running on the cluster, as :class:`~squall.runtime.local.TopologyHandle`."""

    def __init__(self, cluster: RayCluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self._ray = cluster._ray
        self._last_stats: dict[str, ComponentStats] = {}
        self._last_summary: dict[str, Any] | None = None
        self._stopping: threading.Thread | None = None

    def workers(self) -> list[Any]:
        """The worker actors now (a rebalance replaces them)."""
        names = self._ray.get(self.cluster.nimbus.worker_names.remote(self.name))
        return [self._ray.get_actor(n, namespace=self.cluster.namespace) for n in names]

    def summary(self) -> dict[str, Any]:
        """Nimbus's summary; after a kill, the last one read (phase ``"killed"``)."""
        try:
            self._last_summary = self._ray.get(self.cluster.nimbus.summary.remote(self.name))
        except TopologyNotFoundError:
            if self._last_summary is None:
                raise
            self._last_summary = {**self._last_summary, "phase": "killed"}
        return self._last_summary

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for a bounded run to end; True if it did.

        Raises:
            SquallError: a worker's loop ended with an error.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            s = self.summary()
            if s["error"]:
                raise SquallError(f"topology {self.name!r} failed: {s['error']}")
            if s["phase"] in ("done", "killed"):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    @property
    def completed(self) -> bool:
        return self.summary()["completed"]

    def stats(self) -> dict[str, ComponentStats]:
        """Every worker's figures merged; after a kill, the last ones read."""
        try:
            self._last_stats = merge_stats(self._ray.get([w.stats.remote() for w in self.workers()]))
        except Exception:
            if not self._last_stats:
                raise
        return self._last_stats

    def checkpoint_stats(self) -> list[Any]:
        """Each worker's :class:`~squall.runtime.checkpoint.CheckpointStats` (None without state)."""
        return self._ray.get([w.checkpoint_stats.remote() for w in self.workers()])

    def statuses(self) -> list[dict[str, Any] | None]:
        return self._ray.get(self.cluster.nimbus.worker_statuses.remote(self.name))

    def stop(self, drain_timeout_s: float | None = None) -> None:
        """Kill the topology, draining up to ``drain_timeout_s`` first; returns at once
        (safe in a signal handler), :meth:`wait` returns once it is gone."""
        if self._stopping is None:
            self._stopping = threading.Thread(target=self.cluster.kill_topology,
                                              args=(self.name, drain_timeout_s), daemon=True)
            self._stopping.start()


def _importable_paths() -> list[str]:
    """This process's import path, so worker processes import what the driver imports
    (a topology's own modules, a test's components)."""
    import sys
    return [p for p in sys.path if p and os.path.isdir(p)]
