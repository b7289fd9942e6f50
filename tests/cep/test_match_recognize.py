"""match_recognize: parsing (positions, round trip), compile errors, the partial-match
cap, snapshot/restore and interval timers. Row-level agreement with Esper 8.9 is in
tests/cep/esper/test_esper_match_recognize.py."""

from __future__ import annotations

import json

import pytest

from squall.cep import EPLEngine, EPLEvaluationError, ExternalClock
from squall.cep.ast import to_epl
from squall.cep.errors import EPLCompileError, EPLSyntaxError
from squall.cep.match_recognize_parse import Quantifier, RowAtom, RowConcat, RowGroup
from squall.cep.parser import parse, parse_statements

TYPE = {"ts": int, "car": str, "speed": float}
RISING = ("select * from Car match_recognize ( partition by car measures A.speed as a, "
          "last(B.speed) as b, count(B.speed) as n pattern (A B+ C?) "
          "define A as A.speed > 80, B as B.speed > prev(B.speed) )")


def _engine(rule: str, cap: int | None = None):
    errors: list[EPLEvaluationError] = []
    kw = {} if cap is None else {"max_pattern_instances": cap}
    engine = EPLEngine(ExternalClock(0), on_error=errors.append, **kw)
    engine.define_event_type("Car", TYPE)
    st = engine.compile(rule, name="r")[0]
    rows: list[dict] = []
    st.add_listener(lambda new, old: rows.extend(new))
    return engine, st, rows, errors


def _send(engine, ts, car, speed):
    engine.advance_time(ts)
    engine.send("Car", {"ts": ts, "car": car, "speed": float(speed)})


# ------------------------------------------------------------------ parsing

def test_clause_parses_into_its_parts_and_round_trips():
    st = parse(RISING + " where speed > 1")[0]
    mr = st.match_recognize
    assert mr.pattern == RowConcat((RowAtom("A"), RowAtom("B", Quantifier("+")),
                                    RowAtom("C", Quantifier("?"))))
    assert [m.name for m in mr.measures] == ["a", "b", "n"]
    assert [d.name for d in mr.defines] == ["A", "B"]
    assert st.where is not None          # the clauses after match_recognize still parse
    assert parse(to_epl(st))[0] == st


def test_quantifiers_groups_indexed_access_skip_and_interval_round_trip():
    text = ("select * from Car match_recognize ( measures B[1].speed as b1 all matches "
            "after match skip to current row pattern ((A B)+? | C{2,} D{,3} E{1,2} F*? G??) "
            "interval 1 min 5 sec or terminated )")
    st = parse(text)[0]
    mr = st.match_recognize
    assert mr.pattern.children[0] == RowGroup(RowConcat((RowAtom("A"), RowAtom("B"))),
                                              Quantifier("+", True))
    assert (mr.skip, mr.all_matches, mr.interval.msec, mr.or_terminated) == \
        ("to current row", True, 65_000, True)
    assert "B[1].speed as b1" in to_epl(st)
    assert parse(to_epl(st))[0] == st


def test_statement_text_covers_the_clause_and_the_next_statement_is_separate():
    ps = parse_statements(RISING + ";\nselect car from Car")
    assert ps[0].text == RISING
    assert ps[1].text == "select car from Car" and ps[1].ast.match_recognize is None


def test_keyword_inside_a_string_is_not_a_clause():
    st = parse("select * from Car where car = 'match_recognize (x)'")[0]
    assert st.match_recognize is None


@pytest.mark.parametrize("body,near", [
    ("measures A.speed pattern (A)", "pattern"),
    ("measures A.speed as a pattern (A{0})", "{"),
    ("measures A.speed as a pattern (A) define A as", ")"),
    ("measures A.speed as a after match skip to last row pattern (A)", "to"),
])
def test_syntax_errors_name_the_token_and_its_position(body, near):
    text = f"select * from Car match_recognize ( {body} )"
    with pytest.raises(EPLSyntaxError) as exc:
        parse(text)
    # the offending token's own column (the closing parenthesis: the last one)
    expected = text.rindex(near) + 1 if near == ")" else text.index(near, 36) + 1
    assert exc.value.line == 1 and exc.value.column == expected
    assert f"near '{near}'" in str(exc.value)


