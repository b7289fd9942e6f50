"""Graceful stop (Ctrl-C/SIGTERM): spouts stop, trees in flight drain within a bound,
a final checkpoint is taken, and the next run resumes from it without loss or duplicate.
A second stop kills at once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from squall import Bolt, Spout, TopologyBuilder
from squall.config import (CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING,
                           TICK_TUPLE_FREQ_SECS)
from squall.runtime import LocalCluster
from squall.runtime.errors import NotRunningError
from squall.state import MemoryStateBackend
from squall.testing import ListSink, ListSpout
from squall.tuple import is_tick

# Shared by the task copies of the bolts: where to pause, and the test's signals.
GATE: dict = {}


def _gate(at=None, hold=None, on_tick=True):
    GATE.clear()
    GATE.update(at=at, hold=hold, on_tick=on_tick, reached=threading.Event(), go=threading.Event(),
                deactivated=threading.Event())


class TickAckSink(Bolt):
    """Records each value on receipt and acks it on the next tick (or at once, without
    GATE["on_tick"]), so trees are in flight; pauses at value GATE["at"] until the test
    has asked for the stop, and never acks value GATE["hold"] (a stuck tree)."""

    def __init__(self, name):
        self.name = name

    def component_configuration(self):
        return {TICK_TUPLE_FREQ_SECS: 0.02}

    def prepare(self, config, context, collector):
        self.collector, self.held, self.ticks_since_stop = collector, [], 0

    def process(self, tup):
        if is_tick(tup):
            if GATE["deactivated"].is_set():
                # Once the spouts stopped, hold the trees over several ticks: the drain
                # has to wait for them across passes and housekeeping rounds.
                self.ticks_since_stop += 1
                if self.ticks_since_stop < 5:
                    return
            for t in self.held:
                self.collector.ack(t)
            self.held = []
            return
        n = tup[0]
        ListSink.record(self.name, [n])
        if n == GATE["at"]:
            GATE["reached"].set()
            assert GATE["go"].wait(10), "the test did not ask for the stop"
        if n == GATE["hold"]:
            return
        if GATE["on_tick"]:
            self.held.append(tup)
        else:
            self.collector.ack(tup)


class GatedListSpout(ListSpout):
    def deactivate(self):
        GATE["deactivated"].set()


ROWS = [[i] for i in range(3000)]


def _topology(sink):
    b = TopologyBuilder()
    b.set_spout("src", GatedListSpout(ROWS, ["n"]))
    b.set_bolt("sink", TickAckSink(sink)).shuffle_grouping("src")
    return b.build()


def _conf(mode):
    # Checkpoints only at the end of a run: the final one is the only one to resume from.
    conf = {CHECKPOINT_INTERVAL_MS: 0, MAX_SPOUT_PENDING: 50}
    if mode:
        conf[CHECKPOINT_MODE] = mode
    return conf


def _stop_at(handle, event="reached", drain_timeout_s=None):
    assert GATE[event].wait(20)
    handle.stop(drain_timeout_s)
    GATE["go"].set()


@pytest.mark.parametrize("mode", [None, EXACTLY_ONCE])
def test_a_graceful_stop_mid_run_resumes_from_its_final_checkpoint_without_loss_or_duplicate(mode):
    sink = f"graceful-{mode}"
    ListSink.reset(sink)
    backend = MemoryStateBackend().open()   # the rerun resumes from the same store
    _gate(at=500)
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("t", _conf(mode), _topology(sink), until_complete=True,
                                         state_backend=backend)
        _stop_at(handle)
        assert handle.wait(30)
    report = handle.stop_report
    assert not handle.worker.completed
    # Every tree in flight at the stop completed (the sink acks on ticks, so there were
    # some), and the final checkpoint covers them.
    assert report is not None and report.graceful and report.in_flight == 0
    assert report.final_checkpoint == 1
    first = [v[0] for v in ListSink.values(sink)]
    assert 500 < len(first) < len(ROWS)

    _gate()
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("t", _conf(mode), _topology(sink), until_complete=True,
                                         state_backend=backend)
        assert handle.wait(60)
    assert handle.worker.completed and handle.stop_report is None
    assert handle.worker.checkpoint_stats.recovered_txid == 1
    seen = Counter(v[0] for v in ListSink.values(sink))
    assert set(seen) == set(range(len(ROWS))), "rows lost"
    assert max(seen.values()) == 1, "rows delivered twice"


def test_a_drain_waits_for_its_bound_then_checkpoints_and_the_stuck_tree_is_replayed():
    sink = "graceful-stuck"
    ListSink.reset(sink)
    backend = MemoryStateBackend().open()   # the rerun resumes from the same store
    # Row 7's tree never completes; every other tree completes as soon as its tuple is
    # processed, so row 7's is the only one the drain can still be waiting for.
    _gate(at=300, hold=7, on_tick=False)
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("t", _conf(None), _topology(sink), until_complete=True,
                                         state_backend=backend)
        _stop_at(handle, drain_timeout_s=0.3)
        assert handle.wait(30)
    report = handle.stop_report
    assert report.graceful and report.in_flight == 1 and report.final_checkpoint == 1

    _gate()
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("t", _conf(None), _topology(sink), until_complete=True,
                                         state_backend=backend)
        assert handle.wait(60) and handle.worker.completed
    seen = Counter(v[0] for v in ListSink.values(sink))
    assert set(seen) == set(range(len(ROWS)))
    # At-least-once: only the stuck row comes again; every other row exactly once.
    assert {n: c for n, c in seen.items() if c > 1} == {7: 2}


class Forever(Spout):
    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def open(self, config, context, collector):
        self.collector, self.i = collector, 0

    def next_tuple(self):
        self.collector.emit([self.i], message_id=self.i)
        self.i += 1

    def deactivate(self):
        GATE["deactivated"].set()


def test_a_second_stop_kills_at_once_without_a_final_checkpoint():
    ListSink.reset("graceful-kill")
    _gate(hold=3)
    b = TopologyBuilder()
    b.set_spout("src", Forever())
    b.set_bolt("sink", TickAckSink("graceful-kill")).shuffle_grouping("src")
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("t", {MAX_SPOUT_PENDING: 20}, b.build())
        handle.stop(drain_timeout_s=600)      # the held tree keeps the drain waiting
        assert GATE["deactivated"].wait(20)
        assert handle.running and handle.stop_report is None
        handle.stop()
        assert handle.wait(20)
    report = handle.stop_report
    assert report is not None and not report.graceful
    assert report.in_flight >= 1 and report.final_checkpoint is None


def test_kill_topology_with_a_wait_drains_and_returns_the_report():
    ListSink.reset("graceful-kill-w")
    _gate()
    b = TopologyBuilder()
    b.set_spout("src", Forever())
    b.set_bolt("sink", TickAckSink("graceful-kill-w")).shuffle_grouping("src")
    with LocalCluster() as cluster:
        cluster.submit_topology("t", {MAX_SPOUT_PENDING: 20}, b.build())
        report = cluster.kill_topology("t", wait_secs=30)
        assert report.graceful and report.in_flight == 0 and report.final_checkpoint is None
        with pytest.raises(NotRunningError):
            cluster.get_stats("t")
