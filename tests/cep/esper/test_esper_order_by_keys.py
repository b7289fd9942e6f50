"""Differential tests for order-by keys that are not selected (Esper 8.9 evaluates them
on each row's event; a grouped statement ordered by a property outside the group by posts
a row per event), against real Esper (harness: test_esper_differential.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cep.esper.oracle import OutputsDifferError, compares_rows
from tests.cep.esper.test_esper_differential import PROPS, T, assert_same, ev
from tests.cep.esper.test_esper_windows import GEN_WINDOWS, _complete, _intersection, streams

STREAM = [ev(1_000, "A", 5), ev(2_000, "B", 2), ev(3_000, "C", 9), ev(4_000, "A", 1), ev(5_000, "B", 7),
          ev(12_000, "C", 3), ev(13_000, "A", 4), ev(13_000, "B", 4, 2)]


@pytest.fixture
def both(run_esper, run_squall):
    def run(rule, events):
        events = _complete(events)
        return run_esper(rule, events, T, "ts", PROPS, advance="span"), run_squall(rule, events, T, "ts")
    return run


def check(both, rule, events=STREAM):
    esper_rows, squall_rows = both(rule, events)
    assert_same(esper_rows, squall_rows)
    return esper_rows


def test_order_by_unselected_property(both):
    # the case of the former known difference
    check(both, "select carNumber from DriverCarInfo#time_batch(10 sec) order by speed")


@pytest.mark.parametrize("rule", [
    "select carNumber from DriverCarInfo#length_batch(3) order by speed",
    "select irstream carNumber from DriverCarInfo#length_batch(3) order by speed desc",
    "select carNumber, count(*) as n from DriverCarInfo#time_batch(10 sec) group by carNumber order by speed",
    "select count(*) as n from DriverCarInfo#time_batch(10 sec) order by speed",
    "select irstream count(*) as n from DriverCarInfo#length(2) order by speed",
    "select carNumber, count(*) as n from DriverCarInfo#time_batch(10 sec) order by speed",
    "select carNumber as c from DriverCarInfo#length_batch(3) order by carNumber desc, speed",
    "select speed * 2 as x from DriverCarInfo#length_batch(3) order by speed * -1",
    "select carNumber, count(*) as n from DriverCarInfo#time_batch(10 sec) group by carNumber "
    "order by n desc, speed",
    "select carNumber, sum(speed) as s from DriverCarInfo#time_batch(10 sec) group by carNumber "
    "order by fuel, speed desc",
    "select carNumber from DriverCarInfo#time_batch(10 sec) order by speed limit 2",
    "insert into R select carNumber from DriverCarInfo#length_batch(4) order by speed;\nselect * from R",
    "select carNumber, speed from DriverCarInfo#time_batch(10 sec) group by carNumber "
    "having speed > avg(speed) order by fuel, speed",
    "select carNumber from DriverCarInfo#time_batch(10 sec)#length(3) order by speed",
    "select carNumber from DriverCarInfo#length(3) output every 3 events order by speed",
    "select carNumber from DriverCarInfo#length(2) output snapshot every 2 events order by speed",
])
def test_unselected_order_by_keys(both, rule):
    check(both, rule)


def test_unselected_aggregate_in_order_by_is_rejected_by_both(run_esper, run_squall):
    rule = ("select carNumber, count(*) as n from DriverCarInfo#time_batch(10 sec) group by carNumber "
            "order by sum(speed)")
    message = "Aggregate functions in the order-by clause must also occur in the select expression"
    with pytest.raises(RuntimeError, match=message):
        run_esper(rule, _complete(STREAM), T, "ts", PROPS)
    with pytest.raises(AssertionError, match=message):
        run_squall(rule, STREAM, T, "ts")


@compares_rows(min_nonempty=16)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=streams(), window=GEN_WINDOWS, n=st.integers(1, 4), s=st.sampled_from([1, 2, 5, 10]),
       selector=st.sampled_from(["", "irstream "]), desc=st.sampled_from(["", " desc"]))
def test_generated_unselected_order_by_keys(both, events, window, n, s, selector, desc):
    w = window.format(n=n, s=s)
    # ties keep the result-set order: the last key (the event's time, then the speed)
    # makes the order total where Esper and Squall agree on the rows
    # Not generated: groupwin windows of several groups posting at one time under a
    # row-per-event aggregated statement with order by (Esper then gives every row the
    # aggregates after all the groups' posts, test_order_by_over_groupwin_batches_ending_together);
    # statement 2 reads another window then.
    w2 = "#length(2)" if "groupwin" in w else w
    rule = ";\n".join([
        f"select {selector}carNumber from DriverCarInfo{w} order by speed{desc}, ts, fuel",
        f"select {selector}carNumber, max(speed) as m from DriverCarInfo{w} group by carNumber "
        f"order by fuel{desc}, speed, ts",
        f"select {selector}carNumber, count(*) as n from DriverCarInfo{w2} order by speed * -1, ts",
    ])
    esper_rows, squall_rows = both(rule, events)
    assert_same(esper_rows, squall_rows, tuple(range(3)) if _intersection(w) else ())


@pytest.mark.xfail(strict=True, raises=OutputsDifferError, reason=(
    "When groupwin windows of several groups post at one time (batch ends, expiries), Esper 8.9 "
    "gives a row-per-event "
    "aggregated statement with order by the aggregates after every group's post (A at 0, A and B "
    "at 1000, 'groupwin(carNumber)#time_batch(1 sec)', 'count(*) ... order by speed': {A, n: 2}, "
    "{B, n: 2} at 2000); without order by it gives {A, n: 1}, {B, n: 2}, as Squall does with it"))
def test_order_by_over_groupwin_batches_ending_together(both):
    check(both, "select carNumber, count(*) as n from DriverCarInfo#groupwin(carNumber)#time_batch(1 sec) "
                "order by speed", [ev(0, "A", 0), ev(1_000, "A", 0), ev(1_000, "B", 0)])
