"""reduce_by_key_and_window: incremental (f / inv_f) equals naive recomputation.

Semantics: Spark Streaming "Window Operations" (reduceByKeyAndWindow with invFunc);
windows as Storm docs: Windowing Support in Core Storm.
"""

from __future__ import annotations

import operator
import random

from squall.runtime import run_topology
from squall.testing import ListSink, ListSpout
from squall.topology import TopologyBuilder
from squall.windowing import (
    Count, Duration, ReduceByKeyAndWindowBolt, WindowedBolt, WindowedBoltExecutor, WindowManager, sliding,
    reduce_by_key_and_window,
)


class NaiveSum(WindowedBolt):
    """Recomputes the per-key sum over the whole window: the reference."""

    def declare_output_fields(self, declarer):
        declarer.declare(["key", "value", "start_ms", "end_ms"])

    def execute_window(self, window):
        sums = {}
        for t in window.get():
            sums[t["key"]] = sums.get(t["key"], 0) + t["value"]
        for k, v in sums.items():
            self.collector.emit([k, v, window.start_ms, window.end_ms])


def _rows(seed=7, n=300):
    rng = random.Random(seed)
    rows, ts = [], 0
    for _ in range(n):
        ts += rng.randrange(0, 400)
        jitter = rng.randrange(0, 1500)     # out of order; some beyond the 1 s lag: late
        rows.append([rng.choice("abcd"), rng.randrange(-5, 20), max(0, ts - jitter)])
    return rows


def test_incremental_equals_naive_in_a_topology_with_late_records():
    rows = _rows()
    kw = dict(timestamp_field="ts", lag=1000, watermark_interval=0)
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(rows, ["key", "value", "ts"], reliable=False))
    b.set_bolt("inc", reduce_by_key_and_window(operator.add, operator.sub, Duration(5000), Duration(1000), **kw)) \
        .shuffle_grouping("src")
    b.set_bolt("naive", WindowedBoltExecutor(NaiveSum(), sliding(Duration(5000), Duration(1000), **kw))) \
        .shuffle_grouping("src")
    b.set_bolt("inc-out", ListSink("rbw-inc")).shuffle_grouping("inc")
    b.set_bolt("naive-out", ListSink("rbw-naive")).shuffle_grouping("naive")
    b.set_bolt("inc-late", ListSink("rbw-inc-late")).shuffle_grouping("inc", "late")
    b.set_bolt("naive-late", ListSink("rbw-naive-late")).shuffle_grouping("naive", "late")
    result = run_topology(b.build(), timeout_s=30)
    assert result.completed, result.errors()

    def key(r):
        return (r[3], r[0])
    inc = sorted(ListSink.values("rbw-inc"), key=key)
    naive = sorted(ListSink.values("rbw-naive"), key=key)
    assert len(naive) > 100 and inc == naive
    late = ListSink.values("rbw-inc-late")
    assert late and late == ListSink.values("rbw-naive-late")   # the data has late records


class _Collector:
    def __init__(self):
        self.out = []

    def emit(self, values, stream="default", anchors=(), direct_task=None):
        self.out.append(values)
        return []


def _drive(length, slide, items):
    """Feed dict items through a WindowManager into the incremental bolt directly."""
    bolt = ReduceByKeyAndWindowBolt(operator.add, operator.sub)
    col = _Collector()
    bolt.prepare({}, None, col)
    m = WindowManager(length, slide, event_time=True)
    windows = []
    for it in items:
        m.add(it["ts"], it)
        windows += m.advance(it["ts"])
    windows += m.flush()[0]
    checked = 0
    for w in windows:
        before, col.out = bolt.calls, []
        bolt.execute_window(w)
        # O(slide): one f or inv_f per entering or leaving tuple, never per window tuple.
        assert bolt.calls - before <= len(w.get_new()) + len(w.get_expired())
        naive = {}
        for t in w.get():
            naive[t["key"]] = naive.get(t["key"], 0) + t["value"]
        assert {r[0]: r[1] for r in col.out} == naive
        checked += 1
    return checked


def test_each_window_equals_naive_and_costs_o_slide():
    rng = random.Random(3)
    items = [{"key": rng.choice("xyz"), "value": rng.randrange(100), "ts": ts} for ts in range(0, 20000, 37)]
    assert _drive(Duration(4000), Duration(500), items) > 30
    assert _drive(Count(50), Count(5), items) > 30


def test_large_window_small_slide_calls_are_bounded_by_slide():
    items = [{"key": "k", "value": 1, "ts": ts} for ts in range(1, 10001)]
    bolt = ReduceByKeyAndWindowBolt(operator.add, operator.sub)
    col = _Collector()
    bolt.prepare({}, None, col)
    m = WindowManager(Count(1000), Count(10), event_time=False)
    for it in items:
        m.add(0, it)
        for w in m.ready():
            before = bolt.calls
            bolt.execute_window(w)
            assert bolt.calls - before <= 20       # 10 entering + 10 leaving, window of 1000
    assert col.out[-1][:2] == ["k", 1000]
