"""Variables and constants in the engine (squall.cep.variables); Esper agreement is in
tests/cep/esper/test_esper_variables.py."""

from __future__ import annotations

import pytest

from squall.cep import EPLCompileError, EPLEngine, EPLSyntaxError, ExternalClock
from squall.cep.errors import EPLVariableError
from squall.cep.rules import RuleSet

T = "Car"


def engine_with(text, types=None):
    engine = EPLEngine(ExternalClock(0))
    for name, props in (types or {}).items():
        engine.define_event_type(name, props)
    out = []
    for i, st in enumerate(engine.compile(text)):
        st.add_listener(lambda new, old, i=i: out.append((i, new, old)))
    return engine, out


def test_set_variable_reaches_running_statements_without_recompiling():
    engine, out = engine_with("create variable double lim = 80; select car from Car(speed > lim)")
    engine.send(T, {"car": "a", "speed": 90.0})
    select = engine.statements[1]
    engine.set_variable("lim", 100)
    assert engine.statements[1] is select and engine.variables == {"lim": 100.0}
    engine.send(T, {"car": "b", "speed": 90.0})
    engine.send(T, {"car": "c", "speed": 100.5})
    assert out == [(1, [{"car": "a"}], []), (0, [{"lim": 100.0}], [{"lim": 80.0}]), (1, [{"car": "c"}], [])]


