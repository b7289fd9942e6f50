"""Output rows for hand-computed cases, per Esper 8 output models with time_batch.

Expected rows are written by hand from Esper's documented semantics (reference 5.6
"Aggregation and grouping", 14 "Time batch window") and Esper 8 source as cited in
squall.cep.operators.
"""

import pytest

from squall.cep import EPLCompileError, EPLEngine, ExternalClock, WallClock

T = "DriverCarInfo"


def run(epl, script, start_ms=0):
    """script: list of (time_ms, events|None). Returns [(time, window, new, old)]."""
    engine = EPLEngine(clock=ExternalClock(start_ms=start_ms))
    st = engine.compile(epl)[0]
    out = []
    st.add_listener(lambda new, old: out.append(
        (engine.current_time_ms, st.last_output_window, new, old)))
    for t, events in script:
        engine.advance_time(t)
        if events:
            engine.send_many(T, events)
    return out


def car(n, s, **kw):
    return {"carNumber": n, "speed": s, **kw}


SPEEDING = ("select carNumber, avg(speed) from DriverCarInfo#time_batch(30 sec) "
            "group by carNumber having avg(speed) > 80")


def test_unaggregated_ungrouped_posts_each_event_of_batch():
    out = run("select carNumber, speed * 2 as dbl from DriverCarInfo#time_batch(1 sec)",
              [(100, [car("A", 10)]), (600, [car("B", 20)]), (1100, None)])
    assert out == [(1100, (100, 1100),
                    [{"carNumber": "A", "dbl": 20}, {"carNumber": "B", "dbl": 40}], [])]


def test_fully_aggregated_ungrouped_one_row():
    out = run("select count(*), sum(speed), avg(speed), min(speed), max(speed) "
              "from DriverCarInfo#time_batch(1 sec)",
              [(0, [car("A", 10), car("B", 30)]), (500, [car("A", 20)]), (1000, None)])
    assert out == [(1000, (0, 1000), [{"count(*)": 3, "sum(speed)": 60, "avg(speed)": 20.0,
                                      "min(speed)": 10, "max(speed)": 30}], [])]


def test_fully_aggregated_empty_batch_after_data_then_silence():
    # Batch 2 is empty but batch 1 was not: the view posts old data only, and the
    # row-for-all processor still outputs one row over the (empty) batch. Batch 3 is
    # empty after an empty batch: nothing is posted and no schedule remains.
    out = run("select count(*) as n, avg(speed) as a from DriverCarInfo#time_batch(1 sec)",
              [(0, [car("A", 10)]), (5000, None)])
    assert out == [(1000, (0, 1000), [{"n": 1, "a": 10.0}], []),
                   (2000, (1000, 2000), [{"n": 0, "a": None}], [])]


def test_aggregated_ungrouped_row_per_event_with_batch_aggregate():
    out = run("select carNumber, avg(speed) from DriverCarInfo#time_batch(1 sec)",
              [(0, [car("A", 10), car("B", 30)]), (1000, None)])
    assert out == [(1000, (0, 1000), [{"carNumber": "A", "avg(speed)": 20.0},
                                      {"carNumber": "B", "avg(speed)": 20.0}], [])]


def test_fully_aggregated_grouped_rows_per_group_incl_prior_batch_groups():
    out = run("select carNumber, count(*) as n, avg(speed) as a from DriverCarInfo"
              "#time_batch(10 sec) group by carNumber",
              [(0, [car("A", 10), car("B", 20), car("A", 30)]),
               (10_000, [car("B", 40)]),
               (40_000, None)])
    assert out == [
        (10_000, (0, 10_000), [{"carNumber": "A", "n": 2, "a": 20.0},
                               {"carNumber": "B", "n": 1, "a": 20.0}], []),
        # A was only in the prior batch: Esper's row-per-group keeps its key, empty aggregates
        (20_000, (10_000, 20_000), [{"carNumber": "B", "n": 1, "a": 40.0},
                                    {"carNumber": "A", "n": 0, "a": None}], []),
        (30_000, (20_000, 30_000), [{"carNumber": "B", "n": 0, "a": None}], []),
    ]


