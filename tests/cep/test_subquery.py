"""Subqueries (squall.cep.subquery): windows fed from their own stream, snapshots, and the
statements they are refused in. Agreement with Esper: tests/cep/esper/test_esper_subqueries.py."""

import pytest

from squall.cep import EPLEngine, ExternalClock
from squall.cep.errors import EPLCompileError

RULE = ("select k, (select max(speed) from Car#time(2 sec) where car = q.k) as top, "
        "exists (select * from Car#length(2) where speed > q.v) as faster, "
        "k in (select car from Car#unique(car)) as seen from Q as q")


def run(engine, events, out):
    for ts, type_name, ev in events:
        engine.advance_time(ts)
        engine.send(type_name, ev)
    return out


def started(rule=RULE):
    engine = EPLEngine(ExternalClock(0))
    out = []
    engine.compile(rule, name="s")[0].add_listener(lambda new, old: out.extend(new))
    return engine, out


EVENTS = [(1000, "Car", {"car": "A", "speed": 90.0}), (1800, "Car", {"car": "B", "speed": 40.0}),
          (2000, "Q", {"k": "A", "v": 50.0}), (3500, "Q", {"k": "A", "v": 50.0}),
          (3600, "Car", {"car": "C", "speed": 30.0}), (3700, "Q", {"k": "B", "v": 35.0}),
          (4000, "Q", {"k": "Z", "v": 10.0})]


def test_subquery_windows_follow_their_own_stream():
    engine, out = started()
    run(engine, EVENTS, out)
    assert out == [{"k": "A", "top": 90.0, "faster": True, "seen": True},
                   # A's 90 left the 2-second window at 3000, not the length(2) window
                   {"k": "A", "top": None, "faster": True, "seen": True},
                   {"k": "B", "top": 40.0, "faster": True, "seen": True},
                   {"k": "Z", "top": None, "faster": True, "seen": False}]


@pytest.mark.parametrize("cut", range(1, len(EVENTS)))
def test_a_restored_engine_continues_the_subquery_windows(cut):
    engine, whole = started()
    run(engine, EVENTS, whole)
    first, out = started()
    run(first, EVENTS[:cut], out)
    second, rest = started()
    second.restore(first.snapshot())
    run(second, EVENTS[cut:], rest)
    assert out + rest == whole


def test_unbound_aggregation_is_restored():
    rule = "select (select count(*) from Car(speed > 50)) as n from Q"
    first, out = started(rule)
    run(first, EVENTS[:3], out)
    second, rest = started(rule)
    second.restore(first.snapshot())
    run(second, EVENTS[3:], rest)
    assert out + rest == [{"n": 1}] * 4


def test_an_uncorrelated_subquery_keeps_the_statement_fully_aggregated():
    engine, out = started("select count(*) as n, (select count(*) from Q#keepall) as q "
                          "from Car#length_batch(2)")
    run(engine, EVENTS, out)
    assert out == [{"n": 2, "q": 0}]   # one row per batch, not one per event


def test_declared_types_are_checked_inside_subqueries():
    engine = EPLEngine(ExternalClock(0))
    engine.define_event_type("Car", {"car": str, "speed": float})
    engine.define_event_type("Q", {"k": str, "v": float})
    with pytest.raises(EPLCompileError, match="'sped' is not valid") as info:
        engine.compile("select (select max(sped) from Car#length(2) where car = Q.k) as m from Q")
    assert (info.value.line, info.value.column) == (1, 20)
    engine.compile("select (select max(speed) from Car#length(2) where car = Q.k) as m from Q")


@pytest.mark.parametrize("rule, message", [
    ("select a.x from A#length(2) as a, B#length(2) as b where a.x = (select max(y) from C#length(2))",
     "single-stream statements"),
    ("select (select y from C#length(2) group by y) as g from Q", "group by"),
    ("select (select y from C#length(2)#time(2 sec)) as g from Q", "one data window"),
    ("select (select y from C#time_batch(2 sec)) as g from Q", "one data window"),
    ("select (select (select z from D#lastevent) from C#length(2)) as g from Q",
     "inside a subquery"),
    ("select k in (select y, z from C#length(2)) as g from Q", "exactly one expression"),
])
def test_unsupported_subqueries_are_compile_errors(rule, message):
    with pytest.raises(EPLCompileError, match=message):
        EPLEngine(ExternalClock(0)).compile(rule)


def test_a_subquery_over_a_named_window_reads_its_rows_and_takes_no_window():
    engine = EPLEngine(ExternalClock(0))
    engine.compile("create window W#keepall as (car string, speed double)")
    with pytest.raises(EPLCompileError, match="as it is"):
        engine.compile("select (select max(speed) from W#length(2)) as m from Q")
    out = []
    engine.compile("select (select max(speed) from W where car != q.k) as m from Q as q")[0] \
        .add_listener(lambda new, old: out.extend(new))
    engine.compile("insert into W select car, speed from Car")
    for ev in ({"car": "A", "speed": 90.0}, {"car": "B", "speed": 50.0}):
        engine.send("Car", ev)
    engine.send("Q", {"k": "A"})
    engine.execute_query("delete from W where car = 'B'")
    engine.send("Q", {"k": "A"})
    assert out == [{"m": 50.0}, {"m": None}]
