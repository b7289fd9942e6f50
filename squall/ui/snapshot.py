"""The UI in a process of its own: the runtime's figures travel to it as snapshots, and
its actions come back as calls the runtime's process executes.

Why: a REST or ``/metrics`` request served in the topology's process waits for the GIL
the topology holds, and its work (reading every task's counters, formatting answers)
is taken from the topology: polled at 10 requests/s, the smart-car replay ran 14-22 %
slower (``benchmarks/ui.py``). Served by a child process, a request costs the topology
at most one snapshot per ``refresh_s`` (0.5 s by default), however often it is polled.

Two sides, one UNIX socket pair between them, frames of a 4-byte big-endian length and
a JSON object (nothing is unpickled or evaluated: the child treats what it reads as
data, and so does the runtime):

* the runtime's side, :class:`SnapshotPublisher`: answers a ``refresh`` with a
  ``snapshot`` (every topology's plain figures: stats with latency histograms,
  executors, per-stream transfers, errors, workers, checkpoints, CEP statements, Kafka
  partitions, sampled tuples not yet sent; the dashboards' data; the log levels set),
  and executes each ``call`` (activate, deactivate, kill, rebalance, sampling, log
  level, rule file) on a thread of its own, then publishes a snapshot and answers
  ``reply``, so a read after an action shows its effect;
* the UI's side, :class:`SnapshotSource`: a :class:`~squall.ui.source.ClusterSource`
  over the last snapshot. A request that finds it older than ``refresh_s`` asks for a
  new one and waits for it (:meth:`SnapshotSource.fresh`); actions are calls, and the
  runtime's refusals come back as the same exceptions (unknown topology, rebalance
  unsupported, rule file rejected with its line and column, ...).

:func:`squall.ui.serve` starts the child (:mod:`squall.ui.ui_process`) and the
publisher. This module imports nothing of the ``ui`` extra.

Semantics: Storm UI reads Nimbus's figures over Thrift, never a worker's memory (the
daemon is its own process); here the runtime's process plays Nimbus's role.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from ..errors import SquallError
from ..runtime.checkpoint import CheckpointStats
from ..runtime.metrics import ComponentStats, LatencyHistogram
from .actions import (
    LogLevelError,
    LogLevels,
    RulesNotAppliedError,
    RulesRejectedError,
    safe_value,
)
from .dashboards import DashboardError, Provider, _plain
from .source import (
    ClusterSource,
    ComponentShape,
    ErrorRecord,
    ExecutorSummary,
    InputShape,
    NimbusSummary,
    PartitionLag,
    RebalanceUnsupportedError,
    RulesUnsupportedError,
    SampleSink,
    StatementSummary,
    StreamRef,
    SupervisorSummary,
    TopologyShape,
    TopologySource,
    WorkerSummary,
)
from .views import UnknownComponentError, UnknownTopologyError

__all__ = [
    "MAX_FRAME_BYTES",
    "Channel",
    "ChannelClosedError",
    "RemoteCallError",
    "RuntimeRefusedError",
    "SnapshotPublisher",
    "SnapshotSource",
    "SnapshotTopology",
]

log = logging.getLogger("squall.ui")

MAX_FRAME_BYTES = 256 << 20
"""The largest frame either side reads, in bytes; a longer length closes the channel."""

_HEADER = struct.Struct(">I")
_SAMPLES_KEPT = 1000        # sampled tuples kept per topology between two snapshots
_CALL_TIMEOUT_S = 120.0     # every call but kill (which waits as long as the drain)


class ChannelClosedError(SquallError, ConnectionError):
    """The other side closed the UI's channel (its process ended), or sent a frame that
    is not a JSON object of at most :data:`MAX_FRAME_BYTES`."""


class RemoteCallError(SquallError, RuntimeError):
    """An action failed in the runtime's process with an unexpected error (HTTP 500),
    or the runtime did not answer."""


class RuntimeRefusedError(SquallError):
    """The runtime refused an action (a rebalance without checkpoints, ...): its message."""


class Channel:
    """Length-prefixed JSON frames over a connected stream socket; :meth:`send` is
    thread-safe, :meth:`recv` is for one reading thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._rfile = sock.makefile("rb")
        self._send_lock = threading.Lock()

    def send(self, message: Mapping[str, Any]) -> None:
        """Send one JSON object (values JSON cannot hold are sent as their ``str``).

        Raises:
            ChannelClosedError: the other side is gone.
        """
        data = json.dumps(message, separators=(",", ":"), default=str).encode()
        try:
            with self._send_lock:
                self.sock.sendall(_HEADER.pack(len(data)) + data)
        except OSError as exc:
            raise ChannelClosedError(f"the UI channel is closed: {exc}") from exc

    def recv(self) -> dict[str, Any]:
        """The next JSON object.

        Raises:
            ChannelClosedError: end of stream, or a frame that is too long or not an object.
        """
        try:
            header = self._rfile.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise ChannelClosedError("the UI channel was closed by the other process")
            (size,) = _HEADER.unpack(header)
            if size > MAX_FRAME_BYTES:
                raise ChannelClosedError(f"a UI frame of {size} bytes is over the limit of {MAX_FRAME_BYTES}")
            data = self._rfile.read(size)
        except (OSError, ValueError) as exc:        # ValueError: read on a closed file
            raise ChannelClosedError(f"the UI channel is closed: {exc}") from exc
        if len(data) < size:
            raise ChannelClosedError("the UI channel was closed in the middle of a frame")
        try:
            message = json.loads(data)
        except ValueError as exc:
            raise ChannelClosedError(f"a UI frame is not JSON: {exc}") from exc
        if not isinstance(message, dict):
            raise ChannelClosedError(f"a UI frame is a {type(message).__name__}, not an object")
        return message

    def close(self) -> None:
        # shutdown first: it wakes a thread blocked reading, which close() alone does not.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._rfile.close()
        self.sock.close()


