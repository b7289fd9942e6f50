"""like / regexp: patterns from event data are cached in a bounded LRU, every match is
bounded in time, and an event that cannot be evaluated is reported, not raised."""

import json

import pytest
from click.testing import CliRunner

import squall.cep.matching as matching
from squall.cep import EPLCompileError, EPLEngine, ExternalClock
from squall.cep.engine import ErrorThrottle
from squall.cep.errors import EPLEvaluationError
from squall.cli import main

# Exponential for a backtracking engine: each 'a' may be one 'a' or half of 'aa', and
# the final 'b' makes every split fail (about 2**(n/1.4) paths). 'regex' does not
# shortcut this one, so only the timeout ends it.
CATASTROPHIC = "(a|aa)+$"
SUBJECT = "a" * 60 + "b"


def engine_with(text, **kw):
    errors = []
    engine = EPLEngine(ExternalClock(0), on_error=errors.append, **kw)
    [st] = engine.compile(text, name="m")
    rows = []
    st.add_listener(lambda new, old: rows.extend(new))
    return engine, st, rows, errors


def test_nested_quantifier_from_an_event_field_answers_false():
    # The brief's example: 'regex' recognises (a+)+ and fails fast, so the answer is an
    # ordinary false, with nothing reported.
    engine, st, rows, errors = engine_with("select s regexp p as m from T#lastevent()")
    engine.send("T", {"s": "a" * 30 + "b", "p": "(a+)+$"})
    assert rows == [{"m": False}]
    assert errors == [] and st.errors == 0


def test_catastrophic_pattern_from_an_event_times_out_to_null_and_is_reported():
    engine, st, rows, errors = engine_with(
        "select s regexp p as m, s not regexp p as n from T#lastevent()", match_timeout_s=0.01)
    engine.send("T", {"s": SUBJECT, "p": CATASTROPHIC})
    engine.send("T", {"s": "aab", "p": "a+b"})          # the engine goes on
    assert rows == [{"m": None, "n": None}, {"m": True, "n": False}]
    assert st.errors == 2                                # both expressions timed out
    assert all(isinstance(e, EPLEvaluationError) for e in errors)
    err = errors[0]
    assert err.statement == "m" and err.record == {"s": SUBJECT, "p": CATASTROPHIC}
    assert "took longer than the 0.01 s bound" in err.reason and CATASTROPHIC in err.reason
    assert "statement 'm'" in str(err)


def test_a_timed_out_where_drops_the_event_both_ways():
    # null, not false: 'not regexp' must not turn a timeout into a match.
    for op in ("regexp", "not regexp"):
        engine, st, rows, errors = engine_with(
            f"select s from T#lastevent() where s {op} p", match_timeout_s=0.01)
        engine.send("T", {"s": SUBJECT, "p": CATASTROPHIC})
        assert rows == [] and st.errors == 1 and len(errors) == 1


def test_literal_pattern_is_bounded_too():
    engine, st, rows, errors = engine_with(
        f"select s regexp '{CATASTROPHIC}' as m from T#lastevent()", match_timeout_s=0.01)
    engine.send("T", {"s": SUBJECT})
    assert rows == [{"m": None}] and len(errors) == 1


def test_like_pattern_from_an_event_is_bounded():
    # '%a%a...%b' is a chain of '.*': polynomial, and far past the bound at this size.
    engine, st, rows, errors = engine_with("select s like p as m from T#lastevent()",
                                           match_timeout_s=0.01)
    engine.send("T", {"s": "a" * 3000, "p": "%a" * 12 + "%b"})
    engine.send("T", {"s": "xay", "p": "%a_"})
    assert rows == [{"m": None}, {"m": True}]
    assert len(errors) == 1 and errors[0].reason.startswith("like match")


def test_literal_patterns_compile_once(monkeypatch):
    calls = []
    real = matching.regex.compile
    monkeypatch.setattr(matching.regex, "compile", lambda *a: calls.append(a[0]) or real(*a))
    engine, st, rows, errors = engine_with(
        "select s regexp 'a.c' as r, s like 'a%' as l from T#lastevent()")
    assert len(calls) == 2                          # at compile time
    for i in range(100):
        engine.send("T", {"s": f"a{i}c"})
    assert len(calls) == 2 and st.cached_patterns == 0
    assert rows[3] == {"r": True, "l": True} and rows[10] == {"r": False, "l": True}


def test_pattern_cache_stays_bounded_after_10k_distinct_patterns(monkeypatch):
    calls = []
    real = matching.regex.compile
    monkeypatch.setattr(matching.regex, "compile", lambda *a: calls.append(a[0]) or real(*a))
    engine, st, rows, errors = engine_with("select s regexp p as m from T#lastevent()")
    for i in range(10_000):
        engine.send("T", {"s": f"x{i}", "p": f"x{i}|y"})
    assert st.cached_patterns == matching.PATTERN_CACHE_SIZE
    assert rows[-1] == {"m": True} and len(rows) == 10_000 and all(r["m"] for r in rows)
    assert len(calls) == 10_000
    # least recently used goes first: the newest patterns are still compiled
    engine.send("T", {"s": "x9999", "p": "x9999|y"})
    assert len(calls) == 10_000
    engine.send("T", {"s": "x0", "p": "x0|y"})
    assert len(calls) == 10_001
    assert st.cached_patterns == matching.PATTERN_CACHE_SIZE


