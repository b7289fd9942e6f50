"""/metrics over the Ray cluster runtime (squall.ui.ray_source.RaySource): a real Ray
started in this process, a topology on 2 worker processes; the latency histograms are
the workers' own histograms with their buckets added, parsed with prometheus_client's
parser."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("ray")
pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
parser = pytest.importorskip("prometheus_client.parser")

from squall.config import MAX_SPOUT_PENDING, STATS_SAMPLE_RATE
from squall.runtime.metrics import LATENCY_BUCKETS_S, LatencyHistogram
from squall.ui import serve
from squall.ui.ray_source import RaySource
from tests.cluster.ray_topos import slow_numbers

TOKEN = "ray-metrics-t0ken"
NAME = "ui-metrics-ray"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_HANG_GUARD_S = 120.0     # only fails a test that would otherwise hang


def _until(check, what):
    deadline = time.monotonic() + _HANG_GUARD_S
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def ray_ui():
    from squall.cluster import RayCluster

    cluster = RayCluster(num_cpus=2)
    try:
        handle = cluster.submit_topology(NAME, {MAX_SPOUT_PENDING: 50, STATS_SAMPLE_RATE: 0.5},
                                         slow_numbers(100_000, "ui-metrics-ray-sink", "ui-metrics-ray-src", 0.002),
                                         workers=2)
        with serve(RaySource(cluster), port=0, token=TOKEN) as server, \
                httpx.Client(base_url=server.url, timeout=30) as client:
            yield cluster, handle, client
    finally:
        cluster.shutdown()


def _histograms(text: str) -> dict[tuple[str, str], tuple[list[tuple[float, float]], float, float]]:
    """``{(kind, component): (cumulative buckets, count, sum)}`` of the topology's latency histograms."""
    out: dict[tuple[str, str], tuple[list, float, float]] = {}
    for family in parser.text_string_to_metric_families(text):
        if not (family.name.startswith("squall_") and family.name.endswith("_latency_seconds")):
            continue
        assert family.type == "histogram", family.name
        kind = family.name[len("squall_"):-len("_latency_seconds")]
        for s in family.samples:
            if s.labels["topology"] != NAME:
                continue
            buckets, count, total = out.get((kind, s.labels["component"]), ([], 0.0, 0.0))
            if s.name.endswith("_bucket"):
                buckets = [*buckets, (float(s.labels["le"]), s.value)]
            elif s.name.endswith("_count"):
                count = s.value
            elif s.name.endswith("_sum"):
                total = s.value
            out[(kind, s.labels["component"])] = (buckets, count, total)
    return out


def test_the_latency_histograms_add_the_buckets_of_both_worker_processes(ray_ui):
    import ray

    _, handle, client = ray_ui
    _until(lambda: handle.stats()["sink"].executed > 200, "tuples reach the sinks")
    assert client.post(f"/api/v1/topology/{NAME}/deactivate", headers=AUTH).json()["status"] == "success"
    _until(lambda: all(s is not None and s["pending"] == 0 and s["queued"] == 0 for s in handle.statuses()),
           "the trees in flight complete")

    def per_worker():
        return ray.get([w.stats.remote() for w in handle.workers()])

    def expected(workers):
        """Each worker's own histograms with their buckets, counts and sums added."""
        out = {}
        for component, kinds in (("numbers", ("complete",)), ("slow", ("execute", "process")),
                                 ("sink", ("execute", "process"))):
            for kind in kinds:
                own = [w[component].latency_histograms.get(kind, LatencyHistogram()) for w in workers]
                out[(kind, component)] = own
        return out

    def matches():
        # The figures stop moving once the trees are done; a scrape answers from a snapshot
        # at most a moment old, so it meets the workers' own figures within a few rounds.
        workers = per_worker()
        merged = _histograms(client.get("/metrics").text)
        for key, own in expected(workers).items():
            buckets, count, total = merged[key]
            added = [(le, sum(dict(h.cumulative())[name] for h in own))
                     for le, name in zip([*LATENCY_BUCKETS_S, float("inf")], [*map(repr, LATENCY_BUCKETS_S), "+Inf"])]
            if buckets != added or count != sum(h.count for h in own) or \
                    total != pytest.approx(sum(h.total_s for h in own)):
                return None
        return workers, merged

    workers, merged = _until(matches, "/metrics's histograms are the workers' buckets added")
    assert len(workers) == 2
    for key, own in expected(workers).items():
        buckets, count, _ = merged[key]
        assert [le for le, _ in buckets] == [*LATENCY_BUCKETS_S, float("inf")]
        assert buckets[-1][1] == count
        if key[0] != "execute":
            # Timed in both processes (one task of each component per worker).
            assert all(h.count > 0 for h in own), key
    # The slow bolt sleeps 2 ms per tuple: none of its timed tuples is acked within 1 ms.
    buckets, count, _ = merged[("process", "slow")]
    assert dict(buckets)[0.001] == 0 and count > 0
    assert client.post(f"/api/v1/topology/{NAME}/activate", headers=AUTH).json()["status"] == "success"
