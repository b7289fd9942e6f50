"""Differential tests for EPL patterns: ``squall epl run`` against real Esper 8.

Events of several types (``A``, ``B``, ``C``; each names its type in the field ``type``,
``--type-field type``) or of ``DriverCarInfo``; external time from ``ts``; Esper driven
with ``advanceTimeSpan`` so each timer fires at its own time. Outputs must match row for
row (same rows, same order, same engine times).

Known differences are strict xfails whose reason states the exact difference.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cep.esper.oracle import OutputsDifferError, compares_rows

from .test_esper_differential import assert_same

CAR = "DriverCarInfo"
CAR_PROPS = {"ts": "long", "carNumber": "string", "speed": "double"}
ABC_PROPS = {"ts": "long", "k": "string", "v": "double"}
TYPES = {"A": ABC_PROPS, "B": ABC_PROPS, "C": ABC_PROPS}

HARD_BRAKING = ("select a.carNumber as car, a.speed as fast, b.speed as slow from pattern "
                "[every a=DriverCarInfo(speed > 100) -> b=DriverCarInfo(carNumber = a.carNumber, "
                "speed < 20) where timer:within(10 sec)]")


def car(ts, number, speed):
    return {"ts": ts, "carNumber": number, "speed": float(speed)}


def ev(type_, ts, k="x", v=0):
    return {"type": type_, "ts": ts, "k": k, "v": float(v)}


@pytest.fixture
def cars(run_esper, run_squall):
    """``cars(rule, events)``: DriverCarInfo events only; returns the Esper rows."""
    def run(rule, events):
        e = run_esper(rule, events, CAR, "ts", CAR_PROPS, advance="span")
        s = run_squall(rule, events, CAR, "ts")
        assert_same(e, s)
        return e
    return run


@pytest.fixture
def abc(run_esper, run_squall):
    """``abc(rule, events, unordered=False)``: events of types A, B, C; returns the Esper
    rows. ``unordered``: rows output at one time may come in any order (see
    test_rows_of_one_event_follow_esper_filter_index_order)."""
    def run(rule, events, unordered=False):
        e = run_esper(rule, events, "A", "ts", ABC_PROPS, advance="span", types=TYPES,
                      type_field="type")
        s = run_squall(rule, events, "A", "ts", type_field="type")
        assert_same(e, s, unordered=(0,) if unordered else ())
        return e
    return run


# ------------------------------------------------------------------ the hard-braking rule

BRAKING_STREAM = [
    car(1_000, "A", 120), car(2_000, "B", 130), car(3_000, "A", 110), car(5_000, "A", 10),
    car(6_000, "B", 5), car(9_000, "C", 101), car(19_000, "C", 10),     # C: 10 s later, too late
    car(20_000, "B", 150), car(20_500, "B", 140), car(25_000, "B", 3), car(26_000, "B", 2),
    car(40_000, "A", 101), car(40_000, "A", 19), car(40_001, "A", 19.5),
]


def test_hard_braking_after_speeding(cars):
    rows = cars(HARD_BRAKING, BRAKING_STREAM)
    assert [r["row"]["car"] for r in rows] == ["A", "A", "B", "B", "B", "A"]


def test_hard_braking_event_exactly_at_the_within_limit_is_too_late(cars):
    cars(HARD_BRAKING, [car(1_000, "A", 120), car(11_000, "A", 5), car(12_000, "A", 130),
                        car(21_999, "A", 5)])


def test_hard_braking_select_star_gives_the_tagged_events(cars):
    cars(HARD_BRAKING.replace("select a.carNumber as car, a.speed as fast, b.speed as slow",
                              "select *"), BRAKING_STREAM)


def test_hard_braking_unaliased_columns_and_expressions(cars):
    cars("select a.carNumber, a.speed - b.speed as drop, b from pattern [every a=DriverCarInfo(speed > 100) "
         "-> b=DriverCarInfo(carNumber = a.carNumber, speed < 20) where timer:within(10 sec)]",
         BRAKING_STREAM)


def test_where_clause_on_pattern_output(cars):
    cars(HARD_BRAKING + " where a.speed - b.speed > 110", BRAKING_STREAM)


def test_filter_refers_to_earlier_tag_with_inequality(cars):
    cars("select a.speed as s1, b.speed as s2 from pattern [every a=DriverCarInfo(speed > 100) -> "
         "b=DriverCarInfo(carNumber = a.carNumber and speed > a.speed)]", BRAKING_STREAM)


# ------------------------------------------------------------------ every / followed-by

ABC_STREAM = [
    ev("A", 1_000, v=1), ev("B", 2_000, v=1), ev("C", 3_000, v=1), ev("B", 4_000, v=2),
    ev("A", 5_000, v=2), ev("D", 6_000), ev("A", 7_000, v=3), ev("B", 8_000, v=3),
    ev("C", 9_000, v=2), ev("A", 10_000, v=4), ev("C", 11_000, v=3), ev("B", 12_000, v=4),
]
ABC_STREAM = [e for e in ABC_STREAM if e["type"] != "D"]


@pytest.mark.parametrize("pattern", [
    "a=A -> b=B",
    "every a=A -> b=B",
    "every (a=A -> b=B)",
    "a=A -> every b=B",
    "every a=A -> every b=B",
    "every a=A -> b=B -> c=C",
    "every (a=A -> b=B -> c=C)",
    "every a=A -> (every b=B -> c=C)",
])
def test_every_and_followed_by_combinations(abc, pattern):
    rule = f"select a.v as av, b.v as bv{', c.v as cv' if 'c=C' in pattern else ''} from pattern [{pattern}]"
    abc(rule, ABC_STREAM)


def test_same_event_does_not_complete_the_expression_it_starts(abc):
    abc("select a.v as av, b.v as bv from pattern [every a=A -> b=A]",
        [ev("A", 1_000, v=1), ev("A", 2_000, v=2), ev("A", 2_000, v=3), ev("A", 3_000, v=4)])


SELF = [ev("A", 1_000, "x", 1), ev("A", 2_000, "y", 5), ev("A", 3_000, "x", 0),
        ev("A", 4_000, "y", 6), ev("A", 5_000, "x", 2), ev("A", 6_000, "x", 9)]


def test_self_join_pattern_on_key(abc):
    abc("select a.k as k, a.v as av, b.v as bv from pattern [every a=A -> b=A(k = a.k, v > a.v)]",
        SELF, unordered=True)


@pytest.mark.xfail(strict=True, raises=OutputsDifferError, reason=(
    "When one event completes several waiting filters whose conditions differ only in a range "
    "bound taken from a tag (b=A(k = a.k, v > a.v) waiting for a.v = 1, then for a.v = 0), Esper "
    "reports them in the order of its filter index (range bounds ascending: {av: 0.0, bv: 2.0} "
    "then {av: 1.0, bv: 2.0} at 5000); Squall reports waiting filters in the order they started "
    "({av: 1.0} then {av: 0.0})"))
def test_rows_of_one_event_follow_esper_filter_index_order(abc):
    abc("select a.k as k, a.v as av, b.v as bv from pattern [every a=A -> b=A(k = a.k, v > a.v)]",
        SELF)


# ------------------------------------------------------------------ and / or / not

@pytest.mark.parametrize("pattern", [
    "every (a=A and b=B)",
    "a=A and b=B",
    "every a=A and every b=B",
    "every (a=A or b=B)",
    "every a=A -> (b=B or c=C)",
    "every a=A -> (b=B and c=C)",
    "every a=A -> (b=B and not c=C)",
    "every (a=A -> (b=B and not c=C))",
    "every a=A -> not c=C",
])
def test_and_or_not(abc, pattern):
    tags = [t for t in "abc" if f"{t}=" in pattern]
    cols = ", ".join(f"{t}.v as {t}v" for t in tags)
    abc(f"select {cols} from pattern [{pattern}]", ABC_STREAM)


def test_select_star_with_or_leaves_the_other_tag_null(abc):
    abc("select * from pattern [every (a=A or b=B)]", ABC_STREAM[:5])


# ------------------------------------------------------------------ timers

@pytest.mark.parametrize("pattern", [
    "every a=A -> b=B where timer:within(3 sec)",
    "every a=A -> b=B where timer:within(3000 msec)",
    "every (a=A -> b=B) where timer:within(4 sec)",
    "every (a=A -> b=B where timer:within(2 sec))",
    "every a=A -> (b=B -> c=C) where timer:within(5 sec)",
])
def test_timer_within(abc, pattern):
    tags = [t for t in "abc" if f"{t}=" in pattern]
    cols = ", ".join(f"{t}.v as {t}v" for t in tags)
    abc(f"select {cols} from pattern [{pattern}]", ABC_STREAM)


def test_timer_interval_after_each_a(abc):
    abc("select a.v as av from pattern [every a=A -> timer:interval(2500 msec)]", ABC_STREAM)


def test_timer_interval_before_b_and_not_c_within_the_interval(abc):
    abc("select a.v as av from pattern [every a=A -> (timer:interval(2 sec) and not c=C)]",
        ABC_STREAM)


def test_absence_of_b_within_a_period(abc):
    # "an A not followed by a B within 3 seconds"
    abc("select a.v as av from pattern [every a=A -> (timer:interval(3 sec) and not b=B)]",
        ABC_STREAM)


def test_timer_interval_alone_fires_once_from_statement_start(abc):
    abc("select * from pattern [timer:interval(4 sec)]", ABC_STREAM[:3])


def test_every_guarded_filter_restarts_when_the_time_is_up(abc):
    abc("select a.v as av from pattern [every (a=A where timer:within(3 sec))]",
        [ev("A", 1_000, v=1), ev("A", 5_000, v=2), ev("A", 12_000, v=3)])


# ------------------------------------------------------------------ errors

def test_unknown_tag_is_rejected_by_both(run_esper, run_squall):
    rule = "select c.v from pattern [every a=A -> b=B]"
    with pytest.raises(RuntimeError, match="Failed to validate select-clause expression"):
        run_esper(rule, ABC_STREAM, "A", "ts", ABC_PROPS, types=TYPES, type_field="type")
    with pytest.raises(AssertionError, match="'c.v' names no tag"):
        run_squall(rule, ABC_STREAM, "A", "ts", type_field="type")


# ------------------------------------------------------------------ generated streams

PATTERNS = [
    "every a=A -> b=B",
    "every (a=A -> b=B)",
    "every a=A -> b=B(k = a.k)",
    "every a=A -> b=B(k = a.k, v >= a.v) where timer:within({w} sec)",
    "every a=A -> (b=B and not c=C(k = a.k)) where timer:within({w} sec)",
    "every a=A -> (timer:interval({w} sec) and not b=B(k = a.k))",
    "every (a=A and b=B(v > 3))",
    "every a=A(v > 2) -> (b=B or c=C)",
    "every (a=A -> b=B where timer:within({w} sec))",
    "every a=A -> every b=B(k = a.k) where timer:within({w} sec)",
    "every a=A -> b=B -> c=C(k = b.k)",
]


@st.composite
def abc_streams(draw):
    n = draw(st.integers(0, 25))
    t = draw(st.integers(0, 5_000))
    out = []
    for _ in range(n):
        t += draw(st.one_of(st.just(0), st.integers(0, 1_500), st.integers(0, 6_000)))
        out.append(ev(draw(st.sampled_from("ABC")), t, draw(st.sampled_from("xy")),
                      draw(st.integers(0, 6))))
    return out


@compares_rows(min_nonempty=10)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=abc_streams(), pattern=st.sampled_from(PATTERNS), within=st.integers(1, 6))
def test_generated_patterns_match_esper(abc, events, pattern, within):
    p = pattern.format(w=within)
    tags = [t for t in "abc" if f"{t}=" in p]
    cols = ", ".join(f"{t}.v as {t}v, {t}.ts as {t}t" for t in tags)
    # filters with a range bound from a tag (v >= a.v) report in Esper's filter-index order
    # (test_rows_of_one_event_follow_esper_filter_index_order): compare per time as sets
    abc(f"select {cols} from pattern [{p}]", events, unordered=">= a." in p)


@compares_rows(min_nonempty=4)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_hard_braking_matches_esper(cars, data):
    n = data.draw(st.integers(0, 40))
    t = 0
    events = []
    for _ in range(n):
        t += data.draw(st.one_of(st.just(0), st.integers(0, 4_000), st.integers(5_000, 15_000)))
        events.append(car(t, data.draw(st.sampled_from("ABC")),
                          data.draw(st.sampled_from([5, 15, 19.5, 20, 50, 100, 100.5, 130]))))
    cars(HARD_BRAKING, events)
