"""The windowed figures (10 min, 3 h, 1 day): counters now minus the latest sample at
least a window old; all time when there is none."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from squall import TopologyBuilder
from squall.runtime import LocalCluster
from squall.runtime.metrics import ComponentStats
from squall.testing import ListSink, ListSpout
from squall.ui import ClusterView, CounterHistory
from squall.ui.views import pretty_duration


def _stats(acked):
    return {"src": ComponentStats("src", "spout", 1, 1, emitted=acked, acked=acked)}


def test_base_is_the_latest_sample_at_least_a_window_old():
    h = CounterHistory(sample_s=10, keep_s=1000)
    h.record("t", _stats(5), now=0)
    h.record("t", _stats(7), now=5)       # younger than sample_s after the last: not kept
    h.record("t", _stats(50), now=100)
    h.record("t", _stats(90), now=700)
    assert h.base("t", 600, now=650) == {"src": (5, 0, 5, 0, 0)}
    assert h.base("t", 600, now=720) == {"src": (50, 0, 50, 0, 0)}
    assert h.base("t", 600, now=500) is None
    assert h.base("other", 600, now=720) is None
    h.record("t", _stats(95), now=1750)   # keep_s: one sample older than 1000 s stays
    assert h.base("t", 1000, now=1750) == {"src": (90, 0, 90, 0, 0)}
    assert h.base("t", 1700, now=1750) is None
    h.forget("t")
    assert h.base("t", 1, now=1750) is None


def test_topology_windows_subtract_an_old_sample():
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(300)], ["n"]))
    b.set_bolt("out", ListSink("ui-windows")).shuffle_grouping("src")
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("w", {}, b.build(), until_complete=True)
        assert handle.wait(60)
        stats = handle.stats()
        assert stats["src"].acked == 300
        view = ClusterView(cluster, CounterHistory(sample_s=10))
        # As if sampled 700 s ago, when 100 trees had completed and 120 tuples were emitted.
        view.history.record("w", {"src": ComponentStats("src", "spout", 1, 1, emitted=120, acked=100),
                                  "out": ComponentStats("out", "bolt", 1, 1)}, time.monotonic() - 700)
        page = view.topology("w", window="600")
    windows = {w["window"]: w for w in page["topologyStats"]}
    assert (windows["600"]["acked"], windows["600"]["emitted"]) == (200, 300 + 0 - 120)
    for w in ("10800", "86400", ":all-time"):
        assert (windows[w]["acked"], windows[w]["emitted"]) == (300, 300)
    assert page["window"] == "600" and page["windowHint"] == "10m 0s"
    assert page["spouts"][0]["acked"] == 200
    assert {b["boltId"]: b["executed"] for b in page["bolts"]} == {"out": 300}


def test_durations_read_as_storm_ui_writes_them():
    assert pretty_duration(3725) == "1h 2m 5s"
    assert pretty_duration(90061) == "1d 1h 1m 1s"
