"""Windowed bolts under checkpoints: a kill in the middle of a window neither loses
nor double-counts a tuple, and held tuples are acked once checkpointed.

Event-time sliding windows (with out-of-order and late tuples) sum values per window;
an exactly-once file sink logs each window. Runs killed at random points and resumed
must log exactly what an uninterrupted run logs.
"""

from __future__ import annotations

import random

import pytest

from squall import TopologyBuilder
from squall.config import CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING
from squall.connectors.files import FileSinkBolt
from squall.runtime.worker import Worker
from squall.state import RocksDBStateBackend
from squall.testing import ListSpout
from squall.windowing import Count, Duration, WindowedBolt, sliding, windowed

KILL = {"worker": None, "after": None, "seen": 0}


class SumWindow(WindowedBolt):
    def declare_output_fields(self, declarer):
        declarer.declare(["start", "end", "total", "n"])

    def execute_window(self, window):
        KILL["seen"] += 1
        if KILL["after"] is not None and KILL["seen"] == KILL["after"]:
            KILL["worker"].stop()
        tuples = window.get()
        self.collector.emit([window.start_ms, window.end_ms, sum(t["v"] for t in tuples), len(tuples)])


class Log(FileSinkBolt):
    def format(self, t):
        if t.source.stream == "late":
            return f"late {t['late_tuple']}"
        return f"{t['start']} {t['end']} {t['total']} {t['n']}"


def rows(n, seed):
    rng = random.Random(seed)
    out = []
    ts = 0
    for i in range(n):
        ts += rng.randint(0, 40)
        jitter = rng.choice([0, 0, 0, -rng.randint(1, 150), -rng.randint(500, 900)])   # some late
        out.append([max(0, ts + jitter), i % 5, rng.randint(1, 9)])
    return out


def topology(data, log, spec):
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(data, ["ts", "k", "v"]))
    b.set_bolt("win", windowed(SumWindow(), spec)).global_grouping("src")
    b.set_bolt("log", Log(str(log))).global_grouping("win").global_grouping("win", "late")
    return b.build()


SPECS = {
    "sliding-duration": lambda: sliding(Duration(1000), Duration(250), timestamp_field="ts", lag=200,
                                        watermark_interval=0),
    "tumbling-count": lambda: sliding(Count(10), Count(10), timestamp_field="ts", lag=200, watermark_interval=0),
}


def run(topo, state_dir, kill_after=None):
    try:
        w = Worker(topo, {CHECKPOINT_MODE: EXACTLY_ONCE, CHECKPOINT_INTERVAL_MS: 2, MAX_SPOUT_PENDING: 100},
                   state_backend=RocksDBStateBackend(state_dir))
        KILL.update(worker=w, after=kill_after, seen=0)
        w.run(until_complete=True)
        return w
    finally:
        KILL.update(worker=None, after=None)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_killed_windowed_runs_log_exactly_what_an_uninterrupted_run_logs(tmp_path, kind):
    data = rows(4000, seed=7)
    ref = tmp_path / "ref.log"
    assert run(topology(data, ref, SPECS[kind]()), tmp_path / "ref-state").completed
    expected = ref.read_text().splitlines()
    assert any(line.startswith("late") for line in expected) and len(expected) > 100

    log = tmp_path / "chaos.log"
    topo = topology(data, log, SPECS[kind]())
    rng = random.Random(3)
    kills = 0
    while True:
        w = run(topo, tmp_path / "state", kill_after=rng.randint(5, 40) if kills < 6 else None)
        if w.completed:
            break
        kills += 1
    assert kills == 6
    assert log.read_text().splitlines() == expected
