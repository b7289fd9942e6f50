"""What the REST API answers, built from a :class:`~squall.ui.source.ClusterSource`
(a :class:`~squall.runtime.local.LocalCluster` through :class:`~squall.ui.source.LocalSource`).

Plain dictionaries with Storm UI's field names; no web framework here, so the figures
can be checked without a server. Squall's additions sit under keys of their own
(``checkpoints``, ``rules``, ``squall``), so scripts written for Storm UI read the rest
unchanged.

Ids: a topology's id is its name (names are unique in a cluster; Storm appends a
counter and a timestamp, ``wordcount-1-1402960825``, which scripts only pass back).

Windows (``600``, ``10800``, ``86400``, ``:all-time``): the runtime keeps cumulative
counters only, so :class:`CounterHistory` samples them (every ``sample_s`` seconds, by
the server's sampler thread and on each request) and a window's figure is the counter
now minus its value in the latest sample taken at least that long ago; a topology
younger than the window (or with no sample that old) reports its all-time figure, as
Storm does. So a window's count covers between ``W`` and ``W + sample_s`` seconds.
Latencies and capacity are not windowed: every window reports the run's mean latency
and the last capacity window (the runtime keeps means, not per-interval sums).

Checkpoints (Flink's checkpoint panel): the runtime keeps counts and sums; the view
notices each new completed or failed checkpoint when it reads them (every request and
every sample), so "last completed" carries the time it was first seen and the mean
duration of the checkpoints completed since the previous read (one checkpoint when read
often enough, as the pages do every second).

Semantics: Storm ``STORM-UI-REST-API.md`` (``/api/v1/cluster/summary``,
``/nimbus/summary``, ``/supervisor/summary``, ``/topology/summary``, ``/topology/:id``,
``/topology/:id/component/:component``), Storm UI's ``UIHelpers.getVisualizationData``
(``/topology/:id/visualization``) and ``TopologySpoutLag`` (``/topology/:id/lag``);
Flink "Monitoring Checkpointing" (the checkpoint panel's figures).
"""

from __future__ import annotations

import re
import threading
import time
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..config import MESSAGE_TIMEOUT_SECS
from ..runtime.checkpoint import CheckpointStats
from ..runtime.local import LocalCluster
from ..runtime.metrics import ComponentStats
from .source import ClusterSource, ExecutorSummary, LocalSource, TopologySource

__all__ = [
    "ALL_TIME",
    "WINDOWS",
    "ClusterView",
    "CounterHistory",
    "UnknownComponentError",
    "UnknownTopologyError",
    "as_source",
    "pretty_duration",
]

ALL_TIME = ":all-time"
WINDOWS: tuple[str, ...] = ("600", "10800", "86400", ALL_TIME)
"""The windows Storm UI shows, in seconds, and all time."""

_COUNTERS = ("emitted", "transferred", "acked", "failed", "executed")
_FAILED_TXID = re.compile(r"checkpoint (\d+) failed")


class UnknownTopologyError(LookupError):
    """No topology of that id runs on the cluster the UI watches (HTTP 404)."""


class UnknownComponentError(LookupError):
    """The topology has no component of that id (HTTP 404)."""


def pretty_duration(seconds: float) -> str:
    """Storm UI's duration text: ``"10m 0s"``, ``"3h 0m 0s"``, ``"1d 0h 0m 0s"``.

    >>> pretty_duration(600), pretty_duration(10800), pretty_duration(86400), pretty_duration(7)
    ('10m 0s', '3h 0m 0s', '1d 0h 0m 0s', '7s')
    """
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h {minutes}m {s}s"
    if hours:
        return f"{hours}h {minutes}m {s}s"
    if minutes:
        return f"{minutes}m {s}s"
    return f"{s}s"


def _window_pretty(window: str) -> str:
    return "All time" if window == ALL_TIME else pretty_duration(int(window))


def _ms(value: float | None) -> str:
    # Storm sends latencies and capacity as strings with three decimals.
    return f"{value or 0.0:.3f}"


@dataclass(frozen=True)
class _Sample:
    at: float                                       # time.monotonic()
    counters: dict[str, tuple[int, ...]]            # component -> _COUNTERS values


