"""Guaranteed message processing: XOR acker, anchoring, fail, timeout, replay, pending."""

import time

import pytest

from squall import BasicBolt, Bolt, FailedException, Spout, TopologyBuilder
from squall.config import (ACKER_EXECUTORS, MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS, STATS_SAMPLE_RATE,
                           TICK_TUPLE_FREQ_SECS)
from squall.runtime import LocalCluster, run_topology
from squall.runtime.acker import Acker
from squall.testing import ListSink, ListSpout
from squall.tuple import is_tick


class Completions:
    def __init__(self):
        self.completed = []


def test_acker_completes_only_when_every_edge_is_acked():
    acker, spout = Acker(30), Completions()
    e1, e2, e3 = 0x11, 0x2200, 0x330000
    acker.init(root=7, xor=e1, spout_task=spout, msg_id="m", now_s=0.0)
    acker.ack(7, e1 ^ e2 ^ e3)      # bolt acks e1 after anchoring e2, e3 to it
    assert spout.completed == []
    acker.ack(7, e2)
    assert spout.completed == []
    acker.ack(7, e3)
    assert spout.completed == [("m", True, 0.0)]
    assert len(acker) == 0


def test_acker_fail_and_timeout_report_once_and_ignore_late_acks():
    acker, spout = Acker(timeout_s=10), Completions()
    acker.init(1, 5, spout, "a", now_s=0.0)
    acker.init(2, 6, spout, "b", now_s=4.0)
    acker.fail(1)
    acker.ack(1, 5)                 # late ack of a failed tree: no effect
    assert spout.completed == [("a", False, 0.0)]
    assert acker.expire(now_s=13.9) == 0
    assert acker.expire(now_s=14.1) == 1
    assert spout.completed[-1] == ("b", False, 0.0)


class Splitter(Bolt):
    """Emits one child per character, anchored; acks its input."""

    def declare_output_fields(self, declarer):
        declarer.declare(["ch"])

    def process(self, tup):
        for ch in tup[0]:
            self.collector.emit([ch], anchors=[tup])
        self.collector.ack(tup)


class HoldBack(Bolt):
    """Acks every tuple except those with value ``hold``, which it acks on the first tick
    after ``release_after`` ticks; records the time of each ack."""

    def __init__(self, name, hold, release_after=3):
        self.name, self.hold, self.release_after = name, hold, release_after

    def component_configuration(self):
        return {TICK_TUPLE_FREQ_SECS: 0.05}

    def prepare(self, config, context, collector):
        self.collector = collector
        self.held = []
        self.ticks = 0

    def process(self, tup):
        if is_tick(tup):
            self.ticks += 1
            if self.ticks >= self.release_after:
                for t in self.held:
                    self.collector.ack(t)
                self.held = []
            return
        ListSink.record(self.name, tup.values)
        if tup[0] == self.hold and self.ticks < self.release_after:
            self.held.append(tup)
        else:
            self.collector.ack(tup)


def test_spout_ack_waits_for_the_whole_tree():
    ListSpout.reset("tree")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([["ab"], ["xyz"]], ["word"], name="tree"))
    b.set_bolt("split", Splitter()).shuffle_grouping("src")
    b.set_bolt("hold", HoldBack("tree-sink", hold="y")).shuffle_grouping("split")
    with LocalCluster() as cluster:
        h = cluster.submit_topology("tree", {}, b.build(), until_complete=True)
        deadline = time.time() + 5
        while not ListSpout.acked("tree") and time.time() < deadline:
            time.sleep(0.01)
        # "ab" completes at once; "xyz" waits for the held "y".
        assert ListSpout.acked("tree") == [0]
        assert h.wait(10)
    assert sorted(ListSpout.acked("tree")) == [0, 1]
    assert ListSpout.failed("tree") == []


class FailFirst(Bolt):
    """Fails the first delivery of each value in ``bad``; acks everything else."""

    def __init__(self, name, bad):
        self.name, self.bad = name, set(bad)

    def prepare(self, config, context, collector):
        self.collector = collector
        self.seen = set()

    def process(self, tup):
        ListSink.record(self.name, tup.values)
        v = tup[0]
        if v in self.bad and v not in self.seen:
            self.seen.add(v)
            self.collector.fail(tup)
        else:
            self.collector.ack(tup)


def test_explicit_fail_replays_and_then_completes():
    ListSpout.reset("fail")
    ListSink.reset("fail-sink")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(10)], ["n"], name="fail"))
    b.set_bolt("f", FailFirst("fail-sink", bad=[3, 7])).shuffle_grouping("src")
    assert run_topology(b.build(), timeout_s=10).completed
    assert sorted(ListSpout.failed("fail")) == [3, 7]
    assert sorted(ListSpout.acked("fail")) == list(range(10))
    assert sorted(v[0] for v in ListSink.values("fail-sink")) == sorted(list(range(10)) + [3, 7])


class Forgetful(Bolt):
    """Never acks the first delivery of value 2 (a lost tuple); acks the rest."""

    def prepare(self, config, context, collector):
        self.collector = collector
        self.dropped = False

    def process(self, tup):
        if tup[0] == 2 and not self.dropped:
            self.dropped = True
            return
        self.collector.ack(tup)


