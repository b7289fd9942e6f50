"""Windowed bolts in real topologies (run_topology), exact outputs.

Semantics under test: Storm docs: Windowing Support in Core Storm.
Event-time runs use ``watermark_interval=0`` (watermark after every tuple) so which
tuples are late does not depend on scheduling; one run uses tick-driven watermarks on
in-order input, whose windows do not depend on tick timing either.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from squall.component import Spout, TopologyContext
from squall.config import ACKER_EXECUTORS, MESSAGE_TIMEOUT_SECS, TICK_TUPLE_FREQ_SECS
from squall.runtime import run_topology
from squall.testing import ListSink, ListSpout
from squall.topology import TopologyBuilder
from squall.tuple import SYSTEM_COMPONENT, TICK_STREAM, Fields, Tuple, TupleSource
from squall.windowing import (
    Count, Duration, WindowConfigError, WindowedBolt, WindowedBoltExecutor, sliding, tumbling,
)


class Recorder(WindowedBolt):
    """Records each window as (start, end, current ids, new ids, expired ids) and emits it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def declare_output_fields(self, declarer):
        declarer.declare(["start_ms", "end_ms", "ids"])

    def execute_window(self, window):
        ids = lambda ts: [t["id"] for t in ts]  # noqa: E731
        ListSink.record(self.name, [window.start_ms, window.end_ms, ids(window.get()),
                                    ids(window.get_new()), ids(window.get_expired())])
        self.collector.emit([window.start_ms, window.end_ms, ids(window.get())])


def run(name, rows, spec, fields=("id", "ts"), conf=None):
    """Spout -> windowed Recorder -> sinks for its output and its late stream."""
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(rows, list(fields), reliable=False))
    b.set_bolt("win", WindowedBoltExecutor(Recorder(name), spec)).shuffle_grouping("src")
    b.set_bolt("out", ListSink(name + "-out")).shuffle_grouping("win")
    b.set_bolt("late", ListSink(name + "-late")).shuffle_grouping("win", "late")
    ListSink.reset(name)
    result = run_topology(b.build(), conf, timeout_s=20)
    assert result.completed, result.errors()
    return ListSink.values(name), ListSink.values(name + "-out"), ListSink.values(name + "-late"), result


def test_tumbling_duration_event_time_out_of_order_and_late():
    rows = [["a", 1000], ["b", 4000], ["c", 3000],      # c: out of order, within the 2 s lag
            ["d", 12000], ["e", 9000],                  # e: 9000 < watermark 10000 -> late
            ["f", 11000], ["g", 10500], ["h", 21000],
            ["i", 19500],                               # i: within lag of h (watermark 19000)
            ["j", 15000],                               # j: late
            ["k", 25000]]
    spec = tumbling(timedelta(seconds=10), timestamp_field="ts", lag=timedelta(seconds=2), watermark_interval=0)
    windows, out, late, _ = run("tw-dur", rows, spec)
    assert windows == [
        [0, 10000, ["a", "c", "b"], ["a", "c", "b"], []],
        [10000, 20000, ["g", "f", "d", "i"], ["g", "f", "d", "i"], ["a", "c", "b"]],
        [20000, 30000, ["h", "k"], ["h", "k"], ["g", "f", "d", "i"]],   # fired at end of input
    ]
    assert out == [[s, e, cur] for s, e, cur, _, _ in windows]
    assert late == [[["e", 9000]], [["j", 15000]]]


def test_sliding_duration_event_time_new_expired_current_hand_computed():
    rows = [["a", 1000], ["b", 6000], ["c", 4000], ["d", 12000],
            ["e", 2000],                 # late: watermark is 9000
            ["f", 14000], ["g", 17000],
            ["h", 9500],                 # late: watermark is 14000
            ["i", 26000]]
    spec = sliding(Duration(10_000), Duration(5_000), timestamp_field="ts", lag=3000, watermark_interval=0)
    windows, _, late, _ = run("sl-dur", rows, spec)
    assert windows == [
        # start, end, current, new, expired
        [-5000, 5000, ["a", "c"], ["a", "c"], []],
        [0, 10000, ["a", "c", "b"], ["b"], []],
        [5000, 15000, ["b", "d", "f"], ["d", "f"], ["a", "c"]],
        [10000, 20000, ["d", "f", "g"], ["g"], ["b"]],
        # end of input: every remaining window fires
        [15000, 25000, ["g"], [], ["d", "f"]],
        [20000, 30000, ["i"], ["i"], ["g"]],
        [25000, 35000, ["i"], [], []],
    ]
    assert late == [[["e", 2000]], [["h", 9500]]]


def test_tumbling_count_event_time_orders_by_timestamp():
    rows = [["a", 1000], ["b", 3000], ["c", 2000], ["d", 5000], ["e", 4000], ["f", 8000],
            ["g", 4500],                 # late: watermark is 6000
            ["h", 9000]]
    spec = tumbling(Count(3), timestamp_field="ts", lag=2000, watermark_interval=0)
    windows, _, late, _ = run("tw-cnt", rows, spec)
    assert windows == [
        [None, None, ["a", "c", "b"], ["a", "c", "b"], []],
        [None, None, ["e", "d", "f"], ["e", "d", "f"], ["a", "c", "b"]],
        [None, None, ["h"], ["h"], ["e", "d", "f"]],      # partial window at end of input
    ]
    assert late == [[["g", 4500]]]


