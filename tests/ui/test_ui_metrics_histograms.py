"""/metrics on the local runtime, parsed with prometheus_client's parser: the latency
histograms (execute latency timed on a sample of tuples, Storm's
``topology.stats.sample.rate``) and the checkpoint state size (what the last completed
checkpoint staged), against the run's own figures."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("squall.ui")
httpx = pytest.importorskip("httpx")
parser = pytest.importorskip("prometheus_client.parser")

from squall import Bolt, TopologyBuilder
from squall.config import CHECKPOINT_INTERVAL_MS, MAX_SPOUT_PENDING, STATS_SAMPLE_RATE
from squall.runtime.metrics import LATENCY_BUCKETS_S, LatencyHistogram
from squall.state import MemoryStateBackend
from squall.state.base import encode_key
from squall.state.codec import StateCodec
from squall.ui import serve
from tests.ui.ui_topos import Collecting, Counting, Numbers
from tests.ui.uikit import AUTH, TOKEN, eventually

_PAUSE_S = 0.003


class Pausing(Bolt):
    """Sleeps ``pause_s`` per tuple: its execute time is at least that."""

    def __init__(self, pause_s: float) -> None:
        self.pause_s = pause_s

    def process(self, tup):
        if self.pause_s:
            time.sleep(self.pause_s)
        self.collector.ack(tup)


def _scrape(client) -> dict[str, dict]:
    """``{family name: {"type": ..., "samples": [(name, labels, value), ...]}}``."""
    return {f.name: {"type": f.type, "samples": [(s.name, s.labels, s.value) for s in f.samples]}
            for f in parser.text_string_to_metric_families(client.get("/metrics").text)}


def _histogram(families, family, topology, component):
    """``(buckets [(le, cumulative count)], count, sum)`` of one component's histogram."""
    fam = families[family]
    assert fam["type"] == "histogram", family
    mine = [(n, lbl, v) for n, lbl, v in fam["samples"]
            if lbl["topology"] == topology and lbl["component"] == component]
    buckets = [(float(lbl["le"]), v) for n, lbl, v in mine if n.endswith("_bucket")]
    (count,) = [v for n, _, v in mine if n.endswith("_count")]
    (total,) = [v for n, _, v in mine if n.endswith("_sum")]
    return buckets, count, total


def test_a_histogram_counts_each_latency_in_its_le_bucket_and_merges_by_adding():
    a, b = LatencyHistogram(), LatencyHistogram()
    for s in (0.0001, 0.00011, 0.001, 0.0011, 31.0):
        a.add(s)
    b.add(0.001)
    le = dict(a.cumulative())
    # Buckets are upper-inclusive (Prometheus's le): 0.0001 is in le=0.0001, 0.00011 is not.
    assert (le["0.0001"], le["0.00025"], le["0.001"], le["0.0025"], le["30.0"], le["+Inf"]) == (1, 2, 3, 4, 4, 5)
    a.merge(b)
    assert (a.count, dict(a.cumulative())["0.001"], dict(a.cumulative())["+Inf"]) == (6, 4, 6)
    assert a.total_s == pytest.approx(0.0001 + 0.00011 + 0.001 + 0.0011 + 31.0 + 0.001)
    assert len(a.cumulative()) == len(LATENCY_BUCKETS_S) + 1