def test_timeout_fails_the_tree_and_the_spout_replays_it():
    ListSpout.reset("timeout")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(5)], ["n"], name="timeout"))
    b.set_bolt("f", Forgetful()).shuffle_grouping("src")
    start = time.monotonic()
    result = run_topology(b.build(), {MESSAGE_TIMEOUT_SECS: 1}, timeout_s=20)
    assert result.completed
    assert ListSpout.failed("timeout") == [2]
    assert sorted(ListSpout.acked("timeout")) == [0, 1, 2, 3, 4]
    assert time.monotonic() - start >= 1.0
    assert result.stats["src"].failed == 1 and result.stats["src"].acked == 5


class PendingProbe(Spout):
    """Emits ``n`` tuples, recording the largest number outstanding at any emit."""

    peak = 0

    def __init__(self, n):
        self.n = n

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def open(self, config, context, collector):
        self.collector, self.i, self.outstanding = collector, 0, 0
        PendingProbe.peak = 0

    def next_tuple(self):
        if self.i < self.n:
            self.outstanding += 1
            PendingProbe.peak = max(PendingProbe.peak, self.outstanding)
            self.collector.emit([self.i], message_id=self.i)
            self.i += 1

    def ack(self, msg_id):
        self.outstanding -= 1

    def exhausted(self):
        return self.i >= self.n and not self.outstanding


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_max_spout_pending_bounds_trees_in_flight(limit):
    b = TopologyBuilder()
    b.set_spout("src", PendingProbe(300))
    b.set_bolt("sink", ListSink(f"pending-{limit}")).shuffle_grouping("src")
    assert run_topology(b.build(), {MAX_SPOUT_PENDING: limit}, timeout_s=10).completed
    assert PendingProbe.peak == limit
    assert len(ListSink.values(f"pending-{limit}")) == 300


def test_acking_off_is_at_most_once():
    ListSpout.reset("amo")
    ListSink.reset("amo-sink")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(10)], ["n"], name="amo"))
    b.set_bolt("f", FailFirst("amo-sink", bad=[3])).shuffle_grouping("src")
    result = run_topology(b.build(), {ACKER_EXECUTORS: 0}, timeout_s=10)
    assert result.completed
    # Without ackers the spout is acked on emit and a failure replays nothing.
    assert sorted(ListSpout.acked("amo")) == list(range(10))
    assert ListSpout.failed("amo") == []
    assert sorted(v[0] for v in ListSink.values("amo-sink")) == list(range(10))


class Doubler(BasicBolt):
    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def prepare_basic(self, config, context):
        self.failed_once = set()

    def execute(self, tup, collector):
        n = tup[0]
        if n == 4 and n not in self.failed_once:
            self.failed_once.add(n)
            raise FailedException("four is unlucky once")
        if n == 5 and n not in self.failed_once:
            self.failed_once.add(n)
            raise ValueError("a bug that fires once")
        collector.emit([n * 2])


def test_basic_bolt_anchors_acks_and_fails_on_exception():
    ListSpout.reset("basic")
    ListSink.reset("basic-sink")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(8)], ["n"], name="basic"))
    b.set_bolt("double", Doubler()).shuffle_grouping("src")
    b.set_bolt("fail12", FailFirst("basic-sink", bad=[12])).shuffle_grouping("double")
    result = run_topology(b.build(), timeout_s=10)
    assert result.completed
    # 4 and 5 fail in the BasicBolt; 6 fails downstream (12 = 6 * 2), through the anchor.
    assert sorted(ListSpout.failed("basic")) == [4, 5, 6]
    assert sorted(ListSpout.acked("basic")) == list(range(8))
    assert sorted(set(v[0] for v in ListSink.values("basic-sink"))) == [i * 2 for i in range(8)]
    errors = result.errors()
    assert any("a bug that fires once" in e for e in errors)
    assert not any("unlucky" in e for e in errors)   # plain FailedException is not reported


class Crashy(Bolt):
    def prepare(self, config, context, collector):
        self.collector = collector
        self.crashed = False

    def process(self, tup):
        if tup[0] == 1 and not self.crashed:
            self.crashed = True
            raise RuntimeError("boom on 1")
        self.collector.ack(tup)


def test_an_exception_in_a_bolt_fails_that_tuple_and_the_topology_goes_on():
    ListSpout.reset("crash")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(4)], ["n"], name="crash"))
    b.set_bolt("c", Crashy()).shuffle_grouping("src")
    result = run_topology(b.build(), timeout_s=10)
    assert result.completed
    assert ListSpout.failed("crash") == [1]
    assert sorted(ListSpout.acked("crash")) == [0, 1, 2, 3]
    assert any("boom on 1" in e for e in result.stats["c"].last_errors)