class CounterHistory:
    """Samples of each topology's cumulative counters, for the windowed figures.

    Args:
        sample_s: the least time between two samples of a topology (seconds).
        keep_s: how far back samples are kept (the longest window, seconds).
    """

    def __init__(self, sample_s: float = 10.0, keep_s: float = 86400.0) -> None:
        self.sample_s = sample_s
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._samples: dict[str, list[_Sample]] = {}

    def record(self, topology: str, stats: dict[str, ComponentStats], now: float) -> None:
        """Keep ``stats`` as the sample at ``now`` unless the last one is younger than ``sample_s``."""
        counters = {name: tuple(getattr(st, c) for c in _COUNTERS) for name, st in stats.items()}
        with self._lock:
            samples = self._samples.setdefault(topology, [])
            if samples and now - samples[-1].at < self.sample_s:
                return
            samples.append(_Sample(now, counters))
            # One sample older than keep_s stays: it is the base of the longest window.
            cut = bisect_right([s.at for s in samples], now - self.keep_s) - 1
            if cut > 0:
                del samples[:cut]

    def base(self, topology: str, window_s: float, now: float) -> dict[str, tuple[int, ...]] | None:
        """The counters of the latest sample taken at least ``window_s`` before ``now``;
        None when there is none (the window then covers the whole run)."""
        with self._lock:
            samples = self._samples.get(topology, [])
            i = bisect_right([s.at for s in samples], now - window_s) - 1
            return samples[i].counters if i >= 0 else None

    def forget(self, topology: str) -> None:
        with self._lock:
            self._samples.pop(topology, None)


def as_source(cluster: LocalCluster | ClusterSource) -> ClusterSource:
    """The :class:`ClusterSource` of ``cluster``: a LocalCluster is read through a
    :class:`LocalSource`; anything else is taken to implement the protocol."""
    return LocalSource(cluster) if isinstance(cluster, LocalCluster) else cluster


@dataclass
class _CheckpointSeen:
    """What the view last read of a topology's failed checkpoints (the runtime counts
    them and keeps their errors; the view times each new one when it first sees it)."""

    failed: int
    errors: int
    last_failed: dict[str, Any] | None


