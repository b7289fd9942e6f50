"""Checkpoints across worker processes: one aligned checkpoint over every worker (Storm
2's prepare/commit, coordinated by Nimbus), so exactly-once holds with several workers
even when a worker process is killed with SIGKILL mid-run."""

from __future__ import annotations

import functools
import os
import random
import signal
import time
from collections import Counter

import pytest

from squall.config import CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING, \
    MESSAGE_TIMEOUT_SECS
from tests.cluster.ray_topos import expected_lines, keyed_rows, rocksdb_partition, stateful_count

pytest.importorskip("ray")


def conf(mode):
    return {CHECKPOINT_MODE: mode, CHECKPOINT_INTERVAL_MS: 50, MAX_SPOUT_PENDING: 100, MESSAGE_TIMEOUT_SECS: 5}


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def run(ray_cluster, name, tmp_path, mode, kills, seed=1, n=4000):
    rows = keyed_rows(n, seed)
    log = tmp_path / f"{name}.log"
    backend = functools.partial(rocksdb_partition, str(tmp_path / f"{name}-state"))
    handle = ray_cluster.submit_topology(name, conf(mode), stateful_count(rows, str(log), pause_s=0.0005),
                                         workers=2, until_complete=True, state_backend=backend)
    rng = random.Random(seed)
    recoveries = []
    for _ in range(kills):
        time.sleep(rng.uniform(0.5, 1.5))
        statuses = handle.statuses()
        summary = handle.summary()
        # After the first checkpoint: a kill before it lands before the run has started.
        if summary["phase"] != "running" or summary["checkpoints"] < 1 or any(s is None for s in statuses):
            continue
        victim = rng.randrange(2)
        t0 = time.monotonic()
        os.kill(statuses[victim]["pid"], signal.SIGKILL)
        while True:
            assert time.monotonic() - t0 < 120, "the killed worker was not restarted"
            st = handle.statuses()[victim]
            if st is not None and st["pid"] != statuses[victim]["pid"]:
                recoveries.append(time.monotonic() - t0)
                break
            time.sleep(0.05)
    assert handle.wait(600)
    summary = handle.summary()
    ray_cluster.kill_topology(name)
    return rows, lines(log), summary, recoveries


def test_an_undisturbed_run_on_two_workers_publishes_each_line_once(ray_cluster, tmp_path):
    rows, got, summary, _ = run(ray_cluster, "eo-calm", tmp_path, EXACTLY_ONCE, kills=0)
    assert summary["completed"] and summary["checkpoints"] >= 2
    assert Counter(got).most_common(1)[0][1] == 1
    assert set(got) == expected_lines(rows)


def test_workers_killed_mid_run_roll_back_together_exactly_once(ray_cluster, tmp_path):
    rows, got, summary, recoveries = run(ray_cluster, "eo-kill", tmp_path, EXACTLY_ONCE, kills=3)
    print(f"recoveries after SIGKILL: {[round(r, 2) for r in recoveries]} s; summary {summary}")
    assert recoveries, "no kill landed mid-run"
    # Two kills close together can be caught up by one rollback.
    assert summary["completed"] and summary["rollbacks"] >= 1 and summary["restarts"] >= len(recoveries)
    assert Counter(got).most_common(1)[0][1] == 1, "a line was published twice"
    expected = expected_lines(rows)
    assert not expected - set(got), f"lines missing: {sorted(expected - set(got))[:20]}"
    assert not set(got) - expected, f"lines no run produces: {sorted(set(got) - expected)[:20]}"
