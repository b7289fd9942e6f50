"""What ``emit`` accepts: one value per declared field, checked at the emitter."""

import pytest

from squall import Bolt, Spout, TopologyBuilder
from squall.errors import RecordError
from squall.runtime import Worker, run_topology
from squall.runtime.errors import FieldCountError
from squall.testing import ListSink, ListSpout


class RowsSpout(Spout):
    """Emits its rows as given, untracked, whatever their length."""

    def __init__(self, rows):
        self.rows = rows

    def declare_output_fields(self, declarer):
        declarer.declare(["word"])
        declarer.declare_stream("pairs", ["k", "v"])

    def open(self, config, context, collector):
        self.collector, self.i = collector, 0

    def next_tuple(self):
        if self.i < len(self.rows):
            row = self.rows[self.i]
            self.i += 1
            self.collector.emit(row)

    def exhausted(self):
        return self.i >= len(self.rows)


def _topology(spout, sink_tasks, sink_name):
    b = TopologyBuilder()
    b.set_spout("src", spout)
    b.set_bolt("sink", ListSink(sink_name), sink_tasks).fields_grouping("src", ["word"])
    return b.build()


def test_emit_with_the_wrong_number_of_values_raises_naming_component_stream_and_counts():
    w = Worker(_topology(RowsSpout([]), 1, "arity-unit"))
    spout = w.spout_tasks[0]
    with pytest.raises(FieldCountError) as info:
        spout.emit(["a", "b"])
    err = info.value
    assert isinstance(err, RecordError) and isinstance(err, ValueError)
    assert (err.component, err.stream, err.expected, err.got, err.record) == ("src", "default", 1, 2, ["a", "b"])
    assert "'src' emitted 2 value(s) on stream 'default', which declares 1 field(s) ['word']" in str(err)
    with pytest.raises(FieldCountError, match=r"'src' emitted 1 value\(s\) on stream 'pairs', which "
                                              r"declares 2 field\(s\) \['k', 'v'\]"):
        spout.emit(["k"], "pairs")
    with pytest.raises(FieldCountError, match="emitted 0 value"):
        spout.emit([], message_id=1)
    assert spout.emit(["ok"]) == list(w.topology.task_ids("sink"))


@pytest.mark.parametrize("sink_tasks", [1, 2])
def test_a_spout_emitting_too_many_values_is_reported_and_the_rest_flows(sink_tasks):
    # With two sink tasks the bad tuple used to fail in the fields grouping (IndexError);
    # with one it passed unnoticed. Both now stop at the emit.
    name = f"arity-spout-{sink_tasks}"
    topo = _topology(RowsSpout([["a"], ["b", "extra"], ["c"]]), sink_tasks, name)
    result = run_topology(topo, timeout_s=20)
    assert result.completed
    errors = result.stats["src"].last_errors
    assert len(errors) == 1 and "FieldCountError" in errors[0] and "2 value(s)" in errors[0], errors
    assert not any("IndexError" in e for e in result.errors())
    assert sorted(ListSink.values(name)) == [["a"], ["c"]]


class PairEmitter(Bolt):
    """Declares one field and emits two values for input 1."""

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def process(self, tup):
        n = tup[0]
        self.collector.emit([n, n] if n == 1 else [n], anchors=[tup])
        self.collector.ack(tup)


def test_a_bolt_emitting_the_wrong_count_fails_its_input_and_names_itself():
    ListSpout.reset("arity-bolt")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[0], [1], [2]], ["n"], name="arity-bolt", max_replays=0))
    b.set_bolt("pairs", PairEmitter()).shuffle_grouping("src")
    b.set_bolt("sink", ListSink("arity-bolt-sink"), 2).fields_grouping("pairs", ["n"])
    result = run_topology(b.build(), timeout_s=20)
    assert result.completed
    errors = result.stats["pairs"].last_errors
    assert len(errors) == 1 and "'pairs' emitted 2 value(s) on stream 'default'" in errors[0], errors
    assert ListSpout.failed("arity-bolt") == [1]
    assert sorted(ListSink.values("arity-bolt-sink")) == [[0], [2]]


def test_emit_errors_are_squall_errors_exported_by_squall_runtime():
    import squall.runtime as rt
    from squall.errors import SquallError

    w = Worker(_topology(RowsSpout([]), 1, "errors-unit"))
    spout = w.spout_tasks[0]
    with pytest.raises(rt.UndeclaredStreamError, match=r"'src' emitted on stream 'nope', which it does "
                                                        r"not declare \(declared: default, pairs\)"):
        spout.emit(["a"], "nope")
    with pytest.raises(rt.InvalidDirectTaskError, match="emit_direct to task 99 on stream 'default'"):
        spout.emit(["a"], direct_task=99)
    for name in ("UndeclaredStreamError", "InvalidDirectTaskError", "FieldCountError", "NotRunningError"):
        assert issubclass(getattr(rt, name), SquallError), name
    assert set(rt.__all__) == {n for n in dir(rt) if not n.startswith("_")
                               and n not in {"acker", "checkpoint", "errors", "executor", "local",
                                             "metrics", "routing", "worker"}}


@pytest.mark.parametrize("acking", [True, False])
def test_a_bolt_emit_is_checked_the_same_with_acking_on_and_off(acking):
    from squall.config import ACKER_EXECUTORS
    from squall.runtime import InvalidDirectTaskError, UndeclaredStreamError

    b = TopologyBuilder()
    b.set_spout("src", ListSpout([], ["n"]))
    b.set_bolt("pairs", PairEmitter()).shuffle_grouping("src")
    b.set_bolt("sink", ListSink("emit-checks"), 2).all_grouping("pairs")
    w = Worker(b.build(), {ACKER_EXECUTORS: None if acking else 0})
    bolt = next(t for t in w.bolt_tasks if t.component == "pairs")
    sinks = [t for t in w.bolt_tasks if t.component == "sink"]
    with pytest.raises(FieldCountError, match=r"'pairs' emitted 2 value\(s\) on stream 'default'"):
        bolt.emit([1, 2])
    with pytest.raises(UndeclaredStreamError, match="'pairs' emitted on stream 'nope'"):
        bolt.emit([1], "nope")
    with pytest.raises(InvalidDirectTaskError, match="emit_direct to task 0 on stream 'default'"):
        bolt.emit_direct(0, [1])
    assert bolt.emit([7]) == [t.task_id for t in sinks]
    assert [[t.values for t in s.inbox] for s in sinks] == [[[7]], [[7]]]
