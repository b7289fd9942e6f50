"""Topology building: validation errors say what is wrong and how to fix it."""

import pickle

import pytest

from squall import Bolt, Fields, Spout, TopologyBuilder, TopologyValidationError, Tuple
from squall.testing import ListSink, ListSpout
from squall.tuple import TupleSource


class TwoStreams(Spout):
    def declare_output_fields(self, declarer):
        declarer.declare(["a", "b"])
        declarer.declare_stream("alerts", ["level"])
        declarer.declare_stream("direct", ["x"], direct=True)

    def next_tuple(self):
        pass


def builder():
    b = TopologyBuilder()
    b.set_spout("src", TwoStreams())
    return b


@pytest.mark.parametrize("wire, message", [
    (lambda b: b.set_bolt("s", ListSink("v")).shuffle_grouping("nope"), "unknown component 'nope'"),
    (lambda b: b.set_bolt("s", ListSink("v")).shuffle_grouping("src", "missing"),
     "stream 'missing' that 'src' does not declare"),
    (lambda b: b.set_bolt("s", ListSink("v")).fields_grouping("src", ["a", "zz"]),
     "by ['zz'], which the stream does not declare"),
    (lambda b: b.set_bolt("s", ListSink("v")).shuffle_grouping("src", "direct"), "declared direct"),
    (lambda b: b.set_bolt("s", ListSink("v")).direct_grouping("src"), "not declared direct"),
    (lambda b: b.set_bolt("s", ListSink("v"), parallelism=3, num_tasks=2).shuffle_grouping("src"),
     "parallelism 3 is above its task count 2"),
    (lambda b: b.set_bolt("s", ListSink("v"), parallelism=0), "parallelism must be an int >= 1"),
])
def test_build_rejects_inconsistent_wiring(wire, message):
    b = builder()
    wire(b)
    with pytest.raises(TopologyValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        b.build()


def test_duplicate_and_reserved_names_and_wrong_kinds():
    b = builder()
    with pytest.raises(TopologyValidationError, match="duplicate component name 'src'"):
        b.set_spout("src", TwoStreams())
    with pytest.raises(TopologyValidationError, match="reserved"):
        b.set_bolt("__acker", ListSink("v"))
    with pytest.raises(TopologyValidationError, match="expected a Bolt"):
        b.set_bolt("x", TwoStreams())
    with pytest.raises(TopologyValidationError, match="needs at least one spout"):
        t = TopologyBuilder()
        t.set_bolt("only", ListSink("v"))
        t.build()


def test_duplicate_stream_declaration_is_an_error():
    class Twice(Bolt):
        def declare_output_fields(self, declarer):
            declarer.declare(["a"])
            declarer.declare(["b"])

    b = builder()
    b.set_bolt("t", Twice()).shuffle_grouping("src")
    with pytest.raises(TopologyValidationError, match="declared twice"):
        b.build()


def test_task_ids_executors_and_subscribers():
    b = builder()
    b.set_bolt("x", ListSink("v"), parallelism=2, num_tasks=4).shuffle_grouping("src") \
        .all_grouping("src", "alerts")
    topo = b.build()
    assert topo.task_ids("src") == (1,) and topo.task_ids("x") == (2, 3, 4, 5)
    assert [name for name, _ in topo.subscribers("src", "alerts")] == ["x"]
    assert topo.topological_order() == ["src", "x"]
    assert topo.components["x"].parallelism == 2 and topo.components["x"].num_tasks == 4


def test_topology_spec_pickles():
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[1]], ["n"]))
    b.set_bolt("s", ListSink("pickled")).fields_grouping("src", ["n"])
    topo = pickle.loads(pickle.dumps(b.build()))
    assert topo.task_ids("s") == (1,)


def test_tuple_access_by_index_and_name():
    t = Tuple(["c1", 91.5], TupleSource("parse", 2, "default", Fields(["car", "speed"])), None)
    assert (t[0], t["speed"], t.get("missing", 7), t.select(["speed", "car"])) == ("c1", 91.5, 7, [91.5, "c1"])
    assert t.as_dict() == {"car": "c1", "speed": 91.5}
    with pytest.raises(ValueError, match="unknown field 'nope'"):
        t["nope"]
    with pytest.raises(ValueError, match="duplicate field"):
        Fields(["a", "a"])
