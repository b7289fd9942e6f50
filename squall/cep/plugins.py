"""Plug-in single-row functions and aggregation functions written in Python.

:meth:`squall.cep.engine.EPLEngine.register_function` makes ``name(args...)`` callable in
EPL expressions; :meth:`~squall.cep.engine.EPLEngine.register_aggregation` makes
``name(expr)`` an aggregation function. Statements compiled afterwards see them.

* A single-row function is called as ``fn(*values)`` with each argument's value (null
  as None), every time the expression is evaluated; its return value is the
  expression's. An exception it raises makes the expression null for that event and is
  reported through the engine's error path (``on_error``), as a ``like`` time-out is.
* An aggregation function is a factory: ``factory()`` returns a fresh aggregator per
  group (and per batch, per window...), with ``enter(value)``, ``leave(value)`` (events
  leaving a data window) and ``value()``. It takes one argument; every value is passed,
  null included (the aggregator decides what null means, as Esper's
  ``AggregationFunction``). ``distinct`` is not supported for it. For snapshots an
  aggregator may offer ``snapshot() -> plain data`` and ``restore(state)``; without them
  a restored aggregator starts empty.

Semantics: Esper 8 reference, 19.3 "Single-Row Function" and 19.5 "Aggregation
Function" (extension API), with Python callables in place of Java classes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError

__all__ = ["check_plugin_name", "apply_plugin_aggregates"]

_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")


def check_plugin_name(name: str, what: str, fn: Any) -> None:
    """Raise ValueError/TypeError unless ``name`` can name a plug-in ``what`` and ``fn``
    is callable."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"A plug-in {what} needs an identifier as name, got {name!r}")
    if name.lower() in A.AGGREGATE_FUNCTIONS:
        raise ValueError(f"'{name}' is a built-in aggregation function; choose another name for "
                         f"the plug-in {what}")
    if not callable(fn):
        raise TypeError(f"The plug-in {what} '{name}' must be callable, got {type(fn).__name__}")


def apply_plugin_aggregates(st, aggregations: dict[str, Callable]):
    """``st`` with each call of a registered aggregation function turned into an
    :class:`~squall.cep.ast.Aggregate` carrying its factory.

    Raises:
        EPLCompileError: the call does not have exactly one argument.
    """
    def fix(node):
        if isinstance(node, A.FunctionCall) and node.name in aggregations:
            if len(node.args) != 1:
                raise EPLCompileError(f"Aggregation function '{node.name}' takes exactly one "
                                      f"argument, got {len(node.args)}", line=node.line,
                                      column=node.column)
            return A.Aggregate(node.name, fix(node.args[0]), False, node.line, node.column,
                               plugin=aggregations[node.name])
        if isinstance(node, tuple):
            return tuple(fix(x) for x in node)
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            return dataclasses.replace(node, **{f.name: fix(getattr(node, f.name))
                                                for f in dataclasses.fields(node)})
        return node
    return fix(st)


def call_function(name: str, fn: Callable, args: tuple, report: Callable[[Any, str], None]):
    """``f(event, aggregate values)`` calling the plug-in single-row function ``fn``."""
    def ev_call(ev, av):
        values = [a(ev, av) for a in args]
        try:
            return fn(*values)
        except Exception as exc:  # a user function's failure: null for this event, reported
            report(ev, f"function '{name}' raised {type(exc).__name__}: {exc}")
            return None
    return ev_call
