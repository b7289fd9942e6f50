"""What the UI reads from a runtime, and acts on: :class:`ClusterSource`, and its local
implementation :class:`LocalSource` over a :class:`~squall.runtime.local.LocalCluster`
(the Ray cluster runtime's is :class:`squall.ui.ray_source.RaySource`).

The views (:mod:`squall.ui.views`) never touch a worker, a task or a route: they ask a
:class:`ClusterSource` for plain figures (dataclasses of this module and the runtime's
:class:`~squall.runtime.metrics.ComponentStats`). A runtime that hosts its tasks
elsewhere (the Ray cluster runtime) plugs in by implementing the same two protocols,
collecting the figures from its workers; see ``docs/ui.md`` ("Plugging in another
runtime").

:class:`WorkerReader` reads the live objects of one worker (its tasks' counters and
error lists, the routes it taps for event sampling, the CEP bolts' engines and the Kafka
spouts' partitions): it is the one class of the UI that knows a worker's insides.
:class:`LocalSource` uses it in this process; the Ray source runs it inside each
worker process. This module imports nothing of the ``ui`` extra.

Semantics: Storm's Nimbus ``getTopologyInfo`` / ``getClusterInfo`` (what a UI reads
from the master), Storm's event logger (``topology.eventlogger.executors``; here the
sample is taken where a task routes its tuples).
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..runtime.checkpoint import CheckpointStats
from ..runtime.local import LocalCluster, TopologyHandle
from ..runtime.metrics import ComponentStats
from ..topology import Topology

__all__ = [
    "HOST",
    "ClusterSource",
    "ComponentShape",
    "ErrorRecord",
    "ExecutorSummary",
    "LocalSource",
    "LocalTopology",
    "NimbusSummary",
    "PartitionLag",
    "RebalanceUnsupportedError",
    "RulesUnsupportedError",
    "SampleSink",
    "StatementSummary",
    "SupervisorSummary",
    "TopologyShape",
    "TopologySource",
    "WorkerReader",
    "WorkerSummary",
    "grouping_name",
]

HOST = "127.0.0.1"
"""The host the local runtime's workers report: this process, on loopback."""


class RebalanceUnsupportedError(Exception):
    """The runtime cannot do this (HTTP 501): rebalance on the local runtime, which runs
    one worker; an operation the cluster runtime does not offer yet."""


class RulesUnsupportedError(Exception):
    """The component cannot take a rule file at run time (HTTP 409): not a CEP bolt
    with a watched rules directory."""


#: ``sink(component, task, stream, values)``: called on the emitting task's thread
#: for each sampled tuple (event sampling); must be quick and must not raise.
SampleSink = Callable[[str, int, str, list], None]


@dataclass(frozen=True)
class ExecutorSummary:
    """One executor's figures (latencies in ms, None when nothing was measured)."""

    component: str
    task_ids: tuple[int, ...]
    worker: int
    host: str
    port: int | None
    uptime_s: float
    emitted: int
    transferred: int
    acked: int
    failed: int
    executed: int
    execute_latency_ms: float | None
    process_latency_ms: float | None
    complete_latency_ms: float | None
    capacity: float


@dataclass(frozen=True)
class ErrorRecord:
    """An error a task reported: when (epoch seconds), what, and where."""

    time_s: float
    text: str
    task: int
    worker: int
    host: str
    port: int | None


@dataclass(frozen=True)
class WorkerSummary:
    """One worker (process) of a topology; ``supervisor`` is the id of the machine
    (node) it runs on."""

    index: int
    host: str
    port: int | None
    pid: int
    uptime_s: float
    executors: int
    component_tasks: Mapping[str, int]
    supervisor: str = "local"


@dataclass(frozen=True)
class NimbusSummary:
    """The master role: where it runs and for how long (``pid`` None: not known)."""

    host: str
    port: int | None
    pid: int | None
    uptime_s: float


@dataclass(frozen=True)
class SupervisorSummary:
    """One machine that runs workers (Storm's supervisor; a Ray node), with the worker
    processes on it as ``(topology, worker index, pid)``. CPU in Storm's unit (100 per
    core), memory in MB."""

    id: str
    host: str
    uptime_s: float
    total_cpu: float
    total_mem_mb: float
    workers: tuple[tuple[str, int, int], ...]
    pid: int | None = None


