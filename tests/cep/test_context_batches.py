"""Statements in contexts fed in batches (``send_many``) output what event by event
(``send``, which the differential tests check against Esper 8.9) outputs, in the same
order; the fused keyed time_batch operator outputs and snapshots what one operator per
partition does."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.cep import EPLEngine, ExternalClock
from squall.cep.context import ContextOperator, KeyedTimeBatchOperator

KEYED = "create context C partition by carNumber from DriverCarInfo, k from Q; "
DECLS = {
    "C": KEYED,
    "C1": "create context C1 partition by carNumber from DriverCarInfo(speed > 20); ",
    "H": "create context H coalesce by consistent_hash_crc32(carNumber) from DriverCarInfo granularity 3; ",
    "G": "create context G group by speed > 60 as fast, group by speed <= 60 as slow, "
         "group by speed > 80 as vfast from DriverCarInfo; ",
    "S": "create context S initiated by Q as q terminated after 2 sec; ",
}
SELECTS = [
    "select carNumber, avg(speed) as a, count(*) as n from DriverCarInfo#time_batch(2 sec)",
    "select carNumber, avg(speed) as a from DriverCarInfo#time_batch(2 sec) where speed > 30 having avg(speed) > 40",
    "select count(*) as n, max(speed) as m from DriverCarInfo#time_batch(3 sec)",
    "select irstream carNumber, speed from DriverCarInfo#time_batch(2 sec)",
    "select carNumber, speed from DriverCarInfo",
    "select carNumber, count(*) as n from DriverCarInfo#length(2)",
    "select carNumber, sum(speed) as s from DriverCarInfo#length_batch(2)",
]


def _events(seed: int, n: int = 60):
    """[(time ms, type, event)]: several events per time, cars interleaved."""
    rnd = random.Random(seed)
    out, ts = [], 1_000
    for _ in range(n):
        ts += rnd.choice([0, 0, 0, 500, 1_000, 2_500])
        if rnd.random() < 0.85:
            out.append((ts, "DriverCarInfo", {"carNumber": rnd.choice("ABCD"),
                                              "speed": float(rnd.randrange(0, 13) * 10)}))
        else:
            out.append((ts, "Q", {"k": rnd.choice("ABZ"), "v": float(rnd.randrange(0, 9))}))
    return out


def _run(rule: str, events, batched: bool, operator=None):
    """The last statement's rows as (time, kind, row), in output order."""
    engine = EPLEngine(ExternalClock(0))
    statements = engine.compile(rule)
    st = statements[-1]
    if operator is not None:
        st._operator = operator(st, st.plan, engine)
    rows = []
    st.add_listener(lambda new, old: rows.extend([(engine.current_time_ms, "insert", r) for r in new or ()]
                                                 + [(engine.current_time_ms, "remove", r) for r in old or ()]))
    i = 0
    while i < len(events):
        ts = events[i][0]
        j = i
        while j < len(events) and events[j][0] == ts and events[j][1] == events[i][1]:
            j += 1
        engine.advance_time(ts)
        if batched:
            engine.send_many(events[i][1], [e for _, _, e in events[i:j]])
        else:
            for _, t, e in events[i:j]:
                engine.send(t, e)
        i = j
    engine.advance_time(events[-1][0] + 60_000)
    return rows


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), context=st.sampled_from(sorted(DECLS)),
       select=st.sampled_from(SELECTS))
def test_send_many_outputs_what_send_does(seed, context, select):
    rule = DECLS[context] + f"context {context} " + select
    events = _events(seed)
    assert _run(rule, events, batched=True) == _run(rule, events, batched=False)


@pytest.mark.parametrize("select", SELECTS[:2])
@pytest.mark.parametrize("context", ["C", "C1"])
def test_fused_operator_outputs_what_an_operator_per_partition_does(context, select):
    rule = DECLS[context] + f"context {context} " + select
    engine = EPLEngine(ExternalClock(0))
    assert isinstance(engine.compile(rule)[-1]._operator, KeyedTimeBatchOperator)
    for seed in range(5):
        events = _events(seed, 120)
        fused = _run(rule, events, batched=True)
        assert fused, "the case outputs rows"
        assert fused == _run(rule, events, batched=True, operator=ContextOperator)


