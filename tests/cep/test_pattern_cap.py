"""The cap on a pattern statement's active instances (EPLEngine max_pattern_instances):
patterns whose instances multiply per event stay bounded and say so once through
on_error; patterns that finish their instances are unaffected at the cap."""

from __future__ import annotations

import pytest

from squall.cep import EPLEngine, EPLEvaluationError, ExternalClock

NESTED = "select a.v as v from pattern [every (every a=A)]"


def _engine(rule: str, cap: int | None = None):
    errors: list[EPLEvaluationError] = []
    kw = {} if cap is None else {"max_pattern_instances": cap}
    engine = EPLEngine(ExternalClock(0), on_error=errors.append, **kw)
    st = engine.compile(rule, name="r")[0]
    rows: list[list] = []
    st.add_listener(lambda new, old: rows.append([r["v"] for r in new]))
    return engine, st, rows, errors


def test_nested_every_doubles_its_instances_below_the_cap():
    engine, st, rows, errors = _engine(NESTED)
    for i in range(10):
        engine.send("A", {"v": i})
    # each A matches every waiting filter, and each match starts one more
    assert [len(r) for r in rows] == [2 ** i for i in range(10)]
    assert st._operator.instances == 2 ** 10
    assert errors == []


def test_nested_every_stops_growing_at_the_cap_and_reports_once():
    engine, st, rows, errors = _engine(NESTED, cap=50)
    for i in range(40):  # 2**40 instances without the cap
        engine.send("A", {"v": i})
    assert [len(r) for r in rows[:6]] == [1, 2, 4, 8, 16, 32]
    assert all(len(r) == 50 for r in rows[6:]) and len(rows) == 40
    assert st._operator.instances == 50
    assert len(errors) == 1 and st.errors == 1
    err = errors[0]
    assert err.statement == "r"
    assert "50 active instances" in err.reason and "max_pattern_instances" in err.reason
    assert err.record == {"a": {"v": 5}}  # the match that would have started one more


def test_followed_by_after_every_refuses_new_waits_until_some_finish():
    rule = "select a.v as v from pattern [every a=A -> b=B]"
    engine, st, rows, errors = _engine(rule, cap=3)
    for i in range(6):
        engine.send("A", {"v": i})
    engine.send("B", {})
    # the every filter and two waiting B filters make 3: A2..A5 started no wait
    assert rows == [[0, 1]]
    assert len(errors) == 1
    engine.send("A", {"v": 6})   # the waits finished: room again
    engine.send("B", {})
    assert rows == [[0, 1], [6]]
    assert len(errors) == 1      # reported once per statement


def test_replacing_a_finished_instance_is_allowed_at_the_cap():
    rule = "select a.v as v from pattern [every (a=A -> b=B)]"
    engine, st, rows, errors = _engine(rule, cap=1)
    for i in range(3):
        engine.send("A", {"v": i})
        engine.send("B", {})
    assert rows == [[0], [1], [2]]
    assert errors == []


def test_timers_count_as_instances():
    rule = "select a.v as v from pattern [every (every timer:interval(1 sec)) -> a=A]"
    engine, st, rows, errors = _engine(rule, cap=8)
    for t in range(1, 30):
        engine.advance_time(t * 1000)
    assert st._operator.instances <= 8 + 1
    assert len(errors) == 1


def test_the_instance_count_survives_a_snapshot():
    engine, st, rows, errors = _engine(NESTED, cap=50)
    for i in range(8):
        engine.send("A", {"v": i})
    snap = engine.snapshot()
    engine2, st2, rows2, errors2 = _engine(NESTED, cap=50)
    engine2.restore(snap)
    assert st2._operator.instances == st._operator.instances == 50
    engine2.send("A", {"v": 8})
    assert [len(r) for r in rows2] == [50]


@pytest.mark.parametrize("cap", [0, -1])
def test_the_cap_must_be_positive(cap):
    with pytest.raises(ValueError, match="max_pattern_instances"):
        EPLEngine(ExternalClock(0), max_pattern_instances=cap)
