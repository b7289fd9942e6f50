"""``create schema``: declare an event type in EPL.

``create schema Name [as] (col type, ...) [inherits Parent, ...]`` declares ``Name`` as
:meth:`squall.cep.engine.EPLEngine.define_event_type` does: statements compiled after it
(later in the same text, or later) are checked against its properties. Types: ``string``,
``double``, ``float``, ``long``, ``int``/``integer``, ``boolean``/``bool``; ``inherits``
adds the properties of declared types (a parent's property of the same name is replaced
by the child's). The statement outputs nothing and takes no events; the type stays
declared when the statement is removed (the engine's declared types have no owner).

Semantics: Esper 8 reference, 5.15 "Declaring an Event Type: Create Schema" (map event
types; Esper's object types and `create ... schema` variants are not supported).
"""

from __future__ import annotations

from dataclasses import dataclass

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.named_window import COLUMN_TYPES
from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.snapshot import EventTable

__all__ = ["CreateSchemaPlan", "CreateSchemaOperator", "compile_create_schema"]


@dataclass(frozen=True)
class CreateSchemaPlan:
    """A declared event type: ``name`` and its ``properties`` (property -> Python type)."""
    name: str
    properties: dict
    event_type: str
    columns: tuple[str, ...] = ()

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "CreateSchemaOperator":
        return CreateSchemaOperator()


def compile_create_schema(st: A.CreateSchema, declared_types: dict) -> CreateSchemaPlan:
    """Validate ``create schema`` and declare the type in ``declared_types`` (the
    compiling text's copy of the engine's types).

    Raises:
        EPLCompileError: the type is declared already, an unknown column type, a column
            declared twice, an unknown parent type.
    """
    pos = dict(line=st.line, column=st.column)
    if st.name in declared_types:
        raise EPLCompileError(f"Event type named '{st.name}' has already been declared", **pos)
    props: dict[str, type] = {}
    for parent in st.inherits:
        if parent not in declared_types:
            raise EPLCompileError(f"Supertype by name '{parent}' could not be found", **pos)
        props.update(declared_types[parent])
    seen = set()
    for name, type_name in st.columns:
        if name in seen:
            raise EPLCompileError(f"Property '{name}' is declared twice in schema '{st.name}'", **pos)
        seen.add(name)
        t = COLUMN_TYPES.get(type_name.lower())
        if t is None:
            raise EPLCompileError(f"Unknown type '{type_name}' of property '{name}' (use one of "
                                  f"{', '.join(sorted(COLUMN_TYPES))})", **pos)
        props[name] = t
    declared_types[st.name] = props
    return CreateSchemaPlan(st.name, props, st.name)


class CreateSchemaOperator(Operator):
    """A ``create schema`` statement runs nothing: the type was declared when it started."""

    def on_events(self, events) -> None:
        return None

    def inlets(self):
        return ()

    def stop(self) -> None:
        return None

    def schedule_owners(self) -> dict:
        return {}

    def snapshot_state(self, events: EventTable):
        return None

    def restore_state(self, state, events: list) -> None:
        return None
