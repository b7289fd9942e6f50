"""Differential tests for what happens to rows after the result-set processor: ``order by``
and ``limit`` on each output batch (Esper 8 reference, "Sorting Output: the Order By
Clause" and "Limiting Row Count: the Limit Clause"), against real Esper 8 (harness
conventions in test_esper_differential.py: external time from ``ts``, ``advanceTimeSpan``,
rows compared per (time, statement) in order, floats with a tolerance).

Known differences are strict xfails whose reason states the exact difference.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cep.esper import test_esper_windows
from tests.cep.esper.oracle import (
    OutputsDifferError,
    compares_rows,
)
from tests.cep.esper.test_esper_differential import assert_same, ev
from tests.cep.esper.test_esper_windows import STREAM

both = test_esper_windows.both   # the windows' fixture (events completed with fuel: null)


def check(both, rule, events=STREAM):
    esper_rows, squall_rows = both(rule, events)
    assert_same(esper_rows, squall_rows)
    return esper_rows


ORDERED = [
    # nulls first ascending, last descending; stable for equal keys
    "select carNumber, fuel from DriverCarInfo#time_batch(10 sec) order by fuel",
    "select carNumber, fuel from DriverCarInfo#time_batch(10 sec) order by fuel desc, carNumber limit 2",
    "select carNumber, fuel, speed from DriverCarInfo#time_batch(10 sec) order by fuel asc, speed desc",
    # an alias, both streams sorted and limited separately
    "select irstream carNumber as c, speed from DriverCarInfo#length_batch(3) order by c desc, speed "
    "limit 1 offset 1",
    "select irstream carNumber, speed from DriverCarInfo#time(5 sec) order by speed desc limit 1",
    "select irstream carNumber, speed from DriverCarInfo#time(5 sec) order by speed limit 0",
    # grouped, ordered by a selected aggregate; limit m, n
    "select carNumber, sum(speed) as s from DriverCarInfo#time_batch(30 sec) group by carNumber "
    "order by sum(speed) desc limit 2, 1",
    "select carNumber, avg(speed) from DriverCarInfo#time_batch(30 sec) group by carNumber "
    "order by avg(speed) desc, carNumber",
    "select irstream carNumber, count(*) as n, max(speed) as mx from DriverCarInfo#length(4) "
    "group by carNumber order by n desc, mx",
    # an expression over selected columns, select *
    "select carNumber, speed, fuel from DriverCarInfo#length_batch(4) order by speed * -1 + fuel",
    "select * from DriverCarInfo#length_batch(4) order by speed desc limit 2",
    "select carNumber, speed from DriverCarInfo#keepall() limit 1",
    # the smart-car rule, sorted and limited (fused batch operator)
    "select carNumber, avg(speed) from DriverCarInfo#time_batch(30 sec) group by carNumber "
    "having avg(speed) > 5 order by avg(speed) desc limit 1",
    # joins
    "select a.carNumber as x, b.speed as y from DriverCarInfo#length(2) as a, DriverCarInfo#length(2) as b "
    "where a.carNumber = b.carNumber order by y desc, x limit 1",
    "select a.carNumber, b.speed from DriverCarInfo#length(2) as a, DriverCarInfo#length(2) as b "
    "where a.carNumber = b.carNumber order by b.speed desc, a.carNumber",
]


@pytest.mark.parametrize("rule", ORDERED)
def test_order_by_and_limit(both, rule):
    check(both, rule)


def test_order_by_unselected_property(both):
    # the key is evaluated on each row's event (Esper 8.9)
    check(both, "select carNumber from DriverCarInfo#time_batch(10 sec) order by speed")


# Found by the generated test below (hypothesis); pinned here, avoided there.
_AB = [ev(1_000, "A", 1), ev(4_000, "B", 1)]
_GROUPED = ("select carNumber, count(*) as n, sum(speed) as s from DriverCarInfo#time_batch(3 sec) "
            "group by carNumber")


@pytest.mark.xfail(strict=True, raises=OutputsDifferError, reason=(
    "Esper 8.9 drops a group's row when a grouped statement has both having and order by: "
    "A at 1000 and B at 4000 in 3 s batches, 'having count(*) >= 1 order by sum(speed) desc, "
    "carNumber': Esper outputs {A, n: 1} at 4000 and nothing at 7000; without the order by (or "
    "without the having) it outputs {B, n: 1} at 7000, as Squall does with both"))
def test_having_with_order_by_on_groups_in_esper(both):
    esper_rows, squall_rows = both(_GROUPED + " having count(*) >= 1 order by sum(speed) desc, "
                                   "carNumber", _AB)
    assert [(r["time"], r["row"]["carNumber"]) for r in esper_rows] == [(4_000, "A")]
    assert_same(esper_rows, squall_rows)


@pytest.mark.xfail(strict=True, raises=OutputsDifferError, reason=(
    "Esper 8.9 sorts the row of a group without events in the batch by another key than its "
    "null sum: A at 1000 and B at 4000 (speed 1) in 3 s batches, 'order by sum(speed) desc, "
    "carNumber': at 7000 Esper puts {A, n: 0, s: null} before {B, n: 1, s: 1.0}; Squall sorts "
    "the null key last descending, B first (with B at 3.0 and C at 9.0 in that batch, Esper "
    "too puts A last)"))
def test_row_of_an_emptied_group_in_esper_order(both):
    esper_rows, squall_rows = both(_GROUPED + " order by sum(speed) desc, carNumber", _AB)
    assert [(r["row"]["carNumber"], r["row"]["s"]) for r in esper_rows if r["time"] == 7_000] == \
        [("A", None), ("B", 1.0)]
    assert_same(esper_rows, squall_rows)


events_st = st.lists(
    st.tuples(st.integers(0, 4_000), st.sampled_from("ABC"), st.integers(0, 5),
              st.one_of(st.none(), st.integers(0, 3))),
    min_size=1, max_size=14)

GENERATED = [
    "select irstream carNumber, speed, fuel from DriverCarInfo#length(3) order by speed desc, fuel limit {n}",
    # ordered by the group key, without having: Esper 8.9 loses rows with having and order by,
    # and sorts the row of a group without events in the batch by some other key
    # (test_having_with_order_by_on_groups_in_esper, test_row_of_an_emptied_group_in_esper_order)
    "select carNumber, count(*) as n, sum(speed) as s from DriverCarInfo#time_batch(3 sec) "
    "group by carNumber order by carNumber desc",
    "select carNumber, speed, fuel from DriverCarInfo#time_batch(2 sec) order by fuel desc, speed limit 1, {n}",
]


@compares_rows(min_nonempty=10)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Some grouped statements with a limit do not compile in Esper 8.9 ("Unknown variable or
# type groupByKeys" from its code generator: limit 0, several order-by keys, an alias key),
# so the grouped shape has no limit (ties are broken by carNumber, as Esper orders tied
# groups in hash order) and limits start at 1. Not yet understood
# (no oracle test pins it): a grouped batch with one row and `limit 1, 1` gets that row
# from Esper 8.9, where the offset should skip it; the generated grouped shape has no offset.
@given(gaps=events_st, shape=st.sampled_from(GENERATED), n=st.integers(1, 3))
def test_generated_order_by_and_limit_with_external_time(both, gaps, shape, n):
    t, events = 1_000, []
    for gap, car, speed, fuel in gaps:
        t += gap
        events.append(ev(t, car, speed, fuel, with_fuel=True))
    check(both, shape.format(n=n), events)
