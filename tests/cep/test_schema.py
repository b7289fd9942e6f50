"""create schema (squall.cep.schema): an event type declared in EPL."""

import pytest

from squall.cep import EPLEngine, ExternalClock
from squall.cep.errors import EPLCompileError


def test_a_schema_declares_its_type_for_the_statements_after_it():
    engine = EPLEngine(ExternalClock(0))
    engine.compile("create schema Car (car string, speed double); "
                   "create schema Truck as (load int) inherits Car")
    assert engine.event_types == {"Car": {"car": str, "speed": float},
                                  "Truck": {"car": str, "speed": float, "load": int}}
    with pytest.raises(EPLCompileError, match="'sped' is not valid in event type 'Truck'"):
        engine.compile("select sped from Truck")
    with pytest.raises(EPLCompileError, match="Implicit conversion from datatype 'String'"):
        engine.compile("select car * 2 from Car")


def test_a_text_that_fails_to_compile_declares_nothing():
    engine = EPLEngine(ExternalClock(0))
    with pytest.raises(EPLCompileError):
        engine.compile("create schema Car (car string); select nope from Car")
    assert engine.event_types == {}


@pytest.mark.parametrize("rule, message", [
    ("create schema Car (car text)", "Unknown type 'text'"),
    ("create schema Car (car string, car double)", "declared twice"),
    ("create schema Car (a int) inherits Nope", "Supertype by name 'Nope'"),
    ("create schema Car (a int); create schema Car (b int)", "already been declared"),
])
def test_bad_schemas_are_compile_errors(rule, message):
    with pytest.raises(EPLCompileError, match=message):
        EPLEngine(ExternalClock(0)).compile(rule)