def test_pattern_cache_size_is_per_engine():
    engine, st, rows, errors = engine_with("select s like p as m from T#lastevent()",
                                           pattern_cache_size=3)
    for p in ("a%", "b%", "c%", "d%", "e%"):
        engine.send("T", {"s": "abc", "p": p})
    assert st.cached_patterns == 3
    assert [r["m"] for r in rows] == [True, False, False, False, False]


def test_invalid_pattern_from_an_event_is_reported_once_compiled_and_null():
    engine, st, rows, errors = engine_with("select s regexp p as m from T#lastevent()")
    for _ in range(3):
        engine.send("T", {"s": "x", "p": "(unclosed"})
    assert rows == [{"m": None}] * 3
    assert st.errors == 3 and st.cached_patterns == 1
    assert "invalid regexp pattern '(unclosed'" in errors[0].reason


@pytest.mark.parametrize("pattern", ["(a{1000}){1000}", "((a{100}){100}){100}", "x" * 10_001])
def test_patterns_that_expand_too_far_are_refused_before_compiling(pattern, monkeypatch):
    monkeypatch.setattr(matching.regex, "compile", lambda *a: pytest.fail("compiled"))
    engine, st, rows, errors = engine_with("select s regexp p as m from T#lastevent()")
    engine.send("T", {"s": "a", "p": pattern})
    assert rows == [{"m": None}]
    assert "10,000" in errors[0].reason
    with pytest.raises(EPLCompileError) as info:
        EPLEngine(ExternalClock(0)).compile(f"select s from T#lastevent()\n where s regexp '{pattern}'")
    assert (info.value.line, info.value.column) == (2, 17)
    assert "10,000" in str(info.value)


def test_invalid_literal_pattern_is_a_compile_error_at_the_literal():
    with pytest.raises(EPLCompileError) as info:
        EPLEngine(ExternalClock(0)).compile("select s from T#lastevent() where s regexp '(x'")
    assert (info.value.line, info.value.column) == (1, 44)
    assert str(info.value).startswith("Invalid regexp pattern '(x'")


@pytest.mark.parametrize("pattern, small", [
    ("a{5}", True), (r"\p{L}{3}", True), ("[{]{9999}", True), ("(ab){5000}", True),
    ("(ab){5001}", False), ("(a{101}){100}", False), ("(?:a|b{200}){60}", False),
    ("a{,20000}", False), ("a{20000,}", False), ("a*b+c?{x}", True),
])
def test_expanded_size_counts_nested_repeats(pattern, small):
    assert (matching.expanded_size(pattern) <= matching.MAX_PATTERN_SIZE) is small


def test_throttle_passes_a_few_per_interval_then_counts():
    now = [0.0]
    t = ErrorThrottle(interval_s=10, max_per_interval=2, clock=lambda: now[0])
    assert [t.admit() for _ in range(5)] == [0, 0, None, None, None]
    now[0] = 10.0
    assert t.admit() == 3           # the held-back count travels with the next report
    assert t.admit() == 0 and t.admit() is None


def test_engine_reports_through_the_throttle_but_counts_everything():
    now = [0.0]
    engine, st, rows, errors = engine_with(
        "select s regexp p as m from T#lastevent()",
        error_throttle=ErrorThrottle(10, 5, clock=lambda: now[0]))
    for _ in range(8):
        engine.send("T", {"s": "x", "p": "["})
    assert len(errors) == 5 and st.errors == 8
    now[0] = 11.0
    engine.send("T", {"s": "x", "p": "["})
    assert errors[-1].suppressed == 3 and "3 similar reports held back" in str(errors[-1])


def test_engine_rejects_bad_limits():
    with pytest.raises(ValueError, match="match_timeout_s"):
        EPLEngine(ExternalClock(0), match_timeout_s=0)
    with pytest.raises(ValueError, match="pattern_cache_size"):
        EPLEngine(ExternalClock(0), pattern_cache_size=0)


def test_epl_run_reports_the_line_of_an_event_that_timed_out(tmp_path):
    rule = tmp_path / "r.epl"
    rule.write_text("@Name('pat') select s, s regexp p as m from T#lastevent()")
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in (
        {"ts": 1, "s": "ab", "p": "a."}, {"ts": 2, "s": SUBJECT, "p": CATASTROPHIC},
        {"ts": 3, "s": "cd", "p": "c."})) + "\n")
    result = CliRunner().invoke(main, ["epl", "run", str(rule), str(events), "--type", "T",
                                       "--time-field", "ts"])
    assert result.exit_code == 1
    assert [json.loads(x)["row"]["m"] for x in result.stdout.splitlines()] == [True, None, True]
    [line] = result.stderr.splitlines()
    assert line.startswith("squall epl: line 2: statement 'pat': regexp match of pattern")
    assert "Traceback" not in result.output
