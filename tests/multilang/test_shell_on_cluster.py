"""Shell components in a topology on the Ray cluster: each child process starts on the
worker process that runs its task, and the outputs equal the local runtime's."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

import pytest

from squall import TopologyBuilder
from squall.multilang import ShellBolt, ShellSpout
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


def test_a_shell_spout_on_the_cluster_emits_and_gets_its_acks(ray_cluster, component_dir):
    # storm.py's reliable spout on one worker, a storm.py bolt on both: the spout's
    # child must get the ack of every sentence across the worker boundary.
    acked = component_dir / "acked.txt"
    ListSink.reset("ml-cluster-spout")
    b = TopologyBuilder()
    b.set_spout("sentences", ShellSpout([PY, "sentencespout.py"], fields=["sentence"], cwd=str(component_dir)))
    b.set_bolt("split", ShellBolt([PY, "splitsentence.py"], fields=["word"], cwd=str(component_dir)),
               2).shuffle_grouping("sentences")
    b.set_bolt("sink", ListSink("ml-cluster-spout")).shuffle_grouping("split")
    ray_cluster.submit_topology("ml-cluster-spout", {"test.acked.file": str(acked)}, b.build(), workers=2)
    try:
        give_up = time.monotonic() + 120      # a guard against a hang, not a speed claim
        while time.monotonic() < give_up and not (acked.exists() and len(acked.read_text().split()) >= 4):
            time.sleep(0.1)
    finally:
        ray_cluster.kill_topology("ml-cluster-spout")
    assert sorted(int(i) for i in acked.read_text().split()) == [0, 1, 2, 3]
    sentences = SENTENCES[:4]    # sentencespout.py's four, the same as this module's first four
    assert Counter(v[0] for v in ListSink.values("ml-cluster-spout")) == Counter(
        w for s in sentences for w in s.split(" "))