@pytest.mark.parametrize("cut", [7, 30, 55])
def test_fused_operator_snapshots_as_an_operator_per_partition(cut):
    """Each restores the other's snapshot and goes on as if never stopped."""
    rule = DECLS["C1"] + "context C1 " + SELECTS[1]
    events = _events(3, 80)
    whole = _run(rule, events, batched=True)

    def half(operator_before, operator_after):
        engine = EPLEngine(ExternalClock(0))
        st = engine.compile(rule)[-1]
        if operator_before is not None:
            st._operator = operator_before(st, st.plan, engine)
        rows = []
        st.add_listener(lambda new, old: rows.extend((engine.current_time_ms, "insert", r) for r in new or ()))
        for ts, t, e in events[:cut]:
            engine.advance_time(ts)
            engine.send(t, e)
        snap = engine.snapshot()
        engine2 = EPLEngine(ExternalClock(0))
        st2 = engine2.compile(rule)[-1]
        if operator_after is not None:
            st2._operator = operator_after(st2, st2.plan, engine2)
        engine2.restore(snap)
        st2.add_listener(lambda new, old: rows.extend((engine2.current_time_ms, "insert", r) for r in new or ()))
        for ts, t, e in events[cut:]:
            engine2.advance_time(ts)
            engine2.send(t, e)
        engine2.advance_time(events[-1][0] + 60_000)
        return rows, snap

    fused_rows, fused_snap = half(None, ContextOperator)
    generic_rows, generic_snap = half(ContextOperator, None)
    assert fused_snap["statements"] == generic_snap["statements"]
    assert fused_rows == generic_rows == whole


_PATTERN = "select a.carNumber as c, b.v as v from pattern [every a=DriverCarInfo -> (b=Q or timer:interval(3 sec))]"
_JOIN = "select irstream d.carNumber as c, d.speed as s, q.v as v from DriverCarInfo#time(3 sec) as d, Q#length(2) as q"
_MATCH = ("select * from DriverCarInfo match_recognize (measures A.carNumber as c, count(B.speed) as n "
          "pattern (A B+ C) define A as A.speed <= 60, B as B.speed > 60, C as C.speed <= 60)")
_MATCH2 = ("select * from DriverCarInfo match_recognize (measures A.carNumber as c, B.speed as b "
           "pattern (A B) define B as B.speed > A.speed)")


_SUBQUERY = ("select carNumber, (select count(*) from Q#keepall) as n, (select max(v) from Q#length(2)) "
             "as m from DriverCarInfo")


@pytest.mark.parametrize("context, statement", [
    (c, s) for c in ("C", "H", "S") for s in (_PATTERN, _JOIN, _MATCH2, _SUBQUERY)]
    + [("C", _MATCH), ("H", _MATCH)])
def test_joins_patterns_and_match_recognize_in_contexts_restore_from_snapshots(context, statement):
    """A snapshot taken anywhere restores every partition's join, pattern,
    match_recognize or subquery state and pending timers: the rows equal an uninterrupted
    run's."""
    rule = DECLS[context] + f"context {context} " + statement
    events = _events(11, 90)

    def engine_for():
        engine = EPLEngine(ExternalClock(0))
        st = engine.compile(rule)[-1]
        return engine, st

    def feed(engine, part, rows, st, end=None):
        for ts, t, e in part:
            engine.advance_time(ts)
            engine.send(t, e)
        if end is not None:
            engine.advance_time(end)

    whole_engine, st = engine_for()
    whole = []
    st.add_listener(lambda new, old: whole.extend([(whole_engine.current_time_ms, r) for r in new or ()]
                                                  + [(whole_engine.current_time_ms, "old", r) for r in old or ()]))
    end = events[-1][0] + 10_000
    feed(whole_engine, events, whole, st, end)
    assert whole, "the case outputs rows"
    for cut in (10, 45, 80):
        first, st1 = engine_for()
        rows = []
        st1.add_listener(lambda new, old: rows.extend([(first.current_time_ms, r) for r in new or ()]
                                                      + [(first.current_time_ms, "old", r) for r in old or ()]))
        feed(first, events[:cut], rows, st1)
        second, st2 = engine_for()
        second.restore(first.snapshot())
        st2.add_listener(lambda new, old: rows.extend([(second.current_time_ms, r) for r in new or ()]
                                                      + [(second.current_time_ms, "old", r) for r in old or ()]))
        feed(second, events[cut:], rows, st2, end)
        assert rows == whole, f"cut at {cut}"
