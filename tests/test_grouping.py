"""Routing of every grouping, checked through a running topology where it matters."""

from collections import Counter, defaultdict

import pytest

from squall import Bolt, CustomStreamGrouping, TopologyBuilder
from squall.component import TopologyContext
from squall.grouping import (AllGrouping, FieldsGrouping, GlobalGrouping, LocalOrShuffleGrouping,
                             PartialKeyGrouping, ShuffleGrouping, StreamId, stable_hash)
from squall.runtime import run_topology
from squall.testing import ListSink, ListSpout

SRC = StreamId("src", "default")


def _context(fields=("k", "v"), worker_tasks=frozenset({1, 2, 3, 4})):
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([], list(fields)))
    topo = b.build()
    return TopologyContext(topo, "src", 1, (1,), worker_tasks)


def _prepared(grouping, targets=(1, 2, 3, 4), **kw):
    grouping.prepare(_context(**kw), SRC, list(targets))
    return grouping


def test_shuffle_spreads_evenly_over_all_targets():
    g = _prepared(ShuffleGrouping())
    counts = Counter(g.choose_tasks(["a", 1])[0] for _ in range(400))
    assert counts == {1: 100, 2: 100, 3: 100, 4: 100}


def test_fields_grouping_sends_equal_keys_to_one_task_and_spreads_keys():
    g = _prepared(FieldsGrouping(["k"]))
    seen = defaultdict(set)
    for i in range(2000):
        key = f"car{i % 200}"
        seen[key].update(g.choose_tasks([key, i]))
    assert all(len(tasks) == 1 for tasks in seen.values())
    assert {t for ts in seen.values() for t in ts} == {1, 2, 3, 4}


def test_fields_grouping_is_stable_across_instances_and_processes():
    # CRC-32 of the key, not Python's salted hash(): two preparations agree, and the
    # task is a pure function of the key that a second process computes the same way.
    a, b = _prepared(FieldsGrouping(["k"])), _prepared(FieldsGrouping(["k"]))
    for key in ["x", "y", "car-7", 42, ("t", 1)]:
        assert a.choose_tasks([key, 0]) == b.choose_tasks([key, 0])
    assert a.choose_tasks(["car-7", 0]) == [[1, 2, 3, 4][stable_hash("car-7") % 4]]


def test_fields_grouping_on_two_fields_and_unhashable_values():
    g = _prepared(FieldsGrouping(["k", "v"]))
    assert g.choose_tasks(["a", 1]) == g.choose_tasks(["a", 1])
    g1 = _prepared(FieldsGrouping(["k"]))
    assert g1.choose_tasks([["list"], 1]) == g1.choose_tasks([["list"], 2])


def test_partial_key_grouping_uses_at_most_two_tasks_per_key_and_balances_a_hot_key():
    g = _prepared(PartialKeyGrouping(["k"]))
    tasks = Counter(g.choose_tasks(["hot", i])[0] for i in range(1000))
    assert 1 <= len(tasks) <= 2
    if len(tasks) == 2:
        assert abs(tasks.most_common()[0][1] - tasks.most_common()[1][1]) <= 1


def test_all_global_and_local_or_shuffle():
    assert _prepared(AllGrouping()).choose_tasks(["a", 1]) == [1, 2, 3, 4]
    assert _prepared(GlobalGrouping(), targets=(7, 5, 9)).choose_tasks(["a", 1]) == [5]
    g = _prepared(LocalOrShuffleGrouping(), targets=(3, 4, 8, 9), worker_tasks=frozenset({1, 8, 9}))
    assert {g.choose_tasks(["a", 1])[0] for _ in range(20)} == {8, 9}
    g = _prepared(LocalOrShuffleGrouping(), targets=(3, 4), worker_tasks=frozenset({1}))
    assert {g.choose_tasks(["a", 1])[0] for _ in range(20)} == {3, 4}


class EvenOdd(CustomStreamGrouping):
    def prepare(self, context, stream, target_tasks):
        self.targets = sorted(target_tasks)

    def choose_tasks(self, values):
        return [self.targets[values[0] % 2]]


class TaskTagger(Bolt):
    """Acks and records (its task index, the value)."""

    def __init__(self, name):
        self.name = name

    def prepare(self, config, context, collector):
        self.collector = collector
        self.index = context.task_index

    def process(self, tup):
        ListSink.record(self.name, [self.index, tup[0]])
        self.collector.ack(tup)


def _run_grouping(declare, name, n=20, tasks=3):
    ListSink.reset(name)
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[i] for i in range(n)], ["n"]))
    declare(b.set_bolt("b", TaskTagger(name), tasks))
    assert run_topology(b.build(), timeout_s=20).completed
    return [tuple(v) for v in ListSink.values(name)]


def test_custom_grouping_routes_through_the_user_class():
    got = _run_grouping(lambda d: d.custom_grouping("src", EvenOdd()), "custom", tasks=2)
    assert sorted(got) == sorted((n % 2, n) for n in range(20))


def test_all_grouping_replicates_to_every_task_end_to_end():
    got = _run_grouping(lambda d: d.all_grouping("src"), "allg")
    assert sorted(got) == sorted((t, n) for n in range(20) for t in range(3))


def test_global_and_none_grouping_end_to_end():
    got = _run_grouping(lambda d: d.global_grouping("src"), "glob")
    assert {t for t, _ in got} == {0} and len(got) == 20
    got = _run_grouping(lambda d: d.none_grouping("src"), "none")
    assert sorted(n for _, n in got) == list(range(20))


@pytest.mark.parametrize("grouping", [ShuffleGrouping(), FieldsGrouping(["k"]), AllGrouping()])
def test_groupings_are_picklable_specs(grouping):
    import pickle
    assert pickle.loads(pickle.dumps(grouping)) == grouping
