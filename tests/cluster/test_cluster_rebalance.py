"""Rebalance without stopping: 1 -> 2 -> 1 worker processes and 1 -> 4 -> 2 executors
of a stateful component mid-run, exactly-once: every output line once, none missing."""

from __future__ import annotations

import functools
import time
from collections import Counter

import pytest

from squall.cluster.scheduler import SchedulingError
from squall.config import CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING, \
    MESSAGE_TIMEOUT_SECS
from tests.cluster.ray_topos import expected_lines, keyed_rows, rocksdb_partition, stateful_count

pytest.importorskip("ray")


def wait_executed(handle, at_least):
    deadline = time.monotonic() + 120
    while handle.stats()["count"].executed < at_least:
        assert time.monotonic() < deadline, "the run stalled"
        time.sleep(0.05)


def test_rebalance_workers_and_executors_mid_run_loses_and_duplicates_nothing(ray_cluster, tmp_path):
    rows = keyed_rows(6000, seed=3)
    log = tmp_path / "rebalance.log"
    topology = stateful_count(rows, str(log), pause_s=0.0005, count_executors=1, count_tasks=4)
    conf = {CHECKPOINT_MODE: EXACTLY_ONCE, CHECKPOINT_INTERVAL_MS: 100, MAX_SPOUT_PENDING: 100,
            MESSAGE_TIMEOUT_SECS: 10}
    handle = ray_cluster.submit_topology("rebalance", conf, topology, workers=1, until_complete=True,
                                         state_backend=functools.partial(rocksdb_partition, str(tmp_path / "st")))
    wait_executed(handle, 1000)
    with pytest.raises(SchedulingError, match="1..4"):
        ray_cluster.rebalance("rebalance", executors={"count": 5})
    up = ray_cluster.rebalance("rebalance", workers=2, executors={"count": 4})
    assert up["workers"] == 2 and set(up["placement"].values()) == {0, 1}
    pids_up = {s["pid"] for s in handle.statuses()}
    assert len(pids_up) == 2
    stats = handle.stats()
    assert stats["count"].executors == 4
    wait_executed(handle, 1500)
    down = ray_cluster.rebalance("rebalance", workers=1, executors={"count": 2})
    assert down["workers"] == 1 and handle.stats()["count"].executors == 2
    assert handle.wait(600)
    summary = handle.summary()
    ray_cluster.kill_topology("rebalance")
    print(f"rebalance pauses: up {up['rebalance_pause_s']:.2f} s, down {down['rebalance_pause_s']:.2f} s")
    assert summary["completed"] and summary["rebalances"] == 2
    got = log.read_text().splitlines()
    assert Counter(got).most_common(1)[0][1] == 1, "a line was published twice"
    assert set(got) == expected_lines(rows), "a line is missing"
