"""Differential tests for output rate limiting, ``output [all | first | last | snapshot]
every (N events | period)`` (Esper 8 reference, 5.7 "Stabilizing and Controlling Output:
the Output Clause"), and for ``insert into`` chains (5.10 "Merging Streams and Continuous
Insertion: the Insert Into Clause"), against real Esper 8 (harness conventions in
test_esper_differential.py: external time from ``ts``, ``advanceTimeSpan``, rows compared
per (time, statement) in order, floats with a tolerance; grouped fully aggregated rows
unordered per time, as Esper posts them in hash order).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cep.esper import test_esper_windows
from tests.cep.esper.oracle import (
    OutputsDifferError,
    SquallRejectedError,
    compares_rows,
)
from tests.cep.esper.test_esper_differential import assert_same, ev
from tests.cep.esper.test_esper_windows import STREAM

both = test_esper_windows.both   # the windows' fixture (events completed with fuel: null)

KINDS = ["", "all ", "first ", "last ", "snapshot "]
RATES = ["every 3 events", "every 1 events", "every 10 sec"]

# (statement with {kind} and {rate}, grouped fully aggregated)
SHAPES = [
    ("select carNumber, speed from DriverCarInfo#length(2) output {kind}{rate}", False),
    ("select carNumber, speed from DriverCarInfo#time(5 sec) where speed > 5 output {kind}{rate}", False),
    ("select count(*) as n, sum(speed) as s from DriverCarInfo#length(2) having count(*) > 1 "
     "output {kind}{rate}", False),
    ("select carNumber, speed, max(speed) as mx from DriverCarInfo#length(3) output {kind}{rate}", False),
    ("select carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber output {kind}{rate}", True),
    ("select carNumber, avg(speed) as a from DriverCarInfo#time(5 sec) group by carNumber "
     "having avg(speed) > 5 output {kind}{rate}", True),
]


def check(both, rule, events=STREAM, grouped=False):
    esper_rows, squall_rows = both(rule, events)
    assert_same(esper_rows, squall_rows, unordered=(0,) if grouped else ())
    return esper_rows


def _cases():
    for shape, grouped in SHAPES:
        for kind in KINDS:
            for rate in RATES:
                if kind != "first " and "sec" in rate and "count(*) as n, sum" in shape:
                    continue   # a row every period for 10 days after the last event (one case below)
                if kind == "all " and "sec" in rate and "count(*) as n from" in shape:
                    continue   # rows every period for 10 days after the last event
                if kind == "snapshot " and "sec" in rate and "#length" in shape:
                    continue   # the window's rows every period for 10 days (a time window empties)
                yield pytest.param(shape.format(kind=kind, rate=rate), grouped, id=f"{kind}{rate}:{shape[:40]}")


@pytest.mark.parametrize("rule,grouped", list(_cases()))
def test_output_rate_limiting(both, rule, grouped):
    check(both, rule, grouped=grouped)


@pytest.mark.parametrize("rule", [
    "select irstream carNumber, speed from DriverCarInfo#length(2) output every 3 events",
    "select irstream carNumber, speed from DriverCarInfo#time(5 sec) output all every 10 sec",
    "select carNumber, speed from DriverCarInfo#length_batch(3) output first every 2 events",
    "select carNumber, speed from DriverCarInfo#length(2) output every 3 events order by speed desc limit 2",
    "select count(*) as n from DriverCarInfo#time(5 sec) output snapshot every 7 sec",
    "select count(*) as n, sum(speed) as s from DriverCarInfo#length(2) having count(*) > 1 "
    "output every 10 sec",
])
def test_output_rate_limiting_more(both, rule):
    check(both, rule)


events_st = st.lists(st.tuples(st.integers(0, 4_000), st.sampled_from("ABC"), st.integers(0, 9)),
                     min_size=1, max_size=14)
GENERATED = [
    ("select carNumber, speed from DriverCarInfo#length(2) output {kind} every {n} events", False),
    ("select carNumber, speed from DriverCarInfo#time(3 sec) output {kind} every {n} sec", False),
    ("select sum(speed) as s from DriverCarInfo#length(3) output {kind} every {n} events", False),
    # having: groups whose window emptied give no row (else 'all' outputs them every period
    # for the 10 days after the last event)
    ("select carNumber, count(*) as n from DriverCarInfo#time(3 sec) group by carNumber "
     "having count(*) > 0 output {kind} every {n} sec", True),
    ("select carNumber, max(speed) as m from DriverCarInfo#length(3) group by carNumber "
     "output {kind} every {n} events", True),
    ("select carNumber, speed, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output {kind} every {n} events", True),
    ("select irstream carNumber, speed, sum(speed) as s from DriverCarInfo#time(3 sec) group by carNumber "
     "having sum(speed) > 3 output {kind} every {n} events", True),
    ("select irstream count(*) as n, sum(speed) as s from DriverCarInfo#length(3) "
     "output {kind} every {n} events", False),
    ("select irstream carNumber, count(*) as n from DriverCarInfo#length_batch(3) group by carNumber "
     "output {kind} every {n} events", True),
]


@compares_rows(min_nonempty=12)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=events_st, shape=st.sampled_from(GENERATED),
       kind=st.sampled_from(["all", "first", "last", "snapshot"]), n=st.integers(1, 3))
def test_generated_output_rate_with_external_time(both, gaps, shape, kind, n):
    t, events = 1_000, []
    for gap, car, speed in gaps:
        t += gap
        events.append(ev(t, car, speed))
    rule, grouped = shape
    if kind == "first" and "irstream carNumber, count" in rule:
        kind = "last"   # grouped 'first' with irstream: a known difference (above)
    if kind == "snapshot" and "sec" in rule.split("output")[1]:
        kind = "last"   # snapshot rows every period for the 10 days after the last event
    if kind == "first" and "speed, count(*)" in rule and "group by" in rule:
        kind = "last"   # aggregated grouped 'first' when an event leaves the window: a known difference
    check(both, rule.format(kind=kind, n=n), events, grouped)


@pytest.mark.xfail(strict=True, raises=OutputsDifferError, reason=(
    "'output first every 1 events' on an aggregated grouped statement: when the fourth A enters "
    "#length(3) and the first (speed 1.0) leaves, Esper outputs {A, speed: 1.0, n: 3} (the leaving "
    "event's row with the current count); Squall outputs the entering event's row {A, speed: 0.0, n: 3}"))
def test_aggregated_grouped_first_when_an_event_leaves_is_a_known_difference(both):
    check(both, "select carNumber, speed, count(*) as n from DriverCarInfo#length(3) group by carNumber "
                "output first every 1 events",
          [ev(1_000, "A", 1.0), ev(1_000, "A", 0.0), ev(1_000, "A", 0.0), ev(1_000, "A", 0.0)], True)


# aggregated grouped statements (a property outside the group by), batch windows under
# 'output snapshot', irstream/rstream with aggregates and every output kind
@pytest.mark.parametrize("rule,grouped", [
    ("select carNumber, speed, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output last every 3 events", True),
    ("select irstream carNumber, speed, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output all every 3 events", True),
    ("select carNumber, speed, count(*) as n from DriverCarInfo#time(5 sec) group by carNumber "
     "output all every 2 events", True),
    ("select irstream carNumber, speed, sum(speed) as s from DriverCarInfo#time_batch(5 sec) "
     "group by carNumber having sum(speed) > 20 output last every 2 events", True),
    ("select carNumber, speed, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output first every 2 events", True),
    ("select carNumber, speed, count(*) as n from DriverCarInfo#keepall group by carNumber "
     "output snapshot every 3 events", True),
    ("select rstream carNumber, speed, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output last every 2 events", True),
    ("select carNumber, speed from DriverCarInfo#length_batch(3) output snapshot every 2 events", False),
    ("select carNumber, speed from DriverCarInfo#time_batch(5 sec) output snapshot every 2 events", False),
    ("select carNumber, count(*) as n from DriverCarInfo#length_batch(3) group by carNumber "
     "output snapshot every 2 events", True),
    ("select count(*) as n from DriverCarInfo#time_batch(5 sec) output snapshot every 3 events", False),
    ("select irstream carNumber, speed from DriverCarInfo#length_batch(3) output snapshot every 2 events", False),
    ("select irstream count(*) as n from DriverCarInfo#length(2) output last every 3 events", False),
    ("select rstream count(*) as n, sum(speed) as s from DriverCarInfo#time(5 sec) output last every 2 events", False),
    ("select irstream count(*) as n from DriverCarInfo#length(2) output first every 3 events", False),
    ("select irstream count(*) as n from DriverCarInfo#length(2) output snapshot every 3 events", False),
    ("select rstream carNumber, speed from DriverCarInfo#length(3) output snapshot every 2 events", False),
    ("select irstream carNumber, speed, max(speed) as mx from DriverCarInfo#time(5 sec) "
     "output last every 2 events", False),
    ("select irstream carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output last every 2 events", True),
    ("select irstream carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output all every 2 events", True),
    ("select rstream carNumber, count(*) as n from DriverCarInfo#time_batch(5 sec) group by carNumber "
     "output all every 3 events", True),
])
def test_rate_limiting_grouped_batch_and_stream_selectors(both, rule, grouped):
    check(both, rule, grouped=grouped)


@pytest.mark.xfail(strict=True, raises=SquallRejectedError, reason=(
    "Esper outputs with 'output first' and 'select irstream' on a grouped, fully aggregated "
    "statement a remove-stream row per group whose aggregates Squall does not reproduce yet; "
    "Squall rejects the statement (\"'output first' with 'select irstream' on a grouped, fully "
    "aggregated statement is not supported yet\")"))
def test_grouped_first_with_irstream_is_a_known_difference(both):
    check(both, "select irstream carNumber, count(*) as n from DriverCarInfo#time(5 sec) "
                "group by carNumber output first every 2 events", grouped=True)


@pytest.mark.xfail(strict=True, raises=SquallRejectedError, reason=(
    "Esper's 'output first' on an aggregated grouped statement over a batch window picks a row "
    "per group Squall does not reproduce yet (length_batch(3), every 2 events); Squall rejects "
    "the statement (\"'output first' on a grouped statement that selects properties outside the "
    "group by, over a batch data window, is not supported yet\")"))
def test_aggregated_grouped_first_over_a_batch_is_a_known_difference(both):
    check(both, "select carNumber, speed, count(*) as n from DriverCarInfo#length_batch(3) "
                "group by carNumber output first every 2 events", grouped=True)


# ------------------------------------------------------------------ joins and patterns

JOIN = "from DriverCarInfo#length(3) as a, DriverCarInfo#length(2) as b where a.carNumber = b.carNumber "


@pytest.mark.parametrize("rule,unordered", [
    ("select a.carNumber as ac, b.carNumber as bc, a.speed as s " + JOIN + "output every 2 events", False),
    ("select a.carNumber as ac, b.speed as bs " + JOIN + "output last every 3 events", False),
    ("select a.carNumber as ac, b.speed as bs " + JOIN + "output first every 2 events", False),
    ("select irstream a.speed as x, b.speed as y " + JOIN + "output all every 4 events", False),
    ("select a.carNumber as ac, count(*) as n " + JOIN + "group by a.carNumber output last every 2 events", True),
    ("select a.carNumber as ac, count(*) as n " + JOIN + "group by a.carNumber output all every 3 events", True),
    ("select irstream count(*) as n from DriverCarInfo#length(3) as a, DriverCarInfo#length(2) as b "
     "output last every 2 events", False),
    # Esper iterates a join's snapshot in its query plan's order: compared as a set per time
    ("select a.carNumber as ac, b.speed as bs " + JOIN + "output snapshot every 3 events", True),
    ("select * from DriverCarInfo#length(2) as a, DriverCarInfo#length(2) as b output every 2 events", False),
    ("select a.speed as x, b.speed as y from pattern[every a=DriverCarInfo -> "
     "b=DriverCarInfo(carNumber = a.carNumber)] output every 2 events", False),
    ("select a.speed as x, b.speed as y from pattern[every a=DriverCarInfo -> b=DriverCarInfo] "
     "output last every 5 sec", False),
    ("select a.speed as x from pattern[every a=DriverCarInfo] output first every 3 events", False),
    ("select a.speed as x from pattern[every a=DriverCarInfo(speed > 5)] output all every 10 sec", False),
    ("select * from pattern[every a=DriverCarInfo(carNumber = 'A')] output last every 2 events", False),
])
def test_rate_limiting_on_joins_and_patterns(both, rule, unordered):
    check(both, rule, grouped=unordered)


@compares_rows(min_nonempty=10)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=events_st, kind=st.sampled_from(["", "all ", "first ", "last "]), n=st.integers(1, 3),
       shape=st.sampled_from([
           "select a.carNumber as ac, b.speed as bs " + JOIN + "output {kind}every {n} events",
           "select a.carNumber as ac, sum(b.speed) as s " + JOIN + "group by a.carNumber "
           "output {kind}every {n} events",
           "select a.speed as x, b.speed as y from pattern[every a=DriverCarInfo -> "
           "b=DriverCarInfo(carNumber = a.carNumber)] output {kind}every {n} sec",
       ]))
def test_generated_rate_on_joins_and_patterns(both, gaps, kind, n, shape):
    t, events = 1_000, []
    for gap, car, speed in gaps:
        t += gap
        events.append(ev(t, car, speed))
    check(both, shape.format(kind=kind, n=n), events, grouped="group by" in shape)


# ------------------------------------------------------------------ output when / output after

@pytest.mark.parametrize("rule,grouped", [
    ("select carNumber, speed from DriverCarInfo#length(3) output when count_insert >= 3", False),
    ("select count(*) as n from DriverCarInfo#length(3) output last when count_insert > 1 or count_remove > 1",
     False),
    ("select carNumber, speed from DriverCarInfo#length(3) output when count_insert_total > 4 and "
     "count_insert > 1", False),
    ("select carNumber, speed from DriverCarInfo#length(3) output when count_insert > 1 and "
     "last_output_timestamp < 20000", False),
    ("create variable int threshold = 2;\n"
     "select carNumber, speed from DriverCarInfo#length(3) output when count_insert >= threshold "
     "then set threshold = threshold + 1", False),
    ("create variable long t0 = 0;\n"
     "select count(*) as n from DriverCarInfo#length(3) output when count_insert_total >= 3 and "
     "count_remove > 0 then set t0 = last_output_timestamp", False),
    ("select carNumber, count(*) as n from DriverCarInfo#time(5 sec) group by carNumber "
     "output all when count_remove > 0", True),
    ("select carNumber, speed from DriverCarInfo#length(3) output after 3 events", False),
    ("select count(*) as n from DriverCarInfo#length(3) output after 3 events", False),
    ("select carNumber, speed from DriverCarInfo#length(3) output after 10 sec", False),
    ("select carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber output after 3 events", True),
    ("select carNumber, speed from DriverCarInfo#length(3) output after 10 sec every 2 events", False),
    ("select count(*) as n, sum(speed) as s from DriverCarInfo#length(3) output after 3 events every 2 events",
     False),
    ("select carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output after 4 events last every 2 events", True),
    ("select carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output after 4 events every 2 events", True),
    ("select carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output after 20 sec all every 2 events", True),
    ("select count(*) as n from DriverCarInfo#length(3) output after 20 sec last every 2 events", False),
    ("select carNumber, speed from DriverCarInfo#time(5 sec) output after 3 events last every 2 events", False),
])
def test_output_when_and_after(both, rule, grouped):
    check(both, rule, grouped=grouped)


@pytest.mark.xfail(strict=True, raises=SquallRejectedError, reason=(
    "Esper's 'output after ... first' on an aggregated statement outputs a row whose choice "
    "Squall does not reproduce yet (a buffered post's row after 'after N events', the current "
    "post's after 'after <period>'); Squall rejects it (\"'output after ... first' on a statement "
    "with aggregates is not supported yet\")"))
def test_output_after_first_with_aggregates_is_a_known_difference(both):
    check(both, "select count(*) as n, sum(speed) as s from DriverCarInfo#time(3 sec) "
                "output after 1 events first every 2 events", [ev(1_000, "A", 0), ev(1_000, "A", 0)])


@pytest.mark.xfail(strict=True, raises=OutputsDifferError, reason=(
    "Esper evaluates an 'output when' expression also when a variable it reads changes (here "
    "set by an event the statement does not take: it outputs A and B at 5000); Squall evaluates "
    "it at the statement's posts only (A and B come at 25500)"))
def test_output_when_on_a_variable_change_is_a_known_difference(both):
    check(both, "create variable boolean flag = false;\n"
                "on DriverCarInfo(speed > 25) set flag = true;\n"
                "select carNumber, speed from DriverCarInfo(speed < 25)#length(3) output when flag")


@compares_rows(min_nonempty=10)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=events_st, kind=st.sampled_from(["", "all ", "last ", "first "]), n=st.integers(1, 3),
       cond=st.sampled_from(["{kind}when count_insert >= {n}", "{kind}when count_insert > {n} or count_remove > {n}",
                             "after {n} events {kind}every 2 events", "after {n} sec {kind}every {n} events",
                             "after {n} events"]),
       shape=st.sampled_from([
           "select carNumber, speed from DriverCarInfo#length(3) output {cond}",
           "select count(*) as n, sum(speed) as s from DriverCarInfo#time(3 sec) output {cond}",
           "select carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber output {cond}",
       ]))
def test_generated_output_when_and_after(both, gaps, kind, n, cond, shape):
    t, events = 1_000, []
    for gap, car, speed in gaps:
        t += gap
        events.append(ev(t, car, speed))
    if kind == "first " and "when" in cond and "group by" in shape:
        kind = "last "   # Esper 8.9 fails to compile a grouped 'output first when' (a NullPointerException)
    if kind == "first " and "after" in cond and "speed from" not in shape:
        kind = "last "   # 'output after ... first' with aggregates: refused (known difference)
    if kind == "all " and cond.startswith("after") and "speed from" in shape:
        kind = ""       # un-aggregated 'output after ... all': a known difference (below)
    check(both, shape.format(cond=cond.format(kind=kind, n=n)), events, grouped="group by" in shape)


@pytest.mark.xfail(strict=True, raises=OutputsDifferError, reason=(
    "'output after 1 events all every 2 events' on an un-aggregated statement: three events at "
    "1000; Esper outputs all three at the second output, the one before 'after' was met too; "
    "Squall drops the posts before 'after' is met (as Esper does without 'all') and outputs two"))
def test_unaggregated_output_after_all_is_a_known_difference(both):
    check(both, "select carNumber, speed from DriverCarInfo#length(3) output after 1 events all every 2 events",
          [ev(1_000, "A", 0.0), ev(1_000, "A", 0.0), ev(1_000, "A", 0.0)], False)


# ------------------------------------------------------------------ insert into

INSERT_CHAINS = [
    # (rule file, statements compared unordered per time: grouped fully aggregated)
    ("insert into Fast select carNumber, speed * 2 as s2 from DriverCarInfo#lastevent() where speed > 5;\n"
     "select carNumber, s2 from Fast#lastevent();\n"
     "select carNumber, sum(s2) as t from Fast#length(2) group by carNumber", (2,)),
    ("insert into Mean select carNumber, avg(speed) as a from DriverCarInfo#time_batch(10 sec) "
     "group by carNumber having avg(speed) > 1;\n"
     "select * from Mean#lastevent() where a > 5;\n"
     "insert into Big select carNumber as c from Mean#length(3) where a > 10;\n"
     "select count(*) as n from Big#length(2)", (0, 1, 2)),   # 1, 2: in the order of 0's rows
    ("select carNumber, speed from DriverCarInfo#length(2);\n"
     "insert into S select irstream carNumber, speed from DriverCarInfo#length(2);\n"
     "select irstream carNumber, speed from S#length(3)", ()),
    ("insert into Out select carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber "
     "output last every 2 events;\n"
     "select carNumber, n from Out#lastevent()", (0,)),
    ("insert into R select irstream carNumber, speed from DriverCarInfo#time(5 sec);\n"
     "select carNumber, count(*) as n from R#time(10 sec) group by carNumber", (1,)),
]


def test_insert_into_with_select_rstream(both):
    # Esper inserts the insert stream; the statement's listener gets the remove stream
    rule = ("insert into R select rstream carNumber, speed from DriverCarInfo#time(5 sec);\n"
            "select carNumber, count(*) as n from R#time(10 sec) group by carNumber")
    esper_rows, squall_rows = both(rule, STREAM)
    assert_same(esper_rows, squall_rows, unordered=(1,))


@pytest.mark.parametrize("rule,unordered", INSERT_CHAINS)
def test_insert_into_chains(both, rule, unordered):
    esper_rows, squall_rows = both(rule, STREAM)
    assert_same(esper_rows, squall_rows, unordered)
    assert {r["statement"] for r in esper_rows} >= {len(rule.split(";")) - 1}


@compares_rows(min_nonempty=5)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=events_st, n=st.integers(1, 3), kind=st.sampled_from(["", "last ", "first "]))
def test_generated_insert_into_chain_with_external_time(both, gaps, n, kind):
    t, events = 1_000, []
    for gap, car, speed in gaps:
        t += gap
        events.append(ev(t, car, speed))
    rule = ("insert into Fast select carNumber, speed from DriverCarInfo#time(2 sec) where speed > 2 "
            f"output {kind}every {n} events;\n"
            "insert into Sums select carNumber, sum(speed) as s from Fast#length(3) group by carNumber;\n"
            "select carNumber, s from Sums#unique(carNumber) where s > 5")
    esper_rows, squall_rows = both(rule, events)
    assert_same(esper_rows, squall_rows, unordered=(1,))


def test_window_expiry_at_an_interval_end_after_idle_intervals(both):
    # The output timer stops over idle intervals; an expiry at a later interval end
    # still belongs to that interval (Esper: the view's timer, then the output condition).
    events = [ev(1_000, "C", 0), ev(1_001, "C", 0)]
    check(both, "select carNumber, count(*) as n from DriverCarInfo#time(3 sec) group by carNumber "
                "having count(*) > 0 output last every 1 sec", events, grouped=True)
