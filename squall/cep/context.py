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
A join, pattern, ``match_recognize`` or statement with subqueries runs per partition the
same way; an event of a type the context does not list (a join's other stream, a
subquery's) goes to every partition made so far (Esper 8.9).
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

from squall.cep.crontab import Crontab
from squall.cep.operators import make_operator
from squall.cep.pattern import PatternPlan
from squall.cep.protocol import EngineHost, Operator, StatementHost, TypedInlet
from squall.cep.rows import WrappedPlan
from squall.cep.select import OutputModel, StatementPlan
from squall.cep.snapshot import EventTable, deref

__all__ = ["ContextStore", "ContextPlan", "ContextOperator", "KeyedTimeBatchOperator",
           "TemporalContextOperator",
           "CreateContextPlan", "CreateContextOperator", "Condition", "TemporalSpec", "java_string",
           "catalog_key"]


def catalog_key(name: str) -> str:
    """A context's key in the engine's catalog: contexts have their own namespace (a
    context may share its name with an event type, named window or table)."""
    return "context:" + name


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
    type it lists, ``route(event) -> (partition key, ...)``: none when the event fails
    the type's filter, one for keyed and hash, every category whose condition holds for
    category. ``describe(key)`` gives a partition's context properties (keyed: ``key1``
    ...; category: ``id`` and ``label``), computed once when the partition is made.

    ``owner`` is the ``create context`` statement's operator while it runs, else None
    (the engine's catalog keeps only running declarations).
    """

    kind = "context"

    def __init__(self, name: str, context_kind: str, routes: dict[str, Callable[[dict], tuple]],
                 properties: frozenset[str], describe: Callable[[Any], dict] | None = None) -> None:
        self.name = name
        self.context_kind = context_kind
        self.routes = routes
        self.describe = describe if describe is not None else _no_properties
        #: the ``context.<x>`` names a statement of this context may read
        self.properties = properties
        #: keyed: per event type, the properties that partition it
        self.keys: dict[str, tuple[str, ...]] = {}
        #: keyed: per event type, its filter (``from Car(speed > 0)``) or None
        self.filters: dict[str, Callable[[dict], bool] | None] = {}
        #: start/end and initiated/terminated contexts: their conditions
        self.temporal: TemporalSpec | None = None
        #: ``context.<alias>.<prop>`` prefixes (the starting event's alias)
        self.prefixes: tuple[str, ...] = ()
        #: a nested context: its contexts, outermost first
        self.children: tuple[ContextStore, ...] = ()
        self.owner = None


def _no_properties(key) -> dict:
    return {}


@dataclass(frozen=True)
class Condition:
    """A compiled start or end condition: ``kind`` ``now``, ``after`` (``period_ms``),
    ``event`` (``event_type``, ``accept(event, start_event)``; ``alias`` names the
    starting event's properties for ``context.<alias>.<prop>`` and end filters) or
    ``crontab`` (``cron``)."""
    kind: str
    event_type: str | None = None
    accept: Callable[[dict, Any], bool] | None = None
    period_ms: int = 0
    alias: str | None = None
    cron: Crontab | None = None
    #: ``pattern``: its plan (a select * pattern statement) and tags
    pattern: Any = None
    tags: tuple[str, ...] = ()

    def event_types(self) -> tuple[str, ...]:
        """The event types this condition reads."""
        if self.kind == "event":
            return (self.event_type,)
        if self.kind == "pattern":
            return tuple(self.pattern.event_types)
        return ()


@dataclass(frozen=True)
class TemporalSpec:
    """``start ... end ...`` (``overlapping`` False: one partition at a time) or
    ``initiated by ... terminated by ...`` (True: a partition per initiating event)."""
    start: Condition
    end: Condition
    overlapping: bool


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
class ContextPlan(WrappedPlan):
    """A statement run per partition of ``store``: ``inner`` is its plan (each partition
    builds an operator from it); ``reads`` the ``context.<x>`` names it reads, in which
    case each partition runs ``build(context properties)``, the statement compiled with
    those values as constants."""
    store: ContextStore
    inner: Any
    reads: frozenset[str]
    build: Callable[[dict], Any]
    #: a level of a nested context: ``"<its name>."``, the prefix of its properties
    prefix: str = ""
    #: keyed: the statement aggregates grouped by exactly the partition properties (the
    #: grouping Esper gives an aggregating statement of a keyed context)
    group_keyed: bool = False
    #: the event types the statement reads when its plan does not list them (a statement
    #: with subqueries over other streams); () to ask the plan
    types: tuple[str, ...] = ()
    #: each partition compiles its own plan (a statement with subqueries: its plan binds
    #: the subqueries' windows of the operator built from it)
    fresh: bool = False

    def partition_plan(self, props: dict):
        """The plan one partition runs, given its context properties (unprefixed)."""
        if not self.reads and not self.fresh:
            return self.inner
        return self.build({self.prefix + k: v for k, v in props.items()})

    def condition_types(self) -> set:
        """Event types that start or end partitions of this level's nested contexts."""
        out = set()
        plan = self.inner
        while isinstance(plan, ContextPlan):
            spec = plan.store.temporal
            if spec is not None:
                out |= {t for c in (spec.start, spec.end) for t in c.event_types()}
            plan = plan.inner
        return out

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type the statement reads (a join's or a pattern's several)."""
        return self.types or tuple(getattr(self.inner, "event_types", None) or (self.inner.event_type,))

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> Operator:
        if self.store.temporal is not None:
            return TemporalContextOperator(stmt, self, engine)
        if _fusable(self):
            return KeyedTimeBatchOperator(stmt, self, engine)
        return ContextOperator(stmt, self, engine)


def _quiet(plan) -> bool:
    """Whether ``plan``'s operator outputs rows only from its timers, never while it
    takes events: a single ``time_batch`` without output rate limiting. Such partitions
    can take a batch's events grouped by partition without reordering any output."""
    if not isinstance(plan, StatementPlan):
        return False
    view = plan.view
    return view.kind == "time_batch" and len(view.windows) == 1 and view.groupwin is None \
        and plan.output is None


def _fusable(plan: ContextPlan) -> bool:
    """Whether :class:`KeyedTimeBatchOperator` runs ``plan``: a keyed context (one level,
    one partition property, no ``context.x`` read) over the statement that
    :func:`squall.cep.operators.make_operator` runs as its fused time_batch operator (one
    ``time_batch``, insert stream, no stream filter or output clause), fully aggregated
    and grouped by the partition property (Esper's grouping in a keyed context)."""
    inner = plan.inner
    if plan.store.context_kind != "keyed" or plan.reads or not plan.group_keyed \
            or not isinstance(inner, StatementPlan):
        return False
    view = inner.view
    return len(plan.store.keys.get(inner.event_type, ())) == 1 \
        and inner.model is OutputModel.FULLY_GROUPED and inner.aggs.update is not None \
        and view.kind == "time_batch" and view.groupwin is None and len(view.windows) <= 1 \
        and inner.selector == "istream" and inner.stream_filter is None and inner.output is None


class _Partition:
    __slots__ = ("id", "key", "props", "op", "inlets")

    def __init__(self, pid: int, key, props: dict, op: Operator, event_type: str) -> None:
        self.id, self.key, self.props, self.op = pid, key, props, op
        #: event type -> what takes its events (the operator, or its per-type inlets)
        self.inlets = dict(op.inlets() or ((event_type, op),))

    def feed(self, type_name: str, events) -> None:
        inlet = self.inlets.get(type_name)
        if inlet is not None:
            inlet.on_events(events)


class ContextOperator(Operator):
    """One operator per partition of a keyed, hash or category context (see the module
    docs).

    An event of a type the context lists goes to the partitions of its key (made when
    first needed); an event of a type the context does not list (the other stream of a
    join, a pattern's other filter) goes to every partition made so far, as in Esper.
    When the partitions output rows only from timers (a ``time_batch``), the events of
    one call reach each partition as one batch (in their order); otherwise event by
    event, so rows come out in the order of the events that made them.
    """

    def __init__(self, stmt: StatementHost, plan: ContextPlan, engine: EngineHost) -> None:
        self.stmt, self.plan, self.engine = stmt, plan, engine
        store = plan.store
        types = list(plan.event_types)
        # A nested context whose inner partitions start or end with other event types
        # takes those too and hands them to the partition of their key.
        types += sorted(plan.condition_types() - set(types))
        self.types = tuple(types)
        #: per event type: its route, or None for a type the context does not list
        self.routes = {t: store.routes.get(t) for t in types}
        self.route = self.routes[plan.event_type]
        self.batched = _quiet(plan.inner)
        self.partitions: dict[Any, _Partition] = {}
        self.stopped = False

    def _partition(self, key, props: dict | None = None, pid: int | None = None) -> _Partition:
        if props is None:
            props = self.plan.store.describe(key)
        if pid is None:
            pid = props["id"] if "id" in props else len(self.partitions)
        props = {**props, "id": pid, "name": self.plan.store.name}
        part = _Partition(pid, key, props,
                          make_operator(self.stmt, self.plan.partition_plan(props), self.engine),
                          self.plan.inner.event_type)
        self.partitions[key] = part
        return part

    def on_events(self, events) -> None:
        route, parts = self.route, self.partitions
        if self.batched:
            groups: dict = {}
            for ev in events:
                for key in route(ev):
                    evs = groups.get(key)
                    if evs is None:
                        groups[key] = [ev]
                    else:
                        evs.append(ev)
            # in the order of each partition's first event: partitions are made and
            # schedule their batch ends in the order event by event would
            for key, evs in groups.items():
                part = parts.get(key)
                if part is None:
                    part = self._partition(key)
                part.op.on_events(evs)
            return
        for ev in events:
            one = (ev,)
            for key in route(ev):
                part = parts.get(key)
                if part is None:
                    part = self._partition(key)
                part.op.on_events(one)

    def inlets(self):
        if len(self.types) == 1 and self.route is not None:
            return None
        return tuple((t, TypedInlet(self, t)) for t in self.types)

    def on_typed_events(self, type_name: str, events) -> None:
        route, parts = self.routes[type_name], self.partitions
        if route is None:
            for ev in events:
                one = (ev,)
                for part in list(parts.values()):
                    part.feed(type_name, one)
            return
        for ev in events:
            one = (ev,)
            for key in route(ev):
                part = parts.get(key)
                if part is None:
                    part = self._partition(key)
                part.feed(type_name, one)

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


class _BatchPartition:
    """A partition of :class:`KeyedTimeBatchOperator`: its time_batch's state (as the
    fused ``_TimeBatch`` of :mod:`squall.cep.operators` keeps it) with the partition's
    one group's accumulator in place of a dict of groups."""

    __slots__ = ("id", "key", "owner", "reference", "scheduled", "arrived", "acc",
                 "last_arrived", "last_acc")

    def __init__(self, pid: int, key, owner: "KeyedTimeBatchOperator") -> None:
        self.id, self.key, self.owner = pid, key, owner
        self.reference: int | None = None
        self.scheduled = False
        #: an event reached the open batch / the batch before it
        self.arrived = self.last_arrived = False
        #: the batch's accumulator (None until an event passes WHERE)
        self.acc = self.last_acc = None

    def _fire(self, now_ms: int) -> None:
        """The engine's schedule callback at the end of this partition's batch."""
        self.owner.fire(self, now_ms)


class KeyedTimeBatchOperator(Operator):
    """The speeding rule's shape in a keyed context, run without a statement operator per
    partition: ``context C select k, avg(x) ... from T#time_batch(P) [where ...] [having
    ...]`` partitioned by one property ``k`` (see :func:`_fusable`).

    Each partition's batch is one accumulator, kept on a small partition object, and the
    events of a call are added in one loop (the partition key read once per event), so a
    partition costs a dict lookup per event instead of a call into its own operator.
    Rows, timers, ids and snapshots are those of :class:`ContextOperator` with a fused
    time_batch operator per partition: a partition's batches start at its first event; at
    a batch end it posts its group's row (count 0 when only the batch before had events),
    HAVING permitting, and schedules the next end.

    Semantics: Esper 8 reference, 4.2 "Keyed Segmented Context" and 14 "Time batch
    window"; checked against Esper 8.9 in tests/cep/esper/test_esper_contexts.py.
    """

    def __init__(self, stmt: StatementHost, plan: ContextPlan, engine: EngineHost) -> None:
        inner: StatementPlan = plan.inner
        self.stmt, self.plan, self.engine = stmt, plan, engine
        self.prop = plan.store.keys[inner.event_type][0]
        self.accept = plan.store.filters.get(inner.event_type)
        self.period = inner.view.size
        self.where, self.having = inner.where, inner.having
        aggs = inner.aggs
        self.new_acc, self.update, self.values = aggs.new_acc, aggs.update, aggs.values
        self.dump, self.load = aggs.dump, aggs.load
        if inner.wildcard:
            self.make = lambda ev, av: dict(ev)
        else:
            pairs = tuple(zip(inner.columns, inner.select))
            self.make = lambda ev, av: {c: f(ev, av) for c, f in pairs}
        #: partition key value -> partition, in the order they were made
        self.partitions: dict[Any, _BatchPartition] = {}
        self.stopped = False

    def _partition(self, key, pid: int | None = None) -> _BatchPartition:
        part = self.partitions[key] = _BatchPartition(len(self.partitions) if pid is None else pid,
                                                      key, self)
        return part

    def on_events(self, events) -> None:
        prop, accept, where, new_acc, update = self.prop, self.accept, self.where, self.new_acc, self.update
        get = self.partitions.get
        if accept is None and where is None:
            # the common case, one branch less per event: a partition's batch has an
            # accumulator exactly when an event arrived in it
            for ev in events:
                k = ev.get(prop)
                part = get(k)
                if part is None:
                    part = self._partition(k)
                acc = part.acc
                if acc is None:
                    self._arrive(part)
                    acc = part.acc = new_acc(ev)
                update(acc, ev)
            self.stmt.events_in += len(events)
            return
        n = 0
        for ev in events:
            if accept is not None and not accept(ev):
                continue
            n += 1
            k = ev.get(prop)
            part = get(k)
            if part is None:
                part = self._partition(k)
            if not part.arrived:
                self._arrive(part)
            # WHERE after the window, as the fused operator: a failing event still
            # counts as an arrival for the batch's schedule
            if where is None or where(ev):
                acc = part.acc
                if acc is None:
                    acc = part.acc = new_acc(ev)
                update(acc, ev)
        self.stmt.events_in += n

    def _arrive(self, part: _BatchPartition) -> None:
        if part.arrived:
            return
        part.arrived = True
        if part.reference is None:
            part.reference = self.engine.current_time_ms
        if not part.scheduled:
            self._schedule(part)

    def _schedule(self, part: _BatchPartition) -> None:
        now, ref, p = self.engine.current_time_ms, part.reference, self.period
        part.scheduled = True
        self.engine.schedule(ref + ((now - ref) // p + 1) * p, part._fire)

    def fire(self, part: _BatchPartition, now_ms: int) -> None:
        """End ``part``'s batch at ``now_ms``: post its row and schedule the next end."""
        if self.stopped:
            return
        part.scheduled = False
        if part.arrived or part.last_arrived:
            acc = part.acc
            if acc is None and part.last_acc is not None:
                acc = self.new_acc(part.last_acc[0])
            rows = []
            if acc is not None:
                av = self.values(acc)
                if self.having is None or self.having(acc[0], av):
                    rows.append(self.make(acc[0], av))
            self.stmt.emit(rows, (now_ms - self.period, now_ms))
            self._schedule(part)
        part.last_acc, part.last_arrived = part.acc, part.arrived
        part.acc, part.arrived = None, False

    def stop(self) -> None:
        self.stopped = True

    def schedule_owners(self) -> dict:
        return {("partition", part.id): part for part in self.partitions.values()}

    # The snapshot is ContextOperator's over fused time_batch operators, so either
    # restores the other's.
    def _dump(self, part: _BatchPartition, acc, events: EventTable) -> list:
        return [] if acc is None else [[part.key, events.ref(acc[0]), self.dump(acc)]]

    def _load(self, data, events: list):
        return self.load(deref(events, data[0][1]), data[0][2]) if data else None

    def snapshot_state(self, events: EventTable):
        return {"partitions": [[[p.key], p.id, {"key1": p.key},
                                {"reference": p.reference, "scheduled": p.scheduled,
                                 "cur": self._dump(p, p.acc, events), "cur_arrived": p.arrived,
                                 "last": self._dump(p, p.last_acc, events),
                                 "last_arrived": p.last_arrived}]
                               for p in self.partitions.values()]}

    def restore_state(self, state, events: list) -> None:
        for key, pid, _props, inner in state["partitions"]:
            part = self._partition(key[0], pid)
            part.reference, part.scheduled = inner["reference"], inner["scheduled"]
            part.acc, part.arrived = self._load(inner["cur"], events), inner["cur_arrived"]
            part.last_acc, part.last_arrived = self._load(inner["last"], events), inner["last_arrived"]


def _plain(key):
    return list(key) if isinstance(key, tuple) else key


def _tuple(key):
    return tuple(key) if isinstance(key, list) else key


class _Watcher:
    """A start or end pattern of a context: the pattern statement's operator, whose
    matches (rows of tag -> event) go to ``on_match`` instead of listeners."""

    def __init__(self, stmt: StatementHost, plan, engine: EngineHost, on_match) -> None:
        self.name = stmt.name
        self.events_in = 0
        self._stmt, self._on_match = stmt, on_match
        self.op = make_operator(self, plan, engine)
        self.inlets = {t: inlet for t, inlet in (self.op.inlets() or ())}

    listening = True

    def feed(self, type_name: str, ev) -> None:
        inlet = self.inlets.get(type_name)
        if inlet is not None:
            inlet.on_events((ev,))

    def emit(self, rows: list, window) -> None:
        self._on_match(rows)

    def emit_streams(self, new_rows: list, old_rows: list, window) -> None:
        self._on_match(new_rows)

    def report_error(self, record, reason: str) -> None:
        self._stmt.report_error(record, reason)


class _Span:
    """One partition of a start/end or initiated/terminated context: when it started,
    the event that started it, and its operator, built when the first event reaches it
    (a partition that no event reaches outputs nothing, so a crontab context that starts
    one every minute costs no statement while idle)."""

    __slots__ = ("id", "_op", "props", "start_ms", "end_ms", "start_event", "owner", "ended",
                 "end_watch", "inlets")

    def __init__(self, pid: int, props: dict, start_ms: int, end_ms: int | None, start_event,
                 owner: "TemporalContextOperator") -> None:
        self.id, self._op, self.props, self.start_ms, self.end_ms = pid, None, props, start_ms, end_ms
        self.start_event, self.owner, self.ended = start_event, owner, False
        #: ``end pattern [...]``: the pattern watching for this partition's end
        self.end_watch: _Watcher | None = None

    @property
    def op(self) -> Operator:
        if self._op is None:
            o = self.owner
            plan = o.plan.partition_plan(self.props)
            self._op = make_operator(o.stmt, plan, o.engine)
            self.inlets = dict(self._op.inlets() or ((plan.event_type, self._op),))
        return self._op

    def feed(self, type_name: str, events) -> None:
        """Hand ``events`` of ``type_name`` to the partition's statement (built now if
        it is not yet)."""
        if self._op is None:
            self.op
        inlet = self.inlets.get(type_name)
        if inlet is not None:
            inlet.on_events(events)

    @property
    def built(self) -> bool:
        return self._op is not None

    def end_due(self, now_ms: int) -> None:
        """The engine's schedule callback at ``start + after``."""
        if not self.ended:
            self.owner.end(self, now_ms)


def _outputs_when_terminated(plan) -> bool:
    """Whether the statement's output clause has ``when terminated`` (either form)."""
    while plan is not None:
        out = getattr(plan, "output", None)
        if out is not None and (getattr(out, "terminated", False) or getattr(out, "and_terminated", False)):
            return True
        plan = getattr(plan, "inner", None)
    return False


class TemporalContextOperator(Operator):
    """A statement in a ``start ... end ...`` (non-overlapping) or ``initiated by ...
    terminated by ...`` (overlapping) context.

    Per event, as Esper 8.9 does (checked in tests/cep/esper/test_esper_contexts.py):
    partitions whose end condition the event meets end first (the event does not reach
    them); then a start condition it meets starts a partition (non-overlapping: only
    when none is running) which the event reaches first; then the running partitions in
    the order they started. A partition ending with ``after`` ends at that time, before
    its own timers due then, and drops what it held (an open batch outputs nothing);
    with ``start @now`` the next partition starts at once.
    """

    def __init__(self, stmt: StatementHost, plan: ContextPlan, engine: EngineHost) -> None:
        self.stmt, self.plan, self.engine = stmt, plan, engine
        self.spec: TemporalSpec = plan.store.temporal
        self.active: list[_Span] = []
        self.next_id = 0
        self.stopped = False
        types = list(plan.event_types)
        #: the types the statement reads (a join's or a pattern's several)
        self.reads = frozenset(types)
        # A pattern's timers run from the partition's start, so its statement is built
        # when the partition starts, not when an event first reaches it.
        self.eager = isinstance(plan.inner, PatternPlan)
        self.outputs_when_terminated = _outputs_when_terminated(plan.inner)
        for cond in (self.spec.start, self.spec.end):
            for t in cond.event_types():
                if t not in types:
                    types.append(t)
        #: types the partitions' own nested contexts start or end with
        self.forward = frozenset(plan.condition_types() - self.reads)
        types += sorted(self.forward - set(types))
        self.types = tuple(types)
        self.origin_ms = engine.current_time_ms
        # 'start @now end after P': partition k spans [origin + k*P, origin + (k+1)*P).
        # One that receives no event outputs nothing, so it is only made when an event
        # comes (an idle hour of 1-second partitions costs nothing); its id is still k.
        # With 'output when terminated' every partition outputs at its end (a fully
        # aggregated statement's row even without events), so each is made at its start.
        self.periodic = self.spec.start.kind == "now" and self.spec.end.kind == "after" \
            and not self.outputs_when_terminated
        start, end, now = self.spec.start, self.spec.end, engine.current_time_ms
        #: ``start pattern [...]``: the pattern watching for a start (non-overlapping: only
        #: while no partition runs, restarted when one ends, as Esper)
        self.start_watch: _Watcher | None = None
        #: partitions a start pattern started during the current event: (span, reaches it)
        self._matched: list = []
        if start.kind == "pattern":
            self._watch_start()
        if start.kind == "now" and not self.periodic:
            self._start(None, now)
        if start.kind == "crontab":
            self._schedule_start(now)
            # Between a start and an end crontab time at creation: the partition runs
            # from now (Esper); a start time exactly now counts.
            if end.kind == "crontab":
                nxt_start, nxt_end = start.cron.next_after(now), end.cron.next_after(now)
                if start.cron.matches(now) or (nxt_end is not None and (nxt_start is None
                                                                        or nxt_end < nxt_start)):
                    self._start(None, now)

    def _start(self, start_event, now_ms: int, pid: int | None = None, schedule: bool = True) -> _Span:
        spec = self.spec
        if pid is None:
            pid = self.next_id
            self.next_id += 1
        end_ms = now_ms + spec.end.period_ms if spec.end.kind == "after" else \
            spec.end.cron.next_after(now_ms) if spec.end.kind == "crontab" else None
        props = {"name": self.plan.store.name, "id": pid, "startTime": now_ms, "endTime": end_ms}
        alias = spec.start.alias
        if alias is not None and start_event is not None:
            head = self.plan.prefix + alias + "."
            for n in self.plan.reads:
                if n.startswith(head):
                    props[n[len(self.plan.prefix):]] = start_event.get(n[len(head):])
        if spec.start.kind == "pattern" and start_event is not None:
            for n in self.plan.reads:       # 'a.k': tag a's event's property k
                tag, _, prop = n[len(self.plan.prefix):].partition(".")
                if tag in spec.start.tags and start_event.get(tag) is not None:
                    props[tag + "." + prop] = start_event[tag].get(prop)
        span = _Span(pid, props, now_ms, end_ms, start_event, self)
        if spec.end.kind == "pattern":
            span.end_watch = _Watcher(self.stmt, spec.end.pattern, self.engine,
                                      lambda rows, span=span: self._end_matched(span))
        self.active.append(span)
        if self.eager:
            span.op
        if end_ms is not None and schedule:
            self.engine.schedule(end_ms, span.end_due)
        return span

    def _schedule_start(self, now_ms: int) -> None:
        due = self.spec.start.cron.next_after(now_ms)
        if due is not None:
            self.engine.schedule(due, self.start_due)

    def start_due(self, now_ms: int) -> None:
        """The engine's schedule callback at a start crontab time."""
        if self.stopped:
            return
        # The next start is scheduled before this partition's end: when both fall due at
        # one time, the start finds the partition running and is skipped (as Esper).
        self._schedule_start(now_ms)
        if self.spec.overlapping or not self.active:
            self._start(None, now_ms)

    def _watch_start(self) -> None:
        self.start_watch = _Watcher(self.stmt, self.spec.start.pattern, self.engine, self._start_matched)

    def _start_matched(self, rows: list) -> None:
        for row in rows:
            if not self.spec.overlapping and self.active:
                break
            span = self._start(_Match(row), self.engine.current_time_ms)
            # Esper: the event completing an 'initiated by pattern' match reaches the new
            # partition; the one completing a 'start pattern' match does not.
            self._matched.append((span, self.spec.overlapping))
        if not self.spec.overlapping and self.active and self.start_watch is not None:
            self.start_watch.op.stop()
            self.start_watch = None

    def _end_matched(self, span: _Span) -> None:
        if not span.ended:
            self.end(span, self.engine.current_time_ms)

    def end(self, span: _Span, now_ms: int) -> None:
        span.ended = True
        if span.built or self.outputs_when_terminated:
            # 'output when terminated' outputs before the partition goes, also one no
            # event reached (a fully aggregated statement's row, as in Esper)
            span.op.terminate()
            span.op.stop()
        if span.end_watch is not None:
            span.end_watch.op.stop()
        self.active.remove(span)
        if self.spec.start.kind == "pattern" and not self.spec.overlapping and not self.stopped \
                and not self.active and self.start_watch is None:
            self._watch_start()
        if self.spec.start.kind == "now" and not self.periodic and not self.stopped:
            self._start(None, now_ms)

    def inlets(self):
        return tuple((t, TypedInlet(self, t)) for t in self.types)

    def on_events(self, events) -> None:
        self.on_typed_events(self.plan.event_type, events)

    def on_typed_events(self, type_name: str, events) -> None:
        spec, now = self.spec, self.engine
        start, end = spec.start, spec.end
        mine = type_name in self.reads
        for ev in events:
            if end.kind == "event" and end.event_type == type_name:
                for span in [s for s in self.active if end.accept(ev, s.start_event)]:
                    self.end(span, now.current_time_ms)
            if end.kind == "pattern":
                for span in list(self.active):
                    if span.end_watch is not None and not span.ended:
                        span.end_watch.feed(type_name, ev)
            skip = ()
            if self.start_watch is not None:
                self._matched = []
                self.start_watch.feed(type_name, ev)
                matched, self._matched = self._matched, []
                if mine and matched:
                    for span, reaches in reversed(matched):   # newest first, as event starts
                        if reaches:
                            span.feed(type_name, (ev,))
                    skip = tuple(span for span, _ in matched)
            first = None
            if start.kind == "event" and start.event_type == type_name and start.accept(ev, None) \
                    and (spec.overlapping or not self.active):
                first = self._start(ev, now.current_time_ms)
            if mine and self.periodic and not self.active:
                period = self.spec.end.period_ms
                k = (now.current_time_ms - self.origin_ms) // period
                self._start(None, self.origin_ms + k * period, pid=k)
            if mine:
                if first is not None:
                    first.feed(type_name, (ev,))
                for span in list(self.active):
                    if span is not first and not span.ended and span not in skip:
                        span.feed(type_name, (ev,))
            elif type_name in self.forward:
                for span in list(self.active):
                    span.feed(type_name, (ev,))

    def stop(self) -> None:
        self.stopped = True
        if self.start_watch is not None:
            self.start_watch.op.stop()
        for span in self.active:
            span.ended = True
            if span.built:
                span.op.stop()
            if span.end_watch is not None:
                span.end_watch.op.stop()

    def schedule_owners(self) -> dict:
        out = {("start",): self} if self.spec.start.kind == "crontab" else {}
        if self.start_watch is not None:
            for path, obj in self.start_watch.op.schedule_owners().items():
                out[("start-pattern", *path)] = obj
        for span in self.active:
            out[("end", span.id)] = span
            if span.end_watch is not None:
                for path, obj in span.end_watch.op.schedule_owners().items():
                    out[("end-pattern", span.id, *path)] = obj
            if span.built:
                for path, obj in span.op.schedule_owners().items():
                    out[("partition", span.id, *path)] = obj
        return out

    def snapshot_state(self, events: EventTable):
        return {"next_id": self.next_id, "origin_ms": self.origin_ms,
                "start_pattern": (self.start_watch.op.snapshot_state(events)
                                  if self.start_watch is not None else None),
                "partitions": [[s.id, s.start_ms, _start_ref(events, s.start_event),
                                s.op.snapshot_state(events) if s.built else None,
                                s.end_watch.op.snapshot_state(events) if s.end_watch is not None
                                else None]
                               for s in self.active]}

    def restore_state(self, state, events: list) -> None:
        for span in self.active:     # started fresh (@now) with the statement
            span.ended = True
            if span.built:
                span.op.stop()
        self.active = []
        if self.start_watch is not None:
            self.start_watch.op.stop()
            self.start_watch = None
        if state["start_pattern"] is not None:
            self._watch_start()
            self.start_watch.op.restore_state(state["start_pattern"], events)
        for pid, start_ms, ev_ref, inner, end_pattern in state["partitions"]:
            start_event = _start_deref(events, ev_ref)
            # its pending end timer comes back with the snapshot's schedules
            span = self._start(start_event, start_ms, pid, schedule=False)
            if inner is not None:
                span.op.restore_state(inner, events)
            if end_pattern is not None:
                span.end_watch.op.restore_state(end_pattern, events)
        self.next_id = state["next_id"]
        self.origin_ms = state["origin_ms"]


def _start_ref(events: EventTable, start_event):
    """A partition's starting event (or pattern match: tag -> event) in a snapshot."""
    if start_event is None:
        return -1
    if isinstance(start_event, _Match):
        return {t: events.ref(e) for t, e in start_event.items()}
    return events.ref(start_event)


def _start_deref(events: list, ref):
    if isinstance(ref, dict):
        return _Match({t: (None if i < 0 else events[i]) for t, i in ref.items()})
    return None if ref < 0 else events[ref]


class _Match(dict):
    """A start pattern's match: tag -> event."""

    __slots__ = ()
