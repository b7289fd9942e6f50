"""Differential tests for named windows: ``squall epl run`` against real Esper 8.9
(harness conventions in test_esper_differential.py: external time from ``ts``,
``advanceTimeSpan``, rows compared per (time, statement), floats with a tolerance).

Rows enter a window through ``insert into``; triggers are events of a second type ``Q``
(``k`` a car number, ``v`` a number), named by their ``type`` field. DriverCarInfo is
declared on both sides, so the windows' columns are known and unqualified names in ``on``
statements resolve to the window's columns first, then to the trigger's properties.
Each case checks the ``create window`` statement's own output (insert and remove
streams), the ``on`` statement's output and consumers' output together.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cep.esper.oracle import OutputsDifferError, compares_rows
from tests.cep.esper.test_esper_differential import PROPS, T, assert_same, ev

QTYPE = {"Q": {"ts": "long", "k": "string", "v": "double"}}


def q(ts, k, v=0.0):
    return {"type": "Q", "ts": ts, "k": k, "v": float(v)}


def runner(run_esper, run_squall):
    """``run(rule, events) -> (esper_rows, squall_rows)`` with Q declared on the Esper side
    and DriverCarInfo on both."""
    def run(rule, events):
        return (run_esper(rule, events, T, "ts", PROPS, advance="span", types=QTYPE, type_field="type"),
                run_squall(rule, events, T, "ts", type_field="type", props=PROPS))
    return run


@pytest.fixture
def both(run_esper, run_squall):
    return runner(run_esper, run_squall)


def check(both, rule, events, unordered=()):
    esper_rows, squall_rows = both(rule, events)
    assert_same(esper_rows, squall_rows, unordered)
    return esper_rows


def rows_of(rows, statement):
    return [(r["time"], r["kind"], r["row"]) for r in rows if r["statement"] == statement]


WINDOW = "create window W#length(3) as select * from DriverCarInfo; insert into W select * from DriverCarInfo; "
KEEPALL = ("create window W#keepall as select carNumber, speed from DriverCarInfo; "
           "insert into W select carNumber, speed from DriverCarInfo; ")

EVENTS = [ev(1_000, "A", 90), ev(2_000, "B", 50), q(2_500, "A", 1), ev(3_000, "C", 70),
          ev(4_000, "A", 100), q(4_500, "A", 2), q(5_000, "Z", 3), ev(6_000, "B", 55),
          q(7_000, "B", 4), ev(8_000, "D", 20), q(9_000, "C", 5)]


def test_window_posts_and_consumers_follow_its_insert_and_remove_streams(both):
    rows = check(both, WINDOW + "select irstream carNumber, speed from W; "
                 "select count(*) as n, sum(speed) as s, max(speed) as top from W; "
                 "select carNumber from W(speed > 60) as w where w.carNumber != 'C'", EVENTS)
    assert ("remove" in {k for _, k, _ in rows_of(rows, 0)})   # the length(3) window evicts
    assert rows_of(rows, 3)[-1][2]["n"] == 3


@pytest.mark.parametrize("view", ["#time(2 sec)", "#unique(carNumber)", "#lastevent", "#keepall",
                                  "#length(2)#time(3 sec)", "#firstevent"])
def test_window_kinds_post_as_their_data_windows(both, view):
    check(both, f"create window W{view} as DriverCarInfo; insert into W select * from DriverCarInfo; "
                "select irstream carNumber, count(*) as n from W", EVENTS)


def test_window_of_selected_columns_filled_from_a_filtered_stream(both):
    check(both, "create window W#length(2) as select carNumber, speed from DriverCarInfo; "
                "insert into W select carNumber, speed * 2 as speed from DriverCarInfo(speed > 60); "
                "select irstream * from W", EVENTS)


def test_on_select_with_aliases_and_aggregates_over_the_matches(both):
    rows = check(both, WINDOW + "on Q as q select w.carNumber as c, w.speed as s, q.v as v, count(*) as n "
                               "from W as w where w.carNumber = q.k; "
                               "on Q select sum(speed) as total, count(*) as n from W where speed > v * 10",
                 EVENTS)
    assert [r[2]["c"] for r in rows_of(rows, 2)] == ["A", "A", "B"]


def test_on_select_star_gives_the_row_and_the_trigger_by_position(run_esper, run_squall):
    # select * of an on-select: stream_0 the window row, stream_1 the triggering event
    # (compared on the window row; Esper's trigger map keeps the 'type' field).
    rule = KEEPALL + "on Q select * from W where carNumber = k"
    esper = run_esper(rule, EVENTS, T, "ts", PROPS, advance="span", types=QTYPE, type_field="type")
    squall = run_squall(rule, EVENTS, T, "ts", type_field="type", props=PROPS)
    picked = [(r["time"], r["row"]["stream_0"], r["row"]["stream_1"]["k"]) for r in esper if r["statement"] == 2]
    assert picked and picked == [(r["time"], r["row"]["stream_0"], r["row"]["stream_1"]["k"])
                                 for r in squall if r["statement"] == 2]


def test_on_select_and_delete_then_consumers_see_the_rows_leave(both):
    check(both, KEEPALL + "on Q select and delete carNumber, speed from W where carNumber = k; "
                          "select irstream carNumber from W; select count(*) as n from W", EVENTS)


def test_on_delete_outputs_the_deleted_rows(both):
    rows = check(both, KEEPALL + "on Q delete from W where carNumber = k or speed < v * 10; "
                                 "select count(*) as n from W", EVENTS)
    assert rows_of(rows, 2)


def test_on_delete_from_a_time_window_keeps_the_other_rows_expiring(both):
    check(both, "create window W#time(3 sec) as DriverCarInfo; insert into W select * from DriverCarInfo; "
                "on Q delete from W where carNumber = k; select irstream carNumber from W", EVENTS)


def test_on_update_sets_columns_in_order_and_posts_new_and_old(both):
    rows = check(both, KEEPALL + "on Q update W set speed = speed + v + 1 where carNumber = k; "
                                 "select irstream carNumber, speed from W; "
                                 "select sum(speed) as s from W", EVENTS)
    assert any(k == "remove" for _, k, _ in rows_of(rows, 2))


def test_on_update_later_assignment_sees_the_earlier_one(both):
    rows = check(both, "create window W#keepall as select carNumber, speed, fuel from DriverCarInfo; "
                       "insert into W select carNumber, speed, fuel from DriverCarInfo; "
                       "on Q as q update W as w set speed = w.speed + 1, fuel = w.speed where w.carNumber = q.k",
                 EVENTS)
    assert any(r[2]["fuel"] == r[2]["speed"] for r in rows_of(rows, 2) if r[1] == "insert")


def test_on_merge_updates_matches_and_inserts_when_nothing_matches(both):
    check(both, KEEPALL + "on Q merge W where carNumber = k when matched then update set speed = v "
                          "when not matched then insert select k as carNumber, v as speed; "
                          "select irstream carNumber, speed from W", EVENTS)


def test_on_merge_clause_conditions_and_delete(both):
    check(both, KEEPALL + "on Q merge W where carNumber = k "
                          "when matched and v > 3 then delete "
                          "when matched then update set speed = speed * 2 "
                          "when not matched and v > 2 then insert select k as carNumber, v as speed; "
                          "select count(*) as n from W", EVENTS)


def test_on_statement_with_a_trigger_filter(both):
    check(both, KEEPALL + "on Q(v >= 2) delete from W where carNumber = k", EVENTS)


def test_insert_into_from_an_on_select(both):
    check(both, KEEPALL + "on Q insert into Hit select carNumber, speed from W where carNumber = k; "
                          "select carNumber, speed * 10 as s from Hit", EVENTS)


def test_fully_aggregated_on_select_without_a_match(both):
    rows = check(both, KEEPALL + "on Q select count(*) as n from W where carNumber = k", EVENTS)
    # Z matches nothing: a fully aggregated on-select outputs its row anyway
    assert (5_000, "insert", {"n": 0}) in rows_of(rows, 2)


@pytest.mark.parametrize("view", ["#length_batch(2)", "#time_batch(2 sec)"])
def test_batch_window_holds_the_batch_it_collects(both, view):
    # Esper's on-select (and fire-and-forget) read a batch window's current batch; the
    # batch reaches the window's listeners and consumers when it is posted.
    check(both, f"create window W{view} as DriverCarInfo; insert into W select * from DriverCarInfo; "
                "select irstream carNumber from W; on Q(v != 4) select carNumber from W; "
                "on Q(v = 4) delete from W where carNumber = 'B'; "
                "on Q(v != 4) select carNumber as c from W where carNumber != 'X'", EVENTS)


def test_window_of_declared_columns_takes_missing_ones_as_null(both):
    check(both, "create window W#keepall as (carNumber string, speed double); "
                "insert into W select carNumber from DriverCarInfo(speed > 60); "
                "insert into W select carNumber, speed from DriverCarInfo(speed <= 60); "
                "on Q select carNumber, speed from W", EVENTS)


def test_on_select_order_by(both):
    check(both, KEEPALL + "on Q select carNumber, speed from W where speed > v * 10 order by speed desc, "
                          "carNumber", EVENTS)


@pytest.mark.parametrize("order", [0, 1])
def test_on_statements_of_one_event_run_in_statement_order(both, order):
    select = "on Q select carNumber from W where carNumber = k"
    delete = "on Q delete from W where carNumber = k"
    rows = check(both, KEEPALL + "; ".join([select, delete] if order == 0 else [delete, select]),
                 [ev(1_000, "A", 90), q(2_000, "A"), ev(3_000, "C", 70), q(4_000, "C")])
    assert bool(rows_of(rows, 2 + order)) == (order == 0)   # the select sees A only before the delete


@pytest.mark.xfail(strict=True, raises=OutputsDifferError, reason=(
    "Esper runs the on-statements of one event whose trigger has a filter (Q(v = 0)) before "
    "those without one (its filter index is searched before the unfiltered statements), so "
    "the select created after the delete still sees A; Squall runs them in statement order "
    "and the select sees nothing"))
def test_filtered_trigger_runs_before_unfiltered_ones_in_esper(both):
    check(both, KEEPALL + "on Q delete from W where carNumber = k; "
                          "on Q(v = 0) select count(*) as n from W",
          [ev(1_000, "A", 90), q(2_000, "A")])


@pytest.mark.xfail(strict=True, raises=OutputsDifferError, reason=(
    "A row deleted from a batch window's collecting batch leaves the batch in both, but "
    "Esper 8.9 still finds it in later deletes (it outputs A deleted again at 3000) until a "
    "batch post removes it, which never comes for a row no longer in a batch; Squall deletes "
    "it once"))
def test_row_deleted_from_a_batch_window_is_found_again_in_esper(both):
    check(both, "create window W#length_batch(2) as select carNumber, speed from DriverCarInfo; "
                "insert into W select carNumber, speed from DriverCarInfo; "
                "on Q delete from W where carNumber = k",
          [ev(1_000, "A", 0), q(2_000, "A"), q(3_000, "A"), ev(4_000, "B", 1), ev(6_000, "C", 1)])


# ------------------------------------------------------------------ generated cases

# Batch windows are left out: a row deleted from one stays findable in Esper (see the
# xfail below).
_VIEWS = ["#length(3)", "#keepall", "#time(3 sec)", "#unique(carNumber)", "#lastevent",
          "#length(2)#time(4 sec)", "#groupwin(carNumber)#length(2)"]
_CARS = ["A", "B", "C"]


@st.composite
def _events(draw):
    out, ts = [], 0
    for _ in range(draw(st.integers(4, 14))):
        ts += draw(st.sampled_from([0, 500, 1_000, 2_500]))
        if draw(st.booleans()):
            out.append(ev(ts, draw(st.sampled_from(_CARS)), draw(st.integers(0, 12)) * 10))
        else:
            out.append(q(ts, draw(st.sampled_from(_CARS + ["Z"])), draw(st.integers(0, 9))))
    return out


@compares_rows(min_nonempty=15)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=_events(), view=st.sampled_from(_VIEWS),
       action=st.sampled_from([
           "on Q delete from W where carNumber = k",
           "on Q delete from W where speed < v * 10",
           "on Q update W set speed = speed + v where carNumber = k",
           "on Q merge W where carNumber = k when matched and v > 4 then delete "
           "when matched then update set speed = v * 10 "
           "when not matched then insert select k as carNumber, v * 10 as speed",
           "on Q select and delete carNumber, speed from W where speed > v * 10"]))
def test_generated_windows_and_on_statements(both, events, view, action):
    rule = (f"create window W{view} as select carNumber, speed from DriverCarInfo; "
            "insert into W select carNumber, speed from DriverCarInfo; "
            f"{action}; "
            "select irstream carNumber, speed from W; "
            "select count(*) as n, sum(speed) as s from W; "
            # no trigger filter: Esper runs filtered triggers first (see the xfail above)
            "on Q select count(*) as n, max(speed) as top from W where v < 3")
    # A range condition on the window's rows: Esper finds them through a sorted index,
    # so the rows one event selects or deletes come in its order (compared as a set).
    ranged = "speed <" in action or "speed >" in action
    # Rows leaving an intersection at once: Esper's order varies from run to run (see
    # docs/epl.md); compared as a set per time too.
    intersection = view.count("#") > 1 and "groupwin" not in view
    check(both, rule, events, unordered=({0, 2, 3} if ranged else set()) | ({0, 3} if intersection else set()))
