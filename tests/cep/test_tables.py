"""Tables through EPLEngine: create table, into table, access expressions, on-statements,
fire-and-forget queries and snapshots (differential tests against Esper:
tests/cep/esper/test_esper_tables.py)."""

from __future__ import annotations

import json

import pytest

from squall.cep import EPLEngine, ExternalClock
from squall.cep.errors import EPLCompileError, EPLSyntaxError

TABLE = ("create table T (carNumber string primary key, total sum(double), cnt count(*)); "
         "into table T select sum(speed) as total, count(*) as cnt from Car group by carNumber")


def engine_with(text: str, **kwargs):
    engine = EPLEngine(ExternalClock(0), **kwargs)
    out = []
    for i, st in enumerate(engine.compile(text)):
        st.add_listener(lambda new, old, i=i: out.append((engine.current_time_ms, i, new, old)))
    return engine, out


def cars(engine, *pairs, start=1_000):
    for n, (car, speed) in enumerate(pairs):
        engine.advance_time(start + n * 1_000)
        engine.send("Car", {"carNumber": car, "speed": float(speed)})


def test_into_table_outputs_the_touched_rows_and_access_reads_them():
    engine, out = engine_with(TABLE + "; select T[k].total as t, T[k].cnt as c from Q")
    cars(engine, ("A", 90), ("B", 50), ("A", 100))
    engine.send("Q", {"k": "A"})
    engine.send("Q", {"k": "nobody"})
    assert [(i, new) for _t, i, new, _old in out] == [
        (1, [{"total": 90.0, "cnt": 1}]), (1, [{"total": 50.0, "cnt": 1}]),
        (1, [{"total": 190.0, "cnt": 2}]),
        (2, [{"t": 190.0, "c": 2}]), (2, [{"t": None, "c": None}])]
    assert engine.tables == {"T": [{"carNumber": "A", "total": 190.0, "cnt": 2},
                                   {"carNumber": "B", "total": 50.0, "cnt": 1}]}


def test_access_is_read_when_the_statement_evaluates_not_when_the_event_arrived():
    engine, out = engine_with(TABLE + "; select carNumber, T[carNumber].total as t "
                                      "from Car#length_batch(2)")
    cars(engine, ("A", 10), ("A", 20))
    assert out[-1][2] == [{"carNumber": "A", "t": 30.0}, {"carNumber": "A", "t": 30.0}]


def test_keyless_table_and_a_declared_stream():
    engine = EPLEngine(ExternalClock(0))
    engine.define_event_type("Car", {"carNumber": str, "speed": float})
    engine.compile("create table S (top max(double), n count(*)); "
                   "into table S select max(speed) as top, count(*) as n from Car#length(2)")
    st = engine.compile("select S.top as top, S.n + 1 as n1 from Car")[0]
    seen = []
    st.add_listener(lambda new, old: seen.extend(new))
    cars(engine, ("A", 90), ("B", 50), ("C", 70))
    assert seen == [{"top": 90.0, "n1": 2}, {"top": 90.0, "n1": 3}, {"top": 70.0, "n1": 3}]


@pytest.mark.parametrize("text, message", [
    ("create table T (k string primary key, k int)", "declared twice"),
    ("create table T (k sum(double) primary key)", "cannot be a primary key"),
    ("create table T (k strin)", "Unknown type 'strin'"),
    ("create table T (k string primary key); create window T#keepall as Car", "already been created"),
    (TABLE.replace("as total", "as cnt"), "aggregation column of table 'T' of the same function"),
    (TABLE.replace("group by carNumber", ""), "must give its primary key"),
    (TABLE.replace("sum(speed) as total", "sum(speed) as nope"), "sum\\(speed\\)"),
    (TABLE + "; select T[k].nope from Q", "'nope' is not a column of table 'T'"),
    (TABLE + "; select T[k, 1].total from Q", "1 primary key column\\(s\\), the access gives 2"),
    ("select X[k].total from Q", "table by name 'X' does not exist"),
    (TABLE + "; select * from T", "Selecting from table 'T' as a stream is not supported"),
    (TABLE + "; on Q update T set total = 1", "aggregation column"),
])
def test_compile_errors_name_the_problem(text, message):
    with pytest.raises(EPLCompileError, match=message) as info:
        EPLEngine(ExternalClock(0)).compile(text)
    assert info.value.line is not None


def test_primary_key_written_wrong_is_a_syntax_error():
    with pytest.raises(EPLSyntaxError, match="primary key"):
        EPLEngine(ExternalClock(0)).compile("create table T (k string primary kee)")


def test_merge_insert_of_an_existing_key_is_reported_and_skipped():
    errors = []
    engine, out = engine_with("create table P (k string primary key, v double); "
                              "on Q merge P where P.k = Q.k and Q.v > 0 "
                              "when not matched then insert select k, v",
                              on_error=errors.append)
    engine.send("Q", {"k": "A", "v": 1.0})
    engine.send("Q", {"k": "A", "v": -1.0})   # no match (v <= 0), but the key exists
    assert engine.tables["P"] == [{"k": "A", "v": 1.0}]
    assert len(errors) == 1 and "primary key 'A'" in str(errors[0])


def test_fire_and_forget_over_a_table():
    engine, _ = engine_with(TABLE)
    cars(engine, ("A", 90), ("B", 50), ("A", 100))
    assert engine.execute_query("select carNumber, total / cnt as mean from T where cnt > 1") == [
        {"carNumber": "A", "mean": 95.0}]
    assert engine.execute_query("delete from T where carNumber = 'A'") == []
    assert engine.execute_query("select count(*) as n from T") == [{"n": 1}]
    cars(engine, ("A", 1), start=10_000)     # a deleted key starts again
    assert engine.execute_query("select * from T where carNumber = 'A'") == [
        {"carNumber": "A", "total": 1.0, "cnt": 1}]


def test_snapshot_restores_table_rows_and_access_statements():
    text = TABLE + "; select carNumber, T[carNumber].cnt as c from Car#length_batch(2)"
    events = [("A", 1), ("B", 2), ("A", 3), ("A", 4), ("B", 5), ("C", 6)]
    whole, whole_out = engine_with(text)
    cars(whole, *events)
    for cut in range(len(events)):
        first, first_out = engine_with(text)
        cars(first, *events[:cut])
        snap = json.loads(json.dumps(first.snapshot()))
        second, second_out = engine_with(text)
        second.restore(snap)
        cars(second, *events[cut:], start=1_000 + cut * 1_000)
        assert first_out + second_out == whole_out, cut
        assert second.tables == whole.tables


def test_send_many_reads_the_table_event_by_event():
    engine, out = engine_with(TABLE + "; select carNumber, T[carNumber].cnt as c from Car")
    engine.send_many("Car", [{"carNumber": "A", "speed": 1.0}, {"carNumber": "A", "speed": 2.0}])
    assert [new for _t, i, new, _old in out if i == 2] == [[{"carNumber": "A", "c": 1}],
                                                           [{"carNumber": "A", "c": 2}]]