def test_unclosed_clause_is_a_syntax_error():
    with pytest.raises(EPLSyntaxError, match="closing match_recognize"):
        parse("select * from Car match_recognize ( measures A.speed as a pattern (A)")


# ------------------------------------------------------------------ compile errors

@pytest.mark.parametrize("body,message", [
    ("measures B.speed as b pattern (A B+)", "requires an index"),
    ("measures count(A.speed) as n pattern (A B+)", "exactly one group variable"),
    ("measures A.speed as a pattern (A) define X as X.speed > 1", "does not occur in pattern"),
    ("measures A.speed as a pattern (A B) define B as speed > 1", "ambiguous"),
    ("measures A.sped as a pattern (A)", "'sped' is not valid"),
    ("measures A[0].speed as a pattern (A B)", "needs a group variable"),
    ("measures prev(A.speed) as a pattern (A)", "define conditions only"),
])
def test_compile_errors(body, message):
    engine = EPLEngine(ExternalClock(0))
    engine.define_event_type("Car", TYPE)
    with pytest.raises(EPLCompileError, match=message):
        engine.compile(f"select * from Car match_recognize ( {body} )")


def test_data_window_is_refused():
    engine = EPLEngine(ExternalClock(0))
    with pytest.raises(EPLCompileError, match="data window"):
        engine.compile("select * from Car#length(5) match_recognize ( measures A.speed as a pattern (A) )")


# ------------------------------------------------------------------ running

def test_issue_example_per_partition():
    engine, _, rows, _ = _engine(RISING)
    for ts, car, speed in [(1, "x", 90), (2, "y", 85), (3, "x", 95), (4, "y", 80), (5, "y", 86),
                           (6, "y", 90)]:
        _send(engine, ts, car, speed)
    # x: A=90 B=95 (a match as soon as it can end); y: 85 then 80 is no rise; A=80 fails
    # the define, so y's match starts at 86 only after another A: none.
    assert rows == [{"a": 90.0, "b": 95.0, "n": 1}, {"a": 86.0, "b": 90.0, "n": 1}]


def test_partial_matches_are_capped_and_reported_once():
    rule = ("select * from Car match_recognize ( measures count(B.speed) as n pattern (A B* C) "
            "define C as C.speed < 0 )")
    uncapped, st0, _, errors0 = _engine(rule)
    engine, st, rows, errors = _engine(rule, cap=20)
    for i in range(50):
        _send(uncapped, i, "x", 1)
        _send(engine, i, "x", 1)
    # every event starts a match that never ends (no C yet) and waits in B and in C
    assert st0._operator.instances == 100 and errors0 == []
    assert st._operator.instances == 20
    assert len(errors) == 1 and "max_pattern_instances" in str(errors[0])
    assert errors[0].record is not None and errors[0].record["speed"] == 1   # names the event
    _send(engine, 60, "x", -1)
    assert len(rows) == 1      # the waiting matches still end


def test_snapshot_restore_keeps_partial_matches_and_the_interval_timer():
    rule = ("select * from Car match_recognize ( partition by car measures A.speed as a, "
            "count(B.speed) as n pattern (A B*) interval 10 seconds define A as A.speed > 80, "
            "B as B.speed > 80 )")
    engine, _, rows, _ = _engine(rule)
    _send(engine, 1_000, "x", 90)
    _send(engine, 2_000, "x", 91)
    snap = json.loads(json.dumps(engine.snapshot()))

    engine2, _, rows2, _ = _engine(rule)
    engine2.restore(snap)
    _send(engine2, 3_000, "x", 92)
    engine2.advance_time(11_000)
    assert rows == [] and rows2 == [{"a": 90.0, "n": 2}]


def test_interval_holds_the_match_until_its_first_event_plus_the_interval():
    rule = ("select * from Car match_recognize ( measures A.speed as a, count(B.speed) as n "
            "pattern (A B*) interval 5 seconds define A as A.speed > 80, B as B.speed > 80 )")
    engine, _, rows, _ = _engine(rule)
    _send(engine, 1_000, "x", 90)
    _send(engine, 2_000, "x", 95)
    engine.advance_time(5_999)
    assert rows == []
    engine.advance_time(6_000)
    assert rows == [{"a": 90.0, "n": 1}]


