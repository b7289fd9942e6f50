"""Output rate limiting (squall.cep.rate), hand-computed cases on the engine API."""

from __future__ import annotations

import json
import pickle

import pytest

from squall.cep import EPLEngine, ExternalClock
from squall.cep import ast as A
from squall.cep.errors import EPLCompileError, EPLSyntaxError
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
    ("select irstream carNumber, count(*) from DriverCarInfo#length(3) group by carNumber "
     "output first every 2 events", "'output first' with 'select irstream'"),
    ("select carNumber, speed, count(*) from DriverCarInfo#length_batch(3) group by carNumber "
     "output first every 2 events", "over a batch data window"),
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




def test_aggregated_grouped_last_keeps_each_groups_row_made_at_its_post():
    # A's row made at 4 s (n=2) is output, not A's count at the
    # interval's end (Esper 8.9 stores the row when it is made)
    events = [(1_000, "A", 1.0), (2_000, "B", 2.0), (3_000, "A", 3.0), (4_000, "A", 4.0),
              (5_000, "B", 5.0), (6_000, "C", 6.0)]
    out = _run("select irstream carNumber as c, speed as v, count(*) as n from DriverCarInfo#length(3) "
               "group by carNumber output last every 3 events", events)
    assert out[1] == (6_000, [{"c": "A", "v": 4.0, "n": 2}, {"c": "B", "v": 5.0, "n": 1},
                              {"c": "C", "v": 6.0, "n": 1}],
                      [{"c": "A", "v": 3.0, "n": 1}, {"c": "B", "v": 2.0, "n": 1}])


def test_aggregated_grouped_all_adds_untouched_groups_and_groups_that_lost_events():
    events = [(1_000, "A", 1.0), (2_000, "B", 2.0), (3_000, "A", 3.0), (4_000, "A", 4.0)]
    out = _run("select carNumber as c, speed as v, count(*) as n from DriverCarInfo#length(3) "
               "group by carNumber output all every 2 events", events)
    # 4 s: A@3 s and A@4 s entered, A@1 s left (A's last event's row again), B untouched
    assert out[1] == (4_000, [{"c": "A", "v": 3.0, "n": 2}, {"c": "A", "v": 4.0, "n": 2},
                              {"c": "A", "v": 4.0, "n": 2}, {"c": "B", "v": 2.0, "n": 1}], [])


def test_snapshot_over_a_batch_window_is_the_last_batch():
    out = _run("select carNumber as c from DriverCarInfo#length_batch(2) output snapshot every 2 events",
               EVENTS)
    assert [(t, [r["c"] for r in new]) for t, new, _ in out] == [(2_000, ["A", "B"]), (4_000, ["A", "C"])]


def test_fully_aggregated_last_remove_row_is_the_row_before_the_interval():
    out = _run("select irstream count(*) as n from DriverCarInfo#length(2) output last every 2 events",
               EVENTS)
    assert out[:2] == [(2_000, [{"n": 2}], [{"n": 0}]), (4_000, [{"n": 2}], [{"n": 2}])]


def test_rstream_snapshot_outputs_nothing():
    assert _run("select rstream carNumber from DriverCarInfo#length(2) output snapshot every 1 events",
                EVENTS) == []


RESTORED = [
    "select irstream carNumber, speed, count(*) as n from DriverCarInfo#length(3) group by carNumber "
    "output last every 3 events",
    "select carNumber, speed, count(*) as n from DriverCarInfo#time(3 sec) group by carNumber "
    "output all every 4 events",
    "select irstream carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber "
    "output all every 3 events",
    "select rstream carNumber, count(*) as n from DriverCarInfo#length(4) group by carNumber "
    "output last every 5 events",
    "select carNumber, speed from DriverCarInfo#length_batch(3) output snapshot every 2 events",
    "select irstream count(*) as n from DriverCarInfo#length(2) output last every 3 events",
    "select carNumber, speed, sum(speed) as s from DriverCarInfo#length(4) group by carNumber "
    "having sum(speed) > 20 output first every 3 events",
]


@pytest.mark.parametrize("rule", RESTORED)
@pytest.mark.parametrize("codec", [pickle, json])
def test_rate_state_survives_a_snapshot(rule, codec):
    from tests.cep.test_snapshot import _events, _same
    from tests.cep.test_snapshot import _run as run_cut
    events = _events([300 * (i % 11) for i in range(60)])
    whole, _ = run_cut(rule, events)
    assert whole
    for cut in (5, 17, 31, 58):
        resumed, _ = run_cut(rule, events, cut, codec=codec)
        assert _same(whole, resumed), cut


def test_join_output_counts_combinations():
    out = _run("select a.carNumber as ac, b.carNumber as bc from DriverCarInfo#length(2) as a, "
               "DriverCarInfo#length(2) as b where a.carNumber = b.carNumber output every 3 events", EVENTS)
    # each event joins itself; A@1 s has left both windows when A@3 s comes: 3 by 3 s
    assert [(t, [(r["ac"], r["bc"]) for r in new]) for t, new, _ in out] == \
        [(3_000, [("A", "A"), ("B", "B"), ("A", "A")])]


def test_pattern_output_last_every_period():
    out = _run("select a.speed as x from pattern[every a=DriverCarInfo] output last every 5 sec", EVENTS)
    assert [(t, new) for t, new, _ in out] == [(6_000, [{"x": 4.0}]), (11_000, [{"x": 5.0}])]