# -- figures as JSON, and back ----------------------------------------------------------------------


def _plain_fields(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _build(cls: type, data: Mapping[str, Any], **fixed: Any) -> Any:
    # Fields this side does not know (the other side's newer version) are dropped.
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names}, **fixed)


def _encode_stats(st: ComponentStats) -> dict[str, Any]:
    out = _plain_fields(st)
    out["latency_histograms"] = {kind: [h.count, h.total_s, h.buckets] for kind, h in st.latency_histograms.items()}
    return out


def _decode_stats(data: Mapping[str, Any]) -> ComponentStats:
    histograms = {}
    for kind, (count, total_s, buckets) in data.get("latency_histograms", {}).items():
        h = histograms[kind] = LatencyHistogram()
        h.count, h.total_s, h.buckets = count, total_s, list(buckets)
    return _build(ComponentStats, {k: v for k, v in data.items() if k != "latency_histograms"},
                  latency_histograms=histograms)


def _encode_shape(shape: TopologyShape) -> dict[str, Any]:
    return {"components": [[c.name, c.is_spout, list(c.tasks),
                            [[i.source.component, i.source.stream, i.grouping] for i in c.inputs]]
                           for c in shape.components.values()],
            "order": list(shape.order)}


def _decode_shape(data: Mapping[str, Any]) -> TopologyShape:
    components = {name: ComponentShape(name, bool(is_spout), tuple(tasks),
                                       tuple(InputShape(StreamRef(c, s), g) for c, s, g in inputs))
                  for name, is_spout, tasks, inputs in data["components"]}
    return TopologyShape(components, tuple(data["order"]))


_SCALARS = (str, int, float, bool, type(None))


# -- the runtime's side ----------------------------------------------------------------------------------


