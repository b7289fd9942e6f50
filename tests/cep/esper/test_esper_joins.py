"""Differential tests for joins of data windows: ``squall epl run`` against real Esper 8.

Events of types ``A``, ``B`` and ``C`` (each names its type in the field ``type``,
``--type-field type``), external time from ``ts``, Esper driven with
``advanceTimeSpan``. Outputs must match row for row (same rows, same order, same
engine times); ``unordered`` compares the rows of one time as a multiset where the
order is an Esper index detail (see the strict xfails).

Known differences are strict xfails whose reason states the exact difference.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cep.esper.oracle import SquallRejectedError, compares_rows

from .test_esper_differential import assert_same

PROPS = {"ts": "long", "k": "string", "v": "double"}
TYPES = {"A": PROPS, "B": PROPS, "C": PROPS}


def ev(type_, ts, k="x", v=0):
    return {"type": type_, "ts": ts, "k": k, "v": float(v)}


@pytest.fixture
def join(run_esper, run_squall):
    """``join(rule, events, unordered=False)``; returns the Esper rows."""
    def run(rule, events, unordered=False):
        e = run_esper(rule, events, "A", "ts", PROPS, advance="span", types=TYPES, type_field="type")
        s = run_squall(rule, events, "A", "ts", type_field="type")
        assert_same(e, s, unordered=(0,) if unordered else ())
        return e
    return run


STREAM = [
    ev("A", 1_000, "x", 1), ev("B", 2_000, "x", 10), ev("B", 3_000, "y", 20), ev("A", 4_000, "y", 2),
    ev("A", 5_000, "x", 3), ev("B", 5_000, "x", 11), ev("A", 6_000, "z", 4), ev("B", 9_000, "x", 30),
    ev("A", 9_500, "y", 5), ev("B", 15_000, "y", 40), ev("A", 16_000, "y", 6), ev("B", 16_000, "z", 50),
]


# ------------------------------------------------------------------ equi-joins

@pytest.mark.parametrize("windows", [
    ("#length(2)", "#time(5 sec)"),
    ("#length(3)", "#length(3)"),
    ("#time(4 sec)", "#time(6 sec)"),
    ("#keepall()", "#lastevent()"),
    ("#unique(k)", "#unique(k)"),
    ("#length_batch(2)", "#keepall()"),
    ("#time_batch(5 sec)", "#length(2)"),
    (".win:length(2)", ".win:time(5 sec)"),
])
def test_equi_join_over_windows(join, windows):
    wa, wb = windows
    join(f"select a.k as k, a.v as av, b.v as bv from A{wa} as a, B{wb} as b where a.k = b.k", STREAM)


def test_equi_join_irstream_gives_remove_stream_rows(join):
    join("select irstream a.k as k, a.v as av, b.v as bv from A#length(2) as a, B#time(5 sec) as b "
         "where a.k = b.k", STREAM)


def test_equi_join_rstream(join):
    join("select rstream a.v as av, b.v as bv from A#length(2) as a, B#time(5 sec) as b where a.k = b.k",
         STREAM)


def test_join_without_where_is_the_cartesian_product(join):
    join("select a.v as av, b.v as bv from A#length(2) as a, B#length(2) as b", STREAM)


def test_join_where_with_extra_conditions(join):
    join("select a.v as av, b.v as bv from A#length(3) as a, B#time(10 sec) as b "
         "where a.k = b.k and b.v > 10 * a.v", STREAM)


def test_join_select_star_and_stream_names_without_alias(join):
    join("select * from A#length(2), B#length(2) where A.k = B.k", STREAM)


def test_join_select_star_with_aliases_and_mixed(join):
    join("select * from A#length(2) as a, B#length(2) where a.k = B.k", STREAM)


def test_join_select_bare_stream_alias(join):
    join("select a, b.v as bv from A#length(2) as a, B#length(2) as b where a.k = b.k", STREAM)


def test_join_unqualified_properties_when_types_are_declared_is_a_known_difference_free_case(join):
    # fully qualified expressions and unaliased column names ("a.v", "b.v*2")
    join("select a.v, b.v * 2 from A#length(2) as a, B#length(2) as b where a.k = b.k", STREAM)


# ------------------------------------------------------------------ aggregation over a join

def test_join_fully_aggregated(join):
    join("select count(*) as n, sum(b.v) as s, avg(a.v) as m from A#length(3) as a, B#time(5 sec) as b "
         "where a.k = b.k", STREAM)


def test_join_grouped_fully_aggregated(join):
    join("select a.k as k, count(*) as n, max(b.v) as mx from A#length(3) as a, B#time(5 sec) as b "
         "where a.k = b.k group by a.k", STREAM, unordered=True)


def test_join_aggregated_grouped_with_having(join):
    join("select a.k as k, b.v as bv, sum(b.v) as s from A#length(3) as a, B#time(6 sec) as b "
         "where a.k = b.k group by a.k having sum(b.v) > 15", STREAM)


# ------------------------------------------------------------------ unidirectional, self-join, 3 streams

def test_unidirectional_stream_triggers_the_join(join):
    join("select a.v as av, b.v as bv from A as a unidirectional, B#time(5 sec) as b where a.k = b.k",
         STREAM)


def test_unidirectional_aggregation(join):
    join("select a.v as av, count(*) as n from A as a unidirectional, B#keepall() as b where a.k = b.k",
         STREAM)


def test_self_join(join):
    join("select a1.v as v1, a2.v as v2 from A#length(3) as a1, A#length(2) as a2 where a1.k = a2.k",
         [e for e in STREAM if e["type"] == "A"])


def test_self_join_without_where(join):
    join("select a1.v as v1, a2.v as v2 from A#length(2) as a1, A#lastevent() as a2",
         [e for e in STREAM if e["type"] == "A"])


def test_three_stream_join(join):
    events = STREAM + [ev("C", 17_000, "y", 7), ev("C", 18_000, "z", 8), ev("A", 19_000, "z", 9)]
    join("select a.v as av, b.v as bv, c.v as cv from A#length(3) as a, B#length(3) as b, "
         "C#length(3) as c where a.k = b.k and b.k = c.k", events, unordered=True)


# ------------------------------------------------------------------ errors

def test_stream_without_window_is_rejected_by_both(run_esper, run_squall):
    rule = "select * from A as a, B#length(2) as b"
    with pytest.raises(RuntimeError, match="Joins require that at least one view is specified"):
        run_esper(rule, STREAM, "A", "ts", PROPS, types=TYPES, type_field="type")
    with pytest.raises(AssertionError, match="Joins require that at least one view is specified"):
        run_squall(rule, STREAM, "A", "ts", type_field="type")


def test_unknown_stream_name_is_rejected(run_squall):
    with pytest.raises(AssertionError, match="'c' is not a stream of the join"):
        run_squall("select c.v from A#length(2) as a, B#length(2) as b", STREAM, "A", "ts",
                   type_field="type")


@pytest.mark.xfail(strict=True, raises=SquallRejectedError, reason=(
    "Esper resolves an unqualified property of a join by the declared event types: with only B "
    "declaring w, 'select a.v as av, w from A#length(2) as a, B#length(2) as b where a.k = b.k' "
    "outputs B's w ({av: 1.0, w: 7.0} at 2000); squall epl run declares no event types, so Squall "
    "rejects the statement: 'Property 'w' in a join must be qualified with a stream name (a.w) "
    "unless the event types are declared' (EPLEngine.define_event_type resolves it as Esper does)"))
def test_unqualified_property_is_resolved_by_declared_types(run_esper, run_squall):
    types = {"A": PROPS, "B": {**PROPS, "w": "double"}}
    events = [ev("A", 1_000, "x", 1), {**ev("B", 2_000, "x", 2), "w": 7.0}]
    rule = "select a.v as av, w from A#length(2) as a, B#length(2) as b where a.k = b.k"
    esper_rows = run_esper(rule, events, "A", "ts", PROPS, advance="span", types=types,
                           type_field="type")
    assert [r["row"] for r in esper_rows] == [{"av": 1.0, "w": 7.0}]
    assert_same(esper_rows, run_squall(rule, events, "A", "ts", type_field="type"))


# ------------------------------------------------------------------ generated streams

WINDOWS = ["#length({n})", "#time({n} sec)", "#lastevent()", "#keepall()", "#unique(k)",
           "#length_batch({n})", "#time_batch({n} sec)"]


@st.composite
def streams(draw):
    n = draw(st.integers(0, 25))
    t = draw(st.integers(0, 5_000))
    out = []
    for _ in range(n):
        t += draw(st.one_of(st.just(0), st.integers(0, 1_500), st.integers(0, 6_000)))
        out.append(ev(draw(st.sampled_from("AB")), t, draw(st.sampled_from("xy")),
                      draw(st.integers(0, 6))))
    return out


@compares_rows(min_nonempty=10)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=streams(), wa=st.sampled_from(WINDOWS), wb=st.sampled_from(WINDOWS),
       n=st.integers(1, 4), selector=st.sampled_from(["", "irstream "]),
       cond=st.sampled_from(["a.k = b.k", "a.k = b.k and a.v <= b.v", None]))
def test_generated_joins_match_esper(join, events, wa, wb, n, selector, cond):
    where = f" where {cond}" if cond else ""
    rule = (f"select {selector}a.v as av, a.ts as at, b.v as bv, b.ts as bt from A{wa.format(n=n)} as a, "
            f"B{wb.format(n=n)} as b{where}")
    # With a range condition (a.v <= b.v) Esper finds combinations through a range index
    # and the rows of one event can come in another order than the windows' (for a batch
    # of two A(v=0) meeting B(v=0), B(v=1): bv 1.0, 0.0 per A in one JVM run, 0.0, 1.0 in
    # another; it depends on earlier cases of the same JVM, so it cannot be pinned as a
    # strict xfail). Squall gives the windows' order; rows are compared per time as sets.
    join(rule, events, unordered=bool(cond and "<=" in cond))


@compares_rows(min_nonempty=10)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=streams(), wa=st.sampled_from(WINDOWS[:3]), wb=st.sampled_from(WINDOWS[:3]),
       n=st.integers(1, 4))
def test_generated_aggregated_joins_match_esper(join, events, wa, wb, n):
    rule = (f"select count(*) as c, sum(a.v) as sa, max(b.v) as mb from A{wa.format(n=n)} as a, "
            f"B{wb.format(n=n)} as b where a.k = b.k")
    join(rule, events)
