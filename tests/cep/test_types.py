"""Static type checking of statements on declared event types (squall.cep.typecheck).

Each mismatch is an EPLCompileError with the line and column of the offending operator
or operand; statements on undeclared types stay as permissive as before.
Esper agrees with every verdict here: tests/cep/esper/test_esper_types.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from squall.cep import EPLCompileError, EPLEngine, ExternalClock
from squall.cli import main

PROPS = {"speed": float, "car": str, "ok": bool, "n": int}


def engine(declared=True):
    e = EPLEngine(ExternalClock(0))
    if declared:
        e.define_event_type("T", PROPS)
        e.define_event_type("U", {"car": str, "lim": float})
    return e


# (statement, message fragment, line, column)
MISMATCHES = [
    ("select car from T#length(3) where car > 5", "'String' to numeric", 1, 35),
    ("select car from T#length(3) where 5 <= car", "'String' to numeric", 1, 40),
    ("select avg(car) from T#length(3)",
     "'avg(car)': Implicit conversion from datatype 'String' to numeric is not allowed", 1, 8),
    ("select sum(car) from T#length(3)", "aggregation function 'sum'", 1, 8),
    ("select median(ok) from T#length(3)", "'Boolean' to numeric", 1, 8),
    ("select stddev(car) from T#length(3)", "'String' to numeric", 1, 8),
    ("select avedev(car) from T#length(3)", "'String' to numeric", 1, 8),
    ("select speed + car from T#length(3)", "'speed+car': Implicit conversion from datatype "
     "'String' to numeric is not allowed", 1, 16),
    ("select n % ok from T#length(3)", "'Boolean' to numeric", 1, 12),
    ("select -car from T#length(3)", "'String' to numeric", 1, 8),
    ("select car from T#length(3) where speed = 'x'",
     "Implicit conversion from datatype 'String' to 'Double' is not allowed", 1, 41),
    ("select car from T#length(3)\nwhere ok != 1", "'Integer' to 'Boolean'", 2, 10),
    ("select car from T#length(3) where car like 5", "String-type pattern expression", 1, 35),
    ("select car from T#length(3) where ok like 'a%'", "'like' operator requires a String or "
     "numeric type left-hand expression", 1, 35),
    ("select car from T#length(3) where ok regexp 'a'", "'regexp' operator", 1, 35),
    ("select car from T#length(3) where speed > 5 and car", "Incorrect use of AND clause", 1, 49),
    ("select car from T#length(3) where speed or ok", "Incorrect use of OR clause", 1, 35),
    ("select not car from T#length(3)", "Incorrect use of NOT clause", 1, 8),
    ("select car from T#length(3) where car between 1 and 5", "'String' to numeric", 1, 35),
    ("select car from T#length(3) where speed in ('a', 'b')",
     "Cannot coerce types Double and String", 1, 35),
    ("select case when speed then 1 else 2 end from T#length(3)",
     "'when' expressions must return a boolean", 1, 18),
    ("select car from T(car > 5)#length(3)", "filter expression 'car>5'", 1, 19),
    ("select car, avg(speed) from T#time_batch(30 sec) group by car having avg(speed) > 'x'",
     "having-clause", 1, 81),
    ("select a.car from pattern [every a=T(speed > 100) -> b=T(speed = a.car)]",
     "'speed=a.car': Implicit conversion from datatype 'String' to 'Double'", 1, 64),
    ("select a.car from pattern [every a=T -> b=U] where a.car > b.lim", "where-clause", 1, 52),
    ("select a.car + 1 from pattern [every a=T]", "'String' to numeric", 1, 8),
    ("select a.car from T#length(3) as a, U#length(3) as b where a.car = b.lim",
     "'Double' to 'String'", 1, 66),
    ("select sum(a.car) from T#length(3) as a, U#length(3) as b", "'String' to numeric", 1, 8),
    ("select speed * 2 from T#length(3) as a, U#length(3) as b where ok and lim", "AND clause",
     1, 71),
]


@pytest.mark.parametrize("rule, message, line, column", MISMATCHES)
def test_type_mismatch_is_a_compile_error_with_line_and_column(rule, message, line, column):
    with pytest.raises(EPLCompileError, match="Failed to validate") as info:
        engine().compile(rule)
    assert message in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)
    assert f"(line {line}, column {column})" in str(info.value)


SMART_CAR = ("select car, avg(speed) from T#time_batch(30 sec) group by car "
             "having avg(speed) > 80")

WELL_TYPED = [
    SMART_CAR,
    "select car, speed * 2 + n as x, n / 2 as h, -speed as m from T#length(3) "
    "where speed > 80 and car != 'A' or not (speed < 10)",
    "select car from T#length(3) where car like 'A%' or car regexp 'B.*' or speed like '9%'",
    "select car from T#length(3) where speed between 10 and n and car in ('A', 'B') "
    "and speed in (1, 2.5, n) and car between 'A' and 'B'",
    "select case when speed > 80 then 'fast' else 'slow' end as c, "
    "case car when 'A' then 1 else 2.5 end as d from T#length(3)",
    "select min(car), max(car), count(car), count(*), sum(n), avg(distinct speed), "
    "median(speed), stddev(n), avedev(speed) from T#length(3)",
    "select car from T#length(3) where speed = n and car is not null and ok = true and car = null",
    "select car from T#length(3) where ok and speed > 5 or not ok",
    "select car from T(speed > 100, car != 'X')#length(3)",
    "select a.car from pattern [every a=T(speed > 100) -> b=T(car = a.car, speed < 20) "
    "where timer:within(10 sec)]",
    "select a.car from pattern [every a=T -> b=U(car = a.car, lim < a.speed)] "
    "where b.lim > a.speed",
    "select a.car, b.lim from T#length(3) as a, U#length(3) as b "
    "where a.car = b.car and speed > lim + 1",
]


@pytest.mark.parametrize("rule", WELL_TYPED)
def test_well_typed_statement_compiles(rule):
    engine().compile(rule)


def test_smart_car_rule_runs_on_the_declared_type():
    e = engine()
    st = e.compile(SMART_CAR)[0]
    rows = []
    st.add_listener(lambda new, old: rows.extend(new))
    for ts, car, speed in ((1_000, "A", 90.0), (2_000, "B", 50.0), (3_000, "A", 100.0)):
        e.advance_time(ts)
        e.send("T", {"car": car, "speed": speed, "ok": True, "n": 1})
    e.advance_time(31_000)
    assert rows == [{"car": "A", "avg(speed)": 95.0}]


UNDECLARED = [
    "select car from T#length(3) where car > 5",
    "select avg(car) from T#length(3)",
    "select speed + car from T#length(3)",
    "select car from T#length(3) where speed = 'x' and ok",
    "select not car, -car from T#length(3) where car like 'x' or speed regexp 'y'",
    "select a.car + 1 from pattern [every a=T -> b=T(speed = a.car)]",
    "select sum(a.car) from T#length(3) as a, U#length(3) as b where a.car = b.lim",
]


@pytest.mark.parametrize("rule", UNDECLARED)
def test_undeclared_types_stay_permissive(rule):
    engine(declared=False).compile(rule)


def test_property_of_a_type_without_a_java_name_is_unknown():
    e = EPLEngine(ExternalClock(0))
    e.define_event_type("T", {"payload": dict, "speed": float})
    e.compile("select payload + 1 from T#length(3) where payload > 'x' and speed > 1")


def _cli(tmp_path, rule, *extra):
    (tmp_path / "r.epl").write_text(rule)
    return CliRunner().invoke(
        main, ["epl", "run", str(tmp_path / "r.epl"), "-", "--type", "T", "--time-field", "ts",
               *extra],
        input=json.dumps({"ts": 1000, "car": "A", "speed": 90.0}) + "\n")


TYPES = json.dumps({"ts": "long", "car": "string", "speed": "double"})


def test_cli_types_report_a_mismatch_with_line_and_column(tmp_path):
    result = _cli(tmp_path, "select car\nfrom T#length(3)\nwhere car > 5", "--types", TYPES)
    assert result.exit_code != 0
    assert "Implicit conversion from datatype 'String' to numeric is not allowed" in result.output
    assert "(line 3, column 7)" in result.output


def test_cli_types_report_an_unknown_property(tmp_path):
    result = _cli(tmp_path, "select Car from T#length(3)", "--types", TYPES)
    assert result.exit_code != 0
    assert "property named 'Car' is not valid in event type 'T'" in result.output


def test_cli_types_accept_a_well_typed_rule(tmp_path):
    result = _cli(tmp_path, "select car, speed * 2 as d from T#length(3)", "--types", TYPES)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["row"] == {"car": "A", "d": 180.0}


def test_cli_without_types_keeps_the_undeclared_contract(tmp_path):
    result = _cli(tmp_path, "select Car from T#length(3)")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["row"] == {"Car": None}


@pytest.mark.parametrize("types, message", [
    ("{not json", "--types is not valid JSON"),
    ('["speed"]', "--types must be a JSON object"),
    ('{"speed": "decimal"}', "unknown type 'decimal'"),
])
def test_cli_rejects_bad_types(tmp_path, types, message):
    result = _cli(tmp_path, "select car from T#length(3)", "--types", types)
    assert result.exit_code != 0
    assert message in result.output