def test_removed_statement_outputs_nothing_more():
    rule = ("select * from Car match_recognize ( measures A.speed as a pattern (A B*) "
            "interval 5 seconds define A as A.speed > 80 )")
    engine, st, rows, _ = _engine(rule)
    _send(engine, 1_000, "x", 90)
    engine.remove(st)
    engine.advance_time(10_000)
    assert rows == []


# ------------------------------------------------------------------ the step

def test_a_define_reading_only_its_event_runs_once_per_event_whatever_the_partial_matches():
    calls: list[float] = []
    engine = EPLEngine(ExternalClock(0))
    engine.define_event_type("Car", TYPE)
    engine.register_function("counted", lambda v: calls.append(v) or v > 0)
    # every event starts a match and none ends (no C), so after k events k matches wait
    # on B: the define is asked k times for the event, evaluated once
    [st] = engine.compile("select * from Car match_recognize ( measures count(B.speed) as n "
                          "after match skip to current row pattern (A B+ C) define "
                          "A as A.speed > 0, B as counted(B.speed), C as C.speed < 0 )")
    for i in range(1, 11):
        _send(engine, i, "x", i)
    assert calls == [float(i) for i in range(2, 11)]
    assert st._operator.instances > 10


SAME_WAY_RULES = [
    RISING,
    "select * from Car match_recognize ( partition by car measures A.speed as a, "
    "count(B.speed) as n, first(B.speed) as f, last(B.speed) as l, B[1].speed as b1 "
    "pattern (A B+ C) define A as A.speed <= 80, B as B.speed > 80, C as C.speed <= 80 )",
    "select * from Car match_recognize ( measures A.speed as a, count(B.speed) as n all "
    "matches after match skip to current row pattern (A B* C?) define A as A.speed > 50, "
    "C as C.speed < 40 )",
]


@pytest.mark.parametrize("rule", SAME_WAY_RULES)
def test_batches_and_single_events_give_the_same_rows(rule):
    speeds = [70, 85, 90, 95, 60, 30, 81, 82, 20, 99, 100, 75, 35, 90, 10]
    one, _, rows_one, _ = _engine(rule)
    many, _, rows_many, _ = _engine(rule)
    for i, speed in enumerate(speeds):
        for car in ("x", "y"):
            _send(one, i * 1000, car, speed if car == "x" else 110 - speed)
        many.advance_time(i * 1000)
        many.send_many("Car", [{"ts": i * 1000, "car": car, "speed": float(speed if car == "x" else 110 - speed)}
                               for car in ("x", "y")])
    assert rows_one and rows_many == rows_one


def test_a_long_run_of_a_group_variable_is_measured_whole():
    rule = SAME_WAY_RULES[1]
    engine, _, rows, _ = _engine(rule)
    speeds = [50] + [81 + i % 7 for i in range(500)] + [40]
    for i, speed in enumerate(speeds):
        _send(engine, i, "x", speed)
    assert rows == [{"a": 50.0, "n": 500, "f": 81.0, "l": float(81 + 499 % 7), "b1": 82.0}]


def test_an_event_ending_two_matches_of_a_partition_it_leaves_empty_outputs_nothing():
    # Esper 8.9's behaviour (MatchRecognizeOperator._output): car x's 0 ends (A B) and (C)
    # and starts no A, so x is left without a partial match: no row. Car y's 35 ends two
    # matches too but starts an A (a partial match kept under to current row): two rows.
    engine, _, rows, errors = _engine(
        "select * from Car match_recognize ( partition by car measures A.speed as a, "
        "B.speed as b, C.speed as c after match skip to current row pattern ((A B) | C) "
        "define A as A.speed > 30, C as C.speed < 40 )")
    for ts, car, speed in ((0, "x", 40), (0, "x", 0), (1, "y", 45), (1, "y", 35)):
        _send(engine, ts, car, speed)
    assert rows == [{"a": 45.0, "b": 35.0, "c": None}, {"a": None, "b": None, "c": 35.0}]
    assert errors == []
