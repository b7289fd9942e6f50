"""Joins: parsing, compile errors, and engine-level behaviour of join statements (the
semantics themselves are checked against Esper in tests/cep/esper/test_esper_joins.py)."""

from __future__ import annotations

import pytest

from squall.cep import EPLCompileError, EPLEngine, EPLSyntaxError, ExternalClock
from squall.cep import ast as A
from squall.cep.parser import parse


def test_join_ast_and_round_trip():
    text = ("select a.k, b.v from A#length(10) as a, B#time(30 sec) as b unidirectional, "
            "C.win:keepall() where a.k = b.k")
    st = parse(text)[0]
    assert st.stream == A.StreamDef("A", (A.View("length", (A.Literal(10),)),), "a")
    assert [s.event_type for s in st.joins] == ["B", "C"]
    assert st.joins[0].unidirectional and not st.stream.unidirectional
    assert st.where == A.BinaryOp("=", A.Property("a.k"), A.Property("b.k"))
    assert parse(A.to_epl(st))[0] == st


def test_join_syntax_error_position():
    with pytest.raises(EPLSyntaxError) as info:
        parse("select * from A#length(2) as a,\n  where a.k = 1")
    assert (info.value.line, info.value.column) == (2, 3)


@pytest.mark.parametrize("text, message", [
    ("select * from A as a, B#length(2) as b",
     "Joins require that at least one view is specified for each stream, no view was specified for A"),
    ("select * from A#length(2), A#length(3)", "Two streams are named 'A'"),
    ("select c.v from A#length(2) as a, B#length(2) as b", "'c' is not a stream of the join"),
    ("select v from A#length(2) as a, B#length(2) as b", "Property 'v' in a join must be qualified"),
    ("select * from A#length(2) as a unidirectional, B#length(2) as b",
     "unidirectional stream takes no data window"),
    ("select * from A as a unidirectional, B as b unidirectional", "Only one stream of a join can be unidirectional"),
    ("select * from A#length(2) as a, B#nosuch() as b", "view name 'nosuch' is not a known view name"),
    ("select * from A#length(2) as a, pattern [every x=X] as p", "Joining a pattern"),
])
def test_compile_errors(text, message):
    with pytest.raises(EPLCompileError, match=message):
        EPLEngine(ExternalClock(0)).compile(text)


def test_declared_types_resolve_unqualified_properties():
    engine = EPLEngine(ExternalClock(0))
    engine.define_event_type("A", {"k": str, "x": int})
    engine.define_event_type("B", {"k": str, "y": int})
    st = engine.compile("select x, y from A#length(2) as a, B#length(2) as b where a.k = b.k")[0]
    out = []
    st.add_listener(lambda new, old: out.extend(new))
    engine.send("A", {"k": "1", "x": 10})
    engine.send("B", {"k": "1", "y": 20})
    assert out == [{"x": 10, "y": 20}]
    with pytest.raises(EPLCompileError, match="Property named 'k' is ambiguous"):
        engine.compile("select k from A#length(2) as a, B#length(2) as b")
    with pytest.raises(EPLCompileError, match="Property named 'z' is not valid in any stream"):
        engine.compile("select z from A#length(2) as a, B#length(2) as b")
    with pytest.raises(EPLCompileError, match="property named 'z' is not valid in event type 'B'"):
        engine.compile("select b.z from A#length(2) as a, B#length(2) as b")


def _engine(rule):
    engine = EPLEngine(ExternalClock(0))
    st = engine.compile(rule)[0]
    out = []
    st.add_listener(lambda new, old: out.append((engine.current_time_ms, new, old)))
    return engine, st, out


def test_each_new_event_joins_the_other_window():
    engine, st, out = _engine("select irstream a.v as av, b.v as bv from A#length(1) as a, "
                              "B#time(5 sec) as b where a.k = b.k")
    engine.send("A", {"k": 1, "v": "a1"})
    engine.send("B", {"k": 1, "v": "b1"})
    engine.advance_time(1_000)
    engine.send("A", {"k": 1, "v": "a2"})      # a1 leaves: a remove-stream row, then a2's
    engine.advance_time(5_000)                # b1 expires
    assert out == [
        (0, [{"av": "a1", "bv": "b1"}], []),
        (1_000, [{"av": "a2", "bv": "b1"}], [{"av": "a1", "bv": "b1"}]),
        (5_000, [], [{"av": "a2", "bv": "b1"}])]
    assert st.columns == ("av", "bv")


def test_self_join_counts_a_combination_once():
    engine, st, out = _engine("select a1.v as v1, a2.v as v2 from A#length(2) as a1, A#length(2) as a2")
    engine.send("A", {"v": 1})
    engine.send("A", {"v": 2})
    assert [r for _, new, _ in out for r in new] == [
        {"v1": 1, "v2": 1}, {"v1": 2, "v2": 1}, {"v1": 2, "v2": 2}, {"v1": 1, "v2": 2}]


def test_select_star_names_columns_by_alias_or_stream_number():
    engine, st, out = _engine("select * from A#lastevent() as a, B#lastevent()")
    engine.send("A", {"v": 1})
    engine.send("B", {"v": 2})
    assert st.columns == ("a", "stream_1")
    assert out[-1][1] == [{"a": {"v": 1}, "stream_1": {"v": 2}}]


def test_unidirectional_only_its_events_trigger():
    engine, st, out = _engine("select a.v as av, count(*) as n from A as a unidirectional, "
                              "B#keepall() as b where a.k = b.k")
    engine.send("B", {"k": 1})
    engine.send("B", {"k": 1})
    assert out == []
    engine.send("A", {"k": 1, "v": "x"})
    engine.send("A", {"k": 1, "v": "y"})   # aggregates per triggering event
    assert [new for _, new, _ in out] == [[{"av": "x", "n": 2}, {"av": "x", "n": 2}],
                                          [{"av": "y", "n": 2}, {"av": "y", "n": 2}]]


def test_removed_join_statement_stops_its_timers():
    engine, st, out = _engine("select irstream a.v as av from A#time(1 sec) as a, B#keepall() as b")
    engine.send("B", {})
    engine.send("A", {"v": 1})
    engine.remove(st)
    engine.advance_time(5_000)
    assert len(out) == 1
