"""Patterns: parsing, compile errors, and the engine-level behaviour of pattern statements
(the semantics themselves are checked against Esper in tests/cep/esper/test_esper_patterns.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from squall.cep import EPLCompileError, EPLEngine, EPLSyntaxError, ExternalClock
from squall.cep import ast as A
from squall.cep.parser import parse

HARD_BRAKING = ("select a.carNumber as car, a.speed as fast, b.speed as slow from pattern "
                "[every a=DriverCarInfo(speed > 100) -> b=DriverCarInfo(carNumber = a.carNumber, "
                "speed < 20) where timer:within(10 sec)]")


# ------------------------------------------------------------------ parsing

def test_hard_braking_ast_and_precedence():
    st = parse(HARD_BRAKING)[0]
    p = st.stream.pattern
    assert isinstance(st.stream, A.PatternStream)
    assert isinstance(p, A.PatternFollowedBy) and len(p.children) == 2
    every, guard = p.children
    assert every == A.PatternEvery(A.PatternFilter(
        "DriverCarInfo", "a", (A.BinaryOp(">", A.Property("speed"), A.Literal(100)),)))
    assert isinstance(guard, A.PatternGuard) and (guard.namespace, guard.name) == ("timer", "within")
    assert guard.child.filters[0] == A.BinaryOp("=", A.Property("carNumber"), A.Property("a.carNumber"))
    assert st.items[0].expr == A.Property("a.carNumber")


@pytest.mark.parametrize("text, expected", [
    ("a=A -> b=B or c=C", "PatternFollowedBy"),      # -> binds loosest
    ("a=A or b=B and c=C", "PatternOr"),             # and binds tighter than or
    ("every a=A and b=B", "PatternAnd"),             # every binds tighter than and
    ("(a=A -> b=B) where timer:within(1 sec)", "PatternGuard"),
    ("a=A -> b=B -> c=C", "PatternFollowedBy"),
])
def test_pattern_operator_precedence(text, expected):
    p = parse(f"select * from pattern [{text}]")[0].stream.pattern
    assert type(p).__name__ == expected
    if text == "a=A -> b=B -> c=C":
        assert len(p.children) == 3  # flattened


@pytest.mark.parametrize("text", [
    HARD_BRAKING,
    "select * from pattern [every (a=A -> b=B) or not c=C and timer:interval(5)]",
    "select a, b.v from pattern [every (a=A(v > 1, k = 'x') where timer:within(2 sec)) -> b=B]",
    "SELECT * FROM PATTERN [EVERY A -> NOT B]",
])
def test_round_trip_through_to_epl(text):
    st = parse(text)[0]
    assert parse(A.to_epl(st))[0] == st


@pytest.mark.parametrize("text, line, column, token", [
    ("select * from pattern [every a=A ->]", 1, 36, "]"),
    ("select * from pattern [a=A -> \n  b<B]", 2, 4, "<"),
    ("select * from pattern [a=A where timer:within(1 sec)", 1, 53, ""),
    ("select * from pattern a=A", 1, 23, "a"),
])
def test_syntax_errors_keep_line_and_column(text, line, column, token):
    with pytest.raises(EPLSyntaxError) as info:
        parse(text)
    assert (info.value.line, info.value.column, info.value.token) == (line, column, token)


# ------------------------------------------------------------------ compile errors

@pytest.mark.parametrize("text, message", [
    ("select c.v from pattern [every a=A -> b=B]", "'c.v' names no tag of the pattern"),
    ("select v from pattern [every a=A -> b=B]", "property 'v' is not a tag of the pattern"),
    ("select a.v from pattern [every a=A -> b=B(v = c.v)]", "'c.v' names no tag"),
    ("select a.v from pattern [every a=A(v = b.v) -> b=B]", "tag 'b' is not available here"),
    ("select a.v from pattern [a=A and b=B(k = a.k)]", "tag 'a' is not available here"),
    ("select a.v from pattern [a=A -> a=B]", "Tag 'a' for event type 'B' was already used"),
    ("select count(*) from pattern [every a=A]", "Aggregate functions are not supported"),
    ("select a.v from pattern [timer:schedule(1)]", "unsupported pattern observer 'timer:schedule'"),
    ("select a.v from pattern [a=A where timer:withinmax(1)]", "unsupported pattern guard"),
    ("select a.v from pattern [a=A -> timer:interval('x')]", "expects a time period"),
])
def test_compile_errors_name_what_is_wrong(text, message):
    with pytest.raises(EPLCompileError, match=message):
        EPLEngine(ExternalClock(0)).compile(text)


def test_compile_error_has_position():
    with pytest.raises(EPLCompileError) as info:
        EPLEngine(ExternalClock(0)).compile("select a.v,\n  zz.v from pattern [every a=A]")
    assert (info.value.line, info.value.column) == (2, 3)


def test_declared_types_check_tag_properties():
    engine = EPLEngine(ExternalClock(0))
    engine.define_event_type("A", {"k": str, "v": float})
    engine.define_event_type("B", {"k": str, "w": float})
    engine.compile("select a.v, b.w from pattern [every a=A -> b=B(k = a.k, w > a.v)]")
    with pytest.raises(EPLCompileError, match="property named 'w' is not valid in event type 'A' of tag 'a'"):
        engine.compile("select a.w from pattern [every a=A -> b=B]")
    with pytest.raises(EPLCompileError, match="property named 'v' is not valid in event type 'B'"):
        engine.compile("select a.v from pattern [every a=A -> b=B(v > 1)]")


# ------------------------------------------------------------------ engine behaviour

def _engine(rule):
    engine = EPLEngine(ExternalClock(0))
    st = engine.compile(rule)[0]
    out = []
    st.add_listener(lambda new, old: out.append((engine.current_time_ms, new)))
    return engine, st, out


def test_hard_braking_in_the_engine():
    engine, st, out = _engine(HARD_BRAKING)
    for t, car, speed in [(1_000, "A", 120), (2_000, "B", 130), (3_000, "A", 110), (5_000, "A", 10),
                          (12_500, "B", 5)]:
        engine.advance_time(t)
        engine.send("DriverCarInfo", {"carNumber": car, "speed": speed})
    assert out == [(5_000, [{"car": "A", "fast": 120, "slow": 10}, {"car": "A", "fast": 110, "slow": 10}])]
    assert st.columns == ("car", "fast", "slow")
    assert st.events_in == 5 and st.rows_out == 2


def test_several_event_types_route_to_one_statement():
    engine, st, out = _engine("select a.v as av, b.v as bv from pattern [every a=A -> b=B]")
    engine.send("A", {"v": 1})
    engine.send("C", {"v": 9})          # a type the pattern does not use
    engine.send_many("B", [{"v": 2}, {"v": 3}])
    assert out == [(0, [{"av": 1, "bv": 2}])]


def test_select_star_gives_tag_columns():
    engine, st, out = _engine("select * from pattern [every a=A -> (b=B or c=C)]")
    engine.send("A", {"v": 1})
    engine.send("C", {"v": 3})
    assert st.columns == ("a", "b", "c")
    assert out == [(0, [{"a": {"v": 1}, "b": None, "c": {"v": 3}}])]


def test_timers_fire_on_engine_time_and_removed_statement_stays_silent():
    engine, st, out = _engine("select a.v as av from pattern [every a=A -> timer:interval(2 sec)]")
    engine.send("A", {"v": 1})
    engine.advance_time(1_999)
    assert out == []
    engine.advance_time(2_000)
    assert out == [(2_000, [{"av": 1}])]
    engine.send("A", {"v": 2})
    engine.remove(st)
    engine.advance_time(10_000)
    engine.send("A", {"v": 3})
    assert len(out) == 1


def test_pattern_without_every_ends_after_its_match():
    engine, st, out = _engine("select a.v as av, b.v as bv from pattern [a=A -> b=B]")
    for t, e in [(1, "A"), (2, "B"), (3, "A"), (4, "B")]:
        engine.advance_time(t)
        engine.send(e, {"v": t})
    assert out == [(2, [{"av": 1, "bv": 2}])]


def test_indexed_filters_only_meet_their_key():
    engine, st, out = _engine("select a.k as k, b.v as v from pattern [every a=A -> b=B(k = a.k)]")
    for k in ("x", "y", "x", [1], None):
        engine.send("A", {"k": k})
    engine.send("B", {"k": "x", "v": 1})
    engine.send("B", {"k": [1], "v": 2})   # unhashable keys still compare
    engine.send("B", {"k": None, "v": 3})  # null equals nothing
    engine.send("B", {"k": "y", "v": 4})
    assert [r for _, rows in out for r in rows] == [
        {"k": "x", "v": 1}, {"k": "x", "v": 1}, {"k": [1], "v": 2}, {"k": "y", "v": 4}]


# ------------------------------------------------------------------ squall epl run --type-field

def test_epl_run_type_field(tmp_path):
    from squall.cli import main

    rule = tmp_path / "r.epl"
    rule.write_text("select a.v as av, b.v as bv from pattern [every a=A -> b=B]")
    lines = [{"type": "A", "ts": 1_000, "v": 1}, {"ts": 2_000, "v": 2}, {"type": "B", "ts": 3_000, "v": 3}]
    result = CliRunner().invoke(main, ["epl", "run", str(rule), "-", "--type", "A", "--time-field", "ts",
                                       "--type-field", "type"],
                                input="".join(json.dumps(x) + "\n" for x in lines))
    assert result.exit_code == 0, result.output
    assert [json.loads(x) for x in result.stdout.splitlines()] == [
        {"time": 3_000, "statement": 0, "kind": "insert", "row": {"av": 1, "bv": 3}},
        {"time": 3_000, "statement": 0, "kind": "insert", "row": {"av": 2, "bv": 3}}]
