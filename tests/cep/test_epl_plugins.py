"""Plug-in single-row and aggregation functions registered from Python
(squall.cep.plugins, EPLEngine.register_function / register_aggregation)."""

import pytest

from squall.cep import EPLEngine, ExternalClock
from squall.cep.errors import EPLCompileError


class Spread:
    """max - min of the values in the window; keeps the values, as a leave needs them."""

    def __init__(self):
        self.values = []

    def enter(self, v):
        if v is not None:
            self.values.append(v)

    def leave(self, v):
        if v is not None:
            self.values.remove(v)

    def value(self):
        return max(self.values) - min(self.values) if self.values else None

    def snapshot(self):
        return list(self.values)

    def restore(self, state):
        self.values = list(state)


def engine_with(rule, errors=None):
    engine = EPLEngine(ExternalClock(0), on_error=(errors.append if errors is not None else None))
    engine.register_function("mph", lambda kmh: None if kmh is None else round(kmh / 1.609344, 1))
    engine.register_aggregation("spread", Spread)
    out = []
    engine.compile(rule, name="s")[0].add_listener(lambda new, old: out.append((new, old)))
    return engine, out


def send(engine, cars, start_ms=1000):
    for t, (car, speed) in enumerate(cars):
        engine.advance_time(start_ms + 1000 * t)
        engine.send("Car", {"car": car, "speed": speed})


def test_a_single_row_function_in_select_where_and_aggregates():
    engine, out = engine_with("select car, mph(speed) as m, sum(mph(speed)) as total from Car "
                              "where mph(speed) > 30")
    send(engine, [("A", 100.0), ("B", 40.0), ("A", None), ("C", 80.0)])
    assert [new for new, _ in out] == [[{"car": "A", "m": 62.1, "total": 62.1}],
                                       [{"car": "C", "m": 49.7, "total": pytest.approx(111.8)}]]


def test_an_aggregation_function_enters_and_leaves_per_group():
    engine, out = engine_with("select irstream car, spread(speed) as sp from Car#length(3) group by car")
    send(engine, [("A", 100.0), ("A", 60.0), ("B", 10.0), ("A", 80.0)])
    assert [new for new, _ in out] == [[{"car": "A", "sp": 0.0}], [{"car": "A", "sp": 40.0}],
                                       [{"car": "B", "sp": 0.0}], [{"car": "A", "sp": 20.0}]]
    # the 100 left the length(3) window when the 80 came: spread of 60 and 80


def test_an_aggregator_with_snapshot_is_restored():
    rule = "select spread(speed) as sp from Car#keepall"
    first, _ = engine_with(rule)
    send(first, [("A", 100.0), ("B", 40.0)])
    second, out = engine_with(rule)
    second.restore(first.snapshot())
    send(second, [("C", 120.0)], start_ms=3000)
    assert out[-1][0] == [{"sp": 80.0}]


def test_a_failing_function_is_null_and_reported():
    errors = []
    engine, out = engine_with("select car, mph(speed) as m from Car", errors)
    send(engine, [("A", "fast"), ("B", 16.09344)])
    assert [new for new, _ in out] == [[{"car": "A", "m": None}], [{"car": "B", "m": 10.0}]]
    assert len(errors) == 1 and "function 'mph' raised TypeError" in str(errors[0])


def test_registration_is_checked():
    engine = EPLEngine(ExternalClock(0))
    with pytest.raises(ValueError, match="built-in aggregation"):
        engine.register_aggregation("avg", Spread)
    with pytest.raises(ValueError, match="identifier"):
        engine.register_function("two words", abs)
    with pytest.raises(TypeError, match="must be callable"):
        engine.register_function("f", 3)
    engine.register_aggregation("spread", Spread)
    with pytest.raises(EPLCompileError, match="takes exactly one argument"):
        engine.compile("select spread(a, b) from Car")
    with pytest.raises(EPLCompileError, match="Unknown function 'nope'"):
        engine.compile("select nope(a) from Car")
