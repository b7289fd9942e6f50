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


def test_fields_grouping_is_stable_across_instances():
    # CRC-32 of the key, not Python's salted hash(): two preparations agree, and the
    # task is a pure function of the key (other processes: see below).
    a, b = _prepared(FieldsGrouping(["k"])), _prepared(FieldsGrouping(["k"]))
    for key in ["x", "y", "car-7", 42, ("t", 1)]:
        assert a.choose_tasks([key, 0]) == b.choose_tasks([key, 0])
    assert a.choose_tasks(["car-7", 0]) == [[1, 2, 3, 4][stable_hash("car-7") % 4]]


def test_fields_grouping_on_several_fields_uses_every_grouping_field():
    g = _prepared(FieldsGrouping(["k", "v"]), fields=("k", "v", "w"))
    # Every grouping field matters: one k with many v (and one v with many k) spreads
    # over the tasks; routing on the first (or last) field alone would pin them to one.
    same_k = {g.choose_tasks(["car-1", v, 0])[0] for v in range(200)}
    same_v = {g.choose_tasks([f"car-{k}", 7, 0])[0] for k in range(200)}
    assert same_k == {1, 2, 3, 4} and same_v == {1, 2, 3, 4}
    # A field outside the grouping does not: equal (k, v) pairs share a task.
    for k, v in [("car-1", 3), ("car-2", 3), ("car-1", 4)]:
        assert len({g.choose_tasks([k, v, w])[0] for w in range(50)}) == 1
    # And the key is the pair, in the grouping's order, not the stream's.
    h = _prepared(FieldsGrouping(["v", "k"]), fields=("k", "v", "w"))
    assert all(h.choose_tasks(["car-1", v, 0]) == [[1, 2, 3, 4][stable_hash((v, "car-1")) % 4]]
               for v in range(20))


def test_fields_grouping_spreads_unhashable_values_and_keeps_equal_ones_together():
    one = _prepared(FieldsGrouping(["k"]))
    two = _prepared(FieldsGrouping(["k", "v"]))
    # Unhashable keys (a list; a list with a dict) are spread like any others, not all
    # sent to one task ...
    assert {one.choose_tasks([["car", i], 0])[0] for i in range(200)} == {1, 2, 3, 4}
    assert {two.choose_tasks([["car", i], {"n": 1}])[0] for i in range(200)} == {1, 2, 3, 4}
    for i in range(40):
        # ... and equal keys, built afresh each time, always meet on one task; the
        # field outside the grouping does not matter.
        assert len({one.choose_tasks([["car", i], v])[0] for v in range(5)}) == 1
        assert len({two.choose_tasks([["car", i], {"n": 1}])[0] for _ in range(3)}) == 1


def test_fields_grouping_mixes_hashable_and_unhashable_keys_on_one_stream():
    # The memo of hashable keys and the unhashable path give one answer per key,
    # whatever order keys come in.
    keys = ["a", ["a"], ("a",), 1, [1, 2], "b"]
    g, h = _prepared(FieldsGrouping(["k"])), _prepared(FieldsGrouping(["k"]))
    first = {repr(k): g.choose_tasks([k, 0]) for k in keys}
    again = {repr(k): h.choose_tasks([k, 0]) for k in reversed(keys)}
    assert first == again == {repr(k): g.choose_tasks([k, 1]) for k in keys}


_CROSS_PROCESS_KEYS = ["car-7", "b", 42, -3, 2.5, ("t", 1), None, ["unhashable", 1], {"n": 1}, b"raw"]

_CHILD = """
import json, sys
from squall.grouping import FieldsGrouping, PartialKeyGrouping
from tests.test_grouping import _CROSS_PROCESS_KEYS, _prepared
one, two = _prepared(FieldsGrouping(["k"])), _prepared(FieldsGrouping(["k", "v"]))
pkg = _prepared(PartialKeyGrouping(["k"]))
print(json.dumps([[one.choose_tasks([k, 0])[0], two.choose_tasks([k, "x"])[0], pkg.choose_tasks([k, 0])[0]]
                  for k in _CROSS_PROCESS_KEYS] + [hash("car-7")]))
"""


def test_fields_grouping_is_the_same_in_processes_with_other_hash_seeds():
    # The task of a key must not depend on PYTHONHASHSEED: two workers (processes)
    # emitting the same key must reach the same task. hash("car-7") is printed too, to
    # show that the two children really salt str hashes differently.
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    runs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        out = subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=root, capture_output=True,
                             text=True, check=True).stdout
        runs.append(json.loads(out))
    (*tasks_a, salt_a), (*tasks_b, salt_b) = runs
    assert salt_a != salt_b
    assert tasks_a == tasks_b
    one, two = _prepared(FieldsGrouping(["k"])), _prepared(FieldsGrouping(["k", "v"]))
    pkg = _prepared(PartialKeyGrouping(["k"]))
    here = [[one.choose_tasks([k, 0])[0], two.choose_tasks([k, "x"])[0], pkg.choose_tasks([k, 0])[0]]
            for k in _CROSS_PROCESS_KEYS]
    assert here == tasks_a
    assert len({t for t, _, _ in here}) > 1     # and the keys do not all share one task


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
