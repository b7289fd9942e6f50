"""LocalCluster lifecycle, direct streams, ticks, end of input, error reporting."""

import time

from squall import Bolt, Spout, TopologyBuilder
from squall.config import TICK_TUPLE_FREQ_SECS
from squall.runtime import LocalCluster, run_topology
from squall.testing import ListSink, ListSpout
from squall.tuple import is_tick


class Counter(Spout):
    """Emits 0, 1, 2, ... forever, reliably; records activations."""

    def __init__(self, name):
        self.name = name

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def open(self, config, context, collector):
        self.collector, self.i = collector, 0
        self.pending = set()

    def next_tuple(self):
        self.pending.add(self.i)
        self.collector.emit([self.i], message_id=self.i)
        self.i += 1

    def ack(self, msg_id):
        self.pending.discard(msg_id)
        ListSink.record(self.name + "-acked", [msg_id])

    def activate(self):
        ListSink.record(self.name + "-events", ["activate"])

    def deactivate(self):
        ListSink.record(self.name + "-events", ["deactivate"])


def _wait_for(cond, timeout=5.0):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_kill_with_wait_drains_everything_in_flight():
    for n in ("drain", "drain-acked", "drain-events"):
        ListSink.reset(n)
    b = TopologyBuilder()
    b.set_spout("src", Counter("drain"))
    b.set_bolt("sink", ListSink("drain"), 2).shuffle_grouping("src")
    with LocalCluster() as cluster:
        cluster.submit_topology("t", {"topology.max.spout.pending": 100}, b.build())
        _wait_for(lambda: len(ListSink.values("drain")) > 1000)
        cluster.kill_topology("t", wait_secs=5)
    received = sorted(v[0] for v in ListSink.values("drain"))
    acked = sorted(v[0] for v in ListSink.values("drain-acked"))
    # Everything emitted was delivered once and acked before the topology stopped.
    assert received == list(range(len(received)))
    assert acked == received
    assert [v[0] for v in ListSink.values("drain-events")] == ["activate", "deactivate"]


def test_deactivate_stops_next_tuple_and_activate_resumes():
    for n in ("act", "act-acked", "act-events"):
        ListSink.reset(n)
    b = TopologyBuilder()
    b.set_spout("src", Counter("act"))
    b.set_bolt("sink", ListSink("act")).shuffle_grouping("src")
    with LocalCluster() as cluster:
        cluster.submit_topology("t", {"topology.max.spout.pending": 10}, b.build())
        _wait_for(lambda: len(ListSink.values("act")) > 100)
        cluster.deactivate("t")
        _wait_for(lambda: ListSink.values("act-events")[-1] == ["deactivate"])
        time.sleep(0.05)
        frozen = len(ListSink.values("act"))
        time.sleep(0.2)
        assert len(ListSink.values("act")) == frozen
        cluster.activate("t")
        _wait_for(lambda: len(ListSink.values("act")) > frozen + 100)
        stats = cluster.get_stats("t")
        assert stats["src"].emitted >= frozen + 100
        cluster.kill_topology("t")


class Router(Bolt):
    """Sends each number directly to the sink task chosen by n % tasks."""

    def declare_output_fields(self, declarer):
        declarer.declare_stream("to", ["n"], direct=True)

    def prepare(self, config, context, collector):
        self.collector = collector
        self.targets = context.tasks_of("sink")

    def process(self, tup):
        n = tup[0]
        self.collector.emit_direct(self.targets[n % len(self.targets)], [n], "to", anchors=[tup])
        self.collector.ack(tup)


class WhoAmI(Bolt):
    def prepare(self, config, context, collector):
        self.collector, self.task = collector, context.task_id

    def process(self, tup):
        ListSink.record("direct", [self.task, tup[0]])
        self.collector.ack(tup)


def test_emit_direct_reaches_the_named_task():
    ListSink.reset("direct")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(12)], ["n"]))
    b.set_bolt("router", Router()).shuffle_grouping("src")
    b.set_bolt("sink", WhoAmI(), 3).direct_grouping("router", "to")
    topo = b.build()
    assert run_topology(topo, timeout_s=10).completed
    tasks = topo.task_ids("sink")
    assert sorted(tuple(v) for v in ListSink.values("direct")) == sorted((tasks[n % 3], n) for n in range(12))


class BadEmitter(Bolt):
    def prepare(self, config, context, collector):
        self.collector = collector

    def process(self, tup):
        if tup[0] == 0:
            self.collector.emit([1], "nowhere")
        if tup[0] == 1:
            self.collector.emit_direct(999, [1], "to")
        self.collector.ack(tup)

    def declare_output_fields(self, declarer):
        declarer.declare_stream("to", ["n"], direct=True)


def test_undeclared_stream_and_bad_direct_task_are_reported_not_fatal():
    ListSpout.reset("bad-emit")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[0], [1], [2]], ["n"], name="bad-emit", max_replays=0))
    b.set_bolt("bad", BadEmitter()).shuffle_grouping("src")
    result = run_topology(b.build(), timeout_s=10)
    assert result.completed
    errors = " ".join(result.stats["bad"].last_errors)
    assert "stream 'nowhere', which it does not declare" in errors
    assert "task 999" in errors
    assert sorted(ListSpout.failed("bad-emit")) == [0, 1]
    assert ListSpout.acked("bad-emit") == [2]


class TickCounter(Bolt):
    def component_configuration(self):
        return {TICK_TUPLE_FREQ_SECS: 0.1}

    def prepare(self, config, context, collector):
        self.collector = collector

    def process(self, tup):
        if is_tick(tup):
            ListSink.record("ticks", [time.monotonic()])


def test_tick_tuples_arrive_at_the_configured_frequency():
    ListSink.reset("ticks")
    b = TopologyBuilder()
    b.set_spout("src", Counter("tick-src"))
    b.set_bolt("t", TickCounter()).shuffle_grouping("src")
    with LocalCluster() as cluster:
        cluster.submit_topology("t", {"topology.max.spout.pending": 1, "topology.acker.executors": 0}, b.build())
        _wait_for(lambda: len(ListSink.values("ticks")) >= 6)
        cluster.kill_topology("t")
    times = [v[0] for v in ListSink.values("ticks")]
    # Ticks are timed by the scheduler, not sent every pass: on average one per 0.1 s
    # (a single gap may be short when the loop was held up and two queued together).
    assert (times[-1] - times[0]) / (len(times) - 1) >= 0.09, times


class Flusher(Bolt):
    """Buffers values and emits their sum at end of input."""

    def declare_output_fields(self, declarer):
        declarer.declare(["total"])

    def prepare(self, config, context, collector):
        self.collector, self.total = collector, 0

    def process(self, tup):
        self.total += tup[0]
        self.collector.ack(tup)

    def end_of_input(self):
        self.collector.emit([self.total])


class Doubler(Flusher):
    def process(self, tup):
        self.collector.emit([tup[0] * 2])
        self.collector.ack(tup)

    def end_of_input(self):
        ListSink.record("eoi-order", ["doubler"])


def test_end_of_input_flushes_downstream_in_topological_order():
    ListSink.reset("eoi")
    ListSink.reset("eoi-order")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(5)], ["n"]))
    b.set_bolt("a_sum", Flusher()).shuffle_grouping("src")
    b.set_bolt("b_double", Doubler()).shuffle_grouping("a_sum")
    b.set_bolt("c_sink", ListSink("eoi")).shuffle_grouping("b_double")
    assert run_topology(b.build(), timeout_s=10).completed
    assert ListSink.values("eoi") == [[20]]
    assert ListSink.values("eoi-order") == [["doubler"]]
