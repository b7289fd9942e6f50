"""The UI's :class:`~squall.ui.source.ClusterSource` over the Ray cluster runtime:
:class:`RaySource` wraps a :class:`~squall.cluster.client.RayCluster`.

Roles as Storm UI shows them: Nimbus is the Nimbus actor (its process, its uptime);
each Ray node is a supervisor, with the worker processes (worker actors) placed on it;
a topology's workers are its worker actors, each an OS process.

Figures come from the processes that hold them. Nimbus answers what it keeps (the
topologies, their status, placement and uptime, each worker's heartbeat status); each
worker actor answers for its own tasks: a :class:`~squall.ui.source.WorkerReader` runs
in the worker's process, called through Ray's ``__ray_call__`` (Ray's developer API
for running a function on an actor instance), and sends back plain dataclasses (its
component stats, executors, errors, per-stream transfers, CEP statements, Kafka
partitions). A topology's figures are one such call per worker, in parallel, kept for
``refresh_s`` so that one page load (several reads) costs one round.

Event sampling taps the routes inside each worker (as locally); the sampled tuples
wait in the worker (the last 1,000) until a thread here collects them every half
second. Log levels set from the UI are set in every worker process of the topology
(and, as locally, in this process). Both are also kept in the cluster, beside the
topology's record (:func:`~squall.cluster.records.save_debug`), and a worker applies
them when it starts (:func:`apply_debug_settings`): a worker Ray restarts after a
crash, or a rebalance's new one, samples and logs as the one it replaces did.

So the worker processes import :mod:`squall.ui.source` and :mod:`squall.ui.actions`
(which import nothing of the ``ui`` extra but live in the ``squall.ui`` package,
which does): every node needs ``squall[ui]`` installed, as it needs ``squall[ray]``.

Semantics: Storm Nimbus ``getClusterInfo`` / ``getTopologyInfo`` (what a UI reads from
the master and the supervisors' heartbeats), Storm "Dynamic Log Level Settings",
Storm's event logger.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..cluster.records import load_debug, save_debug
from ..extras import require
from ..runtime.checkpoint import CheckpointStats
from ..runtime.metrics import ComponentStats, merge_stats
from ..topology import Topology
from .source import (
    ErrorRecord,
    ExecutorSummary,
    NimbusSummary,
    PartitionLag,
    RebalanceUnsupportedError,
    SampleSink,
    StatementSummary,
    SupervisorSummary,
    TopologyShape,
    WorkerReader,
    WorkerSummary,
    rules_dir_of,
)

ray = require("ray", "ray")

__all__ = ["RaySource", "RayTopology", "apply_debug_settings"]

_SAMPLES_KEPT = 1000        # per worker, between two collections
_COLLECT_S = 0.5            # how often sampled tuples are collected from the workers
_CALL_TIMEOUT_S = 5.0       # a worker that does not answer in this time (restarting) is skipped
_APPLY_HOOK = f"{__name__}:apply_debug_settings"    # what a starting worker calls with the settings


# -- run inside a worker process (Ray's __ray_call__: fn(actor instance, *args)) ----------------

_reader_lock = threading.Lock()


def _reader(actor: Any) -> WorkerReader:
    """The worker's reader, made on first use and kept on the actor instance (its taps
    must outlive one call; a restarted worker is a new instance, with no taps)."""
    with _reader_lock:
        reader = getattr(actor, "_squall_ui_reader", None)
        if reader is None:
            context = ray.get_runtime_context()
            reader = WorkerReader(actor.worker, actor.index, ray.util.get_node_ip_address(), None,
                                  context.get_node_id())
            reader.samples = deque(maxlen=_SAMPLES_KEPT)
            reader.log_levels = None
            actor._squall_ui_reader = reader
        return reader


def _worker_snapshot(actor: Any) -> dict[str, Any]:
    reader = _reader(actor)
    return {"stats": actor.worker.stats(), "executors": reader.executors(),
            "streams": reader.stream_transferred(), "errors": reader.errors(),
            "summary": reader.summary(os.getpid()), "active": reader.active(),
            "checkpoints": actor.worker.checkpoint_stats}


def _worker_spec(actor: Any) -> tuple[Topology, dict[str, Any]]:
    return actor.worker.topology, dict(actor.worker.conf)


def _worker_read(actor: Any, what: str, *args: Any) -> Any:
    return getattr(_reader(actor), what)(*args)


def _worker_sampling(actor: Any, component: str | None, pct: float) -> None:
    reader = _reader(actor)
    samples = reader.samples

    def keep(comp: str, task: int, stream: str, values: list) -> None:
        samples.append((comp, task, stream, list(values)))
    reader.set_sampling(component, pct, keep if pct > 0 else None)


def _worker_take_samples(actor: Any) -> list[tuple[str, int, str, list]]:
    samples = _reader(actor).samples
    out = []
    while samples:
        out.append(samples.popleft())
    return out


def _worker_log_level(actor: Any, logger: str, target_level: str | None, timeout_s: int) -> None:
    from .actions import LogLevels

    reader = _reader(actor)
    with _reader_lock:
        if reader.log_levels is None:
            reader.log_levels = LogLevels()
    reader.log_levels.set(logger, target_level, timeout_s)


def apply_debug_settings(actor: Any, settings: Mapping[str, Any]) -> None:
    """Apply a topology's kept debug settings (:data:`~squall.cluster.records.DebugSettings`)
    to a starting worker actor: its sampling, in the order it was set, and each log
    level for what is left of its timeout (an expired one is skipped).

    Runs in the worker's process, once its tasks are built (their routes are tapped).
    """
    for component, pct in settings.get("sampling", ()):
        _worker_sampling(actor, component, pct)
    now = time.time()
    for logger, (level, expires_s) in settings.get("log_levels", {}).items():
        if expires_s and expires_s <= now:
            continue
        _worker_log_level(actor, logger, level, math.ceil(expires_s - now) if expires_s else 0)


def _sampling_after(entries: list[list[Any]], component: str | None, pct: float) -> list[list[Any]]:
    """The kept sampling entries once ``component`` (None: all) is set to ``pct`` (0: off),
    applied in order from no tap: a setting for all replaces every entry; a component's
    replaces its own, and its 0 is kept only to undo an earlier setting for all."""
    if component is None:
        return [[None, pct]] if pct > 0 else []
    out = [e for e in entries if e[0] != component]
    if pct > 0 or any(e[0] is None for e in out):
        out.append([component, pct])
    return out


def _actor_node(actor: Any) -> tuple[str, str, int]:
    return ray.get_runtime_context().get_node_id(), ray.util.get_node_ip_address(), os.getpid()


# -- this process ------------------------------------------------------------------------------------


def _call_all(actors: list[Any], fn: Any, *args: Any, timeout_s: float = _CALL_TIMEOUT_S) -> list[Any]:
    """``fn(actor instance, *args)`` on every actor at once; None for one that did not
    answer in ``timeout_s`` or is dead (restarting: Ray starts it again).

    Raises:
        RayTaskError: ``fn`` raised in an actor (its exception, wrapped by Ray).
    """
    refs = [a.__ray_call__.remote(fn, *args) for a in actors]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    done = set(ready)
    out = []
    for ref in refs:
        if ref not in done:
            out.append(None)
            continue
        try:
            out.append(ray.get(ref))
        except ray.exceptions.RayActorError:    # died or restarting; an error of fn itself propagates
            out.append(None)
    return out


class RayTopology:
    """:class:`~squall.ui.source.TopologySource` over one topology of the Ray cluster.

    Args:
        source: the :class:`RaySource` it belongs to.
        name: the topology's name.
        refresh_s: how long one round of worker figures is reused (seconds).
    """

    def __init__(self, source: RaySource, name: str, refresh_s: float) -> None:
        from ..cluster.client import ClusterTopologyHandle

        self.source = source
        self.name = name
        self.handle = ClusterTopologyHandle(source.cluster, name)
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._spec: tuple[Topology, dict[str, Any]] | None = None
        self._shape: TopologyShape | None = None
        self._summary: dict[str, Any] = {}
        self._summary_at = float("-inf")
        self._snapshots: list[dict[str, Any] | None] = []
        self._snapshot_at = float("-inf")
        self._sink: SampleSink | None = None
        self._sampled: set[str | None] = set()      # components sampled (None: all of them)
        self._collector: threading.Thread | None = None

    # -- what Nimbus keeps ---------------------------------------------------------------------

    def nimbus_summary(self) -> dict[str, Any]:
        with self._lock:
            if time.monotonic() - self._summary_at >= self._refresh_s:
                self._summary = self.handle.summary()
                self._summary_at = time.monotonic()
            return self._summary

    def _spec_of(self) -> tuple[Topology, dict[str, Any]]:
        if self._spec is None:
            for spec in _call_all(self.handle.workers(), _worker_spec):
                if spec is not None:
                    self._spec = spec
                    break
            else:
                raise RuntimeError(f"no worker of topology {self.name!r} answered: they are starting "
                                   f"or restarting; try again")
        return self._spec

    @property
    def topology(self) -> Topology:
        return self._spec_of()[0]

    @property
    def shape(self) -> TopologyShape:
        if self._shape is None:
            self._shape = TopologyShape.of(self.topology)
        return self._shape

    @property
    def conf(self) -> Mapping[str, Any]:
        return self._spec_of()[1]

    @property
    def running(self) -> bool:
        return self.nimbus_summary()["phase"] not in ("done", "killed")

    def active(self) -> bool:
        return self.nimbus_summary()["status"] == "ACTIVE"

    def uptime_s(self) -> float:
        return self.nimbus_summary()["uptime_s"]

    # -- what the workers keep ------------------------------------------------------------------

    def _rounds(self) -> list[dict[str, Any]]:
        """Every worker's snapshot (at most ``refresh_s`` old); a worker that did not
        answer this round keeps its last one."""
        with self._lock:
            if time.monotonic() - self._snapshot_at >= self._refresh_s:
                fresh = _call_all(self.handle.workers(), _worker_snapshot)
                old = self._snapshots + [None] * (len(fresh) - len(self._snapshots))
                self._snapshots = [f if f is not None else o for f, o in zip(fresh, old)]
                self._snapshot_at = time.monotonic()
            return [s for s in self._snapshots if s is not None]

    def forget(self) -> None:
        """Drop the cached round: after an action, the next read must show its effect."""
        with self._lock:
            self._summary_at = self._snapshot_at = float("-inf")

    def stats(self) -> dict[str, ComponentStats]:
        return merge_stats([s["stats"] for s in self._rounds()])

    def executors(self) -> list[ExecutorSummary]:
        return [ex for s in self._rounds() for ex in s["executors"]]

    def stream_transferred(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for s in self._rounds():
            for component, streams in s["streams"].items():
                mine = out.setdefault(component, {})
                for stream, n in streams.items():
                    mine[stream] = mine.get(stream, 0) + n
        return out

    def errors(self) -> dict[str, list[ErrorRecord]]:
        out: dict[str, list[ErrorRecord]] = {}
        for s in self._rounds():
            for component, errors in s["errors"].items():
                out.setdefault(component, []).extend(errors)
        for errors in out.values():
            errors.sort(key=lambda e: e.time_s)
        return out

    def workers(self) -> list[WorkerSummary]:
        return [s["summary"] for s in self._rounds()]

    def checkpoint_stats(self) -> list[CheckpointStats]:
        return [s["checkpoints"] for s in self._rounds() if s["checkpoints"] is not None]

    def statements(self) -> list[StatementSummary]:
        return [st for part in _call_all(self.handle.workers(), _worker_read, "statements") if part
                for st in part]

    def rules_dir(self, component: str) -> str:
        return rules_dir_of(self.topology, self.name, component)

    def event_types(self, component: str) -> dict[str, dict[str, type]]:
        for types in _call_all(self.handle.workers(), _worker_read, "event_types", component):
            if types:
                return types
        return {}

    def apply_rules(self, component: str, text: str) -> dict[str, Any]:
        from .actions import apply_rules_to

        return apply_rules_to(self, component, text)

    def kafka_lag(self) -> dict[str, list[PartitionLag]]:
        out: dict[str, list[PartitionLag]] = {}
        for part in _call_all(self.handle.workers(), _worker_read, "kafka_lag"):
            for component, partitions in (part or {}).items():
                out.setdefault(component, []).extend(partitions)
        return out

    # -- actions inside the workers -----------------------------------------------------------

    def set_sampling(self, component: str | None, pct: float, sink: SampleSink | None) -> None:
        """Tap the routes in every worker; a thread here collects the sampled tuples into
        ``sink`` every half second until sampling is turned off for the whole topology."""
        on = sink is not None and pct > 0
        # Kept first: a worker that restarts meanwhile reads the new setting at its start.
        settings = load_debug(self.name)
        settings["sampling"] = _sampling_after(settings["sampling"], component, pct if on else 0.0)
        save_debug(self.name, {**settings, "apply": _APPLY_HOOK})
        _call_all(self.handle.workers(), _worker_sampling, component, pct if on else 0.0)
        with self._lock:
            if on:
                self._sampled.add(component)
                self._sink = sink
                if self._collector is None or not self._collector.is_alive():
                    self._collector = threading.Thread(target=self._collect, name=f"squall-ui-samples-{self.name}",
                                                       daemon=True)
                    self._collector.start()
            else:
                if component is None:
                    self._sampled.clear()
                else:
                    self._sampled.discard(component)
                if not self._sampled:
                    self._sink = None      # the collector takes what is left, then ends

    def _collect(self) -> None:
        # Ends with Ray too: a call after ray.shutdown() would start a new Ray in this
        # process (ray's auto-init), under whatever runs here next.
        while ray.is_initialized():
            with self._lock:
                sink = self._sink
            batches = _call_all(self.handle.workers(), _worker_take_samples)
            if None in batches and self.name not in {r["name"] for r in self.source.cluster.list_topologies()}:
                return                      # killed from elsewhere: nothing more to collect
            for batch in batches:
                for component, task, stream, values in batch or ():
                    if sink is not None:
                        sink(component, task, stream, values)
            if sink is None:
                return
            time.sleep(_COLLECT_S)

    def set_log_level(self, logger: str, target_level: str | None, timeout_s: int) -> None:
        """Set ``logger`` in every worker process of the topology (checked by the caller),
        and keep it (until its timeout) for workers that start later."""
        settings = load_debug(self.name)
        if target_level is None:
            settings["log_levels"].pop(logger, None)
        else:
            settings["log_levels"][logger] = [target_level, time.time() + timeout_s if timeout_s else 0]
        save_debug(self.name, {**settings, "apply": _APPLY_HOOK})
        _call_all(self.handle.workers(), _worker_log_level, logger, target_level, timeout_s)


class RaySource:
    """:class:`~squall.ui.source.ClusterSource` over a :class:`~squall.cluster.client.RayCluster`.

    Args:
        cluster: the connected cluster (``RayCluster(address)``, or one started in this process).
        refresh_s: how long figures read from the workers and Nimbus are reused (seconds).

    For example (joins the cluster ``ray start`` started on this machine)::

        from squall.cluster import RayCluster
        from squall.ui import serve
        from squall.ui.ray_source import RaySource

        ui = serve(RaySource(RayCluster("auto")), token=os.environ["SQUALL_UI_TOKEN"])
    """

    def __init__(self, cluster: Any, refresh_s: float = 0.25) -> None:
        self.cluster = cluster
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._topologies: dict[str, RayTopology] = {}
        self._uptimes: dict[str, float] = {}
        self._nimbus_node: tuple[int, tuple[str, str, int]] | None = None    # (pid, node) cache

    # -- Nimbus and supervisors ------------------------------------------------------------------

    def _ping(self) -> dict[str, Any]:
        return ray.get(self.cluster.nimbus.ping.remote(), timeout=_CALL_TIMEOUT_S)

    @property
    def started_at(self) -> float:
        """``time.monotonic()`` at Nimbus's start (a restarted Nimbus has a new one)."""
        return time.monotonic() - (time.time() - self._ping()["started"])

    def nimbus(self) -> NimbusSummary:
        ping = self._ping()
        cached = self._nimbus_node
        if cached is None or cached[0] != ping["pid"]:
            node = ray.get(self.cluster.nimbus.__ray_call__.remote(_actor_node), timeout=_CALL_TIMEOUT_S)
            cached = self._nimbus_node = (ping["pid"], node)
        _, host, pid = cached[1]
        return NimbusSummary(host, None, pid, time.time() - ping["started"])

    def supervisors(self) -> list[SupervisorSummary]:
        """The live Ray nodes, each with the worker processes of every topology on it.
        Ray does not say when a node started: a node's uptime is that of the oldest
        Squall process on it (Nimbus or a worker), 0 for a node without any."""
        nimbus = self.nimbus()              # also finds Nimbus's node
        nimbus_node = self._nimbus_node[1][0]
        on_node: dict[str, list[tuple[str, int, int]]] = {}
        uptimes = {nimbus_node: nimbus.uptime_s}
        for name, topo in sorted(self.topologies().items()):
            for w in topo.workers():
                on_node.setdefault(w.supervisor, []).append((name, w.index, w.pid))
                uptimes[w.supervisor] = max(uptimes.get(w.supervisor, 0.0), w.uptime_s)
        out = []
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            node_id = node["NodeID"]
            resources = node.get("Resources", {})
            out.append(SupervisorSummary(
                node_id, node.get("NodeManagerAddress", ""), uptimes.get(node_id, 0.0),
                float(resources.get("CPU", 0.0)) * 100.0, round(resources.get("memory", 0.0) / 2**20, 1),
                tuple(on_node.get(node_id, ()))))
        return out

    # -- topologies ----------------------------------------------------------------------------

    def topologies(self) -> dict[str, RayTopology]:
        listed = {r["name"]: r for r in self.cluster.list_topologies()}
        with self._lock:
            out = {}
            for name, record in listed.items():
                wrapped = self._topologies.get(name)
                # A run younger than what was seen of this name is a new run: new workers.
                if wrapped is None or record["uptime_s"] < self._uptimes.get(name, 0.0):
                    wrapped = RayTopology(self, name, self.refresh_s)
                self._uptimes[name] = record["uptime_s"]
                out[name] = wrapped
            self._topologies = out
            self._uptimes = {n: u for n, u in self._uptimes.items() if n in out}
            return out

    # -- actions --------------------------------------------------------------------------------

    def _forget(self, name: str) -> None:
        wrapped = self._topologies.get(name)
        if wrapped is not None:
            wrapped.forget()

    def activate(self, name: str) -> None:
        self.cluster.activate(name)
        self._forget(name)

    def deactivate(self, name: str) -> None:
        self.cluster.deactivate(name)
        self._forget(name)

    def kill(self, name: str, wait_s: float) -> None:
        self.cluster.kill_topology(name, wait_s or None)

    def rebalance(self, name: str, wait_s: float, num_workers: int | None,
                  executors: Mapping[str, int]) -> None:
        """Storm's rebalance through the cluster runtime's, where it has one.

        Raises:
            RebalanceUnsupportedError: this cluster runtime cannot rebalance yet.
        """
        rebalance = getattr(self.cluster, "rebalance", None)
        if rebalance is None:
            raise RebalanceUnsupportedError(
                f"topology {name!r}: the cluster runtime cannot change a running topology's workers "
                f"or executors yet (squall.cluster has no rebalance); kill it and submit it again "
                f"with the new parallelism")
        rebalance(name, workers=num_workers, executors=dict(executors) or None)
        self._forget(name)
