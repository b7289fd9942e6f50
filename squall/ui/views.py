"""What the REST API answers, built from a :class:`~squall.runtime.local.LocalCluster`.

Plain dictionaries with Storm UI's field names; no web framework here, so the figures
can be checked without a server.

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

Semantics: Storm ``STORM-UI-REST-API.md`` (``/api/v1/cluster/summary``,
``/topology/summary``, ``/topology/:id``, ``/topology/:id/component/:component``).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..config import MESSAGE_TIMEOUT_SECS
from ..runtime.local import LocalCluster, TopologyHandle
from ..runtime.metrics import ComponentStats

__all__ = ["WINDOWS", "ALL_TIME", "CounterHistory", "ClusterView", "UnknownTopologyError",
           "UnknownComponentError", "pretty_duration"]

ALL_TIME = ":all-time"
WINDOWS: tuple[str, ...] = ("600", "10800", "86400", ALL_TIME)
"""The windows Storm UI shows, in seconds, and all time."""

_COUNTERS = ("emitted", "transferred", "acked", "failed", "executed")
_HOST = "127.0.0.1"


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


class ClusterView:
    """Storm UI's answers about the topologies of one :class:`LocalCluster`.

    Args:
        cluster: the cluster watched.
        history: where windowed figures come from (a new one with 10 s samples by default).

    Thread-safe for reads: the runtime's stats are safe to read while topologies run.
    """

    def __init__(self, cluster: LocalCluster, history: CounterHistory | None = None) -> None:
        self.cluster = cluster
        self.history = history or CounterHistory()
        self.started_at = time.monotonic()
        self._killing: set[str] = set()
        self._lock = threading.Lock()

    # -- topologies -----------------------------------------------------------------

    def handles(self) -> dict[str, TopologyHandle]:
        # LocalCluster has no public listing of its topologies yet; its registry is read
        # as a copy since a kill removes entries from another thread.
        return dict(self.cluster._running)

    def handle(self, topology_id: str) -> TopologyHandle:
        handle = self.handles().get(topology_id)
        if handle is None:
            raise UnknownTopologyError(f"no topology with id {topology_id!r} runs here "
                                       f"(running: {sorted(self.handles())})")
        return handle

    def status(self, handle: TopologyHandle) -> str:
        """``KILLED`` from a kill request until the run ends, ``ACTIVE`` while its spouts
        run, ``INACTIVE`` when deactivated (or still opening)."""
        with self._lock:
            if handle.name in self._killing or not handle.running:
                return "KILLED"
        spouts = handle.worker.spout_tasks
        return "ACTIVE" if any(t.active for t in spouts) or not spouts else "INACTIVE"

    def mark_killing(self, topology_id: str, killing: bool) -> None:
        with self._lock:
            (self._killing.add if killing else self._killing.discard)(topology_id)
        if not killing:
            self.history.forget(topology_id)

    def sample(self) -> None:
        """Record every topology's counters in the history (the sampler thread's turn)."""
        now = time.monotonic()
        for name, handle in self.handles().items():
            self.history.record(name, handle.stats(), now)

    # -- /api/v1/cluster/summary ------------------------------------------------------

    def cluster_summary(self) -> dict[str, Any]:
        handles = self.handles().values()
        executors = sum(len(h.worker.executors) for h in handles)
        tasks = sum(len(h.worker.task_ids) for h in handles)
        # One process: one supervisor, one worker slot per running topology.
        return {"stormVersion": f"squall {__version__}", "supervisors": 1,
                "topologies": len(handles), "slotsTotal": len(handles), "slotsUsed": len(handles),
                "slotsFree": 0, "executorsTotal": executors, "tasksTotal": tasks,
                "schedulerDisplayResource": False,
                "nimbusUptime": pretty_duration(time.monotonic() - self.started_at),
                "nimbusUptimeSeconds": int(time.monotonic() - self.started_at)}

    # -- /api/v1/topology/summary -------------------------------------------------------

    def _basics(self, handle: TopologyHandle) -> dict[str, Any]:
        started = handle.worker.started_at
        uptime = time.monotonic() - started if started is not None else 0.0
        return {"id": handle.name, "name": handle.name, "status": self.status(handle),
                "uptime": pretty_duration(uptime), "uptimeSeconds": int(uptime),
                "tasksTotal": len(handle.worker.task_ids), "workersTotal": 1,
                "executorsTotal": len(handle.worker.executors), "replicationCount": 1}

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

    def _read(self, handle: TopologyHandle) -> tuple[dict[str, ComponentStats], float]:
        stats = handle.stats()
        now = time.monotonic()
        self.history.record(handle.name, stats, now)
        return stats, now

    def topology(self, topology_id: str, window: str = ALL_TIME) -> dict[str, Any]:
        handle = self.handle(topology_id)
        stats, now = self._read(handle)
        errors = _errors(handle)
        topology_stats = []
        for w in WINDOWS:
            counts = self._windowed(topology_id, stats, w, now)
            spouts = [n for n, st in stats.items() if st.kind == "spout"]
            topology_stats.append({
                "windowPretty": _window_pretty(w), "window": w,
                "emitted": sum(c["emitted"] for c in counts.values()),
                "transferred": sum(c["transferred"] for c in counts.values()),
                "completeLatency": _ms(_mean([stats[n] for n in spouts])),
                "acked": sum(counts[n]["acked"] for n in spouts),
                "failed": sum(counts[n]["failed"] for n in spouts)})
        counts = self._windowed(topology_id, stats, window, now)
        spouts, bolts = [], []
        for name in handle.worker.topology.topological_order():
            st = stats.get(name)
            if st is None:
                continue
            row = {"executors": st.executors, "tasks": st.tasks, **counts[name],
                   **_last_error(errors.get(name, []), now_epoch=time.time())}
            if st.kind == "spout":
                del row["executed"]
                spouts.append({"spoutId": name, "encodedSpoutId": name,
                               "completeLatency": _ms(st.complete_latency_ms), **row})
            else:
                bolts.append({"boltId": name, "encodedBoltId": name, "capacity": _ms(st.capacity),
                              "executeLatency": _ms(st.execute_latency_ms),
                              "processLatency": _ms(st.process_latency_ms), **row})
        conf = handle.worker.conf
        return {**self._basics(handle), "msgTimeout": conf[MESSAGE_TIMEOUT_SECS],
                "window": window, "windowHint": _window_pretty(window),
                "schedulerDisplayResource": False, "debug": False, "samplingPct": 0,
                "topologyStats": topology_stats, "spouts": spouts, "bolts": bolts,
                "workers": [self._worker(handle)],
                "checkpoints": _checkpoints(handle)}

    def _worker(self, handle: TopologyHandle) -> dict[str, Any]:
        basics = self._basics(handle)
        per_component: dict[str, int] = {}
        for ex in handle.worker.executors:
            per_component[ex.component] = per_component.get(ex.component, 0) + len(ex.tasks)
        return {"supervisorId": "local", "host": _HOST, "port": None,
                "topologyId": handle.name, "topologyName": handle.name,
                "executorsTotal": basics["executorsTotal"], "componentNumTasks": per_component,
                "uptime": basics["uptime"], "uptimeSeconds": basics["uptimeSeconds"],
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
        executors = [ex for ex in handle.worker.executors if ex.component == component]
        out = {"id": component, "encodedId": component, "name": handle.name,
               "topologyId": handle.name, "encodedTopologyId": handle.name,
               "topologyStatus": basics["status"], "componentType": st.kind,
               "executors": st.executors, "tasks": st.tasks,
               "window": window, "windowHint": _window_pretty(window),
               "schedulerDisplayResource": False, "debug": False, "samplingPct": 0,
               "profilingAndDebuggingCapable": False, "profileActionEnabled": False,
               "profilerActive": [],
               "componentErrors": [
                   # Storm's component page gives this time in milliseconds.
                   {"errorTime": int(t * 1000), "errorHost": _HOST, "errorPort": None,
                    "errorWorkerLogLink": "", "errorLapsedSecs": int(epoch - t), "error": text}
                   for t, text in _errors(handle).get(component, [])],
               "outputStats": [{"stream": s, "emitted": n,
                                "transferred": _stream_transferred(executors, s)}
                               for s, n in sorted(st.emitted_by_stream.items())],
               "executorStats": [_executor_row(ex, basics, st.kind) for ex in executors]}
        out["spoutSummary" if st.kind == "spout" else "boltStats"] = summary
        return out


def _mean(stats: Iterable[ComponentStats]) -> float | None:
    values = [s.complete_latency_ms for s in stats if s.complete_latency_ms is not None]
    return sum(values) / len(values) if values else None


def _errors(handle: TopologyHandle) -> dict[str, list[tuple[float, str]]]:
    """Per component, its tasks' recent errors as (epoch seconds, text), oldest first.

    Read from the task counters: ComponentStats keeps the texts without their times."""
    out: dict[str, list[tuple[float, str]]] = {}
    for ex in handle.worker.executors:
        for task in ex.tasks:
            out.setdefault(ex.component, []).extend(list(task.counters.errors))
    for errors in out.values():
        errors.sort(key=lambda e: e[0])
    return out


def _last_error(errors: list[tuple[float, str]], now_epoch: float) -> dict[str, Any]:
    if not errors:
        return {"lastError": "", "errorHost": "", "errorPort": None, "errorWorkerLogLink": "",
                "errorTime": None, "errorLapsedSecs": None}
    t, text = errors[-1]
    return {"lastError": text, "errorHost": _HOST, "errorPort": None, "errorWorkerLogLink": "",
            "errorTime": int(t), "errorLapsedSecs": int(now_epoch - t)}


def _stream_transferred(executors: list[Any], stream: str) -> int:
    return sum(t.routes[stream].transferred() for ex in executors for t in ex.tasks
               if stream in t.routes)


def _executor_row(ex: Any, basics: dict[str, Any], kind: str) -> dict[str, Any]:
    counters = [t.counters for t in ex.tasks]      # synced by the stats() call before
    ids = [t.task_id for t in ex.tasks]
    executed = sum(c.executed for c in counters)
    row = {"id": f"[{min(ids)}-{max(ids)}]", "encodedId": f"[{min(ids)}-{max(ids)}]",
           "host": _HOST, "port": None, "workerLogLink": "",
           "uptime": basics["uptime"], "uptimeSeconds": basics["uptimeSeconds"],
           "emitted": sum(sum(c.emitted.values()) for c in counters),
           "transferred": sum(c.transferred for c in counters),
           "acked": sum(c.acked for c in counters), "failed": sum(c.failed for c in counters)}
    if kind == "spout":
        samples = [c.complete_latency for c in counters]
        n = sum(s.count for s in samples)
        row["completeLatency"] = _ms(sum(s.total_s for s in samples) / n * 1000.0 if n else None)
    else:
        samples = [c.process_latency for c in counters]
        n = sum(s.count for s in samples)
        exec_s = sum(c.exec_s for c in counters)
        row.update(executed=executed, capacity=_ms(ex.capacity),
                   executeLatency=_ms(exec_s / executed * 1000.0 if executed else None),
                   processLatency=_ms(sum(s.total_s for s in samples) / n * 1000.0 if n else None))
    return row


def _checkpoints(handle: TopologyHandle) -> dict[str, Any] | None:
    """Squall's addition (Flink's checkpoint panel): None without a state backend."""
    cs = handle.worker.checkpoint_stats
    if cs is None:
        return None
    return {"completed": cs.completed, "failed": cs.failed, "declined": cs.declined,
            "rollbacks": cs.rollbacks, "lastTxid": cs.last_txid, "recoveredTxid": cs.recovered_txid,
            "recoverySeconds": cs.recovery_s, "totalSeconds": cs.total_s, "maxSeconds": cs.max_s,
            "errors": list(cs.errors)}