def test_sliding_count_event_time():
    rows = [["a", 1000], ["b", 3000], ["c", 2000], ["d", 6000], ["e", 5000], ["f", 9000], ["g", 8000]]
    spec = sliding(Count(3), Count(2), timestamp_field="ts", lag=1500, watermark_interval=0)
    windows, _, late, _ = run("sl-cnt", rows, spec)
    # Watermarks 1500 2000 4500 7500: taken in ts order a c | b e d | ... f g at end.
    assert windows == [
        [None, None, ["a", "c"], ["a", "c"], []],
        [None, None, ["c", "b", "e"], ["b", "e"], ["a"]],
        [None, None, ["e", "d", "g"], ["d", "g"], ["c", "b"]],
        # partial at end of input: what the next trigger would hold ([g, f, next]) so far
        [None, None, ["g", "f"], ["f"], ["e", "d"]],
    ]
    assert late == []


def test_sliding_count_processing_time():
    rows = [[str(i), 0] for i in range(1, 8)]
    windows, _, late, _ = run("sl-cnt-pt", rows, sliding(Count(4), Count(2)))
    assert windows == [
        [None, None, ["1", "2"], ["1", "2"], []],
        [None, None, ["1", "2", "3", "4"], ["3", "4"], []],
        [None, None, ["3", "4", "5", "6"], ["5", "6"], ["1", "2"]],
        [None, None, ["5", "6", "7"], ["7"], ["3", "4"]],
    ]
    assert late == []


def test_tumbling_count_processing_time():
    rows = [[str(i), 0] for i in range(1, 6)]
    windows, _, _, _ = run("tw-cnt-pt", rows, tumbling(Count(2)))
    assert [w[2] for w in windows] == [["1", "2"], ["3", "4"], ["5"]]
    assert [w[4] for w in windows] == [[], ["1", "2"], ["3", "4"]]


def test_tick_driven_watermarks_in_order_input():
    rows = [[c, ts] for c, ts in zip("abcdef", (1000, 2000, 11000, 12000, 25000, 31000))]
    spec = tumbling(Duration(10_000), timestamp_field="ts", watermark_interval=timedelta(milliseconds=20))
    exe = WindowedBoltExecutor(Recorder("x"), spec)
    assert exe.component_configuration() == {TICK_TUPLE_FREQ_SECS: 0.02}
    windows, _, late, _ = run("tick", rows, spec)
    assert [w[2] for w in windows] == [["a", "b"], ["c", "d"], ["e"], ["f"]]
    assert late == []


def test_missing_timestamp_is_reported_not_windowed():
    rows = [["a", 1000], ["b", None], ["c", 2000]]
    spec = tumbling(Duration(10_000), timestamp_field="ts", watermark_interval=0)
    windows, _, late, result = run("nots", rows, spec)
    assert [w[2] for w in windows] == [["a", "c"]]
    assert any("must hold event time" in e for e in result.errors())


# -- acking --------------------------------------------------------------------------

class MixedSpout(Spout):
    """Emits rows in order; rows flagged reliable carry their index as message id.
    Acks and fails are logged in ``ListSink`` under ``log`` next to the window events."""

    def __init__(self, rows, reliable, log):
        self.rows, self.reliable, self.log = rows, reliable, log

    def declare_output_fields(self, declarer):
        declarer.declare(["id", "ts"])

    def open(self, config, context, collector):
        self.collector = collector
        self.i = 0
        self.pending = set()

    def next_tuple(self):
        if self.i < len(self.rows):
            i = self.i
            self.i += 1
            if self.reliable[i]:
                self.pending.add(i)
                self.collector.emit(self.rows[i], message_id=i)
            else:
                self.collector.emit(self.rows[i])

    def ack(self, msg_id):
        self.pending.discard(msg_id)
        ListSink.record(self.log, ["ack", msg_id])

    def fail(self, msg_id):
        self.pending.discard(msg_id)
        ListSink.record(self.log, ["fail", msg_id])

    def exhausted(self):
        return self.i == len(self.rows) and not self.pending

    def emitted_all(self):
        return self.i == len(self.rows)


class ExpiryLogger(WindowedBolt):
    def __init__(self, log):
        self.log = log

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def execute_window(self, window):
        ListSink.record(self.log, ["expired", [t["id"] for t in window.get_expired()]])
        self.collector.emit([len(window)])


