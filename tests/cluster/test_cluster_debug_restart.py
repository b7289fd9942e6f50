"""Event sampling and log levels set from the UI survive a worker's crash: they are kept
in the cluster beside the topology's record, and a worker process Ray restarts after a
SIGKILL applies them at its start (a real Ray, 2 worker processes)."""

from __future__ import annotations

import logging
import os
import signal
import threading

import pytest

pytest.importorskip("ray")
pytest.importorskip("fastapi")      # squall.ui's extra: the UI's worker-side code is in squall.ui

from squall.config import MAX_SPOUT_PENDING
from tests.cluster.ray_topos import slow_numbers
from tests.ui.uikit import eventually

NAME = "debug-restart"
LOGGER = "squall.test.debugrestart"
_HANG_GUARD_S = 120.0     # only fails a test that would otherwise hang


def _until(check, what):
    """Ray calls polled every 0.1 s, for up to 2 minutes."""
    return eventually(check, what, guard_s=_HANG_GUARD_S, every_s=0.1)


def _in_worker(actor):
    """What a worker process applied: its routes tapped for sampling, and the logger's level."""
    reader = getattr(actor, "_squall_ui_reader", None)
    return {"pid": os.getpid(), "tapped": 0 if reader is None else len(reader._tapped),
            "level": logging.getLogger(LOGGER).level}


def test_a_worker_restarted_after_sigkill_samples_and_logs_as_set_before(tmp_path):
    import ray

    from squall.cluster import RayCluster
    from squall.cluster.records import load_debug
    from squall.ui.ray_source import RaySource

    cluster = RayCluster(num_cpus=2)
    try:
        handle = cluster.submit_topology(NAME, {MAX_SPOUT_PENDING: 50},
                                         slow_numbers(100_000, "debug-restart-sink", "debug-restart-src", 0.005),
                                         workers=2)
        source = RaySource(cluster)
        topo = _until(lambda: source.topologies().get(NAME), "the topology is listed")
        lock = threading.Lock()
        samples: list[tuple[str, int, str, list]] = []

        def sink(component, task, stream, values):
            with lock:
                samples.append((component, task, stream, values))

        topo.set_sampling("slow", 100, sink)
        topo.set_log_level(LOGGER, "DEBUG", 600)
        assert load_debug(NAME)["sampling"] == [["slow", 100]]
        assert load_debug(NAME)["log_levels"][LOGGER][0] == "DEBUG"

        placement = handle.summary()["placement"]
        on_1 = {int(t) for t, w in placement.items() if w == 1}
        slow_on_1 = {t for t in on_1 if t in set(topo.topology.task_ids("slow"))}
        assert slow_on_1, "worker 1 runs a task of the slow bolt"
        _until(lambda: any(task in slow_on_1 for _, task, _, _ in list(samples)), "worker 1's tuples sampled")

        def answered():
            st = handle.statuses()
            return st if None not in st else None
        old_pid = {s["index"]: s["pid"] for s in _until(answered, "both workers answer")}[1]
        os.kill(old_pid, signal.SIGKILL)

        def restarted():
            st = handle.statuses()
            return st[1] is not None and st[1]["pid"] != old_pid and st[1]["running"]
        _until(restarted, "Ray restarts worker 1")

        # The new process applied the kept settings at its start: nothing here set them again.
        applied = ray.get(handle.workers()[1].__ray_call__.remote(_in_worker))
        assert applied["pid"] != old_pid
        assert applied["tapped"] > 0, "the restarted worker's routes are tapped for sampling"
        assert applied["level"] == logging.DEBUG
        with lock:
            samples.clear()
        _until(lambda: sum(task in slow_on_1 for _, task, _, _ in list(samples)) >= 20,
               "the restarted worker's tuples are sampled")

        # Turned off, the setting is gone from the cluster too: a later restart does not sample.
        topo.set_sampling("slow", 0, None)
        topo.set_log_level(LOGGER, None, 0)
        assert {k: v for k, v in load_debug(NAME).items() if k != "apply"} == {"sampling": [], "log_levels": {}}
        # Killed, the topology's settings go with its record (a new run of the name starts clean).
        topo.set_log_level(LOGGER, "INFO", 0)
        assert load_debug(NAME)["log_levels"] == {LOGGER: ["INFO", 0]}
        # The sample collector ends once nothing is sampled: no thread of this test outlives its Ray.
        _until(lambda: not topo._collector.is_alive(), "the sample collector ends")
        cluster.kill_topology(NAME)
        assert {k: v for k, v in load_debug(NAME).items() if k != "apply"} == {"sampling": [], "log_levels": {}}
    finally:
        cluster.shutdown()
