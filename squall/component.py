"""Spouts, bolts, and what the runtime hands them: context and output collectors.

Lifecycle contract (as Storm's ``ISpout``/``IBolt``): a component object given to the
``TopologyBuilder`` is a *spec*; the runtime copies it once per task and calls
``open``/``prepare`` on the copy in the worker, so open connections and files there,
never in ``__init__``. ``next_tuple``, ``ack``, ``fail``, ``activate`` and
``deactivate`` of a spout run on one thread, so ``next_tuple`` must not block: return
without emitting when there is nothing to emit.

Semantics: Storm "Concepts", "Guaranteeing Message Processing";
``org.apache.storm.spout.ISpout``, ``org.apache.storm.task.IBolt``,
``org.apache.storm.topology.base.BaseBasicBolt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import SquallError
from .tuple import DEFAULT_STREAM, Fields, Tuple

if TYPE_CHECKING:
    from .state import KeyValueState

__all__ = [
    "Spout", "Bolt", "BasicBolt", "Component", "OutputFieldsDeclarer", "StreamSpec",
    "TopologyContext", "SpoutOutputCollector", "OutputCollector", "BasicOutputCollector",
    "FailedException", "ReportedFailedException", "Stateful", "CountMetric", "AssignableMetric",
]


class FailedException(SquallError):
    """Raised from a ``BasicBolt.process`` to fail its input tuple (Storm's ``FailedException``)."""


class ReportedFailedException(FailedException):
    """Like :class:`FailedException`, and the error is also reported to the component's errors."""


@dataclass(frozen=True)
class StreamSpec:
    """A declared output stream: its fields, and whether it is routed by ``emit_direct``."""

    fields: Fields
    direct: bool = False


class OutputFieldsDeclarer:
    """Collects the streams a component declares in ``declare_output_fields``."""

    def __init__(self) -> None:
        self.streams: dict[str, StreamSpec] = {}

    def declare(self, fields: Sequence[str] | Fields, direct: bool = False) -> None:
        """Declare the default stream's fields."""
        self.declare_stream(DEFAULT_STREAM, fields, direct=direct)

    def declare_stream(self, stream: str, fields: Sequence[str] | Fields, direct: bool = False) -> None:
        """Declare a named stream.

        Raises:
            ValueError: the stream is declared twice, or the name is reserved (``__``).
        """
        if stream in self.streams:
            raise ValueError(f"stream {stream!r} is declared twice")
        if stream.startswith("__"):
            raise ValueError(f"stream ids starting with '__' are reserved for the system: {stream!r}")
        self.streams[stream] = StreamSpec(Fields(fields), direct)


class Component:
    """What spouts and bolts share: output declaration and per-component config."""

    def declare_output_fields(self, declarer: OutputFieldsDeclarer) -> None:
        """Declare output streams; the default declares none (a sink)."""

    def component_configuration(self) -> Mapping[str, Any] | None:
        """Config keys that apply to this component only (e.g. tick tuple frequency)."""
        return None

    def single_writer_keys(self) -> frozenset[str]:
        """Resources only one OS process may open for writing (an embedded RocksDB
        store's directory), as strings. The cluster runs every task naming the same key
        in one worker process; network stores (Redis, HBase) name none."""
        return frozenset()


class CountMetric:
    """A counter a task registers with ``context.register_metric`` (Storm's ``CountMetric``).

    Its value is summed over the component's tasks in ``ComponentStats.metrics``; it is
    never reset by reading (Squall reports totals, as Storm UI does).
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def incr(self, by: int = 1) -> None:
        self.value += by


class AssignableMetric:
    """A value a task sets (Storm's ``AssignableMetric``); numbers are summed over the
    component's tasks, anything else is reported as the first task's non-None value."""

    __slots__ = ("value",)

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def set_value(self, value: Any) -> None:
        self.value = value


@dataclass
class TopologyContext:
    """What a task knows about itself and the topology it runs in.

    Attributes:
        topology: the ``Topology`` being run.
        component_id: this task's component.
        task_id: this task's id (ids are dense, from 1, in component-name order).
        component_tasks: the task ids of this component, ascending.
        worker_tasks: the task ids hosted by this task's worker process.
        config: the topology config merged with the component's own.
    """

    topology: Any
    component_id: str
    task_id: int
    component_tasks: tuple[int, ...]
    worker_tasks: frozenset[int] = field(default_factory=frozenset)
    config: Mapping[str, Any] = field(default_factory=dict)
    metrics: dict[str, CountMetric | AssignableMetric] = field(default_factory=dict)

    def register_metric(self, name: str, metric, time_bucket_secs: int = 60):
        """Publish ``metric`` (a :class:`CountMetric` or :class:`AssignableMetric`) under
        ``name`` in this component's stats (``ComponentStats.metrics``), wherever the task
        runs; returns it. ``time_bucket_secs`` is accepted for Storm's signature.

        Raises:
            ValueError: ``name`` is already registered by this task.

        Semantics: Storm ``TopologyContext.registerMetric`` ("Metrics" doc).
        """
        if name in self.metrics:
            raise ValueError(f"metric {name!r} is registered twice by {self.component_id}[{self.task_id}]")
        self.metrics[name] = metric
        return metric

    @property
    def task_index(self) -> int:
        """Position of this task among its component's tasks, 0-based."""
        return self.component_tasks.index(self.task_id)

    def component_output_fields(self, component: str, stream: str = DEFAULT_STREAM) -> Fields:
        return self.topology.components[component].streams[stream].fields

    def tasks_of(self, component: str) -> tuple[int, ...]:
        return self.topology.task_ids(component)


class SpoutOutputCollector:
    """Given to ``Spout.open``; implemented by the runtime."""

    def emit(self, values: Sequence[Any], stream: str = DEFAULT_STREAM, message_id: Any = None,
             direct_task: int | None = None) -> list[int]:
        """Emit a tuple; with a ``message_id`` its tree is tracked and the spout's
        ``ack``/``fail`` is called with that id. Returns the task ids it went to.

        Raises:
            KeyError: ``stream`` was not declared.
            ValueError: ``values`` does not hold one value per declared field of
                ``stream`` (``squall.runtime.errors.FieldCountError``).
        """
        raise NotImplementedError

    def emit_direct(self, task: int, values: Sequence[Any], stream: str = DEFAULT_STREAM,
                    message_id: Any = None) -> None:
        self.emit(values, stream, message_id, direct_task=task)

    def report_error(self, error: BaseException) -> None:
        raise NotImplementedError


class OutputCollector:
    """Given to ``Bolt.prepare``; implemented by the runtime."""

    def emit(self, values: Sequence[Any], stream: str = DEFAULT_STREAM, anchors: Sequence[Tuple] = (),
             direct_task: int | None = None) -> list[int]:
        """Emit a tuple anchored to ``anchors`` (each must be acked or failed later).

        Returns the task ids it went to.

        Raises:
            KeyError: ``stream`` was not declared.
            ValueError: ``values`` does not hold one value per declared field of
                ``stream`` (``squall.runtime.errors.FieldCountError``).
        """
        raise NotImplementedError

    def emit_direct(self, task: int, values: Sequence[Any], stream: str = DEFAULT_STREAM,
                    anchors: Sequence[Tuple] = ()) -> None:
        self.emit(values, stream, anchors, direct_task=task)

    def ack(self, tup: Tuple) -> None:
        raise NotImplementedError

    def fail(self, tup: Tuple) -> None:
        raise NotImplementedError

    def report_error(self, error: BaseException) -> None:
        raise NotImplementedError


class Spout(Component):
    """A source of tuples. Subclass and override ``next_tuple``.

    ``ack(msg_id)`` is called when the tuple tree of a tuple emitted with ``msg_id``
    completed; ``fail(msg_id)`` when it failed or timed out
    (``topology.message.timeout.secs``). Replaying is the spout's job: re-emit the
    values for ``msg_id`` from ``fail``/``next_tuple``.

    A finite spout returns True from ``emitted_all()`` once it has emitted everything
    and from ``exhausted()`` once all of it was acked too; a bounded run calls the bolts'
    ``end_of_input`` when every spout has emitted all, and ends when every spout is
    exhausted.
    """

    def open(self, config: Mapping[str, Any], context: TopologyContext, collector: SpoutOutputCollector) -> None:
        self.collector = collector

    def next_tuple(self) -> None:
        raise NotImplementedError

    def ack(self, msg_id: Any) -> None:
        """The tree of ``msg_id`` completed."""

    def fail(self, msg_id: Any) -> None:
        """The tree of ``msg_id`` failed or timed out."""

    def activate(self) -> None:
        """Called when the topology is activated; ``next_tuple`` calls follow."""

    def deactivate(self) -> None:
        """Called when deactivated; no ``next_tuple`` until ``activate``, acks still arrive."""

    def close(self) -> None:
        """Called on shutdown; not guaranteed after a kill."""

    def exhausted(self) -> bool:
        """True once a finite source is done: everything emitted and acked. Unbounded: False."""
        return False

    def emitted_all(self) -> bool:
        """True once a finite source will emit nothing new (replays of failed tuples
        aside), even if some trees are still pending. Bounded runs then call the bolts'
        ``end_of_input``, which may be what completes those trees (a window that acks
        its tuples when it fires). Defaults to ``exhausted()``."""
        return self.exhausted()


class Bolt(Component):
    """A processing step. Override ``process``; ack or fail every input tuple.

    An exception escaping ``process`` is reported and fails the input tuple (its tree
    is replayed by the spout); the topology keeps running. This differs from Storm,
    where it kills the worker, because one bad record must not stop a pipeline.

    ``process_batch`` may be overridden to take a whole drained batch at once (sinks
    that write in batches); the default calls ``process`` per tuple.

    ``end_of_input`` is called once every spout has emitted all its input and every
    inbox is drained (trees may still be pending) and may emit: it is where a window
    flushes at end of input, as Flink's ``endInput``.
    """

    def prepare(self, config: Mapping[str, Any], context: TopologyContext, collector: OutputCollector) -> None:
        self.collector = collector

    def process(self, tup: Tuple) -> None:
        raise NotImplementedError

    def process_batch(self, tuples: list[Tuple]) -> None:
        process = self.process
        for t in tuples:
            process(t)

    def end_of_input(self) -> None:
        """All input has been delivered (bounded runs only)."""

    def poll(self) -> int:
        """Settle work finished in the background (e.g. ack tuples whose write completed).

        The runtime calls it on the bolt's thread every scheduling pass, only for bolt
        classes that override it. Returns how many tuples it settled; ``in_flight()``
        says how many still wait. Use it to keep blocking I/O off the worker loop.
        """
        return 0

    def in_flight(self) -> int:
        """Tuples taken but not yet settled by ``poll`` (0 for synchronous bolts)."""
        return 0

    def cleanup(self) -> None:
        """Called on graceful shutdown; not guaranteed after a kill."""


class BasicOutputCollector:
    """Emits anchored to the current input tuple; used by :class:`BasicBolt`."""

    __slots__ = ("_collector", "input")

    def __init__(self, collector: OutputCollector) -> None:
        self._collector = collector
        self.input: Tuple | None = None

    def emit(self, values: Sequence[Any], stream: str = DEFAULT_STREAM) -> list[int]:
        return self._collector.emit(values, stream, (self.input,))

    def emit_direct(self, task: int, values: Sequence[Any], stream: str = DEFAULT_STREAM) -> None:
        self._collector.emit(values, stream, (self.input,), direct_task=task)

    def report_error(self, error: BaseException) -> None:
        self._collector.report_error(error)


class BasicBolt(Bolt):
    """A bolt whose emits are anchored to the input and whose input is acked for it.

    Override ``execute(tup, collector)`` (a :class:`BasicOutputCollector`). Any
    exception fails the input tuple, like Storm's ``FailedException``, and is reported
    (unless it is a plain :class:`FailedException`).

    Semantics: Storm ``BaseBasicBolt`` / ``BasicBoltExecutor``.
    """

    def prepare(self, config, context, collector):
        self.collector = collector
        self._basic = BasicOutputCollector(collector)
        self.prepare_basic(config, context)

    def prepare_basic(self, config: Mapping[str, Any], context: TopologyContext) -> None:
        """Override for set-up; the basic collector is passed to ``execute``."""

    def execute(self, tup: Tuple, collector: BasicOutputCollector) -> None:
        raise NotImplementedError

    def process(self, tup):
        basic = self._basic
        basic.input = tup
        try:
            self.execute(tup, basic)
        except FailedException as exc:
            if isinstance(exc, ReportedFailedException):
                self.collector.report_error(exc)
            self.collector.fail(tup)
            return
        except Exception as exc:
            self.collector.report_error(exc)
            self.collector.fail(tup)
            return
        self.collector.ack(tup)


class Stateful:
    """Mixin for a spout or bolt whose state is part of the topology's checkpoints.

    With a state backend the runtime gives each task of a stateful component its own
    :class:`~squall.state.KeyValueState` (namespace = component, task) and drives it
    through checkpoints:

    * ``init_state(state)`` - once, after ``open``/``prepare`` and before any tuple:
      ``state`` holds what the last *complete* checkpoint committed (empty on a first
      run). Restore from it here: a spout rewinds to its checkpointed position, a bolt
      reloads its windows. Keep ``state`` to write to later.
    * ``pre_prepare(txid)`` - a checkpoint is being taken: every tuple emitted before
      it has been processed (the barrier is aligned). Put everything needed to resume
      into ``state``; the runtime then stages every task's state
      (``prepare_commit(txid)``) and commits them all once all are staged.
    * ``checkpoint_complete(txid)`` - checkpoint ``txid`` is durable. Append-style sinks
      publish here what they buffered up to it (Flink's ``notifyCheckpointComplete``);
      it may run again for the same data after a crash, so publishing must be
      idempotent (e.g. truncate to the offset recorded in the state, then append).

    A stateful bolt that holds input tuples past ``pre_prepare`` (a window) should ack
    them there once they are in the state, as Storm's stateful windowed bolt does, so
    the spout does not also replay them after a recovery.

    Semantics: Storm 2 "State Checkpointing" (``IStatefulComponent``: initState,
    preCommit/prePrepare), Flink "Checkpointing" (aligned barriers,
    ``CheckpointListener.notifyCheckpointComplete``).
    """

    def init_state(self, state: KeyValueState) -> None:
        self.state = state

    def pre_prepare(self, txid: int) -> None:
        """Write in-memory state into ``self.state`` before checkpoint ``txid`` is staged."""

    def checkpoint_complete(self, txid: int) -> None:
        """Checkpoint ``txid`` is durable: publish what it covers."""