def test_aggregated_grouped_row_per_event_with_group_aggregate():
    out = run("select carNumber, speed, sum(speed) as s from DriverCarInfo#time_batch(1 sec) "
              "group by carNumber",
              [(0, [car("A", 1), car("B", 2), car("A", 3)]), (1000, None)])
    assert out == [(1000, (0, 1000), [{"carNumber": "A", "speed": 1, "s": 4},
                                      {"carNumber": "B", "speed": 2, "s": 2},
                                      {"carNumber": "A", "speed": 3, "s": 4}], [])]


def test_grouped_having_speeding_rule():
    out = run(SPEEDING, [(0, [car("A", 90), car("B", 70), car("A", 80), car("C", 81)]),
                         (30_000, None)])
    assert out == [(30_000, (0, 30_000), [{"carNumber": "A", "avg(speed)": 85.0},
                                          {"carNumber": "C", "avg(speed)": 81.0}], [])]


def test_multiple_group_keys():
    out = run("select carNumber, area, max(speed) as m from DriverCarInfo#time_batch(1 sec) "
              "group by carNumber, area",
              [(0, [car("A", 1, area="x"), car("A", 5, area="y"), car("A", 3, area="x")]),
               (1000, None)])
    assert out[0][2] == [{"carNumber": "A", "area": "x", "m": 3},
                         {"carNumber": "A", "area": "y", "m": 5}]


@pytest.mark.parametrize("threshold,expected", [
    (80, ["A", "C"]), (84, ["A"]), (85, []), (60, ["A", "B", "C"])])
def test_threshold_in_rule_text_changes_detections(threshold, expected):
    rule = SPEEDING.replace("> 80", f"> {threshold}")
    out = run(rule, [(0, [car("A", 90), car("B", 70), car("A", 80), car("C", 81)]),
                     (30_000, None)])
    got = [r["carNumber"] for _, _, rows, _ in out for r in rows]
    assert got == expected


def test_event_exactly_at_batch_end_goes_to_next_batch():
    out = run("select count(*) as n from DriverCarInfo#time_batch(1 sec)",
              [(0, [car("A", 1)]), (1000, [car("A", 2), car("A", 3)]), (2000, None)])
    assert out == [(1000, (0, 1000), [{"n": 1}], []), (2000, (1000, 2000), [{"n": 2}], [])]


def test_batch_starts_at_first_event_not_at_clock_start():
    out = run("select count(*) as n from DriverCarInfo#time_batch(1 sec)",
              [(250, [car("A", 1)]), (1249, None), (1250, None)], start_ms=0)
    assert out == [(1250, (250, 1250), [{"n": 1}], [])]


def test_time_jump_fires_each_batch_end_in_order():
    out = run("select count(*) as n, sum(speed) as s from DriverCarInfo#time_batch(1 sec)",
              [(0, [car("A", 1)]), (500, [car("A", 2)]), (1500, [car("A", 4)]),
               (10_000, None)])
    assert out == [(1000, (0, 1000), [{"n": 2, "s": 3}], []),
                   (2000, (1000, 2000), [{"n": 1, "s": 4}], []),
                   (3000, (2000, 3000), [{"n": 0, "s": None}], [])]


def test_after_empty_batches_schedule_stays_aligned_to_first_reference():
    # Reference point 100 (first event). After two silent batches the schedule stops;
    # an event at 5300 falls in [5100, 6100), so its batch ends at 6100, not 6300.
    out = run("select count(*) as n from DriverCarInfo#time_batch(1 sec)",
              [(100, [car("A", 1)]), (5300, [car("A", 2)]), (7000, None)])
    assert out == [(1100, (100, 1100), [{"n": 1}], []),
                   (2100, (1100, 2100), [{"n": 0}], []),
                   (6100, (5100, 6100), [{"n": 1}], [])]


def test_count_star_vs_count_expr_with_nulls():
    out = run("select count(*) as a, count(speed) as b, sum(speed) as s, avg(speed) as v "
              "from DriverCarInfo#time_batch(1 sec)",
              [(0, [car("A", None), car("A", 4), {"carNumber": "B"}, car("C", 2)]),
               (1000, None)])
    assert out[0][2] == [{"a": 4, "b": 2, "s": 6, "v": 3.0}]


def test_avg_of_no_rows_is_null():
    out = run("select count(speed) as c, avg(speed) as v, min(speed) as m "
              "from DriverCarInfo#time_batch(1 sec)",
              [(0, [car("A", None)]), (1000, None)])
    assert out[0][2] == [{"c": 0, "v": None, "m": None}]


