"""The fast path of ``match_recognize`` (squall.cep.match_recognize_fast) against the
general operator (squall.cep.match_recognize) on the same statements and events: the
same rows, in the same listener calls, at the same engine times; also across a snapshot
taken on one and restored into the other, and through the hand-overs (the partial-match
cap, a condition that raises). Agreement with Esper 8.9 itself is in
tests/cep/esper/test_esper_match_recognize.py (its cases run on the fast path where they
fit it)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.cep import EPLEngine, ExternalClock
from squall.cep.match_recognize import MatchRecognizeOperator
from squall.cep.match_recognize_fast import FastMatchRecognizeOperator

TYPE = {"ts": int, "car": str, "speed": float}


def _engine(rule: str, general: bool = False, cap: int | None = None):
    """(engine, statement, calls): ``calls`` gets (engine time, rows) per listener call."""
    errors: list = []
    kw = {} if cap is None else {"max_pattern_instances": cap}
    engine = EPLEngine(ExternalClock(0), on_error=errors.append, **kw)
    engine.define_event_type("Car", TYPE)
    [stmt] = engine.compile(rule, name="r")
    if general:
        stmt._operator = MatchRecognizeOperator(stmt, stmt.plan, engine)
    calls: list = []
    stmt.add_listener(lambda new, old: calls.append((engine.current_time_ms, new)))
    return engine, stmt, calls


def _feed(engine, batches, start: int = 0) -> None:
    for i, batch in enumerate(batches, start):
        engine.advance_time(i * 1000)
        engine.send_many("Car", batch)


def _events(batches):
    return [[{"ts": 0, "car": car, "speed": speed} for car, speed in batch] for batch in batches]


def _both(rule, batches, cap=None):
    fast, fst, fast_calls = _engine(rule, cap=cap)
    general, _, general_calls = _engine(rule, general=True, cap=cap)
    _feed(fast, batches)
    _feed(general, batches)
    return fst, fast_calls, general_calls


BENCH = ("select * from Car match_recognize ( partition by car measures A.car as car, "
         "count(B.speed) as n pattern (A B+ C) define A as A.speed <= 80, B as B.speed > 80, "
         "C as C.speed <= 80 )")


@pytest.mark.parametrize("body", [
    "partition by car measures count(B.speed) as n pattern (A B+ C) "
    "define A as A.speed <= 80, B as B.speed > 80, C as C.speed <= 80",
    # overlapping conditions: several partial matches with different first events
    "measures A.speed as a, count(B.speed) as n pattern (A B+) "
    "define A as A.speed > 50, B as B.speed > 60",
    "measures count(B.speed) as n pattern (A B{1,3} C) "
    "define A as speed > 50, B as B.speed > 60, C as C.speed < 60",
    "measures A.speed as a, B.speed as b pattern (A B? C) define A as speed > 50, C as C.speed < 70",
    "measures count(B.speed) as n pattern (A B* C) define A as speed > 50, B as B.speed > 60",
    "measures A.speed as a, count(B.speed) as n pattern (A B{2,}) "
    "define A as A.speed > 80, B as B.speed > 90",
    "measures A.speed as a, B.speed as b pattern (A B??) define A as A.speed > 80, B as B.speed > 90",
    "measures A.speed as a, B.speed as b pattern (A | B) define A as speed > 80, B as B.speed < 60",
    "measures A.speed as a after match skip to next row pattern (A B*) define A as speed >= 60",
])
def test_statements_of_the_fast_shape_run_on_the_fast_path(body):
    engine, stmt, _ = _engine(f"select * from Car match_recognize ( {body} )")
    assert isinstance(stmt._operator, FastMatchRecognizeOperator)


@pytest.mark.parametrize("body", [
    "measures A.speed as a pattern (A B) define B as B.speed > prev(B.speed)",
    "measures A.speed as a pattern (A B) define B as B.speed > A.speed",
    "measures A.speed as a pattern (A B*) interval 5 seconds define A as A.speed > 80",
    "measures A.speed as a pattern (A B) define A as A.speed > 80 and A.speed < 90",
    # every event starts a match none ends: more partial matches than a configuration holds
    "measures count(B.speed) as n pattern (A B* C) define C as C.speed < 0",
    "measures count(B.speed) as n pattern (A B*? C) define A as A.speed > 80, C as C.speed < 60",
])
def test_other_statements_run_on_the_general_operator(body):
    engine, stmt, _ = _engine(f"select * from Car match_recognize ( {body} )")
    assert type(stmt._operator) is MatchRecognizeOperator


def test_the_benchmark_statement_gives_the_general_operators_rows():
    speeds = [70, 85, 90, 95, 60, 30, 81, 82, 20, 99, 100, 75, 35, 90, 10, 80, 80.5, 80]
    batches = [[("x", float(s)), ("y", float(110 - s))] for s in speeds]
    fst, fast_calls, general_calls = _both(BENCH, _events(batches))
    assert fast_calls and fast_calls == general_calls
    assert not fst._operator.on_general


# ------------------------------------------------------------------ generated

ATOMS = ["A", "B", "C"]
QUANT = ["", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,2}", "{2,}", "{,2}"]
# thresholds that overlap, so several partial matches live at once
CONDS = ["{v}.speed > 50", "{v}.speed > 60", "{v}.speed <= 60", "{v}.speed < 70", "{v}.speed = 60",
         "{v}.speed != 70", "{v}.speed >= 55.5"]
# floats (the inline tests), ints, a bool, NaN, infinity and null (the general tests)
SPEEDS = [40.0, 50.0, 55.5, 60.0, 60, 65.0, 70.0, 75, 90.0, None, True, math.nan, math.inf]


@st.composite
def rules(draw):
    names = draw(st.lists(st.sampled_from(ATOMS), min_size=1, max_size=3, unique=True))
    quants = [draw(st.sampled_from(QUANT)) for _ in names]
    multi = {n for n, q in zip(names, quants) if q[:1] in ("*", "+", "{")}
    parts = [n + q for n, q in zip(names, quants)]
    if len(parts) > 1 and draw(st.booleans()):
        i = draw(st.integers(0, len(parts) - 2))
        gq = draw(st.sampled_from(["", "+", "*", "?", "+?"]))
        if gq[:1] in ("+", "*"):
            multi.update(names[i:i + 2])
        parts[i:i + 2] = [f"({parts[i]} {parts[i + 1]}){gq}"]
    pattern = " ".join(parts)
    if len(parts) > 1 and draw(st.integers(0, 4)) == 0:
        pattern = f"{parts[0]} | {' '.join(parts[1:])}"
    defines = [f"{n} as " + draw(st.sampled_from(CONDS)).format(v=n)
               for n in names if draw(st.integers(0, 3))]
    measures = ", ".join(f"count({n}.speed) as n{n}, first({n}.speed) as f{n}, last({n}.speed) as "
                         f"l{n}, {n}[1].speed as s{n}" if n in multi else f"{n}.speed as v{n}"
                         for n in names)
    skip = draw(st.sampled_from(["", "after match skip to next row ",
                                 "after match skip to current row ", "all matches "]))
    part = draw(st.sampled_from(["", "partition by car "]))
    return ("select * from Car match_recognize ( " + part + "measures " + measures + " " + skip
            + "pattern (" + pattern + ")" + (" define " + ", ".join(defines) if defines else "")
            + " )")


batches_of_events = st.lists(st.lists(st.tuples(st.sampled_from("xyz"), st.sampled_from(SPEEDS)),
                                      max_size=6), min_size=1, max_size=12)


# Patterns such as (A? B?)+ branch into ever more partial matches on the general
# operator; a cap keeps a generated case short (both operators stop at it alike).
CAP = 2_000


@settings(max_examples=300, deadline=None)
@given(rule=rules(), batches=batches_of_events)
def test_generated_statements_give_the_general_operators_rows(rule, batches):
    _, fast_calls, general_calls = _both(rule, _events(batches), cap=CAP)
    assert fast_calls == general_calls


@settings(max_examples=150, deadline=None)
@given(rule=rules(), batches=batches_of_events, cut=st.integers(0, 12), into_general=st.booleans())
def test_partial_matches_survive_a_snapshot_either_way(rule, batches, cut, into_general):
    """A snapshot taken on the fast path (or, ``into_general`` false, on the general
    operator) restored into the other continues as the uninterrupted run."""
    events = _events(batches)
    cut = min(cut, len(events))
    whole, _, whole_calls = _engine(rule, cap=CAP)
    _feed(whole, events)
    first, _, first_calls = _engine(rule, general=not into_general, cap=CAP)
    _feed(first, events[:cut])
    snap = json.loads(json.dumps(first.snapshot()))
    second, stmt, second_calls = _engine(rule, general=into_general, cap=CAP)
    second.restore(snap)
    _feed(second, events[cut:], start=cut)
    # as JSON: a NaN read back from the snapshot is another float object (nan != nan)
    assert json.dumps(first_calls + second_calls) == json.dumps(whole_calls)
    if not into_general and isinstance(stmt._operator, FastMatchRecognizeOperator):
        # the general operator's partial matches fit the fast path's configurations
        assert not stmt._operator.on_general


def test_a_snapshot_keeps_a_partial_match_of_the_fast_path():
    engine, stmt, calls = _engine(BENCH)
    _feed(engine, _events([[("x", 70.0)], [("x", 90.0)], [("x", 95.0)]]))
    snap = json.loads(json.dumps(engine.snapshot()))
    again, stmt2, calls2 = _engine(BENCH)
    again.restore(snap)
    assert isinstance(stmt2._operator, FastMatchRecognizeOperator) and not stmt2._operator.on_general
    _feed(again, _events([[("x", 60.0)]]), start=3)
    assert calls == [] and [rows for _, rows in calls2] == [[{"car": "x", "n": 2}]]


def test_at_the_partial_match_cap_the_batch_goes_to_the_general_operator():
    # each car holds one or two partial matches; five cars reach the cap of 6
    cars = "vwxyz"
    batches = _events([[(c, 70.0) for c in cars], [(c, 90.0) for c in cars],
                       [(c, 60.0) for c in cars], [("x", 70.0), ("x", 95.0), ("x", 60.0)]])
    fst, fast_calls, general_calls = _both(BENCH, batches, cap=6)
    assert fst._operator.on_general
    assert fast_calls == general_calls and fast_calls


def test_a_condition_that_raises_hands_the_batch_to_the_general_operator():
    # a string speed against 80 raises TypeError on both; the events before it in its
    # batch are done, and the partial match of x goes on after the failed batch
    batches = _events([[("x", 70.0), ("x", 90.0)], [("x", 91.0), ("y", "fast"), ("x", 92.0)],
                       [("x", 95.0), ("x", 60.0)]])
    fast, fst, fast_calls = _engine(BENCH)
    general, _, general_calls = _engine(BENCH, general=True)
    outcomes: dict = {}
    for engine in (fast, general):
        for i, batch in enumerate(batches):
            engine.advance_time(i * 1000)
            try:
                engine.send_many("Car", batch)
            except TypeError as exc:
                outcomes.setdefault(id(engine), []).append((i, str(exc)))
    assert outcomes[id(fast)] == outcomes[id(general)] and len(outcomes[id(fast)]) == 1
    assert fast_calls == general_calls == [(2000, [{"car": "x", "n": 3}])]
    assert fst._operator.on_general