def test_execute_latency_is_a_histogram_of_one_tuple_in_twenty(cluster):
    b = TopologyBuilder()
    b.set_spout("numbers", Numbers())
    b.set_bolt("slow", Pausing(_PAUSE_S)).shuffle_grouping("numbers")
    b.set_bolt("fast", Pausing(0.0)).shuffle_grouping("numbers")
    handle = cluster.submit_topology("histo", {MAX_SPOUT_PENDING: 32, STATS_SAMPLE_RATE: 0.05}, b.build())
    with serve(cluster, port=0, token=TOKEN) as server, httpx.Client(base_url=server.url) as client:
        eventually(lambda: handle.stats()["slow"].executed >= 300, "300 tuples through the slow bolt")
        assert client.post("/api/v1/topology/histo/deactivate", headers=AUTH).status_code == 200
        eventually(lambda: handle.worker.in_flight() == 0, "the trees in flight complete")
        assert "execute" in handle.stats()["slow"].latency_histograms, "the executor times sampled tuples"

        def executed(families, component):
            return next(v for n, lbl, v in families["squall_executed"]["samples"]
                        if n == "squall_executed_total" and lbl["topology"] == "histo" and lbl["component"] == component)

        # One task, the 20th, 40th, ... tuple it executed timed (sample rate 0.05); a scrape
        # answers from one snapshot of the figures, which may be a moment old.
        families = eventually(lambda: (f := _scrape(client)) and all(
            _histogram(f, "squall_execute_latency_seconds", "histo", c)[1] == executed(f, c) // 20 > 0
            for c in ("slow", "fast")) and f, "the execute histograms count one tuple in 20")
    for component in ("slow", "fast"):
        buckets, count, total = _histogram(families, "squall_execute_latency_seconds", "histo", component)
        assert [le for le, _ in buckets] == [*LATENCY_BUCKETS_S, float("inf")]
        assert [v for _, v in buckets] == sorted(v for _, v in buckets), "cumulative buckets"
        assert buckets[-1][1] == count
    slow, count, total = _histogram(families, "squall_execute_latency_seconds", "histo", "slow")
    assert dict(slow)[0.0025] == 0, "every timed tuple of the slow bolt slept 3 ms"
    assert total / count >= _PAUSE_S
    fast, count, _ = _histogram(families, "squall_execute_latency_seconds", "histo", "fast")
    assert dict(fast)[0.001] >= count / 2, "most timed tuples of a bolt that only acks take under 1 ms"


class Raising(Bolt):
    """Raises on every tuple."""

    def process(self, tup):
        raise ValueError(f"bad number {tup.values[0]}")


def test_a_tuple_that_raises_is_failed_and_not_timed(cluster):
    b = TopologyBuilder()
    b.set_spout("numbers", Numbers())
    b.set_bolt("raising", Raising()).shuffle_grouping("numbers")
    handle = cluster.submit_topology("raising", {MAX_SPOUT_PENDING: 32, STATS_SAMPLE_RATE: 0.5}, b.build())
    eventually(lambda: handle.stats()["raising"].executed >= 100, "100 tuples through the raising bolt")
    cluster.deactivate("raising")
    eventually(lambda: handle.worker.in_flight() == 0, "the trees in flight fail")
    st = handle.stats()["raising"]
    assert st.error_count == st.failed == st.executed >= 100
    assert "execute" not in st.latency_histograms, "an execute that raised is not a latency"


def test_process_and_complete_latency_histograms_count_every_timed_sample(cluster):
    b = TopologyBuilder()
    b.set_spout("numbers", Numbers(limit=3000), parallelism=2)
    b.set_bolt("sink", Pausing(0.0), parallelism=2).shuffle_grouping("numbers")
    handle = cluster.submit_topology("samples", {MAX_SPOUT_PENDING: 32, STATS_SAMPLE_RATE: 0.5}, b.build())
    with serve(cluster, port=0, token=TOKEN) as server, httpx.Client(base_url=server.url) as client:
        eventually(lambda: handle.stats()["numbers"].acked == 6000, "every tree completes")
        tasks: dict[str, list] = {}
        for ex in handle.worker.executors:
            tasks.setdefault(ex.component, []).extend(t.counters for t in ex.tasks)
        want = {"numbers": sum(c.complete_latency.count for c in tasks["numbers"]),
                "sink": sum(c.process_latency.count for c in tasks["sink"])}
        # A scrape answers from a snapshot of the figures, which may be a moment old.
        families = eventually(lambda: (f := _scrape(client)) and (
            _histogram(f, "squall_complete_latency_seconds", "samples", "numbers")[1],
            _histogram(f, "squall_process_latency_seconds", "samples", "sink")[1]) == (
            want["numbers"], want["sink"]) and f, "the histograms count every timed sample")
    for family, component, kind in (("squall_complete_latency_seconds", "numbers", "complete_latency"),
                                    ("squall_process_latency_seconds", "sink", "process_latency")):
        buckets, count, total = _histogram(families, family, "samples", component)
        samples = [getattr(c, kind) for c in tasks[component]]
        # Both tasks' samples, every one of them (not a recent window scaled up).
        assert count == sum(s.count for s in samples) > 0, component
        assert total == pytest.approx(sum(s.total_s for s in samples))
        for le, n in buckets:
            assert n == sum(1 for s in samples for v in s.recent if v <= le), (component, le)


