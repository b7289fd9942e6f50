"""Output rate limiting (squall.cep.rate), hand-computed cases on the engine API."""

from __future__ import annotations

import pytest

from squall.cep import EPLEngine, ExternalClock
from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.parser import parse

T = "DriverCarInfo"


def _run(rule, events):
    """events: (time_ms, carNumber, speed); returns [(time, new rows, old rows)]."""
    engine = EPLEngine(ExternalClock(0))
    st = engine.compile(rule, name="r")[0]
    out = []
    st.add_listener(lambda new, old: out.append((engine.current_time_ms, new, old)))
    for t, car, speed in events:
        engine.advance_time(t)
        engine.send(T, {"carNumber": car, "speed": speed})
    engine.advance_time(engine.current_time_ms + 60_000)
    return out


EVENTS = [(1_000, "A", 1.0), (2_000, "B", 2.0), (3_000, "A", 3.0), (4_000, "C", 4.0), (9_000, "A", 5.0)]


def test_parser_keeps_default_apart_from_all():
    assert parse("select a from T output every 2 events")[0].output.kind == "default"
    st = parse("select a from T output all every 2 sec")[0]
    assert st.output.kind == "all" and st.output.period.msec == 2000
    assert A.to_epl(parse("select a from T output every 2 events")[0]).endswith("output every 2 events")


def test_all_every_n_events_buffers_rows():
    out = _run("select carNumber as c from DriverCarInfo#length(10) output every 2 events", EVENTS)
    assert [(t, [r["c"] for r in new]) for t, new, _ in out] == [(2_000, ["A", "B"]), (4_000, ["A", "C"])]


def test_last_and_first_with_a_period():
    last = _run("select carNumber as c from DriverCarInfo#length(10) output last every 5 sec", EVENTS)
    # intervals from the first event: (1s, 6s], (6s, 11s]
    assert [(t, new) for t, new, _ in last] == [(6_000, [{"c": "C"}]), (11_000, [{"c": "A"}])]
    first = _run("select carNumber as c from DriverCarInfo#length(10) output first every 5 sec", EVENTS)
    assert [(t, new) for t, new, _ in first] == [(1_000, [{"c": "A"}]), (9_000, [{"c": "A"}])]


def test_grouped_last_and_snapshot():
    rule = "select carNumber as c, count(*) as n from DriverCarInfo#length(3) group by carNumber "
    last = _run(rule + "output last every 4 events", EVENTS)
    assert last == [(4_000, [{"c": "A", "n": 1}, {"c": "B", "n": 1}, {"c": "C", "n": 1}], [])]
    snap = _run(rule + "output snapshot every 2 events", EVENTS)
    assert snap[-1] == (4_000, [{"c": "B", "n": 1}, {"c": "A", "n": 1}, {"c": "C", "n": 1}], [])


def test_fully_aggregated_outputs_its_row_after_idle_intervals():
    out = _run("select count(*) as n from DriverCarInfo#length(2) output every 10 sec", EVENTS[:1])
    # one row per period for the 60 s after the event: the state never changes
    assert [t for t, _, _ in out] == [11_000, 21_000, 31_000, 41_000, 51_000, 61_000]


@pytest.mark.parametrize("rule,message", [
    ("select carNumber, speed, count(*) from DriverCarInfo#length(3) group by carNumber "
     "output every 2 events", "aggregated and grouped"),
    ("select irstream count(*) from DriverCarInfo#length(3) output every 2 events", "irstream"),
    ("select carNumber from DriverCarInfo#time_batch(3 sec) output snapshot every 2 events",
     "batch data window"),
    ("select a.carNumber from DriverCarInfo#length(2) as a, DriverCarInfo#length(2) as b "
     "output every 2 events", "join or pattern"),
])
def test_unsupported_combinations_are_compile_errors(rule, message):
    with pytest.raises(EPLCompileError, match=message) as info:
        EPLEngine(ExternalClock(0)).compile(rule)
    assert info.value.line == 1


def test_idle_timer_stops_and_resumes_in_phase():
    engine = EPLEngine(ExternalClock(0))
    st = engine.compile("select carNumber as c from DriverCarInfo#length(5) output last every 5 sec")[0]
    out = []
    st.add_listener(lambda new, old: out.append((engine.current_time_ms, new)))
    engine.send(T, {"carNumber": "A", "speed": 1.0})     # intervals end at 5 s, 10 s, ...
    engine.advance_time(12_000)
    assert engine._heap == []                          # nothing posted since 5 s: timer stopped
    engine.advance_time(31_000)
    engine.send(T, {"carNumber": "B", "speed": 1.0})
    engine.advance_time(40_000)
    assert out == [(5_000, [{"c": "A"}]), (35_000, [{"c": "B"}])]


# ------------------------------------------------------------------ insert into

def test_insert_into_round_trips_through_to_epl():
    st = parse("insert into Fast select carNumber, speed from DriverCarInfo#length(2)")[0]
    assert st.insert_into == "Fast"
    assert parse(A.to_epl(st))[0] == st


def test_inserted_events_follow_the_event_that_made_them():
    """A statement reading both streams sees the original event first, then the
    inserted one (queued, processed after every statement has seen the event)."""
    engine = EPLEngine(ExternalClock(0))
    sts = engine.compile(
        "insert into Fast select carNumber, speed * 2 as s2 from DriverCarInfo#lastevent() "
        "where speed > 5;"
        "select carNumber as c from DriverCarInfo#lastevent();"
        "select carNumber as c, s2 from Fast#lastevent()", name="r")
    seen = []
    for st in sts:
        st.add_listener(lambda new, old, name=st.name: seen.append((name, new)))
    engine.send_many(T, [{"carNumber": "A", "speed": 9.0}, {"carNumber": "B", "speed": 1.0}])
    assert seen == [("r#0", [{"carNumber": "A", "s2": 18.0}]), ("r#1", [{"c": "A"}]),
                    ("r#2", [{"c": "A", "s2": 18.0}]), ("r#1", [{"c": "B"}])]


def test_insert_into_with_select_rstream_is_rejected():
    with pytest.raises(EPLCompileError, match="rstream"):
        EPLEngine(ExternalClock(0)).compile(
            "insert into R select rstream carNumber from DriverCarInfo#length(2)")
