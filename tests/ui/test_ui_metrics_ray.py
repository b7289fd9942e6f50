"""/metrics over the Ray cluster runtime (squall.ui.ray_source.RaySource): a real Ray
started in this process, a topology on 2 worker processes; the latency histograms are
the workers' own histograms with their buckets added, parsed with prometheus_client's
parser; the checkpoint state size is the parts every worker staged, added."""

from __future__ import annotations

import functools
import time

import pytest

pytest.importorskip("ray")
pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
parser = pytest.importorskip("prometheus_client.parser")

from squall import TopologyBuilder
from squall.config import CHECKPOINT_INTERVAL_MS, MAX_SPOUT_PENDING, STATS_SAMPLE_RATE
from squall.factory import ComponentFactory
from squall.runtime.metrics import LATENCY_BUCKETS_S, LatencyHistogram
from squall.ui import serve
from squall.ui.ray_source import RaySource
from tests.cluster.ray_topos import rocksdb_partition, slow_numbers
from tests.ui.ui_topos import Collecting, Counting
from tests.ui.uikit import eventually

TOKEN = "ray-metrics-t0ken"
NAME = "ui-metrics-ray"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_HANG_GUARD_S = 120.0     # only fails a test that would otherwise hang


def _until(check, what):
    """Ray calls polled every 0.1 s, for up to 2 minutes."""
    return eventually(check, what, guard_s=_HANG_GUARD_S, every_s=0.1)


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


def _state_size(client, topology):
    for family in parser.text_string_to_metric_families(client.get("/metrics").text):
        if family.name == "squall_checkpoint_last_state_size_bytes":
            for s in family.samples:
                if s.labels["topology"] == topology:
                    return s.value
    return None


def test_the_checkpoint_state_size_adds_what_both_workers_staged_and_grows(ray_ui, tmp_path):
    import ray

    cluster, _, client = ray_ui
    name = "ui-metrics-ray-state"
    b = TopologyBuilder()
    b.set_spout("numbers", ComponentFactory(Counting), 2)
    b.set_bolt("collect", ComponentFactory(Collecting, 0.001), 2).shuffle_grouping("numbers")
    handle = cluster.submit_topology(name, {MAX_SPOUT_PENDING: 20, CHECKPOINT_INTERVAL_MS: 100}, b.build(),
                                     workers=2, state_backend=functools.partial(rocksdb_partition, str(tmp_path)))
    try:
        first = _until(lambda: _state_size(client, name), "a checkpoint with its size")
        assert first > 0
        _until(lambda: (later := _state_size(client, name)) is not None and later > first, "a bigger checkpoint")

        # Deactivated, every later checkpoint stages the same values in each worker.
        assert client.post(f"/api/v1/topology/{name}/deactivate", headers=AUTH).json()["status"] == "success"
        _until(lambda: all(s is not None and s["pending"] == 0 and s["queued"] == 0 for s in handle.statuses()),
               "the trees in flight complete")

        def parts():
            return [cs.last_state_size_bytes for cs in ray.get([w.checkpoint_stats.remote()
                                                                for w in handle.workers()])]

        def settled():
            before = parts()
            time.sleep(0.5)                 # several checkpoints, and past the UI's refresh
            after = parts()
            return after if before == after and None not in after else None

        staged = _until(settled, "each worker's checkpoints stage the same bytes")
        assert len(staged) == 2 and all(n > 0 for n in staged), "both workers staged state"
        _until(lambda: _state_size(client, name) == sum(staged), "/metrics adds both workers' parts")
    finally:
        cluster.kill_topology(name)