@pytest.mark.parametrize("name, value, message", [
    ("lim", 1.5, "Variable 'lim' of declared type Integer cannot be assigned a value of type Double"),
    ("lim", "9", "cannot be assigned a value of type String"),
    ("lim", 2 ** 40, "cannot be assigned a value of type Long"),
    ("lim", [1], "cannot be assigned a value of type list"),
    ("k", 3, "Variable by name 'k' is declared constant and may not be set"),
    ("other", 1, "Variable by name 'other' has not been created or configured (variables: k, lim)"),
])
def test_set_variable_refuses(name, value, message):
    engine, _ = engine_with("create variable int lim = 1; create constant variable int k = 2")
    with pytest.raises(EPLVariableError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        engine.set_variable(name, value)
    assert info.value.variable == name
    assert engine.variables == {"lim": 1, "k": 2}


def test_widening_and_null():
    engine, _ = engine_with("create variable long n; create variable float f = 1; create variable double d = 2")
    engine.set_variable("n", 2 ** 40)
    engine.set_variable("d", None)
    assert engine.variables == {"n": 2 ** 40, "f": 1.0, "d": None}
    assert isinstance(engine.variables["f"], float) and engine.variable_type("n") == "Long"


def test_variables_are_visible_to_later_statements_only():
    with pytest.raises(EPLCompileError, match="property named 'lim' is not valid"):
        engine_with("select car from Car(speed > lim); create variable double lim = 1",
                    types={T: {"car": str, "speed": float}})


def test_a_failed_compile_declares_nothing():
    engine, _ = engine_with("select 1 as one from Car")
    with pytest.raises(EPLCompileError):
        engine.compile("create variable int x = 1; select nope(1) from Car")
    assert engine.variables == {}
    engine.compile("create variable string x = 'ok'")
    assert engine.variables == {"x": "ok"}


@pytest.mark.parametrize("text, message", [
    ("create variable int x = speed", "cannot refer to the property 'speed'"),
    ("create variable int x = count(*)", "cannot use an aggregate"),
    ("create variable int x = 1; create variable int x = 2", "A variable by name 'x' has already been created"),
    ("create variable double speed = 1; select speed from Car", "ambiguous to a property of the same name"),
    ("create variable int x; on Car#length(2) set x = 1", "takes no data window"),
    ("create variable int x; on Car set x = car", "cannot be assigned a value of type String"),
    ("create constant variable int x = 1; on Car set x = 2", "declared constant and may not be set"),
    ("create variable double speed = 1; select a.car from pattern[every a=Car(speed > 1)]",
     "ambiguous to a property of the same name"),
    ("create variable int x = 99999999999", "cannot be initialized by a value of type Long"),
])
def test_compile_errors(text, message):
    with pytest.raises(EPLCompileError, match=message):
        engine_with(text, types={T: {"car": str, "speed": float}})


@pytest.mark.parametrize("text", ["create variable short x = 1", "create variable int x := 1",
                                  "create variable int x; on Car set x == 1"])
def test_syntax_errors(text):
    with pytest.raises(EPLSyntaxError):
        engine_with(text)


def test_on_set_runs_per_event_in_send_many():
    # Each statement after the on-set sees each event's assignment, as with send().
    engine, out = engine_with("create variable int x = 0; on Car set x = x + 1; select x, car from Car")
    engine.send_many(T, [{"car": "a"}, {"car": "b"}])
    assert [rows for i, rows, _ in out if i == 2] == [[{"x": 1, "car": "a"}], [{"x": 2, "car": "b"}]]


def test_a_value_that_does_not_fit_at_run_time_is_reported_and_skipped():
    errors = []
    engine = EPLEngine(ExternalClock(0), on_error=errors.append)
    [_, on_set] = engine.compile("create variable int n = 1; on Car set n = v")
    engine.send(T, {"v": 2.5})
    engine.send(T, {"v": 3})
    assert engine.variables == {"n": 3} and on_set.errors == 1
    assert "cannot be assigned a value of type Double; the assignment was skipped" in str(errors[0])


def test_removing_the_declaration_removes_the_variable():
    engine, _ = engine_with("create variable int x = 1")
    engine.remove(engine.statements[0])
    assert engine.variables == {}
    with pytest.raises(EPLVariableError):
        engine.set_variable("x", 2)
    engine.define_event_type(T, {"car": str})
    with pytest.raises(EPLCompileError, match="property named 'x' is not valid"):
        engine.compile("select x from Car")


def test_live_update_keeps_values_and_a_changed_declaration_reaches_unchanged_readers():
    rules = "create variable double lim = 80; @Name('fast') select car from Car(speed > lim)"
    engine = EPLEngine(ExternalClock(0))
    RuleSet.parse(rules).apply(engine)
    engine.set_variable("lim", 90)
    out = []
    engine.statements[1].add_listener(lambda new, old: out.extend(r["car"] for r in new))
    report = RuleSet.parse(rules + "; @Name('other') select count(*) as n from Car").apply(engine)
    assert [r.action for r in report.results] == ["unchanged", "unchanged", "added"]
    assert engine.variables == {"lim": 90.0}
    # A new declaration re-initializes the variable; the unchanged reader reads it.
    report = RuleSet.parse(rules.replace("= 80", "= 60")).apply(engine)
    assert [r.action for r in report.results] == ["changed", "unchanged", "removed"]
    engine.send(T, {"car": "a", "speed": 70.0})
    assert engine.variables == {"lim": 60.0} and out == ["a"]


def test_snapshot_restores_values_with_their_declaration():
    rules = "create variable int x = 1; create constant variable string c = 'k'; on Car set x = x + 1"
    engine, _ = engine_with(rules)
    engine.send(T, {})
    engine.send(T, {})
    snap = engine.snapshot()
    fresh, _ = engine_with(rules)
    fresh.restore(snap)
    assert fresh.variables == {"x": 3, "c": "k"}
    changed, _ = engine_with(rules.replace("x = 1", "x = 10"))
    changed.restore(snap)
    assert changed.variables["x"] == 10     # another declaration: left fresh, as statements are


def test_limit_takes_numeric_variables_only():
    with pytest.raises(EPLCompileError, match="Limit clause: 'k' is not a variable"):
        engine_with("select car from Car limit k")
    with pytest.raises(EPLCompileError, match="requires a variable of numeric type, variable 'k' is String"):
        engine_with("create variable string k; select car from Car limit k")
    engine, out = engine_with("create variable int k = 2; select car from Car#length_batch(3) limit k offset 1")
    for car in "abc":
        engine.send(T, {"car": car})
    engine.set_variable("k", -1)
    for car in "def":
        engine.send(T, {"car": car})
    assert [[r["car"] for r in rows] for i, rows, _ in out if i == 1] == [["b", "c"], ["e", "f"]]
