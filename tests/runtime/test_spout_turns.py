"""A spout's turn is bounded by time as well as by count, so bolts are not starved.

The tests check the order of events (the spout's next_tuple calls, the bolt's
receipts), never how long anything took.
"""

import time

import pytest

from squall import Bolt, Spout, TopologyBuilder
from squall.config import ACKER_EXECUTORS, SPOUT_BATCH_SIZE, SPOUT_TURN_MAX_MS, ConfigError, resolve
from squall.runtime import run_topology
from squall.testing import ListSink


class SleepySpout(Spout):
    """Sleeps ``sleep_s`` in every next_tuple (Storm's idiom), then emits the call number."""

    def __init__(self, log, n, sleep_s):
        self.log, self.n, self.sleep_s = log, n, sleep_s

    def declare_output_fields(self, declarer):
        declarer.declare(["i"])

    def open(self, config, context, collector):
        self.collector, self.i = collector, 0

    def next_tuple(self):
        if self.i >= self.n:
            return
        time.sleep(self.sleep_s)
        ListSink.record(self.log, ["call", self.i])
        self.collector.emit([self.i], message_id=self.i)
        self.i += 1

    def exhausted(self):
        return self.i >= self.n


class Recorder(Bolt):
    def __init__(self, log):
        self.log = log

    def process(self, tup):
        ListSink.record(self.log, ["seen", tup[0]])
        self.collector.ack(tup)


def _events(log, conf, n, sleep_s):
    ListSink.reset(log)
    b = TopologyBuilder()
    b.set_spout("src", SleepySpout(log, n, sleep_s))
    b.set_bolt("bolt", Recorder(log)).shuffle_grouping("src")
    assert run_topology(b.build(), conf, timeout_s=30).completed
    events = [tuple(v) for v in ListSink.values(log)]
    assert sorted(events) == sorted([("call", i) for i in range(n)] + [("seen", i) for i in range(n)])
    return events


def _lag(events, n):
    """For each tuple i, how many next_tuple calls came after call i before the bolt saw i."""
    pos = {e: k for k, e in enumerate(events)}
    return [sum(1 for j in range(i + 1, n) if pos[("call", j)] < pos[("seen", i)]) for i in range(n)]


def test_a_sleeping_spout_gets_one_call_per_turn_under_the_default_bound():
    # next_tuple sleeps 10 ms, longer than the default bound: every turn ends after its
    # first call, so the bolt sees tuple i before the spout's next call. Counted turns
    # alone (512 calls) would have held every tuple back until the spout ran dry.
    assert resolve()[SPOUT_TURN_MAX_MS] < 10
    n = 12
    assert _lag(_events("turn-default", {}, n, 0.010), n) == [0] * n


@pytest.mark.parametrize("acking", [True, False])
def test_the_time_bound_applies_with_and_without_acking(acking):
    n = 20
    conf = {SPOUT_TURN_MAX_MS: 1, ACKER_EXECUTORS: None if acking else 0}
    assert _lag(_events(f"turn-1ms-{acking}", conf, n, 0.002), n) == [0] * n


def test_without_the_time_bound_the_count_bound_holds_a_turn():
    # The knob is what bounds the turn: with a bound far above the run, the spout's
    # turns are 5 calls long and the bolt sees each tuple only after its turn ended.
    n = 10
    conf = {SPOUT_TURN_MAX_MS: 60_000, SPOUT_BATCH_SIZE: 5}
    lag = _lag(_events("turn-count", conf, n, 0.001), n)
    assert lag == [4, 3, 2, 1, 0, 4, 3, 2, 1, 0]


def test_turn_bound_must_be_a_non_negative_number():
    with pytest.raises(ConfigError, match="squall.spout.turn.max.ms must not be negative"):
        resolve({SPOUT_TURN_MAX_MS: -1})
    with pytest.raises(ConfigError, match="squall.spout.turn.max.ms must be int or float"):
        resolve({SPOUT_TURN_MAX_MS: "5"})
