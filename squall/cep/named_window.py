"""Named windows: ``create window``, ``insert into`` a window, and statements selecting
from one.

A named window is a data window that several statements share (Esper 8 reference, 6.2
"Named Window Usage"). ``create window W#length(10) as select * from Car`` (or ``as
Car``, ``as select a, b from Car``, ``as (a string, b double)``) declares it and its
columns; rows enter through ``insert into W select ...`` (or events sent as type ``W``),
pass the window's data windows (any of :mod:`squall.cep.views`), and leave as those
windows say, or by ``on ... delete``/``merge`` (:mod:`squall.cep.on_action`).

The window keeps a copy of each row it receives (projected onto its columns when they
are known). An update replaces a row by its new version, which goes to the end of the
data windows (as Esper's remove-old, insert-new: a time window's clock starts again for
it, a length window evicts it last). Everything the window posts, as in Esper 8.9:

* the ``create window`` statement outputs its insert stream (rows entering, and the new
  values of updated rows) and its remove stream (rows leaving, deleted, and the old
  values of updated rows);
* statements selecting from the window (*consumers*: ``select ... from W [(filter)]
  [as w] ...``) get those posts as new and old data, as if the window were their own
  data window: ``select count(*) from W`` follows the window's size, ``select irstream``
  sees rows leave. A consumer takes no data window of its own and sees only what the
  window posts after it started (its aggregates are not loaded from the rows already
  there).

:class:`WindowStore` is the window's shared state: the rows held now, in the order they
entered (read by ``on ... select``, ``on ... merge`` and fire-and-forget queries), and
the consumers to notify.

Semantics: Esper 8 reference, 6.2 "Named Window Usage", 6.2.1 "Creating Named Windows",
6.2.2 "Inserting Into Named Windows", 6.2.3 "Selecting From Named Windows"; verified
against Esper 8.9 in tests/cep/esper/test_esper_named_windows.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.resultset import Pipeline
from squall.cep.rows import rewrite
from squall.cep.select import StatementPlan, compile_select_statement, view_plan
from squall.cep.snapshot import EventTable
from squall.cep.views import BATCH_KINDS, GroupWin, Sliding, TimerHost, make_window_set

__all__ = ["WindowStore", "CreateWindowPlan", "ConsumerPlan", "compile_create_window",
           "compile_consumer", "strip_alias", "COLUMN_TYPES"]

#: Column types of ``create window W as (name type, ...)`` and ``create table``.
COLUMN_TYPES = {"string": str, "double": float, "float": float, "long": int, "int": int,
                "integer": int, "boolean": bool, "bool": bool}


class WindowStore:
    """The shared state of one named window (see the module docs).

    Attributes:
        name: the window's name (its event type name).
        declared: column -> Python type (``object`` when unknown), or None when the
            columns are not known (``as Car`` of an undeclared type).
        rows: the rows held now, ``id(row) -> row``, in the order they entered (for a
            batch window: the batch being collected and the batch posted last).
        consumers: the operators of the statements selecting from the window.
        owner: the ``create window`` operator while it runs, else None.
    """

    kind = "window"

    def __init__(self, name: str, declared: dict[str, type] | None) -> None:
        self.name = name
        self.declared = declared
        self.rows: dict[int, dict] = {}
        self.consumers: list = []
        self.owner: "CreateWindowOperator | None" = None

    @property
    def columns(self) -> tuple[str, ...] | None:
        return None if self.declared is None else tuple(self.declared)

    def contents(self) -> list[dict]:
        """The rows held now, in the order they entered (do not modify them): what
        ``on ... delete``/``update``/``merge`` and fire-and-forget deletes and updates
        search."""
        return list(self.rows.values())

    def scan(self) -> list[dict]:
        """What selects read (``on ... select``, fire-and-forget select): the rows held
        now, except that a batch window gives only the batch it is collecting (as Esper
        8.9, which iterates a batch view's current batch)."""
        owner = self.owner
        if owner is None or not owner.batch:
            return self.contents()
        return [r for r in self.rows.values() if id(r) in owner.collecting()]

    def insert(self, row: dict) -> None:
        """A row enters through the window's data windows (as ``insert into``)."""
        self._running().on_events((row,))

    def change(self, deletes: list, updates: list) -> list[tuple[dict, dict]]:
        """Delete ``deletes`` (held rows) and apply ``updates`` (``(held row, {column:
        value})``); the window posts the updated rows' new values and the deleted rows
        plus the updated rows' old values, in one post.

        Returns:
            ``(old copy, new copy)`` per update, in order.
        """
        return self._running().change(deletes, updates)

    def _running(self) -> "CreateWindowOperator":
        if self.owner is None:
            raise EPLCompileError(f"Named window '{self.name}' has been removed")
        return self.owner


# ------------------------------------------------------------------ create window

@dataclass(frozen=True)
class CreateWindowPlan:
    """A compiled ``create window``: the store, its data windows, the row projection."""
    store: WindowStore
    view: Any                     # select.ViewPlan
    columns: tuple[str, ...]
    event_type: str

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "CreateWindowOperator":
        return CreateWindowOperator(stmt, self, engine)


def compile_create_window(st: A.CreateWindow, declared_types: dict, ctx, catalog: dict) -> CreateWindowPlan:
    """Validate ``create window`` and add the window to ``catalog`` (name -> store), so
    the statements compiled after it can use it.

    Raises:
        EPLCompileError: a window or table of that name exists, no data window, an
            unknown column type, a select list item that is not a property.
    """
    if st.name in catalog:
        raise EPLCompileError(f"A named window or table by name '{st.name}' has already been "
                              "created", line=st.line, column=st.column)
    if not st.views:
        raise EPLCompileError(f"Named window '{st.name}' needs a data window "
                              f"('create window {st.name}#keepall as ...')", line=st.line,
                              column=st.column)
    declared: dict[str, type] | None
    if st.columns is not None:
        declared = {}
        for name, type_name in st.columns:
            t = COLUMN_TYPES.get(type_name.lower())
            if t is None:
                raise EPLCompileError(f"Unknown type '{type_name}' of column '{name}' (use one of "
                                      f"{', '.join(sorted(COLUMN_TYPES))})", line=st.line,
                                      column=st.column)
            declared[name] = t
    else:
        source = declared_types.get(st.source)
        if st.items is None:
            declared = None if source is None else dict(source)
        else:
            declared = {}
            for item in st.items:
                if not isinstance(item.expr, A.Property) or "." in item.expr.name:
                    raise EPLCompileError(
                        "The select list of 'create window ... as select' names the columns: "
                        f"properties of '{st.source}', optionally renamed with 'as'",
                        line=st.line, column=st.column)
                if source is not None and item.expr.name not in source:
                    p = item.expr
                    raise EPLCompileError(
                        f"Property named '{p.name}' is not valid in event type '{st.source}'",
                        line=p.line, column=p.column)
                declared[item.alias or item.expr.name] = \
                    object if source is None else source[item.expr.name]
    stream = A.StreamDef(st.name, st.views, None, st.line, st.column)
    view = view_plan(stream, declared, ctx)
    store = WindowStore(st.name, declared)
    catalog[st.name] = store
    return CreateWindowPlan(store, view, () if declared is None else tuple(declared), st.name)


class CreateWindowOperator(TimerHost, Operator):
    """Runs a named window: rows in (events of the window's type), data windows, posts
    to the ``create window`` statement's listeners and to the consumers."""

    def __init__(self, stmt: StatementHost, plan: CreateWindowPlan, engine: EngineHost) -> None:
        self.stmt = stmt
        self.engine = engine
        self.store = plan.store
        self.columns = plan.columns
        self.stopped = False
        self._init_timers()
        view = plan.view
        if view.groupwin is not None:
            self.windows = GroupWin(view.groupwin, view.windows, self)
        else:
            self.windows = make_window_set(view.windows, self, ())
        # A batch window's rows count from arrival until they leave as the prior batch.
        self.batch = view.windows[0].kind in BATCH_KINDS
        plan.store.owner = self

    def on_events(self, events) -> None:
        self.stmt.events_in += len(events)
        cols = self.columns
        insert = self.windows.insert
        rows = self.store.rows
        batch = self.batch
        for ev in events:
            # A copy, so the window's rows are its own (updates replace them).
            row = {c: ev.get(c) for c in cols} if cols else dict(ev)
            if batch:
                rows[id(row)] = row
            insert(row)

    def on_due(self, now: int) -> None:
        waiting = self._due.pop(now, None)
        if self.stopped or not waiting:
            return
        waiting.sort(key=lambda o: o.slot)
        for obj in waiting:
            obj.on_timer(now)

    def collecting(self) -> set[int]:
        """ids of the rows in the batches being collected (batch windows)."""
        ws = self.windows
        sets = ws.sets.values() if isinstance(ws, GroupWin) else (ws,)
        return {id(e) for w in sets for e in getattr(w, "cur", ())}

    def post(self, new, old, window) -> None:
        rows = self.store.rows
        if not self.batch:
            for ev in new:
                rows[id(ev)] = ev
        for ev in old:
            rows.pop(id(ev), None)
        self._publish(list(new), list(old))

    def _publish(self, new: list, old: list) -> None:
        if self.stmt.listening:
            self.stmt.emit_streams([dict(e) for e in new], [dict(e) for e in old], None)
        for consumer in list(self.store.consumers):
            consumer.on_post(new, old)

    def change(self, deletes: list, updates: list) -> list[tuple[dict, dict]]:
        rows = self.store.rows
        old, new, pairs = [], [], []
        for ev in deletes:
            if rows.pop(id(ev), None) is not None:
                _forget(self.windows, ev)
                # Esper: a row deleted from a batch window leaves the batch being collected
                # without a post; a row of the posted batch still leaves it as old data.
                if not self.batch:
                    old.append(ev)
        for ev, changes in updates:
            if rows.pop(id(ev), None) is None:
                continue
            # Esper updates a named window as remove-old, insert-new: the new row goes to
            # the end of the data windows (a time window's clock for it starts again).
            after = {**ev, **changes}
            _replace(self.windows, ev, after)
            rows[id(after)] = after
            old.append(ev)
            new.append(after)
            pairs.append((dict(ev), dict(after)))
        if new or old:
            self._publish(new, old)
        return pairs

    def stop(self) -> None:
        self.stopped = True
        if self.store.owner is self:
            self.store.owner = None

    def schedule_owners(self) -> dict:
        return {("window",): self}

    def snapshot_state(self, events: EventTable):
        return {"windows": self.windows.dump(events), "rows": events.refs(self.store.rows.values())}

    def restore_state(self, state, events: list) -> None:
        self.windows.load(state["windows"], events)
        self.store.rows = {id(events[i]): events[i] for i in state["rows"]}
        self._due = {}
        for obj in self._timed:
            if getattr(obj, "scheduled", None) is not None:
                self._due.setdefault(obj.scheduled, []).append(obj)


def _replace(ws, ev, after) -> None:
    """Put ``after`` in place of held row ``ev``: out of the window set, then in at the
    end of each data window, without posting (the caller posts the update)."""
    if isinstance(ws, GroupWin):
        sub = ws.sets.get(ws.key(ev))
        if sub is not None:
            _replace(sub, ev, after)
    elif isinstance(ws, Sliding):
        for w in ws.windows:
            w.remove(ev)
            w.insert(after)
    else:
        for name in ("cur", "prior"):
            held = getattr(ws, name, None)
            if held is not None:
                held[:] = [after if e is ev else e for e in held]


def _forget(ws, ev) -> None:
    """Take ``ev`` out of a window set without posting (a deleted row)."""
    if isinstance(ws, GroupWin):
        for sub in ws.sets.values():
            _forget(sub, ev)
    elif isinstance(ws, Sliding):
        for w in ws.windows:
            w.remove(ev)
    else:   # batch windows: the batch being collected
        held = getattr(ws, "cur", None)
        if held is not None:
            held[:] = [e for e in held if e is not ev]


# ------------------------------------------------------------------ consumers

@dataclass(frozen=True)
class ConsumerPlan:
    """A statement selecting from a named window: its result-set plan (compiled as if
    over a data window, so aggregates can leave) and the store it reads."""
    store: WindowStore
    rs: StatementPlan

    @property
    def columns(self) -> tuple[str, ...]:
        return self.rs.columns

    @property
    def event_type(self) -> str:
        return self.store.name

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "ConsumerOperator":
        return ConsumerOperator(stmt, self, engine)


def compile_consumer(st: A.SelectStatement, store: WindowStore, declared_types: dict,
                     ctx) -> ConsumerPlan:
    """Validate a statement selecting from named window ``store``.

    Raises:
        EPLCompileError: a data window on the named window, an unknown column, ...
    """
    stream = st.stream
    if stream.views:
        v = stream.views[0]
        raise EPLCompileError(
            f"Statements selecting from named window '{store.name}' take no data window of "
            "their own (the named window's data windows decide what it holds)",
            line=v.line, column=v.column)
    # Compiled over #keepall so aggregates are built to retract the rows the window
    # removes; the consumer never inserts into that window.
    synthetic = dataclasses.replace(stream, views=(A.View("keepall", ()),), alias=None)
    st = dataclasses.replace(st, stream=synthetic)
    st = strip_alias(st, stream.alias)
    types = dict(declared_types)
    types[store.name] = store.declared
    if store.declared is None:
        types.pop(store.name)
    return ConsumerPlan(store, compile_select_statement(st, types, ctx))


def strip_alias(st, alias: str | None):
    """``alias.prop`` -> ``prop`` everywhere in ``st`` (a single-stream statement; its
    stream definitions are left as they are)."""
    if not alias:
        return st
    prefix = alias + "."

    def fix(node):
        if isinstance(node, A.Property) and node.name.startswith(prefix):
            return A.Property(node.name[len(prefix):], node.line, node.column)
        return None
    return rewrite(st, fix)


class ConsumerOperator(Operator):
    """A statement selecting from a named window: the window's posts go through the
    statement's stream filter, ``where`` and result-set processor
    (:class:`squall.cep.resultset.Pipeline`)."""

    def __init__(self, stmt: StatementHost, plan: ConsumerPlan, engine: EngineHost) -> None:
        self.stmt = stmt
        self.store = plan.store
        self.pipeline = Pipeline(stmt, plan.rs, engine)
        self.filter = plan.rs.stream_filter
        self.stopped = False
        plan.store.consumers.append(self)

    def inlets(self) -> tuple:
        return ()     # rows come from the window (on_post), not from an engine route

    def on_events(self, events) -> None:
        """Never called: :meth:`inlets` routes no event type here."""

    def on_post(self, new: list, old: list) -> None:
        if self.stopped:
            return
        flt = self.filter
        if flt is not None:
            new = [e for e in new if flt(e)]
            old = [e for e in old if flt(e)]
            if not new and not old:
                return
        self.stmt.events_in += len(new)
        self.pipeline.post(new, old, None)

    def stop(self) -> None:
        self.stopped = True
        self.pipeline.stop()
        if self in self.store.consumers:
            self.store.consumers.remove(self)

    def schedule_owners(self) -> dict:
        return self.pipeline.schedule_owners()

    def snapshot_state(self, events: EventTable):
        return self.pipeline.snapshot_state(events)

    def restore_state(self, state, events: list) -> None:
        self.pipeline.restore_state(state, events)