@pytest.mark.parametrize("rule", [
    "select a.carNumber as ac, count(*) as n from DriverCarInfo#length(3) as a, DriverCarInfo#length(2) "
    "as b where a.carNumber = b.carNumber group by a.carNumber output last every 3 events",
    "select a.carNumber as ac, b.speed as bs from DriverCarInfo#length(3) as a, DriverCarInfo#length(2) "
    "as b where a.carNumber = b.carNumber output every 4 events",
    "select a.speed as x, b.speed as y from pattern[every a=DriverCarInfo -> "
    "b=DriverCarInfo(carNumber = a.carNumber)] output every 3 events",
    "select a.speed as x from pattern[every a=DriverCarInfo] output last every 2 sec",
])
@pytest.mark.parametrize("codec", [pickle, json])
def test_join_and_pattern_rate_state_survives_a_snapshot(rule, codec):
    from tests.cep.test_snapshot import _events, _same
    from tests.cep.test_snapshot import _run as run_cut
    events = _events([300 * (i % 11) for i in range(60)])
    whole, _ = run_cut(rule, events)
    assert whole
    for cut in (5, 17, 31, 58):
        resumed, _ = run_cut(rule, events, cut, codec=codec)
        assert _same(whole, resumed), cut


@pytest.mark.parametrize("text", [
    "select a from T output after 10 sec",
    "select a from T output after 3 events last every 2 events",
    "select a from T output when count_insert > 2",
    "select a from T output last when x > 1 then set x = 0, y = 2",
    "select a from T output every 5 sec and when terminated",
    "select a from T output when terminated and x > 1 then set x = 2",
])
def test_output_when_after_and_terminated_parse_and_print(text):
    st = parse(text)[0]
    assert parse(A.to_epl(st))[0].output == st.output


@pytest.mark.parametrize("text", ["select a from T output last", "select a from T output after 2 sec last"])
def test_a_keyword_needs_a_condition(text):
    with pytest.raises(EPLSyntaxError, match="expected every, when or after"):
        parse(text)


def test_output_when_counts_since_the_last_output_and_sets_variables():
    engine = EPLEngine(ExternalClock(0))
    engine.compile("create variable int k = 2")
    st = engine.compile("select carNumber as c from DriverCarInfo#length(10) "
                        "output when count_insert >= k then set k = k + 1")[0]
    out = []
    st.add_listener(lambda new, old: out.append((engine.current_time_ms, [r["c"] for r in new])))
    for t, car, speed in EVENTS:
        engine.advance_time(t)
        engine.send(T, {"carNumber": car, "speed": speed})
    # 2 rows (k becomes 3), then 3 rows (k becomes 4)
    assert out == [(2_000, ["A", "B"]), (9_000, ["A", "C", "A"])]
    assert engine.variables["k"] == 4


def test_output_after_events_drops_unaggregated_rows_and_keeps_aggregated_ones():
    plain = _run("select carNumber as c from DriverCarInfo#length(10) output after 2 events every 2 events",
                 EVENTS)
    assert [(t, [r["c"] for r in new]) for t, new, _ in plain] == [(4_000, ["A", "C"])]
    agg = _run("select count(*) as n from DriverCarInfo#length(10) output after 2 events every 2 events",
               EVENTS)
    # the first two posts are output with the next interval, not counted in it
    assert [(t, [r["n"] for r in new]) for t, new, _ in agg] == [(4_000, [1, 2, 3, 4])]


def test_output_after_a_period_alone_passes_rows_from_then_on():
    out = _run("select carNumber as c from DriverCarInfo#length(10) output after 3 sec", EVENTS)
    assert [(t, [r["c"] for r in new]) for t, new, _ in out] == \
        [(3_000, ["A"]), (4_000, ["C"]), (9_000, ["A"])]


@pytest.mark.parametrize("rule,message", [
    ("select carNumber from DriverCarInfo#length(3) output when speed > 3", "'speed' is not a variable"),
    ("select carNumber from DriverCarInfo#length(3) output when count_insert > 1 then set nope = 1",
     "variable 'nope' has not been created"),
])
def test_output_when_compile_errors(rule, message):
    with pytest.raises(EPLCompileError, match=message) as info:
        EPLEngine(ExternalClock(0)).compile(rule)
    assert info.value.line == 1


@pytest.mark.parametrize("rule", [
    "select carNumber, speed from DriverCarInfo#length(3) output when count_insert >= 3",
    "select count(*) as n from DriverCarInfo#length(3) output last when count_insert_total > 5 "
    "and count_remove > 1",
    "select count(*) as n, sum(speed) as s from DriverCarInfo#length(3) output after 7 events every 3 events",
    "select carNumber, speed from DriverCarInfo#length(3) output after 9 sec",
])
@pytest.mark.parametrize("codec", [pickle, json])
def test_when_and_after_state_survives_a_snapshot(rule, codec):
    from tests.cep.test_snapshot import _events, _same
    from tests.cep.test_snapshot import _run as run_cut
    events = _events([300 * (i % 11) for i in range(60)])
    whole, _ = run_cut(rule, events)
    assert whole
    for cut in (3, 6, 17, 31, 58):
        resumed, _ = run_cut(rule, events, cut, codec=codec)
        assert _same(whole, resumed), cut
