"""A running worker raises the collector's young-generation threshold and gives it back."""

import gc
import threading

import pytest

from squall import Bolt, TopologyBuilder
from squall.runtime import LocalCluster, run_topology
from squall.testing import ListSpout

SEEN: list[tuple[int, ...]] = []


class RecordThreshold(Bolt):
    def prepare(self, config, context, collector):
        self.collector = collector

    def process(self, tup):
        SEEN.append(gc.get_threshold())
        self.collector.ack(tup)


class Gate(Bolt):
    """Records the threshold, then holds its first tuple until ``release`` is set."""

    release = threading.Event()
    entered = threading.Event()

    def prepare(self, config, context, collector):
        self.collector = collector

    def process(self, tup):
        SEEN.append(gc.get_threshold())
        Gate.entered.set()
        Gate.release.wait(10)
        self.collector.ack(tup)


def _topology(bolt):
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[1]], ["n"]))
    b.set_bolt("rec", bolt).shuffle_grouping("src")
    return b.build()


@pytest.fixture
def default_threshold():
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    SEEN.clear()
    yield
    gc.set_threshold(*saved)


def test_a_run_raises_the_young_threshold_and_restores_it(default_threshold):
    assert run_topology(_topology(RecordThreshold()), timeout_s=10).completed
    assert SEEN == [(50_000, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_or_disabled_threshold_is_left_alone(default_threshold):
    gc.set_threshold(100_000, 5, 5)
    run_topology(_topology(RecordThreshold()), timeout_s=10)
    gc.set_threshold(0, 10, 10)
    run_topology(_topology(RecordThreshold()), timeout_s=10)
    assert SEEN == [(100_000, 5, 5), (0, 10, 10)]
    assert gc.get_threshold() == (0, 10, 10)


def test_the_last_of_two_running_topologies_restores_it(default_threshold):
    Gate.release.clear()
    Gate.entered.clear()
    cluster = LocalCluster()
    cluster.submit_topology("held", {}, _topology(Gate()))
    try:
        assert Gate.entered.wait(10)
        assert run_topology(_topology(RecordThreshold()), timeout_s=10).completed
        assert gc.get_threshold() == (50_000, 10, 10)   # "held" still runs
    finally:
        Gate.release.set()
        cluster.shutdown()
    assert SEEN == [(50_000, 10, 10)] * 2
    assert gc.get_threshold() == (700, 10, 10)