@dataclass(frozen=True)
class StatementSummary:
    """One EPL statement of one CEP bolt task, with its counters."""

    component: str
    task: int
    name: str
    text: str
    events_in: int
    rows_out: int
    stream: str
    rules_dir: str | None


@dataclass(frozen=True)
class PartitionLag:
    """Where a Kafka spout task stands on one partition (offsets; None when unknown).

    ``committed``: the last offset the group's commit confirmed; ``done``: every
    offset below it is processed (acked, or given up) by the topology; ``head``: the
    partition's log end (high watermark) as last seen by the consumer.
    """

    topic: str
    partition: int
    task: int
    committed: int | None
    done: int | None
    head: int | None


@dataclass(frozen=True)
class StreamRef:
    """A component's output stream."""

    component: str
    stream: str


@dataclass(frozen=True)
class InputShape:
    """A bolt's input: the stream it reads and its grouping's name (``shuffle``, ...)."""

    source: StreamRef
    grouping: str


@dataclass(frozen=True)
class ComponentShape:
    """One component as the UI draws it: kind, task ids and inputs."""

    name: str
    is_spout: bool
    tasks: tuple[int, ...]
    inputs: tuple[InputShape, ...]


@dataclass(frozen=True)
class TopologyShape:
    """What the UI reads of a :class:`~squall.topology.Topology`: the graph without its
    components' objects, plain data that travels as JSON to the UI's own process.

    ``components`` in declaration order; ``order`` sources before their subscribers.
    """

    components: Mapping[str, ComponentShape]
    order: tuple[str, ...]

    @classmethod
    def of(cls, topology: Topology) -> TopologyShape:
        components = {name: ComponentShape(name, spec.is_spout, tuple(topology.task_ids(name)), tuple(
            InputShape(StreamRef(sub.source.component, sub.source.stream), grouping_name(sub.grouping))
            for sub in spec.inputs)) for name, spec in topology.components.items()}
        return cls(components, tuple(topology.topological_order()))

    def topological_order(self) -> list[str]:
        return list(self.order)

    def component_of_task(self) -> dict[int, str]:
        return {t: name for name, c in self.components.items() for t in c.tasks}

    def task_ids(self, component: str) -> tuple[int, ...]:
        return self.components[component].tasks


_GROUPINGS = {"ShuffleGrouping": "shuffle", "FieldsGrouping": "fields", "PartialKeyGrouping": "partial_key",
              "AllGrouping": "all", "GlobalGrouping": "global", "NoneGrouping": "none",
              "DirectGrouping": "direct", "LocalOrShuffleGrouping": "local_or_shuffle"}


def grouping_name(grouping: Any) -> str:
    """Storm UI's name of a grouping (``shuffle``, ``fields``, ...; ``custom`` for a user's)."""
    for cls in type(grouping).__mro__:
        if cls.__name__ in _GROUPINGS:
            return _GROUPINGS[cls.__name__]
    return "custom"


class TopologySource(Protocol):
    """One running topology, as the UI reads it. Every method is safe to call from a
    web server thread while the topology runs, and returns a snapshot."""

    name: str
    shape: TopologyShape
    conf: Mapping[str, Any]

    @property
    def running(self) -> bool: ...

    def active(self) -> bool:
        """True while the spouts run (not deactivated, not opening)."""

    def uptime_s(self) -> float: ...

    def stats(self) -> dict[str, ComponentStats]:
        """Per component, summed over every worker."""

    def executors(self) -> list[ExecutorSummary]: ...

    def stream_transferred(self) -> dict[str, dict[str, int]]:
        """Per component, per output stream: tuples sent to subscribing tasks."""

    def errors(self) -> dict[str, list[ErrorRecord]]:
        """Per component, its tasks' recent errors, oldest first."""

    def workers(self) -> list[WorkerSummary]: ...

    def checkpoint_stats(self) -> list[CheckpointStats]:
        """One entry per worker that checkpoints (empty without a state backend)."""

    def statements(self) -> list[StatementSummary]:
        """Every EPL statement of every CEP bolt task."""

    def apply_rules(self, component: str, text: str) -> dict[str, Any]:
        """Install ``text`` as the rule file of CEP bolt ``component`` and wait until its
        running tasks applied it (see :func:`squall.ui.actions.apply_rules`).

        Raises:
            RulesUnsupportedError: not a CEP bolt, or built without ``rules_dir``.
            RulesRejectedError: the file does not compile; the running rules go on.
            RulesNotAppliedError: a running task did not apply it in time.
        """

    def kafka_lag(self) -> dict[str, list[PartitionLag]]:
        """Per Kafka spout component, one entry per assigned partition."""

    def set_sampling(self, component: str | None, pct: float, sink: SampleSink | None) -> None:
        """Sample ``pct`` percent of the tuples ``component`` (None: every component)
        emits into ``sink``; ``sink`` None (or pct 0) stops sampling."""


