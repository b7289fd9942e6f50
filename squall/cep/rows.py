"""What the statements that read rows besides their event share: an event whose ``get``
also answers synthetic properties, the plan and operator that wrap a compiled statement
to feed it such events, and the statement rewrite that puts those properties in.

A statement that reads a table (``T[k].c``) or has a subquery is compiled as an ordinary
single-stream statement in which each table access or subquery is a synthetic property
(:func:`rewrite` replaces the nodes); its operator hands every event on as an
:class:`AccessRow` whose ``get`` computes those properties when read, so they see the
table or the subquery's window at that moment. :mod:`squall.cep.table` and
:mod:`squall.cep.subquery` build on these; :mod:`squall.cep.named_window` and
:mod:`squall.cep.on_action` rewrite statements with :func:`rewrite` too.

Semantics: Esper 8 reference, 6.3.3 "Table Column Keyed-Access Expressions" and 5.11
"Subqueries" (a table access or subquery is evaluated where the expression is).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from squall.cep import ast as A
from squall.cep.operators import make_operator
from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.snapshot import EventTable, deref

__all__ = ["AccessRow", "WrappedPlan", "AccessOperator", "rewrite"]


class AccessRow(dict):
    """An event whose ``get`` also answers the synthetic properties of its statement
    (``access``: name -> function of the row), computed when read."""

    __slots__ = ("access",)

    def get(self, name, default=None):
        f = self.access.get(name)
        if f is None:
            return dict.get(self, name, default)
        return f(self)


class WrappedPlan:
    """Base of a frozen plan that wraps a compiled statement ``inner`` (a field of the
    subclass): the columns and event type are the inner statement's."""

    inner: Any

    @property
    def columns(self) -> tuple[str, ...]:
        return self.inner.columns

    @property
    def event_type(self) -> str:
        return self.inner.event_type


class AccessOperator(Operator):
    """Runs a :class:`WrappedPlan` with an ``access`` table: the inner statement's
    operator gets each event as an :class:`AccessRow` (a subclass: ``row_type``, filled
    by :meth:`wrap`); everything else is the inner operator's."""

    row_type: type[AccessRow] = AccessRow

    def __init__(self, stmt: StatementHost, plan: WrappedPlan, engine: EngineHost) -> None:
        self.access = plan.access
        self.inner = make_operator(stmt, plan.inner, engine)
        self.stopped = False

    def wrap(self, ev) -> AccessRow:
        row = self.row_type(ev)
        row.access = self.access
        return row

    def on_events(self, events) -> None:
        self.inner.on_events([self.wrap(ev) for ev in events])

    def inlets(self):
        return self.inner.inlets()

    def stop(self) -> None:
        self.stopped = True
        self.inner.stop()

    def terminate(self) -> None:
        self.inner.terminate()

    def schedule_owners(self) -> dict:
        return self.inner.schedule_owners()

    def snapshot_state(self, events: EventTable):
        return self.inner.snapshot_state(events)

    def restore_state(self, state, events: list) -> None:
        self.rewrap(events)
        self.inner.restore_state(state, events)

    def rewrap(self, events: list) -> None:
        """A snapshot keeps plain dicts: the restored events answer the accesses again."""
        for i, ev in enumerate(events):
            if isinstance(ev, dict):
                events[i] = self.wrap(deref(events, i))


def rewrite(node, fn: Callable[[Any], Any], keep: tuple[type, ...] = (A.StreamDef,)):
    """``node`` (a statement, clause or expression) with every sub-node ``x`` for which
    ``fn(x)`` is not None replaced by that value; nodes of the ``keep`` types (default:
    stream definitions, whose filters are the stream's own) are not entered. Unchanged
    nodes are returned as they are."""
    r = fn(node)
    if r is not None:
        return r
    if isinstance(node, tuple):
        items = tuple(rewrite(x, fn, keep) for x in node)
        return node if all(a is b for a, b in zip(items, node)) else items
    if dataclasses.is_dataclass(node) and not isinstance(node, type) and not isinstance(node, keep):
        changes = {}
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            if isinstance(v, tuple) or dataclasses.is_dataclass(v):
                nv = rewrite(v, fn, keep)
                if nv is not v:
                    changes[f.name] = nv
        return dataclasses.replace(node, **changes) if changes else node
    return node
