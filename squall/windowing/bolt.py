"""Windowed bolts: the user's window logic, and the executor bolt that runs it.

A user subclasses :class:`WindowedBolt` and implements ``execute_window``; the
topology gets a :class:`WindowedBoltExecutor` wrapping it, which is an ordinary
:class:`~squall.component.Bolt` to the runtime. The executor buffers tuples, tracks
the watermark, fires windows, routes late tuples and acks.

Semantics: Storm docs: Windowing Support in Core Storm (``BaseWindowedBolt``,
``WindowedBoltExecutor``, "Guarantees", "Watermarks", ``withLateTupleStream``).

Guarantees (Storm's): everything ``execute_window`` emits is anchored to every tuple
of the window unless other anchors are given; an input tuple is acked once it has
expired from every window (or at end of input, after the last windows fired); a late
tuple is emitted on the late stream anchored to itself, then acked. So
``topology.message.timeout.secs`` must exceed ``length + slide`` for duration windows
(checked in ``prepare``); for count windows ``length + slide`` tuples must arrive
within the timeout.

Bounded runs: the runtime calls ``end_of_input`` once every spout has emitted all its
input (``Spout.emitted_all``), before their trees complete, so the last windows fire
and ack their tuples and the run ends.

Checkpoints (Storm's stateful windowing): with a state backend the executor is
:class:`~squall.component.Stateful`. At each checkpoint it stores every tuple it
holds (values and origin), the watermark and the per-stream latest timestamps, then
acks the held tuples, as Storm's ``StatefulWindowedBoltExecutor`` acks tuples once
they are checkpointed: the spouts then do not replay them, and a recovery restores
them into the windows instead. Restored tuples are unanchored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from squall.component import (Bolt, Component, OutputCollector, OutputFieldsDeclarer, Stateful,
                              TopologyContext)
from squall.config import MESSAGE_TIMEOUT_SECS, TICK_TUPLE_FREQ_SECS, acking_enabled
from squall.tuple import DEFAULT_STREAM, Tuple, TupleSource, is_tick

from .errors import TimestampError, WindowConfigError
from .manager import WindowManager
from .spec import WindowSpec
from .window import TupleWindow

__all__ = ["WindowedBolt", "WindowedBoltExecutor", "WindowedOutputCollector", "LATE_TUPLE_FIELD", "windowed"]

LATE_TUPLE_FIELD = "late_tuple"


class WindowedOutputCollector:
    """The collector a :class:`WindowedBolt` emits with.

    ``emit`` anchors to every tuple of the window being executed unless ``anchors`` is
    given. Acking is the executor's job, so there is no ``ack``/``fail``.
    """

    __slots__ = ("_collector", "window")

    def __init__(self, collector: OutputCollector) -> None:
        self._collector = collector
        self.window: TupleWindow | None = None

    def emit(self, values: Sequence[Any], stream: str = DEFAULT_STREAM, anchors: Sequence[Tuple] | None = None,
             direct_task: int | None = None) -> list[int]:
        """Emit ``values``; returns the task ids it went to. Raises KeyError for an undeclared stream."""
        if anchors is None:
            anchors = self.window.get() if self.window is not None else ()
        return self._collector.emit(values, stream, anchors, direct_task)

    def emit_direct(self, task: int, values: Sequence[Any], stream: str = DEFAULT_STREAM,
                    anchors: Sequence[Tuple] | None = None) -> None:
        self.emit(values, stream, anchors, direct_task=task)

    def report_error(self, error: BaseException) -> None:
        self._collector.report_error(error)


class WindowedBolt(Component):
    """A bolt that processes windows of tuples. Override ``execute_window``.

    Lifecycle: like a bolt (a spec, copied per task): ``prepare`` once, then
    ``execute_window`` per fired window in time order, ``cleanup`` at shutdown. Emit
    with ``self.collector`` (a :class:`WindowedOutputCollector`). Tick tuples are
    consumed by the executor and never reach this bolt.

    Semantics: Storm docs: Windowing Support in Core Storm (``IWindowedBolt``).
    """

    def prepare(self, config: Mapping[str, Any], context: TopologyContext,
                collector: WindowedOutputCollector) -> None:
        self.collector = collector

    def execute_window(self, window: TupleWindow[Tuple]) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Called on graceful shutdown."""


