"""Contexts at run time: a context's declaration (:class:`ContextStore`) and the operator
that runs a statement once per context partition (:class:`ContextOperator`).

A statement declared with ``context Name select ...`` runs as one statement instance per
context partition: each instance is the operator the statement would run as alone (its
own data windows, aggregation, output-rate state and timers), built when the partition
first receives an event. An event of the statement's type goes to the partitions it
belongs to:

* keyed segmented (``partition by carNumber from Car``): the partition of its key (the
  values of the listed properties), if it passes the item's stream filter;
* hash segmented (``coalesce by consistent_hash_crc32(carNumber) from Car granularity
  N``): the partition ``crc32(text of the value) mod N`` (Esper computes the CRC-32 of
  the value's Java string form, so ``90.0``, ``true`` are hashed as Java writes them);
* category (``group by speed > 80 as fast, group by speed <= 80 as slow from Car``):
  every category whose condition is true, in declaration order.

So a ``time_batch`` in a partition starts at that partition's first event, as in Esper.
``context.name`` is the context's name, ``context.id`` the partition's number (keyed and
hash: in the order partitions were created; category: the category's position),
``context.key1``... the key values (keyed), ``context.label`` the category's label.

Semantics: Esper 8 reference, 4 "Context and Context Partitions" (4.2 keyed segmented,
4.3 hash segmented, 4.4 category); checked against Esper 8.9 in
tests/cep/esper/test_esper_contexts.py.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Callable

from squall.cep.operators import make_operator
from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.snapshot import EventTable

__all__ = ["ContextStore", "ContextPlan", "ContextOperator", "CreateContextPlan",
           "CreateContextOperator", "java_string"]


def java_string(v) -> str:
    """A value's text as Java's ``toString`` writes it (booleans, null, doubles)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else \
            ("NaN" if v != v else ("Infinity" if v > 0 else "-Infinity"))
    return str(v)


def crc32_bucket(v, granularity: int) -> int:
    """Esper's ``consistent_hash_crc32``: CRC-32 of the value's text, mod granularity."""
    return zlib.crc32(java_string(v).encode("utf-8")) % granularity


class ContextStore:
    """A declared context: ``kind`` (``keyed``, ``hash``, ``category``) and, per event
    type it covers, ``route(event) -> [(partition key, context properties)]``.

    ``owner`` is the ``create context`` statement's operator while it runs, else None
    (the engine's catalog keeps only running declarations).
    """

    kind = "context"

    def __init__(self, name: str, context_kind: str,
                 routes: dict[str, Callable[[dict], list]], properties: frozenset[str]) -> None:
        self.name = name
        self.context_kind = context_kind
        self.routes = routes
        #: the ``context.<x>`` names a statement of this context may read
        self.properties = properties
        #: keyed: per event type, the properties that partition it
        self.keys: dict[str, tuple[str, ...]] = {}
        self.owner = None


@dataclass(frozen=True)
class CreateContextPlan:
    """``create context``: outputs nothing and takes no events; it keeps the declaration
    in the catalog while it runs."""
    store: ContextStore
    event_type: str
    columns: tuple[str, ...] = ()

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "CreateContextOperator":
        return CreateContextOperator(self)


class CreateContextOperator(Operator):
    """Holds a context declaration in the catalog while the statement runs."""

    def __init__(self, plan: CreateContextPlan) -> None:
        self.store = plan.store
        plan.store.owner = self

    def on_events(self, events) -> None:
        return None

    def inlets(self):
        return ()

    def stop(self) -> None:
        if self.store.owner is self:
            self.store.owner = None

    def schedule_owners(self) -> dict:
        return {}

    def snapshot_state(self, events: EventTable):
        return None

    def restore_state(self, state, events: list) -> None:
        return None


@dataclass(frozen=True)
class ContextPlan:
    """A statement run per partition of ``store``: ``inner`` is its plan (each partition
    builds an operator from it); ``reads`` the ``context.<x>`` names it reads, in which
    case each partition runs ``build(context properties)``, the statement compiled with
    those values as constants."""
    store: ContextStore
    inner: Any
    reads: frozenset[str]
    build: Callable[[dict], Any]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.inner.columns

    @property
    def event_type(self) -> str:
        return self.inner.event_type

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "ContextOperator":
        return ContextOperator(stmt, self, engine)


class _Partition:
    __slots__ = ("id", "key", "props", "op")

    def __init__(self, pid: int, key, props: dict, op: Operator) -> None:
        self.id, self.key, self.props, self.op = pid, key, props, op


class ContextOperator(Operator):
    """One operator per context partition of the statement (see the module docs)."""

    def __init__(self, stmt: StatementHost, plan: ContextPlan, engine: EngineHost) -> None:
        self.stmt, self.plan, self.engine = stmt, plan, engine
        self.route = plan.store.routes[plan.event_type]
        self.partitions: dict[Any, _Partition] = {}
        self.stopped = False

    def _partition(self, key, props: dict, pid: int | None = None) -> _Partition:
        if pid is None:
            pid = props["id"] if "id" in props else len(self.partitions)
        props = {**props, "id": pid, "name": self.plan.store.name}
        plan = self.plan.build(props) if self.plan.reads else self.plan.inner
        part = _Partition(pid, key, props, make_operator(self.stmt, plan, self.engine))
        self.partitions[key] = part
        return part

    def on_events(self, events) -> None:
        parts = self.partitions
        for ev in events:
            for key, props in self.route(ev):
                part = parts.get(key)
                if part is None:
                    part = self._partition(key, props)
                part.op.on_events((ev,))

    def stop(self) -> None:
        self.stopped = True
        for part in self.partitions.values():
            part.op.stop()

    def schedule_owners(self) -> dict:
        out = {}
        for part in self.partitions.values():
            for path, obj in part.op.schedule_owners().items():
                out[("partition", part.id, *path)] = obj
        return out

    def snapshot_state(self, events: EventTable):
        return {"partitions": [[_plain(part.key), part.id, {k: v for k, v in part.props.items()
                                                           if k not in ("id", "name")},
                                part.op.snapshot_state(events)]
                               for part in self.partitions.values()]}

    def restore_state(self, state, events: list) -> None:
        for key, pid, props, inner in state["partitions"]:
            part = self._partition(_tuple(key), props, pid)
            part.op.restore_state(inner, events)


def _plain(key):
    return list(key) if isinstance(key, tuple) else key


def _tuple(key):
    return tuple(key) if isinstance(key, list) else key