def test_tuples_acked_only_after_they_expire_and_late_ones_after_late_stream():
    # The two unreliable tail rows push the watermark so every reliable tuple expires
    # before the input ends (a bounded run ends only once reliable trees completed).
    rows = [[0, 1000], [1, 5000], [2, 12000], [3, 15000], [4, 9000], [5, 30000], [6, 100000]]
    reliable = [True, True, True, True, True, False, False]
    log = "ack-log"
    ListSink.reset(log)
    b = TopologyBuilder()
    b.set_spout("src", MixedSpout(rows, reliable, log))
    b.set_bolt("win", WindowedBoltExecutor(ExpiryLogger(log), tumbling(
        Duration(10_000), timestamp_field="ts", watermark_interval=0))).shuffle_grouping("src")
    b.set_bolt("out", ListSink("ack-out")).shuffle_grouping("win")
    b.set_bolt("late", ListSink("ack-late")).shuffle_grouping("win", "late")
    result = run_topology(b.build(), timeout_s=20)
    assert result.completed, result.errors()
    events = ListSink.values(log)
    assert sorted(e[1] for e in events if e[0] == "ack") == [0, 1, 2, 3, 4]
    assert not [e for e in events if e[0] == "fail"]
    expired_at = {i: n for n, e in enumerate(events) if e[0] == "expired" for i in e[1]}
    acked_at = {e[1]: n for n, e in enumerate(events) if e[0] == "ack"}
    assert expired_at.keys() >= {0, 1, 2, 3}
    for i in (0, 1, 2, 3):
        assert acked_at[i] > expired_at[i], events
    assert [e for e in events if e[0] == "expired"] == [
        ["expired", []], ["expired", [0, 1]], ["expired", [2, 3]], ["expired", [5]]]
    assert ListSink.values("ack-late") == [[[4, 9000]]]


def test_reliable_tuples_of_the_last_window_are_acked_when_it_fires_at_end_of_input():
    # The last window's tuples complete only when end of input fires it: the run must
    # call end_of_input once the spout has emitted everything, before its trees complete.
    log = "ack-held"
    ListSink.reset(log)
    rows = [[0, 1000], [1, 2000], [2, 15000]]
    b = TopologyBuilder()
    b.set_spout("src", MixedSpout(rows, [True, True, True], log))
    b.set_bolt("win", WindowedBoltExecutor(ExpiryLogger(log), tumbling(
        Duration(10_000), timestamp_field="ts", watermark_interval=0))).shuffle_grouping("src")
    b.set_bolt("out", ListSink("held-out")).shuffle_grouping("win")
    result = run_topology(b.build(), {MESSAGE_TIMEOUT_SECS: 30}, timeout_s=10)
    assert result.completed
    events = ListSink.values(log)
    assert sorted(e[1] for e in events if e[0] == "ack") == [0, 1, 2]
    assert not [e for e in events if e[0] == "fail"]


# -- build / prepare checks -----------------------------------------------------------

def _ctx():
    return TopologyContext(topology=None, component_id="win", task_id=1, component_tasks=(1,))


def test_message_timeout_must_exceed_duration_window():
    exe = WindowedBoltExecutor(Recorder("x"), sliding(timedelta(seconds=20), timedelta(seconds=10)))
    with pytest.raises(WindowConfigError, match="topology.message.timeout.secs"):
        exe.prepare({MESSAGE_TIMEOUT_SECS: 30}, _ctx(), None)
    exe.prepare({MESSAGE_TIMEOUT_SECS: 31}, _ctx(), None)
    exe.prepare({MESSAGE_TIMEOUT_SECS: 30, ACKER_EXECUTORS: 0}, _ctx(), None)   # acking off


class FakeCollector:
    def __init__(self):
        self.emitted, self.acked = [], []

    def emit(self, values, stream="default", anchors=(), direct_task=None):
        self.emitted.append((stream, values, [a["id"] for a in anchors]))
        return []

    def ack(self, tup):
        self.acked.append(tup["id"])

    def report_error(self, error):
        raise error


def test_ticks_advance_the_watermark_and_outputs_are_anchored_to_the_window():
    exe = WindowedBoltExecutor(Recorder("unit"), tumbling(Duration(10), timestamp_field="ts", lag=5))
    col = FakeCollector()
    exe.prepare({}, _ctx(), col)
    src = TupleSource("src", 1, "default", Fields(["id", "ts"]))
    tick = Tuple([1], TupleSource(SYSTEM_COMPONENT, -1, TICK_STREAM, Fields(["freq"])), None)
    ListSink.reset("unit")
    for i, ts in (("a", 3), ("b", 9), ("c", 16)):
        exe.process(Tuple([i, ts], src, None))
    assert col.emitted == []                       # no watermark yet: waits for a tick
    exe.process(tick)                              # watermark 16 - 5 = 11 > 10
    assert col.emitted == [("default", [0, 10, ["a", "b"]], ["a", "b"])]
    exe.process(Tuple(["d", 10], src, None))       # 10 < 11: late
    assert col.emitted[-1] == ("late", [["d", 10]], ["d"]) and col.acked == ["d"]
    exe.end_of_input()
    assert col.emitted[-1] == ("default", [10, 20, ["c"]], ["c"])
    assert col.acked == ["d", "a", "b", "c"]


def test_windowed_bolt_executor_checks_its_arguments():
    with pytest.raises(WindowConfigError, match="WindowedBolt"):
        WindowedBoltExecutor(ListSink("x"), tumbling(Count(2)))
    with pytest.raises(WindowConfigError, match="WindowSpec"):
        WindowedBoltExecutor(Recorder("x"), (Count(2), Count(2)))
