"""``insert [istream|rstream|irstream] into Name[(columns)]`` (unit level; the Esper
differential tests are in tests/cep/esper/test_esper_insert_forms.py)."""

from __future__ import annotations

import pytest

from squall.cep import EPLCompileError, EPLEngine, ExternalClock
from squall.cep.ast import to_epl
from squall.cep.parser import parse

T = "T"


def _run(rule: str, events: list[dict]):
    """(rows of the first statement's listener, rows of the statement reading R):
    each listener call as (new_rows, old_rows)."""
    engine = EPLEngine(ExternalClock(0))
    stmts = engine.compile(rule)
    first, reader = [], []
    stmts[0].add_listener(lambda new, old: first.append((new, old)))
    stmts[1].add_listener(lambda new, old: reader.append((new, old)))
    engine.send_many(T, events)
    return first, reader


_EVENTS = [{"v": 1}, {"v": 2}, {"v": 3}]


@pytest.mark.parametrize("insert,select,listener,inserted", [
    # the listener follows the select's selector, R the insert's
    ("insert into R", "rstream", [([{"v": 1}], [])], [1, 2, 3]),
    ("insert rstream into R", "", [([{"v": 1}], []), ([{"v": 2}], []), ([{"v": 3}], [])], [1]),
    ("insert rstream into R", "irstream",
     [([{"v": 1}], []), ([{"v": 2}], []), ([{"v": 3}], [{"v": 1}])], [1]),
    ("insert rstream into R", "rstream", [([{"v": 1}], [])], [1]),
    ("insert irstream into R", "", [([{"v": 1}], []), ([{"v": 2}], []), ([{"v": 3}], [])], [1, 2, 3, 1]),
    ("insert istream into R", "irstream",
     [([{"v": 1}], []), ([{"v": 2}], []), ([{"v": 3}], [{"v": 1}])], [1, 2, 3]),
])
def test_inserted_stream_and_listener_stream_are_chosen_apart(insert, select, listener, inserted):
    first, reader = _run(f"{insert} select {select} v from T#length(2); select v from R", _EVENTS)
    assert first == listener
    # insert stream before remove stream, within one output
    assert [r["v"] for new, _ in reader for r in new] == inserted


def test_column_names_of_the_insert_into_clause_name_the_columns_for_all():
    engine = EPLEngine(ExternalClock(0))
    st, reader = engine.compile("insert into R(a, b) select v as x, v * 2 from T; select a, b from R")
    assert st.columns == ("a", "b")
    seen = []
    st.add_listener(lambda new, old: seen.append(new))
    reader.add_listener(lambda new, old: seen.append(new))
    engine.send(T, {"v": 4})
    assert seen == [[{"a": 4, "b": 8}], [{"a": 4, "b": 8}]]


@pytest.mark.parametrize("rule,message", [
    ("insert into R(a) select v, w from T", "Number of supplied values .* does not match insert-into"),
    ("insert into R(a, b, c) select v, w from T", r"\(2 values, 3 columns\)"),
    ("insert into R(a, b) select * from T", "Wildcard not allowed when insert-into specifies column order"),
])
def test_column_list_errors_name_the_clause(rule, message):
    with pytest.raises(EPLCompileError, match=message) as info:
        EPLEngine(ExternalClock(0)).compile(rule)
    assert (info.value.line, info.value.column) == (1, 15)


@pytest.mark.parametrize("text", [
    "insert rstream into R select v from T#length(2)",
    "insert irstream into R select rstream v from T#length(2)",
    "insert into R select a as x, b as y from T",
])
def test_insert_forms_round_trip_through_to_epl(text):
    st = parse(text)[0]
    assert parse(to_epl(st))[0] == st


def test_insert_rstream_into_a_chain_over_a_batch():
    engine = EPLEngine(ExternalClock(0))
    _, counter = engine.compile("insert rstream into Old select v from T#length_batch(2); "
                                "select count(*) as n from Old")
    seen = []
    counter.add_listener(lambda new, old: seen.append(new[0]["n"]))
    engine.send_many(T, [{"v": i} for i in range(6)])
    # the batches of 0-1 and 2-3 left (posted as old data) when 2-3 and 4-5 came
    assert seen == [1, 2, 3, 4]


def test_on_select_insert_into_keeps_its_own_rules():
    engine = EPLEngine(ExternalClock(0))
    engine.compile("create window W#keepall as select v from T; insert into W select v from T; "
                   "on Q insert into Hit select v from W; select v from Hit")
    seen = []
    engine.statements[-1].add_listener(lambda new, old: seen.extend(new))
    engine.send(T, {"v": 1})
    engine.send("Q", {})
    assert seen == [{"v": 1}]