def test_checkpoint_state_size_is_what_the_last_checkpoint_staged_and_grows_with_the_state(cluster):
    b = TopologyBuilder()
    b.set_spout("numbers", Counting())
    b.set_bolt("collect", Collecting()).shuffle_grouping("numbers")
    handle = cluster.submit_topology("sized", {MAX_SPOUT_PENDING: 16, CHECKPOINT_INTERVAL_MS: 50}, b.build(),
                                     state_backend=MemoryStateBackend())

    def gauge(client):
        families = _scrape(client)
        fam = families.get("squall_checkpoint_last_state_size_bytes")
        values = [v for _, lbl, v in (fam or {"samples": []})["samples"] if lbl["topology"] == "sized"]
        return values[0] if values else None

    with serve(cluster, port=0, token=TOKEN) as server, httpx.Client(base_url=server.url) as client:
        first = eventually(lambda: gauge(client), "a checkpoint with its size")
        assert first > 0
        seen = handle.stats()["collect"].executed
        eventually(lambda: handle.stats()["collect"].executed > seen + 500, "500 more numbers collected")
        later = eventually(lambda: (g := gauge(client)) is not None and g > first and g, "a bigger checkpoint")
        assert later > first

        # Deactivated, every later checkpoint stages the same values: the figure is exact.
        assert client.post("/api/v1/topology/sized/deactivate", headers=AUTH).status_code == 200
        eventually(lambda: handle.worker.in_flight() == 0, "the trees in flight complete")
        txid = handle.worker.checkpoint_stats.last_txid
        eventually(lambda: handle.worker.checkpoint_stats.last_txid > txid + 1, "two checkpoints more")
        (spout,) = handle.worker.spout_tasks
        (bolt,) = handle.worker.bolt_tasks
        codec = StateCodec()
        staged = (len(encode_key("next")) + len(codec.encode(spout.obj.n))
                  + len(encode_key("seen")) + len(codec.encode(bolt.obj.seen)))
        assert handle.worker.checkpoint_stats.last_state_size_bytes == staged
        assert handle.worker.checkpoint_stats.max_state_size_bytes == staged
        eventually(lambda: gauge(client) == staged, "/metrics serves the staged size")


def test_the_rest_checkpoints_answer_has_the_state_size(cluster):
    b = TopologyBuilder()
    b.set_spout("numbers", Counting())
    b.set_bolt("collect", Collecting()).shuffle_grouping("numbers")
    handle = cluster.submit_topology("sized-rest", {MAX_SPOUT_PENDING: 16, CHECKPOINT_INTERVAL_MS: 50},
                                     b.build(), state_backend=MemoryStateBackend())
    eventually(lambda: (cs := handle.worker.checkpoint_stats) is not None and cs.completed >= 2, "checkpoints")
    with serve(cluster, port=0, token=TOKEN) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/api/v1/topology/sized-rest/deactivate", headers=AUTH).status_code == 200
        eventually(lambda: handle.worker.in_flight() == 0, "the trees in flight complete")
        txid = handle.worker.checkpoint_stats.last_txid
        eventually(lambda: handle.worker.checkpoint_stats.last_txid > txid + 1, "two checkpoints more")
        size = handle.worker.checkpoint_stats.last_state_size_bytes
        assert size > 0
        # Checkpoints completed before this read: whatever snapshot answers has a size.
        assert client.get("/api/v1/topology/sized-rest").json()["checkpoints"]["stateSizeBytes"] is not None
        eventually(lambda: client.get("/api/v1/topology/sized-rest").json()["checkpoints"]["stateSizeBytes"]
                   == size, "the checkpoints answer has the staged size")