class ClusterView:
    """Storm UI's answers about the topologies of one cluster.

    Args:
        cluster: a :class:`LocalCluster`, or any :class:`~squall.ui.source.ClusterSource`.
        history: where windowed figures come from (a new one with 10 s samples by default).

    Thread-safe for reads: the sources' figures are safe to read while topologies run.
    """

    def __init__(self, cluster: LocalCluster | ClusterSource, history: CounterHistory | None = None) -> None:
        self.source = as_source(cluster)
        self.history = history or CounterHistory()
        self._killing: set[str] = set()
        self._debug: dict[str, dict[str | None, float]] = {}      # topology -> component|None -> pct
        self._checkpoints: dict[str, _CheckpointSeen] = {}
        self._lock = threading.Lock()

    # -- topologies -----------------------------------------------------------------

    def handles(self) -> dict[str, TopologySource]:
        return self.source.topologies()

    def handle(self, topology_id: str) -> TopologySource:
        topologies = self.handles()
        handle = topologies.get(topology_id)
        if handle is None:
            raise UnknownTopologyError(f"no topology with id {topology_id!r} runs here "
                                       f"(running: {sorted(topologies)})")
        return handle

    def status(self, handle: TopologySource) -> str:
        """``KILLED`` from a kill request until the run ends, ``ACTIVE`` while its spouts
        run, ``INACTIVE`` when deactivated (or still opening)."""
        with self._lock:
            if handle.name in self._killing or not handle.running:
                return "KILLED"
        return "ACTIVE" if handle.active() else "INACTIVE"

    def mark_killing(self, topology_id: str, killing: bool) -> None:
        with self._lock:
            (self._killing.add if killing else self._killing.discard)(topology_id)
            if not killing:
                self._debug.pop(topology_id, None)
                self._checkpoints.pop(topology_id, None)
        if not killing:
            self.history.forget(topology_id)

    def set_debug(self, topology_id: str, component: str | None, pct: float | None) -> None:
        """Record event sampling at ``pct`` percent for ``component`` (None: the whole
        topology); ``pct`` None records that it was turned off."""
        with self._lock:
            debug = self._debug.setdefault(topology_id, {})
            if pct is None:
                if component is None:
                    debug.clear()
                else:
                    debug.pop(component, None)
            else:
                if component is None:
                    debug.clear()
                debug[component] = pct

    def debug(self, topology_id: str, component: str | None = None) -> tuple[bool, float]:
        """``(debug, samplingPct)`` as Storm reports them for the topology or a component
        (a component samples when it or its topology does; Storm's default pct is 10)."""
        with self._lock:
            debug = self._debug.get(topology_id, {})
            for key in ((component, None) if component is not None else (None,)):
                if key in debug:
                    return True, debug[key]
        return False, 10

    def sampling(self, topology_id: str) -> dict[str, float]:
        """The sampling in force: component (``*``: the whole topology) -> percent."""
        with self._lock:
            return {"*" if c is None else c: pct for c, pct in self._debug.get(topology_id, {}).items()}

    def sample(self) -> None:
        """Record every topology's counters in the history (the sampler thread's turn)."""
        now = time.monotonic()
        for name, handle in self.handles().items():
            self.history.record(name, handle.stats(), now)
            self.checkpoints(handle)

    # -- /api/v1/cluster/summary, /nimbus/summary, /supervisor/summary --------------------

    def cluster_summary(self) -> dict[str, Any]:
        handles = self.handles().values()
        executors = sum(len(h.executors()) for h in handles)
        tasks = sum(len(h.shape.component_of_task()) for h in handles)
        workers = sum(len(h.workers()) for h in handles)
        uptime = self.source.nimbus().uptime_s
        # No fixed slots: a worker process is started per worker, so every slot is used.
        return {"stormVersion": f"squall {__version__}", "supervisors": len(self.source.supervisors()),
                "topologies": len(handles), "slotsTotal": workers, "slotsUsed": workers,
                "slotsFree": 0, "executorsTotal": executors, "tasksTotal": tasks,
                "schedulerDisplayResource": False,
                "nimbusUptime": pretty_duration(uptime), "nimbusUptimeSeconds": int(uptime)}

    def nimbus_summary(self) -> dict[str, Any]:
        n = self.source.nimbus()
        # One master, the leader; Squall's `pid` is its process.
        return {"nimbuses": [{"host": n.host, "port": n.port, "status": "Leader",
                              "version": f"squall {__version__}", "nimbusUpTime": pretty_duration(n.uptime_s),
                              "nimbusUpTimeSeconds": int(n.uptime_s), "nimbusLogLink": "", "pid": n.pid}]}

    def supervisor_summary(self) -> dict[str, Any]:
        out = []
        for s in self.source.supervisors():
            used = len(s.workers)
            out.append({"id": s.id, "host": s.host, "uptime": pretty_duration(s.uptime_s),
                        "uptimeSeconds": int(s.uptime_s), "slotsTotal": used, "slotsUsed": used,
                        "totalMem": s.total_mem_mb, "totalCpu": s.total_cpu, "usedMem": 0.0, "usedCpu": 0.0,
                        "version": f"squall {__version__}", "pid": s.pid,
                        # Squall's: the worker processes on this machine.
                        "workers": [{"topologyId": t, "worker": i, "pid": pid} for t, i, pid in s.workers]})
        return {"supervisors": out, "schedulerDisplayResource": False}

    # -- /api/v1/topology/summary -------------------------------------------------------

    def _basics(self, handle: TopologySource) -> dict[str, Any]:
        uptime = handle.uptime_s()
        return {"id": handle.name, "name": handle.name, "status": self.status(handle),
                "uptime": pretty_duration(uptime), "uptimeSeconds": int(uptime),
                "tasksTotal": len(handle.shape.component_of_task()),
                "workersTotal": len(handle.workers()),
                "executorsTotal": len(handle.executors()), "replicationCount": 1}

    def topology_summary(self) -> dict[str, Any]:
        return {"topologies": [self._basics(h) for _, h in sorted(self.handles().items())],
                "schedulerDisplayResource": False}

    # -- /api/v1/topology/:id -------------------------------------------------------------

    def _windowed(self, topology_id: str, stats: dict[str, ComponentStats],
                  window: str, now: float) -> dict[str, dict[str, int]]:
        """Per component: the counters over ``window`` (see the module's docstring)."""
        base = None if window == ALL_TIME else self.history.base(topology_id, float(window), now)
        out = {}
        for name, st in stats.items():
            then = (base or {}).get(name, (0,) * len(_COUNTERS))
            out[name] = {c: getattr(st, c) - then[i] for i, c in enumerate(_COUNTERS)}
        return out

    def _read(self, handle: TopologySource) -> tuple[dict[str, ComponentStats], float]:
        stats = handle.stats()
        now = time.monotonic()
        self.history.record(handle.name, stats, now)
        return stats, now

    def topology(self, topology_id: str, window: str = ALL_TIME) -> dict[str, Any]:
        handle = self.handle(topology_id)
        stats, now = self._read(handle)
        errors = handle.errors()
        topology_stats = []
        spout_names = [n for n, st in stats.items() if st.kind == "spout"]
        for w in WINDOWS:
            counts = self._windowed(topology_id, stats, w, now)
            topology_stats.append({
                "windowPretty": _window_pretty(w), "window": w,
                "emitted": sum(c["emitted"] for c in counts.values()),
                "transferred": sum(c["transferred"] for c in counts.values()),
                "completeLatency": _ms(_mean([stats[n] for n in spout_names])),
                "acked": sum(counts[n]["acked"] for n in spout_names),
                "failed": sum(counts[n]["failed"] for n in spout_names)})
        counts = self._windowed(topology_id, stats, window, now)
        epoch = time.time()
        spouts, bolts = [], []
        for name in handle.shape.topological_order():
            st = stats.get(name)
            if st is None:
                continue
            row = {"executors": st.executors, "tasks": st.tasks, **counts[name],
                   **_last_error(errors.get(name, []), epoch)}
            if st.kind == "spout":
                del row["executed"]
                spouts.append({"spoutId": name, "encodedSpoutId": name,
                               "completeLatency": _ms(st.complete_latency_ms), **row})
            else:
                bolts.append({"boltId": name, "encodedBoltId": name, "capacity": _ms(st.capacity),
                              "executeLatency": _ms(st.execute_latency_ms),
                              "processLatency": _ms(st.process_latency_ms), **row})
        debug, pct = self.debug(topology_id)
        return {**self._basics(handle), "msgTimeout": handle.conf[MESSAGE_TIMEOUT_SECS],
                "window": window, "windowHint": _window_pretty(window),
                "schedulerDisplayResource": False, "debug": debug, "samplingPct": pct,
                "topologyStats": topology_stats, "spouts": spouts, "bolts": bolts,
                "workers": [self._worker(handle, w) for w in handle.workers()],
                "checkpoints": self.checkpoints(handle)}

    def _worker(self, handle: TopologySource, w: Any) -> dict[str, Any]:
        return {"supervisorId": w.supervisor, "host": w.host, "port": w.port, "pid": w.pid, "worker": w.index,
                "topologyId": handle.name, "topologyName": handle.name,
                "executorsTotal": w.executors, "componentNumTasks": dict(w.component_tasks),
                "uptime": pretty_duration(w.uptime_s), "uptimeSeconds": int(w.uptime_s),
                "workerLogLink": ""}

    # -- /api/v1/topology/:id/component/:component ------------------------------------------

    def component(self, topology_id: str, component: str, window: str = ALL_TIME) -> dict[str, Any]:
        handle = self.handle(topology_id)
        stats, now = self._read(handle)
        st = stats.get(component)
        if st is None:
            raise UnknownComponentError(f"topology {topology_id!r} has no component {component!r} "
                                        f"(components: {sorted(stats)})")
        epoch = time.time()
        basics = self._basics(handle)
        summary = []
        for w in WINDOWS:
            c = self._windowed(topology_id, {component: st}, w, now)[component]
            row = {"windowPretty": _window_pretty(w), "window": w, "emitted": c["emitted"],
                   "transferred": c["transferred"], "acked": c["acked"], "failed": c["failed"]}
            if st.kind == "spout":
                row["completeLatency"] = _ms(st.complete_latency_ms)
            else:
                row.update(executed=c["executed"], executeLatency=_ms(st.execute_latency_ms),
                           processLatency=_ms(st.process_latency_ms))
            summary.append(row)
        executors = [ex for ex in handle.executors() if ex.component == component]
        transferred = handle.stream_transferred().get(component, {})
        debug, pct = self.debug(topology_id, component)
        out = {"id": component, "encodedId": component, "name": handle.name,
               "topologyId": handle.name, "encodedTopologyId": handle.name,
               "topologyStatus": basics["status"], "componentType": st.kind,
               "executors": st.executors, "tasks": st.tasks,
               "window": window, "windowHint": _window_pretty(window),
               "schedulerDisplayResource": False, "debug": debug, "samplingPct": pct,
               "eventLogLink": f"/events.html?id={handle.name}",
               "profilingAndDebuggingCapable": False, "profileActionEnabled": False,
               "profilerActive": [],
               "componentErrors": [
                   # Storm's component page gives this time in milliseconds.
                   {"errorTime": int(e.time_s * 1000), "errorHost": e.host, "errorPort": e.port,
                    "errorWorkerLogLink": "", "errorLapsedSecs": int(epoch - e.time_s), "error": e.text,
                    "errorTask": e.task, "errorWorker": e.worker}
                   for e in handle.errors().get(component, [])],
               "outputStats": [{"stream": s, "emitted": n, "transferred": transferred.get(s, 0)}
                               for s, n in sorted(st.emitted_by_stream.items())],
               "executorStats": [_executor_row(ex, st.kind) for ex in executors]}
        out["spoutSummary" if st.kind == "spout" else "boltStats"] = summary
        return out

    # -- /api/v1/topology/:id/visualization -------------------------------------------------

    def visualization(self, topology_id: str, window: str = ALL_TIME) -> dict[str, Any]:
        """Storm UI's graph data: per component its type, capacity, latency, tuples
        transferred per output stream over ``window``, executors and inputs (the edges).

        Squall adds ``:emitted`` (per stream, all time: the page turns two polls into
        live rates), ``:executors`` and ``:tasks``.
        """
        handle = self.handle(topology_id)
        stats, now = self._read(handle)
        transferred = handle.stream_transferred()
        base = None if window == ALL_TIME else self.history.base(topology_id, float(window), now)
        by_component: dict[str, list[ExecutorSummary]] = {}
        for ex in handle.executors():
            by_component.setdefault(ex.component, []).append(ex)
        out: dict[str, Any] = {}
        for name in handle.shape.topological_order():
            spec = handle.shape.components[name]
            st = stats.get(name)
            if st is None:
                continue
            streams = transferred.get(name, {})
            if base is not None:
                # Windowed per stream: the component's transferred over the window, split
                # as its all-time streams are (the history keeps totals per component).
                total = sum(streams.values())
                then = base.get(name, (0,) * len(_COUNTERS))[_COUNTERS.index("transferred")]
                share = (total - then) / total if total else 0.0
                streams = {s: round(n * share) for s, n in streams.items()}
            out[name] = {
                ":type": "spout" if spec.is_spout else "bolt",
                ":capacity": 0 if spec.is_spout else round(st.capacity or 0.0, 3),
                ":latency": _ms(st.complete_latency_ms if spec.is_spout else st.process_latency_ms),
                ":transferred": dict(sorted(streams.items())),
                ":stats": [{":host": ex.host, ":port": ex.port, ":uptime_secs": int(ex.uptime_s),
                            ":transferred": None} for ex in by_component.get(name, [])],
                ":link": f"/component.html?topology={handle.name}&id={name}",
                ":inputs": [{":component": sub.source.component, ":stream": sub.source.stream,
                             ":sani-stream": sanitize_stream_name(sub.source.stream),
                             ":grouping": sub.grouping} for sub in spec.inputs],
                ":emitted": dict(sorted(st.emitted_by_stream.items())),
                ":executors": st.executors, ":tasks": st.tasks,
            }
        return out

    # -- /api/v1/topology/:id/lag -------------------------------------------------------------

    def lag(self, topology_id: str) -> dict[str, Any]:
        """Storm's lag answer: per Kafka spout, ``{"spoutId", "spoutType": "KAFKA",
        "spoutLagResult": {topic: {partition: {"consumerCommittedOffset",
        "logHeadOffset", "lag"}}}}``; ``{}`` for a topology without a Kafka spout.

        Squall adds, per partition, ``doneOffset`` (everything below it is processed)
        and ``doneLag`` (head - done: records read or waiting that the topology has not
        finished), which do not wait for the next commit; and ``task``. A figure not
        known yet (no commit confirmed, no fetch seen) is null, never a guess.
        """
        handle = self.handle(topology_id)
        out: dict[str, Any] = {}
        for spout, partitions in sorted(handle.kafka_lag().items()):
            result: dict[str, dict[str, Any]] = {}
            for p in sorted(partitions, key=lambda p: (p.topic, p.partition)):
                result.setdefault(p.topic, {})[str(p.partition)] = {
                    "consumerCommittedOffset": p.committed, "logHeadOffset": p.head,
                    "lag": _lag(p.head, p.committed), "doneOffset": p.done,
                    "doneLag": _lag(p.head, p.done), "task": p.task}
            out[spout] = {"spoutId": spout, "spoutType": "KAFKA", "spoutLagResult": result}
        return out

    # -- checkpoints (Squall's key) ---------------------------------------------------------------

    def checkpoints(self, handle: TopologySource) -> dict[str, Any] | None:
        """Flink's checkpoint panel for ``handle``; None without a state backend."""
        per_worker = handle.checkpoint_stats()
        if not per_worker:
            return None
        cs = _sum_checkpoints(per_worker)
        now_ms = int(time.time() * 1000)
        with self._lock:
            seen = self._checkpoints.get(handle.name)
            if seen is None:
                # First read: a failure before it has no time.
                seen = _CheckpointSeen(cs.failed, len(cs.errors), None)
                if cs.errors:
                    seen.last_failed = _failed(cs.errors[-1], None)
                self._checkpoints[handle.name] = seen
            if len(cs.errors) > seen.errors or cs.failed > seen.failed:
                seen.last_failed = _failed(cs.errors[-1] if cs.errors else "", now_ms)
            seen.failed, seen.errors = cs.failed, len(cs.errors)
            last_failed = seen.last_failed
        last_completed = None if cs.last_completed_at is None else {
            "id": cs.last_txid, "timestamp": int(cs.last_completed_at * 1000),
            "durationMs": round(cs.last_s * 1000.0, 3)}
        restores = cs.rollbacks + sum(1 for w in per_worker if w.recovered_txid is not None)
        return {"completed": cs.completed, "failed": cs.failed, "declined": cs.declined,
                "rollbacks": cs.rollbacks, "restoreCount": restores,
                "lastTxid": cs.last_txid, "lastCompleted": last_completed, "lastFailed": last_failed,
                "restored": None if cs.recovered_txid is None else {
                    "id": cs.recovered_txid, "durationMs": round(cs.recovery_s * 1000.0, 3)},
                "recoveredTxid": cs.recovered_txid, "recoverySeconds": cs.recovery_s,
                "durationMsMean": round(cs.total_s / cs.completed * 1000.0, 3) if cs.completed else None,
                "durationMsMax": round(cs.max_s * 1000.0, 3),
                "totalSeconds": cs.total_s, "maxSeconds": cs.max_s,
                # What the last completed checkpoint staged (Flink's checkpointed data size).
                "stateSizeBytes": cs.last_state_size_bytes,
                "errors": list(cs.errors)}

    # -- rules (Squall's key) -------------------------------------------------------------------

    def rules(self, topology_id: str) -> dict[str, Any]:
        """Every EPL statement of the topology's CEP bolts, per task, with its counters."""
        handle = self.handle(topology_id)
        return {"topologyId": handle.name, "statements": [
            {"component": s.component, "task": s.task, "name": s.name, "text": s.text,
             "eventsIn": s.events_in, "rowsOut": s.rows_out, "stream": s.stream,
             "live": s.rules_dir is not None}
            for s in handle.statements()]}