class ClusterSource(Protocol):
    """A runtime the UI watches: its topologies, and the actions on them."""

    started_at: float          # time.monotonic() when the master (Nimbus role) started

    def topologies(self) -> dict[str, TopologySource]: ...

    def nimbus(self) -> NimbusSummary:
        """The master (Nimbus role)."""

    def supervisors(self) -> list[SupervisorSummary]:
        """The machines that run workers, each with its worker processes."""

    def activate(self, name: str) -> None: ...

    def deactivate(self, name: str) -> None: ...

    def kill(self, name: str, wait_s: float) -> None:
        """Stop ``name``, draining up to ``wait_s`` seconds (0: at once); blocks until
        it stopped."""

    def rebalance(self, name: str, wait_s: float, num_workers: int | None,
                  executors: Mapping[str, int]) -> None:
        """Storm's rebalance. Raises :class:`RebalanceUnsupportedError` where impossible."""


class LocalSource:
    """:class:`ClusterSource` over a :class:`LocalCluster`: one process, one worker per
    topology, on :data:`HOST` with no port."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.started_at = time.monotonic()
        self._topologies: dict[str, LocalTopology] = {}
        self._lock = threading.Lock()

    def topologies(self) -> dict[str, LocalTopology]:
        handles = self.cluster.topologies()
        with self._lock:
            out = {}
            for name, handle in handles.items():
                # One wrapper per run (it holds the run's sampling taps); a new run of the
                # same name gets a new one.
                wrapped = self._topologies.get(name)
                if wrapped is None or wrapped.handle is not handle:
                    wrapped = LocalTopology(handle)
                out[name] = wrapped
            self._topologies = out
            return out

    def nimbus(self) -> NimbusSummary:
        # The master's role is this process, with no Thrift port.
        return NimbusSummary(HOST, None, os.getpid(), time.monotonic() - self.started_at)

    def supervisors(self) -> list[SupervisorSummary]:
        workers = tuple((name, 0, os.getpid()) for name in sorted(self.topologies()))
        return [SupervisorSummary("local", HOST, time.monotonic() - self.started_at,
                                  float(os.cpu_count() or 1) * 100.0, 0.0, workers, os.getpid())]

    def activate(self, name: str) -> None:
        self.cluster.activate(name)

    def deactivate(self, name: str) -> None:
        self.cluster.deactivate(name)

    def kill(self, name: str, wait_s: float) -> None:
        self.cluster.kill_topology(name, wait_s or None)

    def rebalance(self, name: str, wait_s: float, num_workers: int | None,
                  executors: Mapping[str, int]) -> None:
        raise RebalanceUnsupportedError(
            f"topology {name!r} runs on the local runtime: one worker in this process, whose "
            f"executors all share one thread, so there is nothing to rebalance. Rebalance "
            f"needs the cluster runtime (squall submit, the Ray workers)")


class LocalTopology:
    """:class:`TopologySource` over one :class:`TopologyHandle` of a LocalCluster."""

    def __init__(self, handle: TopologyHandle) -> None:
        self.handle = handle
        self.worker = handle.worker
        self.name = handle.name
        self.topology = handle.worker.topology
        self.shape = TopologyShape.of(self.topology)
        self.conf = handle.worker.conf
        self.reader = WorkerReader(handle.worker)

    @property
    def running(self) -> bool:
        return self.handle.running

    def active(self) -> bool:
        return self.reader.active()

    def uptime_s(self) -> float:
        return self.reader.uptime_s()

    def stats(self) -> dict[str, ComponentStats]:
        return self.handle.stats()

    def executors(self) -> list[ExecutorSummary]:
        return self.reader.executors()

    def stream_transferred(self) -> dict[str, dict[str, int]]:
        return self.reader.stream_transferred()

    def errors(self) -> dict[str, list[ErrorRecord]]:
        return self.reader.errors()

    def workers(self) -> list[WorkerSummary]:
        return [self.reader.summary(os.getpid())]

    def checkpoint_stats(self) -> list[CheckpointStats]:
        cs = self.worker.checkpoint_stats
        return [] if cs is None else [cs]

    def statements(self) -> list[StatementSummary]:
        return self.reader.statements()

    def rules_dir(self, component: str) -> str:
        return rules_dir_of(self.topology, self.name, component)

    def event_types(self, component: str) -> dict[str, dict[str, type]]:
        return self.reader.event_types(component)

    def apply_rules(self, component: str, text: str) -> dict[str, Any]:
        from .actions import apply_rules_to

        return apply_rules_to(self, component, text)

    def kafka_lag(self) -> dict[str, list[PartitionLag]]:
        return self.reader.kafka_lag()

    def set_sampling(self, component: str | None, pct: float, sink: SampleSink | None) -> None:
        self.reader.set_sampling(component, pct, sink)


def rules_dir_of(topology: Topology, name: str, component: str) -> str:
    """The rules directory of CEP bolt ``component`` of topology ``name``.

    Raises:
        RulesUnsupportedError: not a CEP bolt, or built without ``rules_dir``.
    """
    module = sys.modules.get("squall.cep.bolt")
    spec = topology.components.get(component)
    if spec is None or module is None or not isinstance(spec.obj, module.CepBolt):
        raise RulesUnsupportedError(f"component {component!r} of topology {name!r} is not a "
                                    f"CEP bolt (squall.cep.CepBolt): it runs no rules")
    if spec.obj.rules_dir is None:
        raise RulesUnsupportedError(
            f"CEP bolt {component!r} of topology {name!r} was built without rules_dir: its "
            f"rules cannot change while it runs (build it with CepBolt(..., rules_dir=DIR))")
    return spec.obj.rules_dir


class WorkerReader:
    """Reads one :class:`~squall.runtime.worker.Worker`'s live objects, in the process
    that runs it: per-executor figures, errors with their times, per-stream transfers,
    CEP statements, Kafka partitions; and taps its routes for event sampling.

    Args:
        worker: the worker (running or not yet started).
        index: the worker's index among its topology's workers.
        host, port: where the worker runs, as the figures report it.
        supervisor: the id of the machine (node) it runs on.

    Every method is a snapshot safe to take from another thread while the worker runs.
    """

    def __init__(self, worker: Any, index: int = 0, host: str = HOST, port: int | None = None,
                 supervisor: str = "local") -> None:
        self.worker = worker
        self.index = index
        self.host = host
        self.port = port
        self.supervisor = supervisor
        self._tapped: dict[int, tuple[Any, Any, Any]] = {}    # id(route) -> (route, choose, fixed)
        self._tap_lock = threading.Lock()

    def active(self) -> bool:
        spouts = self.worker.spout_tasks
        return any(t.active for t in spouts) or not spouts

    def uptime_s(self) -> float:
        started = self.worker.started_at
        return time.monotonic() - started if started is not None else 0.0

    def summary(self, pid: int) -> WorkerSummary:
        tasks: dict[str, int] = {}
        for ex in self.worker.executors:
            tasks[ex.component] = tasks.get(ex.component, 0) + len(ex.tasks)
        return WorkerSummary(self.index, self.host, self.port, pid, self.uptime_s(),
                             len(self.worker.executors), tasks, self.supervisor)

    def executors(self) -> list[ExecutorSummary]:
        uptime = self.uptime_s()
        out = []
        for ex in self.worker.executors:
            for task in ex.tasks:
                task.sync_counters()        # publish the hot counters, as stats() does
            counters = [t.counters for t in ex.tasks]
            executed = sum(c.executed for c in counters)
            process = [c.process_latency for c in counters]
            complete = [c.complete_latency for c in counters]
            exec_s = sum(c.exec_s for c in counters)
            out.append(ExecutorSummary(
                ex.component, tuple(t.task_id for t in ex.tasks), self.index, self.host, self.port, uptime,
                emitted=sum(sum(c.emitted.values()) for c in counters),
                transferred=sum(c.transferred for c in counters),
                acked=sum(c.acked for c in counters), failed=sum(c.failed for c in counters),
                executed=executed,
                execute_latency_ms=exec_s / executed * 1000.0 if executed else None,
                process_latency_ms=_mean_ms(process), complete_latency_ms=_mean_ms(complete),
                capacity=ex.capacity))
        return out

    def stream_transferred(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for ex in self.worker.executors:
            per_stream = out.setdefault(ex.component, {})
            for task in ex.tasks:
                for stream, route in task.routes.items():
                    per_stream[stream] = per_stream.get(stream, 0) + route.transferred()
        return out

    def errors(self) -> dict[str, list[ErrorRecord]]:
        # ComponentStats keeps the texts without their times: read the task counters.
        out: dict[str, list[ErrorRecord]] = {}
        for ex in self.worker.executors:
            for task in ex.tasks:
                out.setdefault(ex.component, []).extend(
                    ErrorRecord(t, text, task.task_id, self.index, self.host, self.port)
                    for t, text in list(task.counters.errors))
        for errors in out.values():
            errors.sort(key=lambda e: e.time_s)
        return out

    def _cep_tasks(self) -> list[Any]:
        # Only a topology that imported CepBolt can run one: no import (of the EPL
        # compiler) here. prepare() builds the engine; a task not prepared has none.
        module = sys.modules.get("squall.cep.bolt")
        if module is None:
            return []
        return [t for t in self.worker.bolt_tasks if isinstance(t.obj, module.CepBolt) and hasattr(t.obj, "engine")]

    def statements(self) -> list[StatementSummary]:
        tasks = self._cep_tasks()
        if not tasks:
            return []
        from ..cep.bolt import DYNAMIC_STREAM

        out = []
        for task in tasks:
            bolt = task.obj
            declared = bolt.declared_streams()
            for st in list(bolt.engine.statements):
                stream = declared.get(st.name, (DYNAMIC_STREAM,))[0]
                out.append(StatementSummary(task.component, task.context.task_index, st.name, st.text,
                                            st.events_in, st.rows_out, stream, bolt.rules_dir))
        return out

    def event_types(self, component: str) -> dict[str, dict[str, type]]:
        for task in self._cep_tasks():
            if task.component == component:
                return dict(task.obj.engine.event_types)
        return {}

    def kafka_lag(self) -> dict[str, list[PartitionLag]]:
        # Only a topology that imported the Kafka spout can run one: no import here.
        module = sys.modules.get("squall.connectors.kafka.spout")
        if module is None:
            return {}
        out: dict[str, list[PartitionLag]] = {}
        for task in self.worker.spout_tasks:
            if isinstance(task.obj, module.KafkaSpout):
                out.setdefault(task.component, []).extend(
                    PartitionLag(p["topic"], p["partition"], task.task_id, p["committed"], p["done"], p["head"])
                    for p in task.obj.partition_offsets())
        return out

    def set_sampling(self, component: str | None, pct: float, sink: SampleSink | None) -> None:
        tasks = [t for t in [*self.worker.spout_tasks, *self.worker.bolt_tasks]
                 if component is None or t.component == component]
        with self._tap_lock:
            for task in tasks:
                for route in task.routes.values():
                    self._untap(route)
                    if sink is not None and pct > 0:
                        self._tap(route, pct / 100.0, sink)

    def _tap(self, route: Any, share: float, sink: SampleSink) -> None:
        """Sample at the route's ``choose``, which every grouped emit calls (a direct
        emit names its task and is not sampled). Both attributes are swapped one at a
        time, each store atomic, and either order routes every tuple right."""
        choose, fixed = route.choose, route.fixed
        self._tapped[id(route)] = (route, choose, fixed)
        src = route.source
        component, task, stream = src.component, src.task, src.stream
        rand = random.random

        if fixed:
            def sampled(values):
                if rand() < share:
                    sink(component, task, stream, values)
                return fixed
        else:
            def sampled(values):
                if rand() < share:
                    sink(component, task, stream, values)
                return choose(values)
        route.choose = sampled
        route.fixed = None

    def _untap(self, route: Any) -> None:
        saved = self._tapped.pop(id(route), None)
        if saved is not None:
            _, choose, fixed = saved
            route.fixed = fixed
            route.choose = choose


def _mean_ms(samples: list[Any]) -> float | None:
    n = sum(s.count for s in samples)
    return sum(s.total_s for s in samples) / n * 1000.0 if n else None