class WindowedBoltExecutor(Stateful, Bolt):
    """Runs a :class:`WindowedBolt` over windows described by a :class:`WindowSpec`.

    Args:
        bolt: the user's windowed bolt (a spec; copied per task with this executor).
        spec: the window, e.g. ``sliding(Duration(10_000), Duration(5_000), timestamp_field="ts")``.
        clock: seconds since the epoch, for processing time (default ``time.time``); must
            be picklable.

    Streams: the bolt's own, plus ``spec.late_stream`` with one field ``late_tuple``
    (the late tuple's values, a list).

    Watermarks (event time): the minimum over input streams of the latest timestamp
    seen, minus the lag; advanced on every tick tuple (``topology.tick.tuple.freq.secs``
    is set to the watermark interval) or, with interval 0, after every tuple; and at
    end of input, when every remaining window fires.

    Raises (from ``prepare``):
        WindowConfigError: acking is on and ``length + slide`` of a duration window
            reaches ``topology.message.timeout.secs``.
    Raises (per tuple, reported and failed by the runtime):
        TimestampError: the tuple lacks an int ``timestamp_field``.
    """

    def __init__(self, bolt: WindowedBolt, spec: WindowSpec, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(bolt, WindowedBolt):
            raise WindowConfigError(f"WindowedBoltExecutor wraps a WindowedBolt, got {type(bolt).__name__}; "
                                    f"subclass squall.windowing.WindowedBolt and implement execute_window")
        if not isinstance(spec, WindowSpec):
            raise WindowConfigError(f"spec must be a WindowSpec (use sliding(...) or tumbling(...)), got {spec!r}")
        self.bolt = bolt
        self.spec = spec
        self.clock = clock

    # -- declaration ----------------------------------------------------------------

    def declare_output_fields(self, declarer: OutputFieldsDeclarer) -> None:
        self.bolt.declare_output_fields(declarer)
        declarer.declare_stream(self.spec.late_stream, [LATE_TUPLE_FIELD])

    def component_configuration(self) -> Mapping[str, Any] | None:
        conf = dict(self.bolt.component_configuration() or {})
        spec = self.spec
        needs_ticks = spec.event_time or not spec.is_count
        if needs_ticks and spec.watermark_interval_ms > 0:
            conf[TICK_TUPLE_FREQ_SECS] = spec.watermark_interval_ms / 1000
        return conf

    # -- lifecycle ------------------------------------------------------------------

    def prepare(self, config: Mapping[str, Any], context: TopologyContext, collector: OutputCollector) -> None:
        spec = self.spec
        if not spec.is_count and acking_enabled(config):
            span_s = (spec.length.ms + spec.slide.ms) / 1000
            timeout_s = config.get(MESSAGE_TIMEOUT_SECS, 30)
            if span_s >= timeout_s:
                raise WindowConfigError(
                    f"bolt {context.component_id!r}: window length + slide is {span_s:g} s but "
                    f"{MESSAGE_TIMEOUT_SECS} is {timeout_s}; tuples would time out while still in a "
                    f"window and be replayed. Raise the timeout above {span_s:g} s or shorten the window")
        self.collector = collector
        self.context = context
        self._wcollector = WindowedOutputCollector(collector)
        self._manager = WindowManager(spec.length, spec.slide, event_time=spec.event_time)
        self._ts_field = spec.timestamp_field
        self._lag = spec.lag_ms
        self._per_tuple = spec.event_time and spec.watermark_interval_ms == 0
        self._count_on_arrival = spec.is_count and not spec.event_time
        self._latest: dict[tuple[str, str], int] = {}   # Storm's per-input-stream latest ts
        self._late_stream = spec.late_stream
        self.bolt.prepare(config, context, self._wcollector)

    def process(self, tup: Tuple) -> None:
        if is_tick(tup):
            self._on_tick()
            return
        manager = self._manager
        if self._ts_field is None:
            ts = round(self.clock() * 1000)
        else:
            ts = tup.get(self._ts_field)
            if type(ts) is not int:
                raise TimestampError(
                    f"field {self._ts_field!r} must hold event time as an int of epoch ms, got {ts!r}",
                    tup.values, component=self.context.component_id, stream=tup.stream)
            key = (tup.source.component, tup.source.stream)
            if ts > self._latest.get(key, -(1 << 62)):
                self._latest[key] = ts
        if not manager.add(ts, tup):
            # Late: to the late stream, anchored, then acked (never dropped).
            self.collector.emit([list(tup.values)], self._late_stream, (tup,))
            self.collector.ack(tup)
            return
        if self._count_on_arrival:
            self._fire(manager.ready())
        elif self._per_tuple:
            self._fire(manager.advance(self._watermark()))

    def _watermark(self) -> int:
        return min(self._latest.values()) - self._lag

    def _on_tick(self) -> None:
        if self._ts_field is None:
            if not self.spec.is_count:
                self._fire(self._manager.advance(round(self.clock() * 1000)))
        elif self._latest:
            self._fire(self._manager.advance(self._watermark()))

    def _fire(self, windows: list[TupleWindow]) -> None:
        if not windows:
            return
        wc = self._wcollector
        execute = self.bolt.execute_window
        ack = self.collector.ack
        for window in windows:
            wc.window = window
            try:
                execute(window)
            except Exception as exc:   # the window's tuples stay at-least-once: reported, acked on expiry
                self.collector.report_error(exc)
            finally:
                wc.window = None
            for t in window.get_expired():
                ack(t)

    def end_of_input(self) -> None:
        windows, held = self._manager.flush()
        self._fire(windows)
        ack = self.collector.ack
        for t in held:
            ack(t)

    # -- checkpoints ------------------------------------------------------------------

    def init_state(self, state) -> None:
        self.state = state
        self._manager = WindowManager(self.spec.length, self.spec.slide, event_time=self.spec.event_time)
        self._latest = {}
        saved = state.get("window")
        if saved is None:
            return
        topo = self.context.topology
        sources: dict[tuple[str, int, str], TupleSource] = {}

        def decode(item):
            values, component, task, stream = item
            src = sources.get((component, task, stream))
            if src is None:
                fields = topo.components[component].streams[stream].fields
                src = sources[(component, task, stream)] = TupleSource(component, task, stream, fields)
            return Tuple(values, src, None)

        self._manager.restore(saved["manager"], decode)
        self._latest = {tuple(k): v for k, v in saved["latest"]}

    def pre_prepare(self, txid: int) -> None:
        ack = self.collector.ack
        held: dict[int, Tuple] = {}

        def unanchor(t: Tuple) -> Tuple:
            # Checkpointed now: ack the tree once and keep an unanchored copy, so the
            # expiry ack later settles nothing twice.
            copy = held.get(id(t))
            if copy is None:
                if t.message_id is not None:
                    ack(t)
                copy = held[id(t)] = Tuple(t.values, t.source, None)
            return copy

        manager = self._manager
        manager.map_items(unanchor)
        self.state.put("window", {
            "manager": manager.snapshot(lambda t: (list(t.values), t.source.component, t.source.task,
                                                   t.source.stream)),
            "latest": [(list(k), v) for k, v in self._latest.items()]})

    def cleanup(self) -> None:
        self.bolt.cleanup()


def windowed(bolt: WindowedBolt, spec: WindowSpec, clock: Callable[[], float] = time.time) -> WindowedBoltExecutor:
    """``WindowedBoltExecutor(bolt, spec)``: what to pass to ``TopologyBuilder.set_bolt``."""
    return WindowedBoltExecutor(bolt, spec, clock)