def sanitize_stream_name(stream: str) -> str:
    """Storm UI's stream id for the graph: characters other than letters, ``-``, ``_``
    and ``.`` become ``_``; a name not starting with a letter gets ``_s`` first.

    >>> sanitize_stream_name("default"), sanitize_stream_name("2 fast!")
    ('default', '_s__fast_')
    """
    clean = re.sub(r"[^A-Za-z_.\-]", "_", stream)
    return clean if stream[:1].isalpha() else "_s" + clean


def _lag(head: int | None, offset: int | None) -> int | None:
    return None if head is None or offset is None else max(0, head - offset)


def _failed(error: str, at_ms: int | None) -> dict[str, Any]:
    m = _FAILED_TXID.search(error)
    return {"id": int(m.group(1)) if m else None, "timestamp": at_ms, "error": error}


def _sum_checkpoints(stats: list[CheckpointStats]) -> CheckpointStats:
    if len(stats) == 1:
        return stats[0]
    txids = [s.last_txid for s in stats if s.last_txid is not None]
    recovered = [s.recovered_txid for s in stats if s.recovered_txid is not None]
    sizes = [s.last_state_size_bytes for s in stats if s.last_state_size_bytes is not None]
    durations = [s.last_s for s in stats if s.last_s is not None]
    ends = [s.last_completed_at for s in stats if s.last_completed_at is not None]
    return CheckpointStats(recovered_txid=min(recovered) if recovered else None,
                           recovery_s=max(s.recovery_s for s in stats),
                           completed=sum(s.completed for s in stats), failed=sum(s.failed for s in stats),
                           declined=sum(s.declined for s in stats), rollbacks=sum(s.rollbacks for s in stats),
                           last_txid=min(txids) if txids else None, total_s=sum(s.total_s for s in stats),
                           max_s=max(s.max_s for s in stats), errors=[e for s in stats for e in s.errors],
                           # Workers commit a checkpoint together: their last ones are its parts.
                           last_state_size_bytes=sum(sizes) if sizes else None,
                           last_s=max(durations) if durations else None,
                           last_completed_at=max(ends) if ends else None)