class SnapshotPublisher:
    """Serves the UI's process from the runtime's: snapshots on request, actions as calls.

    Args:
        source: the cluster (``squall.ui.views.as_source(cluster)``).
        channel: the channel to the UI's process.
        dashboards: application dashboards, name -> provider; each is called for a
            snapshot that asks for its dashboard, on the thread that takes it.

    Threading: :meth:`start` starts the thread reading the channel; each call runs on a
    thread of its own; one snapshot is taken at a time.
    """

    def __init__(self, source: ClusterSource, channel: Channel,
                 dashboards: Mapping[str, Provider] | None = None) -> None:
        self.source = source
        self.channel = channel
        self.dashboards = dict(dashboards or {})
        self.log_levels = LogLevels()
        self._snapshot_lock = threading.Lock()
        self._shapes: dict[str, tuple[TopologySource, dict[str, Any]]] = {}
        self._last: dict[str, dict[str, Any]] = {}
        self._samples: dict[str, deque[list[Any]]] = {}
        self._samples_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="squall-ui-publisher", daemon=True)
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def publish(self, boards: Iterable[str] = ()) -> None:
        """Send a snapshot with the data of dashboards ``boards`` (or, when taking it
        failed, ``stale``: the UI keeps the last one).

        Raises:
            ChannelClosedError: the UI's process is gone.
        """
        with self._snapshot_lock:
            try:
                message = {"t": "snapshot", "data": self.snapshot(boards)}
            except Exception:
                log.exception("the UI's snapshot of the runtime's figures failed; it shows the last one")
                message = {"t": "stale"}
            self.channel.send(message)

    def snapshot(self, boards: Iterable[str] = ()) -> dict[str, Any]:
        """Every figure the UI reads, as JSON-ready data, and the data of the dashboards
        named in ``boards`` (an application's provider may cost much more than the
        figures: it is called only for a dashboard that is read)."""
        topologies: dict[str, Any] = {}
        for name, handle in self.source.topologies().items():
            try:
                topologies[name] = self._topology(name, handle)
            except Exception:
                # A Ray worker restarting, a topology ending mid-read: its last figures stand.
                log.debug("topology %r: figures not read this round", name, exc_info=True)
                if name in self._last:
                    topologies[name] = {**self._last[name], "samples": []}
        self._last = topologies
        self._shapes = {n: s for n, s in self._shapes.items() if n in topologies}
        return {"nimbus": _plain_fields(self.source.nimbus()),
                "supervisors": [_plain_fields(s) for s in self.source.supervisors()],
                "topologies": topologies,
                "dashboards": {name: self._board(name, self.dashboards[name])
                               for name in boards if name in self.dashboards},
                "log_levels": self.log_levels.config()}

    def _topology(self, name: str, handle: TopologySource) -> dict[str, Any]:
        cached = self._shapes.get(name)
        if cached is None or cached[0] is not handle:
            conf = {k: v for k, v in handle.conf.items() if isinstance(v, _SCALARS)}
            cached = self._shapes[name] = (handle, {"shape": _encode_shape(handle.shape), "conf": conf})
        with self._samples_lock:
            queued = self._samples.get(name)
        samples = []
        # popleft, not a copy and clear(): the tasks append on their own threads meanwhile.
        while queued:
            samples.append(queued.popleft())
        return {"run": id(handle), **cached[1], "running": handle.running, "active": handle.active(),
                "uptime_s": handle.uptime_s(),
                "stats": {c: _encode_stats(st) for c, st in handle.stats().items()},
                "executors": [_plain_fields(e) for e in handle.executors()],
                "streams": handle.stream_transferred(),
                "errors": {c: [_plain_fields(e) for e in errors] for c, errors in handle.errors().items()},
                "workers": [_plain_fields(w) for w in handle.workers()],
                "checkpoints": [_plain_fields(cs) for cs in handle.checkpoint_stats()],
                "statements": [_plain_fields(s) for s in handle.statements()],
                "lag": {c: [_plain_fields(p) for p in ps] for c, ps in handle.kafka_lag().items()},
                "samples": samples}

    @staticmethod
    def _board(name: str, provider: Provider) -> dict[str, Any]:
        try:
            data = provider()
        except Exception as exc:  # noqa: BLE001  the application's code: its page shows why
            return {"error": f"dashboard {name!r}: its provider raised {type(exc).__name__}: {exc}"}
        if not isinstance(data, Mapping):
            return {"error": f"dashboard {name!r}: its provider answered with a {type(data).__name__}, "
                             f"not a mapping"}
        return {"data": _plain(data)}

    def _serve(self) -> None:
        while True:
            try:
                message = self.channel.recv()
                kind = message.get("t")
                if kind == "refresh":
                    boards = message.get("dashboards")
                    self.publish([str(b) for b in boards] if isinstance(boards, list) else ())
                elif kind == "call":
                    threading.Thread(target=self._call, args=(message,), name="squall-ui-call", daemon=True).start()
                else:
                    log.warning("the UI's process sent an unknown message %r; ignored", kind)
            except ChannelClosedError:
                return

    def _call(self, message: Mapping[str, Any]) -> None:
        try:
            reply = {"ok": True, "value": self._execute(str(message.get("op")), message.get("args") or {})}
        except Exception as exc:
            reply = {"ok": False, "kind": type(exc).__name__, "message": str(exc),
                     "errors": getattr(exc, "errors", None), "squall": isinstance(exc, SquallError)}
            if not isinstance(exc, (LookupError, SquallError, ValueError, RulesNotAppliedError)):
                log.error("UI action %s failed", message.get("op"), exc_info=exc)
        try:
            self.publish()      # before the answer: a read after an action shows its effect
            self.channel.send({"t": "reply", "id": message.get("id"), **reply})
        except ChannelClosedError:
            pass

    def _handle(self, name: str) -> TopologySource:
        handle = self.source.topologies().get(name)
        if handle is None:
            raise UnknownTopologyError(f"no topology with id {name!r} runs here")
        return handle

    def _execute(self, op: str, args: Mapping[str, Any]) -> Any:
        name = str(args.get("topology"))
        if op in ("activate", "deactivate"):
            self._handle(name)
            getattr(self.source, op)(name)
        elif op == "kill":
            self._handle(name)
            self.source.kill(name, float(args["wait_s"]))
        elif op == "rebalance":
            self._handle(name)
            self.source.rebalance(name, float(args["wait_s"]), args.get("num_workers"),
                                  {str(k): int(v) for k, v in (args.get("executors") or {}).items()})
        elif op == "sampling":
            pct = float(args["pct"])
            self._handle(name).set_sampling(args.get("component"), pct, self._sink(name) if pct > 0 else None)
        elif op == "log_level":
            self.log_levels.set(args["logger"], args.get("target_level"), args.get("timeout_s", 0))
            return self.log_levels.config()
        elif op == "worker_log_level":
            in_workers = getattr(self._handle(name), "set_log_level", None)
            if in_workers is not None:      # the Ray runtime's workers are other processes
                in_workers(args["logger"], args.get("target_level"), args.get("timeout_s", 0))
        elif op == "rules":
            return self._handle(name).apply_rules(str(args["component"]), str(args["text"]))
        else:
            raise ValueError(f"unknown UI action {op!r}")
        return None

    def _sink(self, name: str) -> SampleSink:
        with self._samples_lock:
            queued = self._samples.setdefault(name, deque(maxlen=_SAMPLES_KEPT))

        def keep(component: str, task: int, stream: str, values: list) -> None:
            queued.append([component, task, stream, [safe_value(v) for v in values]])
        return keep


