"""Variables and constants: ``create [constant] variable``, ``on ... set``, and variables
read in expressions.

A variable is an engine-wide named value of a declared type (Esper 8 reference, 6.5
"Variables and Constants"). It lives as long as the ``create variable`` statement that
declares it; any statement compiled after it (in the same text or later) reads it by
name where an expression may name a property: ``having avg(speed) > speedLimit``.
The engine keeps one :class:`Variable` cell per name for its whole life, and a compiled
statement reads that cell, so a value set later (``on ... set``, or
:meth:`~squall.cep.engine.EPLEngine.set_variable` from outside) is seen by every running
statement at its next evaluation, with no recompilation and no window reset.

Semantics as verified against Esper 8.9 (tests/cep/esper/test_esper_variables.py):

* Types: ``int``/``integer``, ``long``, ``double``, ``float``, ``string``, ``boolean``/
  ``bool`` (Java ``Integer``, ``Long``, ``Double``, ``Float``, ``String``, ``Boolean``).
  A value of another type is accepted only by Java widening (``int`` into ``long``,
  ``float``, ``double``; ``long`` into ``float``, ``double``; ``float`` into ``double``);
  numbers widened into ``double``/``float`` become Python floats. ``null`` fits every
  type; a variable without initializer starts null.
* A mismatch known at compile time is a compile error ("Variable 'x' of declared type
  Integer cannot be assigned a value of type Double"); a constant cannot be assigned
  ("Variable by name 'c' is declared constant and may not be set").
* A name both a variable and a property of the statement's declared event type is a
  compile error (ambiguous); for an undeclared event type the variable wins.
* ``on T set a = e1, b = e2``: for each event of ``T`` (that passes ``T``'s filter) the
  assignments run in order, a later expression seeing the values assigned before it;
  the statement outputs one row ``{a: new a, b: new b}``. Each assignment makes the
  ``create variable`` statement output ``{x: new}`` as insert stream and ``{x: old}``
  as remove stream (also for :meth:`~squall.cep.engine.EPLEngine.set_variable`).
* Read consistency: statements see the values as of their own evaluation; the engine
  runs statements one at a time, in creation order, event by event, so a statement
  created after an ``on ... set`` sees the value that event assigned, one created before
  it the previous value (as Esper's single-threaded runtime).

Where Squall differs or stops short: an assigned value whose type is only known at run
time (an undeclared event type) and does not fit is reported through the engine's
``on_error`` and that assignment is skipped (Esper cannot get there: its types are
always known). ``on pattern[...] set``, variables in ``output when`` and variables of
other types (``short``, ``byte``, ``BigDecimal``, objects, arrays) are not supported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError, EPLVariableError
from squall.cep.expressions import Scope, compile_expr, compile_row_expr, declared_prop_type
from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.select import stream_filter
from squall.cep.typecheck import check_expr

__all__ = ["Variable", "VariableDecl", "java_type_of", "check_value", "resolve_variables"]

_TYPE_NAMES = {"int": "Integer", "integer": "Integer", "java.lang.integer": "Integer",
               "long": "Long", "java.lang.long": "Long",
               "double": "Double", "java.lang.double": "Double",
               "float": "Float", "java.lang.float": "Float",
               "string": "String", "java.lang.string": "String",
               "boolean": "Boolean", "bool": "Boolean", "java.lang.boolean": "Boolean"}

#: target Java type -> the value types it accepts (Java's widening conversions)
_ACCEPTS = {"Integer": {"Integer"}, "Long": {"Integer", "Long"},
            "Float": {"Integer", "Long", "Float"}, "Double": {"Integer", "Long", "Float", "Double"},
            "String": {"String"}, "Boolean": {"Boolean"}}

_INT_MIN, _INT_MAX = -2 ** 31, 2 ** 31 - 1


def java_type_of(type_name: str) -> str | None:
    """The Java type name of an EPL variable type (``int`` -> ``Integer``), or None."""
    return _TYPE_NAMES.get(type_name.lower())


def value_type(v: Any) -> str | None:
    """The Java type of a Python value: an int is ``Integer`` when it fits 32 bits, else
    ``Long``; None for a type no variable holds."""
    if isinstance(v, bool):
        return "Boolean"
    if isinstance(v, int):
        return "Integer" if _INT_MIN <= v <= _INT_MAX else "Long"
    if isinstance(v, float):
        return "Double"
    if isinstance(v, str):
        return "String"
    return None


def assignable(target: str, source: str | None) -> bool:
    """True when a value of Java type ``source`` may be assigned to ``target`` (None:
    unknown, decided at run time)."""
    return source is None or source in _ACCEPTS[target]


def _convert(target: str, v: Any) -> Any:
    if v is not None and target in ("Double", "Float"):
        return float(v)
    return v


class Variable:
    """One variable's cell: what compiled statements read.

    Attributes:
        name, java_type, constant: as declared.
        value: the current value (a Python int, float, str, bool, or None).
        statement: the declaring ``create variable`` statement; None while no statement
            declares the name (the cell then waits for a new declaration).
    """

    __slots__ = ("name", "java_type", "constant", "value", "statement")

    def __init__(self, name: str) -> None:
        self.name = name
        self.java_type = "String"
        self.constant = False
        self.value: Any = None
        self.statement: StatementHost | None = None

    def __repr__(self) -> str:
        return f"<Variable {self.java_type} {self.name}={self.value!r}>"


class VariableDecl(NamedTuple):
    """A variable as the compiler sees it: its cell, Java type, constness, and its value
    when the statement starts (the current value, or the initial one of a variable
    declared earlier in the same text), for initializers and view parameters."""

    cell: Variable
    java_type: str
    constant: bool
    value: Any = None


def check_value(name: str, java_type: str, value: Any, verb: str = "assigned") -> Any:
    """``value`` converted for a variable of ``java_type`` (widening only).

    Raises:
        EPLVariableError: the value's type does not fit (or no variable holds it).
    """
    if value is None:
        return None
    vt = value_type(value)
    if vt is None or not assignable(java_type, vt):
        what = vt or type(value).__name__
        raise EPLVariableError(f"Variable '{name}' of declared type {java_type} cannot be {verb} a "
                               f"value of type {what}", variable=name)
    return _convert(java_type, value)


# ------------------------------------------------------------------ name resolution

def _rewrite(node, fn: Callable[[A.Property], Any]):
    """``node`` with every :class:`~squall.cep.ast.Property` replaced by ``fn(prop)``."""
    if isinstance(node, A.Property):
        return fn(node)
    if isinstance(node, tuple):
        out = tuple(_rewrite(x, fn) for x in node)
        return node if all(a is b for a, b in zip(out, node)) else out
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {}
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            nv = _rewrite(v, fn)
            if nv is not v:
                changes[f.name] = nv
        return dataclasses.replace(node, **changes) if changes else node
    return node


def resolve_variables(st, variables: dict[str, VariableDecl], declared_types: dict[str, dict]):
    """The statement with every property that names a variable turned into a
    :class:`~squall.cep.ast.Variable` node.

    Raises:
        EPLCompileError: the name is also a property of a declared event type the
            statement selects from (Esper: ambiguous).
    """
    if not variables:
        return st
    types = []
    if isinstance(st, A.SelectStatement):
        types = [s.event_type for s in (st.stream, *st.joins) if isinstance(s, A.StreamDef)]
        types += [f.event_type for f in A.nodes_of(st.stream, A.PatternFilter)]
    elif isinstance(st, A.OnSet):
        types = [st.stream.event_type]
    props = set()
    for t in types:
        props.update(declared_types.get(t) or ())

    def to_variable(p: A.Property):
        decl = variables.get(p.name)
        if decl is None:
            return p
        if p.name in props:
            raise EPLCompileError(f"The variable by name '{p.name}' is ambiguous to a property of "
                                  "the same name", line=p.line, column=p.column)
        return A.Variable(p.name, decl.java_type, p.line, p.column)
    st = _rewrite(st, to_variable)
    if isinstance(st, A.SelectStatement):
        st = _freeze_view_parameters(st, variables)
    return st


def _freeze_view_parameters(st: A.SelectStatement, variables: dict[str, VariableDecl]) -> A.SelectStatement:
    """Variables in data window parameters (``#length(n)``) take their value when the
    statement starts: the window's size does not follow later sets (Esper evaluates view
    parameters once, when the statement starts)."""
    def freeze(node):
        if isinstance(node, A.Variable):
            return A.Literal(variables[node.name].value, node.line, node.column)
        if isinstance(node, tuple):
            out = tuple(freeze(x) for x in node)
            return node if all(a is b for a, b in zip(out, node)) else out
        if dataclasses.is_dataclass(node) and not isinstance(node, type) \
                and not isinstance(node, A.TimePeriod):
            changes = {f.name: freeze(getattr(node, f.name)) for f in dataclasses.fields(node)}
            changes = {k: v for k, v in changes.items() if v is not getattr(node, k)}
            return dataclasses.replace(node, **changes) if changes else node
        return node

    def stream(s):
        if not isinstance(s, A.StreamDef) or not s.views:
            return s
        views = tuple(dataclasses.replace(v, params=freeze(v.params)) for v in s.views)
        return dataclasses.replace(s, views=views)
    joins = tuple(stream(j) for j in st.joins)
    return dataclasses.replace(st, stream=stream(st.stream), joins=joins)


# ------------------------------------------------------------------ create variable

@dataclass(frozen=True)
class CreateVariablePlan:
    """A compiled ``create variable``: the cell and the value it starts with."""

    decl: VariableDecl
    initial: Any
    columns: tuple[str, ...]
    event_type: None = None

    def make_operator(self, stmt: "StatementHost", engine: "EngineHost") -> "_Declaration":
        return _Declaration(stmt, self, engine)


def compile_create_variable(st: A.CreateVariable, ctx) -> CreateVariablePlan:
    """Validate a ``create variable``; the variable is visible to the statements
    compiled after it (``ctx.variables``)."""
    if st.name in ctx.variables:
        raise EPLCompileError(f"A variable by name '{st.name}' has already been created",
                              line=st.line, column=st.column)
    value = None
    if st.initial is not None:
        init = resolve_variables(st.initial, ctx.variables, {})
        for p in A.nodes_of(init, A.Property):
            raise EPLCompileError(f"The initializer of variable '{st.name}' cannot refer to the "
                                  f"property '{p.name}' (use literals, constants and variables)",
                                  line=p.line, column=p.column)
        for a in A.nodes_of(init, A.Aggregate):
            raise EPLCompileError(f"The initializer of variable '{st.name}' cannot use an aggregate",
                                  line=a.line, column=a.column)
        vt = check_expr(init, lambda p: None, "initializer", (st.line, st.column))
        if not assignable(st.java_type, vt):
            raise EPLCompileError(f"Variable '{st.name}' of declared type {st.java_type} cannot be "
                                  f"initialized by a value of type {vt}", line=st.line, column=st.column)
        # Evaluated now, with the values the variables will have when this one starts.
        values = {n: d.value for n, d in ctx.variables.items()}
        now = _rewrite(st.initial, lambda p: A.Literal(values[p.name]) if p.name in values else p)
        value = compile_expr(now, Scope(None, "", "initializer", None, ctx))(None, None)
        try:
            value = check_value(st.name, st.java_type, value, "initialized by")
        except EPLVariableError as exc:
            raise EPLCompileError(str(exc), line=st.line, column=st.column) from None
    cell = ctx.cells.get(st.name)
    if cell is None:
        cell = ctx.cells[st.name] = Variable(st.name)
    decl = VariableDecl(cell, st.java_type, st.constant, value)
    ctx.variables[st.name] = decl
    return CreateVariablePlan(decl, value, (st.name,))


class _Declaration(Operator):
    """The operator of a ``create variable`` statement: receives no events; starting it
    declares the variable, stopping it takes the declaration away. Its output is each
    change of the value: ``{name: new}`` insert, ``{name: old}`` remove."""

    def __init__(self, stmt: "StatementHost", plan: CreateVariablePlan, engine: "EngineHost") -> None:
        cell, jt, constant, _ = plan.decl
        self.stmt = stmt
        cell.java_type, cell.constant, cell.value, cell.statement = jt, constant, plan.initial, stmt
        self.cell = cell
        self.stopped = False

    def inlets(self) -> tuple:
        return ()

    def on_events(self, events) -> None:
        """Never called: :meth:`inlets` routes no event type here."""

    def stop(self) -> None:
        self.stopped = True
        if self.cell.statement is self.stmt:
            self.cell.statement = None

    def schedule_owners(self) -> dict:
        return {}

    def snapshot_state(self, events) -> dict:
        return {"value": self.cell.value}

    def restore_state(self, state, events: list) -> None:
        self.cell.value = state["value"]


def assign(cell: Variable, value: Any) -> None:
    """Set ``cell`` (value already checked); its declaring statement outputs the change."""
    old, cell.value = cell.value, value
    st = cell.statement
    if st is not None and st.listening:
        st.emit_streams([{cell.name: value}], [{cell.name: old}], None)


# ------------------------------------------------------------------ on ... set

@dataclass(frozen=True)
class OnSetPlan:
    """A compiled ``on Type set ...``."""

    event_type: str
    stream_filter: Any
    assignments: tuple   # (cell, eval(event, None) -> value, Java type, known source type?)
    columns: tuple[str, ...]

    def make_operator(self, stmt: "StatementHost", engine: "EngineHost") -> "_OnSet":
        return _OnSet(stmt, self)


def _strip_alias(st: A.OnSet) -> A.OnSet:
    alias = st.stream.alias
    if alias is None:
        return st
    prefix = alias + "."

    def strip(p: A.Property):
        return A.Property(p.name[len(prefix):], p.line, p.column) if p.name.startswith(prefix) else p
    return A.OnSet(st.stream, _rewrite(st.assignments, strip))


def compile_on_set(st: A.OnSet, declared_types: dict, ctx) -> OnSetPlan:
    """Validate ``on Type set NAME = expr, ...``.

    Raises:
        EPLCompileError: a data window or ``unidirectional`` on the trigger stream, an
            unknown or constant variable, a value type that does not fit.
    """

    stream = st.stream
    if isinstance(stream, A.PatternStream):
        raise EPLCompileError("'on pattern[...] set' is not supported yet; trigger on an event type",
                              line=stream.line, column=stream.column)
    if stream.views or stream.unidirectional:
        raise EPLCompileError("The triggering stream of 'on ... set' takes no data window or "
                              "'unidirectional'", line=stream.line, column=stream.column)
    declared = declared_types.get(stream.event_type)
    st = resolve_variables(_strip_alias(st), ctx.variables, declared_types)
    prop_type = declared_prop_type(declared)
    scope = Scope(declared, stream.event_type, "assignment", None, ctx)
    assignments, columns = [], []
    for a in st.assignments:
        text = f"{a.name}={A.expr_text(a.expr)}"
        decl = ctx.variables.get(a.name)
        if decl is None:
            raise EPLCompileError(f"Failed to validate assignment expression '{text}': Variable by "
                                  f"name '{a.name}' has not been created or configured",
                                  line=a.line, column=a.column)
        if decl.constant:
            raise EPLCompileError(f"Failed to validate assignment expression '{text}': Variable by "
                                  f"name '{a.name}' is declared constant and may not be set",
                                  line=a.line, column=a.column)
        vt = check_expr(a.expr, prop_type, "assignment", (a.line, a.column))
        if not assignable(decl.java_type, vt):
            raise EPLCompileError(f"Failed to validate assignment expression '{text}': Variable "
                                  f"'{a.name}' of declared type {decl.java_type} cannot be assigned "
                                  f"a value of type {vt}", line=a.line, column=a.column)
        assignments.append((decl.cell, compile_row_expr(a.expr, scope), decl.java_type))
        if a.name not in columns:
            columns.append(a.name)
    return OnSetPlan(stream.event_type, stream_filter(stream, declared, ctx), tuple(assignments),
                     tuple(columns))


class _OnSet(Operator):
    """The operator of ``on Type set ...``: per event, the assignments in order, then one
    output row with the assigned variables' values."""

    def __init__(self, stmt: "StatementHost", plan: OnSetPlan) -> None:
        self.stmt = stmt
        self.plan = plan
        self.stopped = False

    def on_events(self, events) -> None:
        stmt = self.stmt
        filt = self.plan.stream_filter
        assignments = self.plan.assignments
        columns = self.plan.columns
        for ev in events:
            if filt is not None and not filt(ev):
                continue
            stmt.events_in += 1
            for cell, f, jt in assignments:
                v = f(ev)
                try:
                    v = check_value(cell.name, jt, v)
                except EPLVariableError as exc:
                    stmt.report_error(ev, f"{exc}; the assignment was skipped")
                    continue
                assign(cell, v)
            row = {}
            for cell, _f, _jt in assignments:
                row[cell.name] = cell.value
            stmt.emit([{c: row[c] for c in columns}], None)

    def stop(self) -> None:
        self.stopped = True

    def schedule_owners(self) -> dict:
        return {}

    def snapshot_state(self, events) -> None:
        return None

    def restore_state(self, state, events: list) -> None:
        pass
