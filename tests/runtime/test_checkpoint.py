"""Checkpoints in the worker: aligned barrier, two-phase commit, recovery and rollback.

A keyed counter keeps its counts in its KeyValueState and emits (key, running count);
a file sink logs each emit. Exactly-once means: final counts equal the input, and the
log holds every (key, 1..count) exactly once, however often the worker is killed or a
tree fails.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from squall import Bolt, Stateful, TopologyBuilder
from squall.config import (CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING,
                           MESSAGE_TIMEOUT_SECS, ConfigError)
from squall.connectors.files import FileSinkBolt
from squall.runtime.worker import Worker
from squall.state import MemoryStateBackend, RocksDBStateBackend
from squall.state.memory import MemoryStateStore
from squall.testing import ListSpout

KEYS = [f"k{i}" for i in range(7)]


# A kill switch: the worker is stopped (no drain, no final checkpoint) once the counters
# have processed this many tuples in the current run.
KILL = {"worker": None, "after": None, "seen": 0}


class KeyCounter(Stateful, Bolt):
    def declare_output_fields(self, declarer):
        declarer.declare(["key", "count"])

    def process(self, t):
        KILL["seen"] += 1
        if KILL["after"] is not None and KILL["seen"] == KILL["after"]:
            KILL["worker"].stop()
        k = t["key"]
        c = self.state.get(k, 0) + 1
        self.state.put(k, c)
        self.collector.emit([k, c], anchors=[t])
        self.collector.ack(t)


class FailOnce(Bolt):
    """Fails every tuple whose (key, count) it has not seen and ``pick`` selects, once."""

    def __init__(self, every: int, how: str = "fail") -> None:
        self.every = every
        self.how = how

    def declare_output_fields(self, declarer):
        declarer.declare(["key", "count"])

    def prepare(self, config, context, collector):
        self.collector = collector
        self.failed = set()

    def process(self, t):
        key = (t["key"], t["count"])
        if t["count"] % self.every == 0 and key not in self.failed:
            self.failed.add(key)
            if self.how == "raise":
                raise RuntimeError(f"bolt bug on {key}")
            if self.how == "stuck":
                return            # never acked: the tree times out
            self.collector.fail(t)
            return
        self.collector.emit(list(t.values), anchors=[t])
        self.collector.ack(t)


class LineSink(FileSinkBolt):
    def format(self, tup):
        return f"{tup['key']} {tup['count']}"


def topology(rows, log_path, fail_every=None, how="fail"):
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(rows, ["key"]))
    b.set_bolt("count", KeyCounter(), 2).fields_grouping("src", ["key"])
    upstream = "count"
    if fail_every:
        b.set_bolt("flaky", FailOnce(fail_every, how)).shuffle_grouping("count")
        upstream = "flaky"
    b.set_bolt("log", LineSink(str(log_path))).global_grouping(upstream)
    return b.build()


def rows_of(n, seed=1):
    rng = random.Random(seed)
    return [[rng.choice(KEYS)] for _ in range(n)]


def conf(mode=EXACTLY_ONCE, interval_ms=5):
    return {CHECKPOINT_MODE: mode, CHECKPOINT_INTERVAL_MS: interval_ms, MAX_SPOUT_PENDING: 200}


def run_once(topo, backend, conf, kill_after=None):
    worker = Worker(topo, conf, state_backend=backend)
    KILL.update(worker=worker, after=kill_after, seen=0)
    worker.run(until_complete=True)
    KILL.update(worker=None, after=None)
    return worker


def final_counts(store, tasks):
    counts = {}
    for task in tasks:
        st = store.state("count", task)
        counts.update(dict(st.items()))
        st.close()
    return counts


def log_lines(path):
    return [tuple(line.split()) for line in path.read_text().splitlines()]


def expected_lines(rows):
    totals = Counter(r[0] for r in rows)
    return {(k, str(c)) for k, n in totals.items() for c in range(1, n + 1)}, totals


def test_uninterrupted_run_checkpoints_and_publishes_each_line_once(tmp_path):
    rows = rows_of(3000)
    backend = MemoryStateBackend().open()   # one store for the runs and the read-back
    w = run_once(topology(rows, tmp_path / "log"), backend, conf())
    assert w.completed
    st = w.checkpoint_stats
    assert st.completed >= 1 and st.failed == 0 and st.recovered_txid is None
    lines = log_lines(tmp_path / "log")
    want, totals = expected_lines(rows)
    assert len(lines) == len(want) and set(lines) == want
    assert final_counts(backend, topology(rows, tmp_path / "x").task_ids("count")) == dict(totals)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kills_at_random_points_lose_and_duplicate_nothing(tmp_path, seed):
    rows = rows_of(20000, seed)
    rng = random.Random(seed)
    log = tmp_path / "log"
    topo = topology(rows, log)
    kills = 0
    while True:
        w = run_once(topo, RocksDBStateBackend(tmp_path / "state"), conf(),
                     kill_after=rng.randint(300, 2500) if kills < 6 else None)
        if w.completed:
            break
        kills += 1
    assert kills == 6
    assert w.checkpoint_stats.recovered_txid is not None
    lines = log_lines(log)
    want, totals = expected_lines(rows)
    assert Counter(lines).most_common(1)[0][1] == 1, "a line was published twice"
    assert set(lines) == want
    with RocksDBStateBackend(tmp_path / "state").open() as store:
        assert final_counts(store, topo.task_ids("count")) == dict(totals)


@pytest.mark.parametrize("how", ["fail", "raise", "stuck"])
def test_failed_trees_roll_back_instead_of_double_counting(tmp_path, how):
    rows = rows_of(2000)
    backend = MemoryStateBackend().open()   # one store for the runs and the read-back
    topo = topology(rows, tmp_path / "log", fail_every=97 if how != "stuck" else 200, how=how)
    w = run_once(topo, backend, {**conf(), MESSAGE_TIMEOUT_SECS: 1})
    assert w.completed
    assert w.checkpoint_stats.rollbacks > 0
    want, totals = expected_lines(rows)
    lines = log_lines(tmp_path / "log")
    assert len(lines) == len(set(lines)) and set(lines) == want
    assert final_counts(backend, topo.task_ids("count")) == dict(totals)


def test_at_least_once_replays_failed_trees_and_counts_them_again(tmp_path):
    # The contrast: without rollback a replayed tuple is counted twice, nothing is lost.
    rows = rows_of(2000)
    backend = MemoryStateBackend().open()   # one store for the runs and the read-back
    topo = topology(rows, tmp_path / "log", fail_every=97)
    w = run_once(topo, backend, conf(mode="at-least-once"))
    assert w.completed and w.checkpoint_stats.rollbacks == 0
    counts = final_counts(backend, topo.task_ids("count"))
    _, totals = expected_lines(rows)
    assert all(counts[k] >= n for k, n in totals.items())
    assert sum(counts.values()) > sum(totals.values())


@pytest.mark.parametrize("mode", [EXACTLY_ONCE, "at-least-once"])
def test_checkpoints_refuse_a_spout_that_cannot_rewind(tmp_path, mode):
    from squall import Spout

    class Plain(Spout):
        def declare_output_fields(self, declarer):
            declarer.declare(["key"])

        def next_tuple(self):
            pass

    b = TopologyBuilder()
    b.set_spout("src", Plain())
    b.set_bolt("count", KeyCounter()).shuffle_grouping("src")
    with pytest.raises(ConfigError, match="src"):
        Worker(b.build(), conf(mode), state_backend=MemoryStateBackend())


def test_a_checkpoint_that_fails_to_stage_is_retried_and_loses_no_write(tmp_path):
    rows = rows_of(1500)
    backend = MemoryStateBackend().open()   # one store for the runs and the read-back
    topo = topology(rows, tmp_path / "log")
    w = Worker(topo, conf(), state_backend=backend)
    real = MemoryStateStore._open_state
    failures = {"left": 3}

    def flaky_open(self, component, task):
        st = real(self, component, task)
        if component == "count":
            stage = st._stage

            def _stage(txid, changes):
                if failures["left"]:
                    failures["left"] -= 1
                    raise OSError("disk full")
                stage(txid, changes)
            st._stage = _stage
        return st

    MemoryStateStore._open_state = flaky_open
    try:
        w.run(until_complete=True)
    finally:
        MemoryStateStore._open_state = real
    assert w.completed and w.checkpoint_stats.failed == 3 and w.checkpoint_stats.completed >= 1
    want, totals = expected_lines(rows)
    assert set(log_lines(tmp_path / "log")) == want
    assert final_counts(backend, topo.task_ids("count")) == dict(totals)
