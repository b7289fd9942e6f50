"""Several machines, simulated: a topology over a 2-node Ray cluster
(``ray.cluster_utils.Cluster``) places its workers on both nodes, and removing a node
moves its worker to the other one with nothing lost."""

from __future__ import annotations

import os
import time

import pytest

from squall.config import MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS
from squall.testing import ListSink
from tests.cluster.ray_topos import slow_numbers

pytest.importorskip("ray")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def two_nodes():
    import ray
    from ray.cluster_utils import Cluster

    from squall.cluster import RayCluster

    ray.shutdown()                      # a Ray of another test module in this process
    saved = os.environ.get("PYTHONPATH")
    # Node processes inherit this environment: their workers import the test topologies.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, saved) if p)
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    second = nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    client = RayCluster(address=nodes.address)
    try:
        yield nodes, second, client
    finally:
        client.shutdown()
        ray.shutdown()
        nodes.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def test_removing_a_node_moves_its_worker_and_loses_nothing(two_nodes):
    nodes, second, client = two_nodes
    n = 3000
    handle = client.submit_topology("nodes", {MESSAGE_TIMEOUT_SECS: 5, MAX_SPOUT_PENDING: 200},
                                    slow_numbers(n, "nodes", "nodes-src", 0.003), workers=2, until_complete=True)
    deadline = time.monotonic() + 120
    while len(ListSink.values("nodes")) < n // 10:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.05)
    before = handle.statuses()
    assert len({s["node_id"] for s in before}) == 2, "the two workers run on the two nodes"
    moved = next(i for i, s in enumerate(before) if s["node_id"] == second.node_id)
    nodes.remove_node(second)
    deadline = time.monotonic() + 120
    while (st := handle.statuses()[moved]) is None or st["node_id"] == second.node_id:
        assert time.monotonic() < deadline, "the worker of the removed node did not move"
        time.sleep(0.1)
    assert handle.wait(300)
    summary = handle.summary()
    client.kill_topology("nodes")
    assert summary["completed"]
    assert {v[0] for v in ListSink.values("nodes")} == set(range(n)), "a row was lost"
