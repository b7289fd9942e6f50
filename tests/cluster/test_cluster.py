"""The cluster runtime on real Ray processes: results equal the local runtime's, a link
keeps its order, and a worker killed (SIGKILL), hung (SIGSTOP) or a Nimbus killed
mid-run loses nothing (at-least-once: trees time out and replay)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from squall import TopologyBuilder
from squall.config import MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS, WORKER_TIMEOUT_SECS
from squall.runtime import run_topology
from squall.testing import ListSink, ListSpout
from tests.cluster.ray_topos import slow_numbers, word_count

pytest.importorskip("ray")


def sink_counter(name):
    return Counter(tuple(v) for v in ListSink.values(name))


def test_word_count_on_two_worker_processes_equals_the_local_run(ray_cluster):
    assert run_topology(word_count(3000, "wc-local")).completed
    handle = ray_cluster.submit_topology("wc", {}, word_count(3000, "wc-cluster"), workers=2,
                                         until_complete=True)
    assert handle.wait(300)
    statuses = handle.statuses()
    summary = handle.summary()
    stats = handle.stats()
    ray_cluster.kill_topology("wc")
    assert summary["completed"] and summary["restarts"] == 0
    pids = {s["pid"] for s in statuses}
    assert len(pids) == 2 and os.getpid() not in pids, "two worker processes, neither this one"
    assert set(summary["placement"].values()) == {0, 1}
    assert sink_counter("wc-cluster") == sink_counter("wc-local")
    assert stats["sentences"].acked == 3000 and stats["count"].executed == stats["split"].emitted
    assert sum(s["sent"] for s in statuses) > 0, "tuples crossed between the workers"


def test_a_stream_between_two_workers_keeps_its_emit_order(ray_cluster):
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(20000)], ["n"]))
    b.set_bolt("sink", ListSink("order")).global_grouping("src")
    handle = ray_cluster.submit_topology("order", {}, b.build(), workers=2, until_complete=True)
    assert handle.wait(300)
    placement = handle.summary()["placement"]
    ray_cluster.kill_topology("order")
    assert len(set(placement.values())) == 2, "spout and sink in different workers"
    assert [v[0] for v in ListSink.values("order")] == list(range(20000))


def _run_and_disturb(ray_cluster, name, disturb, conf=None, n=3000):
    """A slow run on 2 workers; ``disturb(handle)`` once the sink holds 10% of the rows."""
    conf = {MESSAGE_TIMEOUT_SECS: 5, MAX_SPOUT_PENDING: 200, **(conf or {})}
    handle = ray_cluster.submit_topology(name, conf, slow_numbers(n, name, name + "-src", 0.002),
                                         workers=2, until_complete=True)
    deadline = time.monotonic() + 120
    while len(ListSink.values(name)) < n // 10:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.05)
    assert len(ListSink.values(name)) < n, "the run ended before it was disturbed"
    info = disturb(handle)
    assert handle.wait(300)
    summary = handle.summary()
    ray_cluster.kill_topology(name)
    return summary, info


def _worker_pid(handle, index):
    return handle.statuses()[index]["pid"]


def _wait_restarted(handle, index, old_pid, t0):
    while True:
        st = handle.statuses()[index]
        if st is not None and st["pid"] != old_pid:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < 60, "the worker was not restarted"
        time.sleep(0.05)


def test_a_worker_killed_with_sigkill_is_restarted_and_nothing_is_lost(ray_cluster):
    def kill(handle):
        pid = _worker_pid(handle, 1)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        return _wait_restarted(handle, 1, pid, t0)

    summary, recovery_s = _run_and_disturb(ray_cluster, "sigkill", kill)
    print(f"worker back {recovery_s:.2f} s after SIGKILL")
    assert summary["completed"] and summary["restarts"] >= 1
    assert {v[0] for v in ListSink.values("sigkill")} == set(range(3000)), "a row was lost"


def test_a_hung_worker_is_treated_as_dead(ray_cluster):
    def hang(handle):
        pid = _worker_pid(handle, 0)
        t0 = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        return _wait_restarted(handle, 0, pid, t0)

    summary, recovery_s = _run_and_disturb(ray_cluster, "hung", hang, {WORKER_TIMEOUT_SECS: 2})
    assert recovery_s >= 2, "restarted before its heartbeat timeout"
    assert summary["completed"] and summary["restarts"] >= 1
    assert {v[0] for v in ListSink.values("hung")} == set(range(3000))


def test_nimbus_killed_mid_run_comes_back_with_its_topologies(ray_cluster):
    import ray

    def kill_nimbus(handle):
        before = ray.get(ray_cluster.nimbus.ping.remote())
        workers = [s["pid"] for s in handle.statuses()]
        os.kill(before["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "Nimbus did not come back"
            try:
                after = ray.get(ray_cluster.nimbus.ping.remote(), timeout=5)
                break
            except Exception:
                time.sleep(0.1)
        assert after["pid"] != before["pid"]
        names = [t["name"] for t in ray_cluster.list_topologies()]
        return names, workers, [s["pid"] for s in handle.statuses()]

    summary, (names, workers_before, workers_after) = _run_and_disturb(ray_cluster, "nimbus", kill_nimbus)
    assert "nimbus" in names, "the restarted Nimbus lost the topology"
    assert workers_after == workers_before, "the workers kept running through Nimbus's restart"
    assert summary["completed"]
    assert {v[0] for v in ListSink.values("nimbus")} == set(range(3000))