def test_metrics_count_emitted_transferred_acked():
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([["ab"], ["cde"]], ["w"]))
    b.set_bolt("split", Splitter(), 2).shuffle_grouping("src")
    b.set_bolt("sink", ListSink("metrics"), 3).all_grouping("split")
    st = run_topology(b.build(), {STATS_SAMPLE_RATE: 1.0}, timeout_s=10).stats
    assert (st["src"].emitted, st["src"].transferred, st["src"].acked) == (2, 2, 2)
    assert (st["split"].executed, st["split"].emitted, st["split"].transferred) == (2, 5, 15)
    assert (st["sink"].executed, st["sink"].acked) == (15, 15)
    assert st["src"].complete_latency_ms is not None and st["src"].complete_latency_ms >= 0
    assert st["split"].executors == 2 and st["sink"].tasks == 3



def test_metrics_count_acks_and_process_latency_with_acking_off_too():
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([["ab"], ["cde"]], ["w"]))
    b.set_bolt("split", Splitter(), 2).shuffle_grouping("src")
    b.set_bolt("sink", ListSink("metrics-noack"), 3).all_grouping("split")
    st = run_topology(b.build(), {STATS_SAMPLE_RATE: 1.0, ACKER_EXECUTORS: 0}, timeout_s=10).stats
    assert (st["split"].executed, st["split"].acked) == (2, 2)
    assert (st["sink"].executed, st["sink"].acked) == (15, 15)
    assert st["sink"].process_latency_ms is not None and st["sink"].process_latency_ms >= 0


class Joiner(Bolt):
    """Holds pairs of inputs and emits one child anchored to both (a join)."""

    def declare_output_fields(self, declarer):
        declarer.declare(["pair"])

    def prepare(self, config, context, collector):
        self.collector, self.held = collector, []

    def process(self, tup):
        self.held.append(tup)
        if len(self.held) == 2:
            a, b = self.held
            self.collector.emit([a[0] + b[0]], anchors=[a, b])
            self.collector.ack(a)
            self.collector.ack(b)
            self.held = []


class FailPair(Bolt):
    def prepare(self, config, context, collector):
        self.collector, self.failed = collector, False

    def process(self, tup):
        ListSink.record("join", tup.values)
        if not self.failed:
            self.failed = True
            self.collector.fail(tup)       # fails both parent trees at once
        else:
            self.collector.ack(tup)


def test_a_child_anchored_to_two_trees_completes_or_fails_both():
    ListSpout.reset("join")
    ListSink.reset("join")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[1], [2], [3], [4]], ["n"], name="join"))
    b.set_bolt("join", Joiner()).global_grouping("src")
    b.set_bolt("sink", FailPair()).shuffle_grouping("join")
    assert run_topology(b.build(), timeout_s=10).completed
    # The first pair's child failed: both of its roots failed and were replayed.
    assert sorted(ListSpout.failed("join")) == [0, 1]
    assert sorted(ListSpout.acked("join")) == [0, 1, 2, 3]


def test_every_bolt_ack_goes_through_the_one_xor_ledger(monkeypatch):
    # One ledger (Acker.ack) decides completion for bolts' acks and forwarded ones
    # alike: count what it sees, and check a tree completes only through it.
    seen = []
    real_ack = Acker.ack

    def counting_ack(self, root, value):
        seen.append(root)
        real_ack(self, root, value)

    monkeypatch.setattr(Acker, "ack", counting_ack)
    ListSpout.reset("ledger")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([["ab"], ["cde"]], ["w"], name="ledger"))
    b.set_bolt("split", Splitter(), 2).shuffle_grouping("src")
    b.set_bolt("sink", ListSink("ledger"), 3).all_grouping("split")
    assert run_topology(b.build(), timeout_s=10).completed
    # 2 acks by split, 5 chars x 3 sink tasks acked by the sink: 17 ledger updates over 2 roots.
    assert len(seen) == 17 and len(set(seen)) == 2
    assert sorted(ListSpout.acked("ledger")) == [0, 1]


def test_a_tree_acked_partly_by_a_bolt_and_partly_by_another_worker_completes_once():
    from squall.runtime import Worker
    from squall.tuple import Tuple

    b = TopologyBuilder()
    b.set_spout("src", ListSpout([], ["w"]))
    b.set_bolt("sink", ListSink("ledger-mixed")).shuffle_grouping("src")
    w = Worker(b.build())
    bolt, acker, spout = w.bolt_tasks[0], w.acker, Completions()
    src = w.spout_tasks[0].routes["default"].source
    e1, e2, e3 = 0x1F, 0x2E00, 0x3D0000
    root = acker.new_root()
    acker.init(root, e1 ^ e2, spout, "m", now_s=0.0)
    first = Tuple(["a"], src, (root, e1))
    first.out_ack = e3                       # a child e3 was anchored to it
    bolt.ack(first)
    acker.ack(root, e2)                      # as forwarded by another worker's bolt
    assert spout.completed == []
    bolt.ack(Tuple(["b"], src, {root: e3}))  # the child, anchored through a dict id
    assert spout.completed == [("m", True, 0.0)]
    bolt.ack(Tuple(["b"], src, {root: e3}))  # a late duplicate changes nothing
    assert spout.completed == [("m", True, 0.0)] and len(acker) == 0
