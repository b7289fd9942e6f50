"""Shell components in a topology on the Ray cluster: each child process starts on the
worker process that runs its task, and the outputs equal the local runtime's."""

from __future__ import annotations

import os
import sys
from collections import Counter

import pytest

from squall import TopologyBuilder
from squall.multilang import ShellBolt
from squall.testing import ListSink, ListSpout

pytest.importorskip("ray")

PY = sys.executable
SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs", "i am at two with nature"]


@pytest.fixture(scope="module")
def ray_cluster():
    from squall.cluster import RayCluster
    cluster = RayCluster(num_cpus=2)
    try:
        yield cluster
    finally:
        cluster.shutdown()


def test_shell_bolts_run_their_children_on_the_workers_that_run_their_tasks(ray_cluster, component_dir):
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([[s] for s in SENTENCES * 20], ["sentence"]))
    b.set_bolt("split", ShellBolt([PY, "splitsentence.py"], fields=["word"], cwd=str(component_dir)),
               2).shuffle_grouping("sentences")
    b.set_bolt("where", ShellBolt([PY, "whereami.py"], fields=["word", "pid"], cwd=str(component_dir)),
               2).shuffle_grouping("split")
    b.set_bolt("sink", ListSink("ml-cluster")).shuffle_grouping("where")
    topology = b.build()
    handle = ray_cluster.submit_topology("ml-cluster", {}, topology, workers=2, until_complete=True)
    assert handle.wait(300)
    workers = {s["pid"] for s in handle.statuses()}
    placement = handle.summary()["placement"]
    ray_cluster.kill_topology("ml-cluster")
    got = ListSink.values("ml-cluster")
    words = Counter(w for s in SENTENCES * 20 for w in s.split(" "))
    assert Counter(w for w, _ in got) == words
    parents = {pid for _, pid in got}
    assert parents <= workers and os.getpid() not in parents, "a child started outside the workers"
    assert {placement[t] for t in topology.task_ids("where")} == {0, 1}
    assert len(parents) == 2, "each worker started the child of its own 'where' task"
