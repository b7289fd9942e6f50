"""Pattern operators every-distinct, repeat / until, timer:at and while: parsing, compile
errors, arrays of events in the output, the instance cap and snapshots (the semantics
are checked against Esper 8.9 in tests/cep/esper/test_esper_pattern_operators.py)."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.cep import EPLCompileError, EPLEngine, EPLEvaluationError, EPLSyntaxError, ExternalClock
from squall.cep import ast as A
from squall.cep.crontab import Crontab
from squall.cep.parser import parse
from test_snapshot import _run, _same


def _pattern(text: str):
    return parse(f"select * from pattern [{text}]")[0].stream.pattern


def _engine(rule: str, **kw):
    errors: list[EPLEvaluationError] = []
    engine = EPLEngine(ExternalClock(0), on_error=errors.append, **kw)
    st = engine.compile(rule, name="r")[0]
    out: list = []
    st.add_listener(lambda new, old: out.append((engine.current_time_ms, new)))
    return engine, st, out, errors


# ------------------------------------------------------------------ parsing

def test_precedence_of_the_new_operators():
    f = A.PatternFilter
    # until binds tighter than and, looser than every; a guard binds to its atom
    assert _pattern("every a=A until b=B and c=C") == A.PatternAnd((
        A.PatternRepeat(A.PatternEvery(f("A", "a")), until=f("B", "b")), f("C", "c")))
    assert _pattern("[2:3] a=A until b=B") == A.PatternRepeat(f("A", "a"), 2, 3, f("B", "b"))
    assert _pattern("every [2] a=A") == A.PatternEvery(A.PatternRepeat(f("A", "a"), 2, 2))
    assert _pattern("every a=A while (a.v > 1)") == A.PatternEvery(A.PatternWhile(
        f("A", "a"), A.BinaryOp(">", A.Property("a.v"), A.Literal(1))))
    ed = _pattern("every-distinct(a.k, 10 sec) a=A -> b=B")
    assert isinstance(ed, A.PatternFollowedBy)
    assert ed.children[0] == A.PatternEveryDistinct(
        f("A", "a"), (A.Property("a.k"), A.TimePeriod(((10, "sec"),))))


def test_timer_at_fields():
    p = _pattern("timer:at(*/15, [1, 3], 2:4, *, 5, 30)")
    assert p.fields == (frozenset({0, 15, 30, 45}), frozenset({1, 3}), frozenset({2, 3, 4}), None,
                        frozenset({5}), frozenset({30}))
    assert _pattern("timer:at(*, *, *, *, *)").fields[5] == frozenset({0})   # seconds: 0


@pytest.mark.parametrize("text", [
    "every-distinct(a.k, 10 sec) (a=A -> b=B)",
    "every [2] a=A -> b=B(v > a[1].v)",
    "[2:3] a=A until b=B and c=C",
    "[:3] (a=A or b=B) until c=C",
    "[2:] a=A until timer:interval(3 sec)",
    "every (a=A while (a.v > 0))",
    "(every a=A) while (a.v > 0)",
    "every timer:at(*/15, [1, 3], 2:4, *, 5, 30)",
    "timer:at(0, 12, *, *, *)",
])
def test_pattern_text_parses_back_to_the_same_pattern(text):
    p = _pattern(text)
    assert _pattern(A.pattern_text(p)) == p


def test_indexed_tag_is_a_property_not_a_table_access():
    st = parse("select a[1].v, a[0] from pattern [[2] a=A -> b=B(v > a[0].v)]")[0]
    assert [i.expr for i in st.items] == [A.Property("a[1].v"), A.Property("a[0]")]
    assert st.stream.pattern.children[1].filters[0].right == A.Property("a[0].v")


@pytest.mark.parametrize("text, message", [
    ("select * from pattern [[0] a=A]", "a repeat count is a whole number of at least 1"),
    ("select * from pattern [[3:2] a=A until b=B]", "upper bound 2 is below its lower bound 3"),
    ("select * from pattern [timer:at(*, *, *)]", "a crontab has 5 or 6 fields"),
    ("select * from pattern [timer:at(60, *, *, *, *)]", "out of range 0..59"),
])
def test_syntax_errors(text, message):
    with pytest.raises(EPLSyntaxError, match=message):
        parse(text)


@pytest.mark.parametrize("text, message", [
    ("select a.v from pattern [[2] a=A]", "tag 'a' is an array of events here"),
    ("select a.v from pattern [[2] a=A -> b=B(v > a.v)]", "tag 'a' is an array of events here"),
    ("select a.v from pattern [every-distinct(a.k) [2] a=A]", "tag 'a' is an array of events"),
    ("select a[0].v from pattern [every a=A]", "tag 'a' is one event here, not an array"),
    ("select a.v from pattern [[2] (a=A -> b=B(v > a[0].v))]", "tag 'a' is one event here"),
    ("select b[0].v from pattern [a=A until b=B]", "tag 'b' is one event here"),
    ("select a[0].v from pattern [[2:3] a=A]", "needs an until-expression"),
    ("select a[0].v from pattern [[2:] a=A]", "needs an until-expression"),
    ("select a.v from pattern [every-distinct(10 sec) a=A]", "one or more distinct-value"),
    ("select a.v from pattern [every-distinct(b.k) a=A]", "'b.k' names no tag"),
    ("select a.v from pattern [every-distinct(count(*)) a=A]", "Aggregate functions are not allowed"),
    ("select a.v from pattern [every a=A while (b.v > 1)]", "'b.v' names no tag"),
    ("select a.v from pattern [every a=A while (a.v + 'x' > 1)]", "while|guard|numeric|operator"),
])
def test_compile_errors_name_what_is_wrong(text, message):
    with pytest.raises(EPLCompileError, match=message):
        EPLEngine(ExternalClock(0)).compile(text)


# ------------------------------------------------------------------ engine behaviour

def test_select_star_gives_a_repeat_tag_as_a_list_of_events():
    engine, _, out, _ = _engine("select * from pattern [every ([2] a=A until b=B)]")
    for v in (1, 2, 3):
        engine.send("A", {"v": v})
    engine.send("B", {"v": 9})
    engine.send("A", {"v": 4})
    engine.send("A", {"v": 5})
    assert out == [(0, [{"a": [{"v": 1}, {"v": 2}], "b": None}]),
                   (0, [{"a": [{"v": 4}, {"v": 5}], "b": None}])]


def test_until_with_no_repeated_match_gives_a_null_array_tag():
    engine, _, out, _ = _engine("select a, b.v as bv, a[0].v as a0 from pattern [a=A until b=B]")
    engine.send("B", {"v": 9})
    assert out == [(0, [{"a": None, "bv": 9, "a0": None}])]


def test_index_past_the_end_is_null():
    engine, _, out, _ = _engine("select a[0].v as a0, a[5].v as a5 from pattern [a=A until b=B]")
    engine.send("A", {"v": 1})
    engine.send("B", {"v": 9})
    assert out == [(0, [{"a0": 1, "a5": None}])]


def test_every_distinct_with_unhashable_values_compares_them_by_value():
    engine, _, out, _ = _engine("select a.v as v from pattern [every-distinct(a.k) a=A]")
    for k, v in (([1, 2], 1), ([1, 2], 2), ([3], 3)):
        engine.send("A", {"k": k, "v": v})
    assert [r[0]["v"] for _, r in out] == [1, 3]


def test_timer_at_with_a_schedule_that_never_matches_never_fires():
    engine, st, out, _ = _engine("select * from pattern [every timer:at(0, 0, 31, 2, *)]")
    engine.advance_time(5 * 365 * 86_400_000)
    assert out == []
    assert st._operator.instances == 0


def test_crontab_next_at_offset_keeps_the_milliseconds():
    every_10s = Crontab((None, None, None, None, None, frozenset(range(0, 60, 10))))
    assert every_10s.next_at_offset(10_000) == 20_000
    assert every_10s.next_at_offset(10_001) == 20_001
    assert every_10s.next_at_offset(19_999) == 20_999
    assert every_10s.next_after(10_001) == 20_000      # contexts keep whole seconds


# ------------------------------------------------------------------ the instance cap

def test_cap_bounds_every_distinct_over_a_growing_child():
    # every-distinct over 'every a=A' starts one more instance per match, like nested every
    engine, st, out, errors = _engine("select a.v as v from pattern [every-distinct(a.v) (every a=A)]",
                                      max_pattern_instances=40)
    for i in range(30):
        engine.send("A", {"v": i})
    assert st._operator.instances <= 40
    assert len(errors) == 1 and "40 active instances" in errors[0].reason
    assert [r["v"] for _, rows in out for r in rows][:3] == [0, 1, 1]


def test_cap_bounds_repeats_started_by_every():
    rule = "select a.v as v, b[0].v as b0 from pattern [every a=A -> ([2] b=B until c=C)]"
    engine, st, out, errors = _engine(rule, max_pattern_instances=7)
    for i in range(20):
        engine.send("A", {"v": i})
    # the every filter and 3 repeats (a matcher and an until filter each)
    assert st._operator.instances == 7
    assert len(errors) == 1
    engine.send("B", {"v": 1})
    engine.send("B", {"v": 2})
    assert [r["v"] for _, rows in out for r in rows] == [0, 1, 2]
    assert st._operator.instances == 1
    engine.send("A", {"v": 30})      # room again
    assert st._operator.instances == 3


# ------------------------------------------------------------------ snapshots

RULES = ";\n".join([
    "select a.v as av, b.v as bv from pattern [every-distinct(a.k, 2 sec) a=A -> b=B(k = a.k)]",
    "select a.v as av, b.v as bv from pattern "
    "[every-distinct(a.k) (a=A -> b=B where timer:within(3 sec))]",
    "select a[0].v as a0, a[1].v as a1, b.v as bv from pattern [every ([2:3] a=A until b=B)]",
    "select a, b.v as bv from pattern [every a=A until b=B]",
    "select a.v as av, b[0].v as b0, b[1].v as b1 from pattern "
    "[every a=A -> ([2] b=B(k = a.k) where timer:within(4 sec))]",
    "select a.v as av from pattern [every a=A -> timer:at(*, *, *, *, *, */5)]",
    "select a.v as av, b.v as bv from pattern [every a=A -> (every b=B while (b.v >= a.v))]",
])


def _events(draws):
    out, t = [], 1_000
    for gap, kind, key, v in draws:
        t += gap
        out.append(("ABC"[kind], t, {"ts": t, "k": "xyz"[key], "v": float(v)}))
    return out


@settings(max_examples=40, deadline=None)
@given(draws=st.lists(st.tuples(st.sampled_from([0, 300, 900, 2_500, 7_000]), st.integers(0, 2),
                                st.integers(0, 2), st.integers(0, 5)), min_size=1, max_size=50),
       cut_frac=st.floats(0, 1), codec=st.sampled_from([pickle, json]))
def test_restored_run_equals_uninterrupted_run(draws, cut_frac, codec):
    events = _events(draws)
    cut = int(cut_frac * len(events))
    whole, _ = _run(RULES, events)
    resumed, _ = _run(RULES, events, cut, codec)
    assert _same(whole, resumed)


def test_every_rule_outputs_and_snapshots_mid_run():
    kinds = [0, 0, 1, 0, 2, 1, 1, 0, 1]     # runs of A and of B, so repeats complete
    draws = [(g, kinds[i % 9], (i * 7 // 4) % 3, (i * 7) % 6) for i, g in
             enumerate([300, 900, 0, 2_500, 300, 7_000, 900] * 6)]
    events = _events(draws)
    whole, _ = _run(RULES, events)
    assert {i for _, i, _, _ in whole} == set(range(len(RULES.split(";\n"))))
    for cut in (5, 17, 30):
        resumed, _ = _run(RULES, events, cut, json)
        assert _same(whole, resumed)