# -- the UI's side ---------------------------------------------------------------------------------------


class _Call:
    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None


_REFUSALS: dict[str, type[Exception]] = {
    "UnknownTopologyError": UnknownTopologyError, "UnknownComponentError": UnknownComponentError,
    "RebalanceUnsupportedError": RebalanceUnsupportedError, "RulesUnsupportedError": RulesUnsupportedError,
    "RulesNotAppliedError": RulesNotAppliedError, "LogLevelError": LogLevelError}


def _refusal(reply: Mapping[str, Any], op: str) -> Exception:
    kind, message = str(reply.get("kind")), str(reply.get("message"))
    if kind == "RulesRejectedError":
        return RulesRejectedError(message, list(reply.get("errors") or []))
    if kind in _REFUSALS:
        return _REFUSALS[kind](message)
    if reply.get("squall"):
        return RuntimeRefusedError(message)
    return RemoteCallError(f"{op} failed in the runtime's process: {kind}: {message}")


class SnapshotSource:
    """:class:`~squall.ui.source.ClusterSource` over the snapshots a
    :class:`SnapshotPublisher` sends, in the UI's process.

    Args:
        channel: the channel to the runtime's process.
        refresh_s: the oldest figures a request is answered with (seconds).
        dashboard_s: the oldest dashboard data a request is answered with (seconds).

    :meth:`receive_forever` must run on a thread of its own (it applies snapshots and
    answers calls); :meth:`apply` takes the first snapshot before it starts.
    """

    def __init__(self, channel: Channel, refresh_s: float = 0.5, dashboard_s: float = 1.0) -> None:
        self.channel = channel
        self.refresh_s = refresh_s
        self.dashboard_s = dashboard_s
        self.started_at = time.monotonic()
        self.log_levels = RemoteLogLevels(self)
        self._cond = threading.Condition()
        self._data: dict[str, Any] = {"nimbus": None, "supervisors": [], "dashboards": {}, "log_levels": {}}
        self._topologies: dict[str, SnapshotTopology] = {}
        self._received = 0
        self._received_at = float("-inf")
        self._asked_at: float | None = None
        self._asked_boards: set[str] = set()
        self._board_at: dict[str, float] = {}
        self._closed = False
        self._calls: dict[int, _Call] = {}
        self._next_call = 0

    # -- snapshots ----------------------------------------------------------------------------

    def apply(self, data: Mapping[str, Any]) -> None:
        """Take ``data`` (a snapshot) as the figures from now on."""
        topologies = {}
        for name, figures in data["topologies"].items():
            known = self._topologies.get(name)
            if known is None or known.run != figures["run"]:
                known = SnapshotTopology(self, name, figures)     # a new run of that name
            known.update(figures)
            topologies[name] = known
        with self._cond:
            # Dashboards come when asked for: the others keep their last data.
            boards = {**self._data["dashboards"], **data["dashboards"]}
            now = time.monotonic()
            self._board_at.update((name, now) for name in data["dashboards"])
            self._data = {**data, "dashboards": boards}
            self._topologies = topologies
            self._mark_received()

    def _mark_received(self) -> None:
        self._received += 1
        self._received_at = time.monotonic()
        self._asked_at = None
        self._asked_boards = set()
        self._cond.notify_all()

    def fresh(self, boards: Iterable[str] = (), timeout_s: float = 10.0) -> None:
        """Make sure the figures are at most ``refresh_s`` old, and the data of dashboards
        ``boards`` at most ``dashboard_s``: if not, ask for a snapshot and wait for it
        (at most ``timeout_s``; then the old figures are served)."""
        with self._cond:
            now = time.monotonic()
            stale = {b for b in boards if now - self._board_at.get(b, float("-inf")) > self.dashboard_s}
            if self._closed or (now - self._received_at <= self.refresh_s and not stale):
                return
            seen = self._received
            # One request asks for all that wait; asked again if the answer is overdue.
            if self._asked_at is None or now - self._asked_at > 2.0 or not stale <= self._asked_boards:
                self._asked_at = now
                self._asked_boards |= stale
                try:
                    self.channel.send({"t": "refresh", "dashboards": sorted(stale)})
                except ChannelClosedError:
                    return
            self._cond.wait_for(lambda: self._received > seen or self._closed, timeout_s)

    def receive_forever(self) -> None:
        """Apply snapshots and deliver answers until the runtime's process closes the channel."""
        try:
            while True:
                message = self.channel.recv()
                kind = message.get("t")
                if kind == "snapshot":
                    self.apply(message["data"])
                elif kind == "stale":
                    with self._cond:
                        self._mark_received()
                elif kind == "reply":
                    with self._cond:
                        call = self._calls.pop(message.get("id"), None)
                    if call is not None:
                        call.reply = message
                        call.done.set()
                elif kind == "stop":
                    return
        except ChannelClosedError:
            return
        finally:
            with self._cond:
                self._closed = True
                calls, self._calls = self._calls, {}
                self._cond.notify_all()
            for call in calls.values():
                call.done.set()

    def call(self, op: str, args: Mapping[str, Any], timeout_s: float | None = _CALL_TIMEOUT_S) -> Any:
        """Run action ``op`` with ``args`` in the runtime's process; its answer's value.

        Raises:
            the runtime's refusal (:class:`UnknownTopologyError`, :class:`RulesRejectedError`,
            ...); :class:`RemoteCallError` for anything else, or no answer in ``timeout_s``.
        """
        call = _Call()
        with self._cond:
            if self._closed:
                raise RemoteCallError(f"{op}: the runtime's process closed the UI's channel")
            self._next_call += 1
            call_id = self._next_call
            self._calls[call_id] = call
        try:
            self.channel.send({"t": "call", "id": call_id, "op": op, "args": dict(args)})
        except ChannelClosedError as exc:
            raise RemoteCallError(f"{op}: the runtime's process closed the UI's channel") from exc
        if not call.done.wait(timeout_s):
            with self._cond:
                self._calls.pop(call_id, None)
            raise RemoteCallError(f"{op}: the runtime's process did not answer within {timeout_s:g} s")
        reply = call.reply
        if reply is None:
            raise RemoteCallError(f"{op}: the runtime's process closed the UI's channel")
        if reply.get("ok"):
            return reply.get("value")
        raise _refusal(reply, op)

    # -- ClusterSource ------------------------------------------------------------------------

    def topologies(self) -> dict[str, SnapshotTopology]:
        with self._cond:
            return dict(self._topologies)

    def nimbus(self) -> NimbusSummary:
        with self._cond:
            return _build(NimbusSummary, self._data["nimbus"])

    def supervisors(self) -> list[SupervisorSummary]:
        with self._cond:
            raw = list(self._data["supervisors"])
        return [_build(SupervisorSummary, {**s, "workers": tuple(tuple(w) for w in s["workers"])}) for s in raw]

    def activate(self, name: str) -> None:
        self.call("activate", {"topology": name})

    def deactivate(self, name: str) -> None:
        self.call("deactivate", {"topology": name})

    def kill(self, name: str, wait_s: float) -> None:
        # Blocks as long as the drain: no timeout of its own.
        self.call("kill", {"topology": name, "wait_s": wait_s}, timeout_s=None)

    def rebalance(self, name: str, wait_s: float, num_workers: int | None,
                  executors: Mapping[str, int]) -> None:
        self.call("rebalance", {"topology": name, "wait_s": wait_s, "num_workers": num_workers,
                                "executors": dict(executors)}, timeout_s=None)

    def log_levels_config(self) -> dict[str, Any]:
        with self._cond:
            return self._data["log_levels"]

    def dashboard_provider(self, name: str) -> Provider:
        """The provider of dashboard ``name``: its data in the last snapshot.

        The provider raises :class:`DashboardError` with the runtime's message when the
        application's provider failed there.
        """
        def provide() -> Mapping[str, Any]:
            with self._cond:
                board = self._data["dashboards"].get(name)
            if board is None:
                raise DashboardError(f"dashboard {name!r}: the runtime sent no data for it")
            if "error" in board:
                raise DashboardError(board["error"])
            return board["data"]
        return provide