def _mean(stats: Iterable[ComponentStats]) -> float | None:
    values = [s.complete_latency_ms for s in stats if s.complete_latency_ms is not None]
    return sum(values) / len(values) if values else None


def _last_error(errors: list[Any], now_epoch: float) -> dict[str, Any]:
    if not errors:
        return {"lastError": "", "errorHost": "", "errorPort": None, "errorWorkerLogLink": "",
                "errorTime": None, "errorLapsedSecs": None}
    e = errors[-1]
    return {"lastError": e.text, "errorHost": e.host, "errorPort": e.port, "errorWorkerLogLink": "",
            "errorTime": int(e.time_s), "errorLapsedSecs": int(now_epoch - e.time_s)}


def _executor_row(ex: ExecutorSummary, kind: str) -> dict[str, Any]:
    first, last = min(ex.task_ids), max(ex.task_ids)
    row = {"id": f"[{first}-{last}]", "encodedId": f"[{first}-{last}]",
           "host": ex.host, "port": ex.port, "workerLogLink": "", "worker": ex.worker,
           "uptime": pretty_duration(ex.uptime_s), "uptimeSeconds": int(ex.uptime_s),
           "emitted": ex.emitted, "transferred": ex.transferred, "acked": ex.acked, "failed": ex.failed}
    if kind == "spout":
        row["completeLatency"] = _ms(ex.complete_latency_ms)
    else:
        row.update(executed=ex.executed, capacity=_ms(ex.capacity),
                   executeLatency=_ms(ex.execute_latency_ms), processLatency=_ms(ex.process_latency_ms))
    return row