def test_where_filters_before_aggregation():
    out = run("select carNumber, avg(speed) as v from DriverCarInfo#time_batch(1 sec) "
              "where speed > 0 group by carNumber",
              [(0, [car("A", 0), car("A", 100), car("A", 50), car("B", 0)]), (1000, None)])
    assert out[0][2] == [{"carNumber": "A", "v": 75.0}]


def test_where_filters_everything_posts_nothing():
    out = run("select count(*) as n from DriverCarInfo#time_batch(1 sec) where speed > 1000",
              [(0, [car("A", 1)]), (3000, None)])
    assert out == []


def test_length_batch():
    engine = EPLEngine(clock=ExternalClock())
    st = engine.compile("select sum(speed) as s from DriverCarInfo#length_batch(2)")[0]
    seen = []
    st.add_listener(lambda new, old: seen.append((new, st.last_output_window)))
    engine.send_many(T, [car("A", i) for i in (1, 2, 3, 4, 5)])
    engine.send(T, car("A", 6))
    assert seen == [([{"s": 3}], None), ([{"s": 7}], None), ([{"s": 11}], None)]
    assert st.events_in == 6 and st.rows_out == 3


def test_external_clock_backwards_raises():
    engine = EPLEngine(clock=ExternalClock(start_ms=1000))
    engine.advance_time(2000)
    with pytest.raises(ValueError):
        engine.advance_time(1999)
    assert engine.current_time_ms == 2000


def test_advance_time_needs_external_clock():
    with pytest.raises(TypeError):
        EPLEngine(clock=WallClock()).advance_time(10)


def test_several_statements_names_and_removal():
    engine = EPLEngine(clock=ExternalClock())
    a, b = engine.compile("select count(*) as n from DriverCarInfo#length_batch(1);"
                          "select speed from DriverCarInfo#length_batch(1)", name="r")
    assert (a.name, b.name) == ("r#0", "r#1")
    assert a.text == "select count(*) as n from DriverCarInfo#length_batch(1)"
    (c,) = engine.compile("select speed from DriverCarInfo#length_batch(1)")
    assert c.name.startswith("stmt-")
    got = []
    b.add_listener(lambda new, old: got.append(new))
    engine.remove(b)
    engine.send(T, car("A", 1))
    assert got == [] and engine.statements == [a, c] and a.rows_out == 1


def test_declared_type_unknown_property_is_compile_error_with_position():
    engine = EPLEngine(clock=ExternalClock())
    engine.define_event_type(T, {"carNumber": str, "speed": float})
    with pytest.raises(EPLCompileError) as info:
        engine.compile("select carNumber,\n  avg(sped) from DriverCarInfo#time_batch(30 sec)")
    assert (info.value.line, info.value.column) == (2, 7)
    assert "sped" in str(info.value)


@pytest.mark.parametrize("epl,fragment", [
    ("select a from T#time_batch(1) where sum(a) > 1", "not allowed in the where"),
    ("select a from T#time_batch(1) group by sum(a)", "not allowed in the group-by"),
    ("select sum(avg(a)) from T#time_batch(1)", "nested"),
    ("select a, sum(b) from T#time_batch(1) group by a having c > 1", "HAVING"),
    ("select a from T#foo(1)", "not a known view name"),
    ("select a from T#length", "Length view requires a single integer-type parameter"),
    ("select * from A as a unidirectional, B as b", "no view was specified for B"),
    ("select foo(a) from T#time_batch(1)", "Unknown function"),
    ("select a from T#length_batch(0)", "positive"),
])
def test_compile_errors(epl, fragment):
    with pytest.raises(EPLCompileError, match=fragment):
        EPLEngine(clock=ExternalClock()).compile(epl)


def test_wall_clock_fires_on_poll(monkeypatch):
    import squall.cep.engine as eng
    now = [1_000_000.0]
    monkeypatch.setattr(eng.time, "time", lambda: now[0])
    engine = EPLEngine()
    st = engine.compile("select count(*) as n from DriverCarInfo#time_batch(1 sec)")[0]
    seen = []
    st.add_listener(lambda new, old: seen.append((new, st.last_output_window)))
    engine.send(T, car("A", 1))
    now[0] += 0.999
    engine.poll()
    assert seen == []
    now[0] += 0.001
    engine.poll()
    assert seen == [([{"n": 1}], (1_000_000_000, 1_000_001_000))]