class RemoteLogLevels:
    """The runtime process's :class:`~squall.ui.actions.LogLevels`, as the app uses them:
    checked here, set there (Python's levels are per process)."""

    def __init__(self, source: SnapshotSource) -> None:
        self._source = source
        self._checker = LogLevels()

    def check(self, name: Any, target_level: Any, timeout_s: Any) -> None:
        self._checker.check(name, target_level, timeout_s)

    def set(self, name: str, target_level: str | None, timeout_s: int) -> None:
        self._source.call("log_level", {"logger": name, "target_level": target_level, "timeout_s": timeout_s})

    def config(self) -> dict[str, Any]:
        return self._source.log_levels_config()


class _Figures:
    """One snapshot of one topology, decoded."""

    __slots__ = (
        "active",
        "checkpoints",
        "errors",
        "executors",
        "lag",
        "running",
        "statements",
        "stats",
        "streams",
        "uptime_s",
        "workers",
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.running = bool(data["running"])
        self.active = bool(data["active"])
        self.uptime_s = float(data["uptime_s"])
        self.stats = {c: _decode_stats(st) for c, st in data["stats"].items()}
        self.executors = [_build(ExecutorSummary, {**e, "task_ids": tuple(e["task_ids"])})
                          for e in data["executors"]]
        self.streams = data["streams"]
        self.errors = {c: [_build(ErrorRecord, e) for e in errors] for c, errors in data["errors"].items()}
        self.workers = [_build(WorkerSummary, w) for w in data["workers"]]
        self.checkpoints = [_build(CheckpointStats, cs) for cs in data["checkpoints"]]
        self.statements = [_build(StatementSummary, s) for s in data["statements"]]
        self.lag = {c: [_build(PartitionLag, p) for p in ps] for c, ps in data["lag"].items()}


class SnapshotTopology:
    """:class:`~squall.ui.source.TopologySource` over one topology of the snapshots."""

    def __init__(self, source: SnapshotSource, name: str, data: Mapping[str, Any]) -> None:
        self.source = source
        self.name = name
        self.run = data["run"]
        self.shape = _decode_shape(data["shape"])
        self.conf = dict(data["conf"])
        self._figures = _Figures(data)
        self._sink: SampleSink | None = None
        self._sampled: set[str | None] = set()
        self._lock = threading.Lock()

    def update(self, data: Mapping[str, Any]) -> None:
        self._figures = _Figures(data)
        with self._lock:
            sink = self._sink
        if sink is not None:
            for component, task, stream, values in data.get("samples", ()):
                sink(component, task, stream, values)

    @property
    def running(self) -> bool:
        return self._figures.running

    def active(self) -> bool:
        return self._figures.active

    def uptime_s(self) -> float:
        return self._figures.uptime_s

    def stats(self) -> dict[str, ComponentStats]:
        return self._figures.stats

    def executors(self) -> list[ExecutorSummary]:
        return self._figures.executors

    def stream_transferred(self) -> dict[str, dict[str, int]]:
        return self._figures.streams

    def errors(self) -> dict[str, list[ErrorRecord]]:
        return self._figures.errors

    def workers(self) -> list[WorkerSummary]:
        return self._figures.workers

    def checkpoint_stats(self) -> list[CheckpointStats]:
        return self._figures.checkpoints

    def statements(self) -> list[StatementSummary]:
        return self._figures.statements

    def kafka_lag(self) -> dict[str, list[PartitionLag]]:
        return self._figures.lag

    def apply_rules(self, component: str, text: str) -> dict[str, Any]:
        return self.source.call("rules", {"topology": self.name, "component": component, "text": text})

    def set_log_level(self, logger: str, target_level: str | None, timeout_s: int) -> None:
        self.source.call("worker_log_level", {"topology": self.name, "logger": logger,
                                              "target_level": target_level, "timeout_s": timeout_s})

    def set_sampling(self, component: str | None, pct: float, sink: SampleSink | None) -> None:
        on = sink is not None and pct > 0
        with self._lock:
            if on:
                self._sampled.add(component)
                self._sink = sink
        self.source.call("sampling", {"topology": self.name, "component": component, "pct": pct if on else 0.0})
        if not on:
            with self._lock:
                if component is None:
                    self._sampled.clear()
                else:
                    self._sampled.discard(component)
                if not self._sampled:
                    self._sink = None
