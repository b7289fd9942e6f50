"""Subqueries: ``(select ... from Type#window ...)`` as a value, ``exists (select ...)``
and ``x [not] in (select ...)`` in a single-stream statement's expressions.

Each subquery keeps its own data window, maintained from its own stream: every event of
the subquery's type (after the subquery's stream filter) enters it, whether or not the
enclosing statement reads that type. When the enclosing statement's own type is the
subquery's, the subquery's window takes the event first, so a subquery over the same
stream sees the current event (Esper does the same). The subquery is evaluated where the
enclosing expression is (per event, or at a batch's end), over what its window holds at
that engine time.

* Data windows: ``length``, ``time``, ``unique``, ``lastevent``, ``firstevent``,
  ``keepall``, one per subquery. Without a data window a subquery must be uncorrelated
  and fully aggregated (Esper's unbound aggregation: every event since the statement
  started); Esper's message otherwise.
* Correlation: the subquery's ``where`` and select list may read the enclosing event as
  ``alias.prop`` (the enclosing stream's alias or type name); an unqualified name is a
  property of the subquery's stream (Esper requires the prefix for the outer stream).
* Value of ``(select ...)``: one expression not aggregated: the value of the one row
  that passes ``where``, null when none or several do; several expressions: a dict of
  them (``select *``: the event) under the same rule; aggregates (every property inside
  an aggregate function, as Esper requires): the value over the passing rows, always one
  row (``count`` 0 over none).
* ``exists``: whether a row passes; ``in``: as an ``in`` list of the rows' values (null
  when ``x`` is null, or when nothing matches and a value is null).

A subquery may read a named window or a table (``(select max(speed) from W where ...)``,
no data window of its own): it reads the rows held when it is evaluated (for a batch
window, the batch being collected, as ``on ... select`` does).

Not supported (compile error): subqueries in joins, patterns, ``on`` statements, named
window consumers and ``match_recognize``; ``group by``/``having``/batch windows/
intersections inside a subquery; subqueries nested in a subquery.

Semantics: Esper 8 reference, 5.11 "Subqueries"; checked against Esper 8.9 in
tests/cep/esper/test_esper_subqueries.py.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from squall.cep import ast as A
from squall.cep.aggregates import AggSpec, build_aggs
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import Scope, compile_expr, compile_row_expr
from squall.cep.protocol import EngineHost, StatementHost, TypedInlet
from squall.cep.rows import AccessOperator, AccessRow, WrappedPlan, rewrite
from squall.cep.select import stream_filter, view_plan
from squall.cep.snapshot import EventTable, deref
from squall.cep.variables import VariableDecl

__all__ = ["SubqueryPlan", "SubqueryOperator", "uses_subqueries", "compile_subquery_statement"]

#: Data windows a subquery may keep.
SUBQUERY_VIEWS = frozenset({"length", "time", "unique", "lastevent", "firstevent", "keepall"})
# Outer properties inside a subquery become properties with this prefix, read from the
# enclosing event by _Correlated.get.
_OUTER = "\x01"


def uses_subqueries(st) -> bool:
    """Whether the statement has a subquery anywhere in its expressions."""
    return any(isinstance(n, A.Subquery) for n in A.walk(st))


class _Correlated:
    """An inner event paired with the enclosing event: ``get`` answers the subquery's
    own properties from ``inner`` and the outer ones (prefixed) from ``outer``."""

    __slots__ = ("inner", "outer")

    def __init__(self, outer) -> None:
        self.inner: Any = None
        self.outer = outer

    def get(self, name, default=None):
        if name[:1] == _OUTER:
            return self.outer.get(name[1:], default) if self.outer is not None else default
        return self.inner.get(name, default) if self.inner is not None else default


# ------------------------------------------------------------------ the window

class SubqueryStore:
    """What one subquery holds: its data window's events (or, without one, its running
    aggregation), fed with every accepted event of its type.

    ``now`` reads engine time (epoch milliseconds) for time windows, which drop an
    event at ``arrival + period`` as Esper's time window does.
    """

    __slots__ = ("kind", "size", "key", "accept", "now", "rows", "agg", "acc", "source")

    def __init__(self, kind: str, size: int, key, accept, now: Callable[[], int],
                 agg: AggSpec | None, source=None) -> None:
        self.kind, self.size, self.key, self.accept, self.now, self.agg = kind, size, key, accept, now, agg
        self.acc = agg.new_acc(None) if kind == "" else None
        self.rows: Any = {} if kind == "unique" else deque()
        #: ``named``: the named window or table read (its rows are its statement's state)
        self.source = source

    def enter(self, ev) -> None:
        if self.accept is not None and not self.accept(ev):
            return
        kind, rows = self.kind, self.rows
        if kind == "length":
            rows.append(ev)
            if len(rows) > self.size:
                rows.popleft()
        elif kind == "time":
            rows.append((self.now(), ev))
            self._expire()
        elif kind == "unique":
            k = self.key(ev)
            rows.pop(k, None)
            rows[k] = ev
        elif kind == "lastevent":
            rows.clear()
            rows.append(ev)
        elif kind == "firstevent":
            if not rows:
                rows.append(ev)
        elif kind == "keepall":
            rows.append(ev)
        else:  # no data window: unbound aggregation
            self.agg.update(self.acc, ev)

    def _expire(self) -> None:
        rows, horizon = self.rows, self.now() - self.size
        while rows and rows[0][0] <= horizon:
            rows.popleft()

    def current(self) -> list:
        """The events held now, oldest first."""
        if self.kind == "named":
            rows = self.source.scan()
            return rows if self.accept is None else [r for r in rows if self.accept(r)]
        if self.kind == "time":
            self._expire()
            return [ev for _, ev in self.rows]
        if self.kind == "unique":
            return list(self.rows.values())
        return list(self.rows)

    def snapshot(self, events: EventTable):
        if self.kind == "named":
            return None
        if self.kind == "":
            return {"acc": self.agg.dump(self.acc)}
        if self.kind == "time":
            return {"rows": [[t, events.ref(ev)] for t, ev in self.rows]}
        return {"rows": events.refs(self.current())}

    def restore(self, state, events: list) -> None:
        if self.kind == "named":
            return
        if self.kind == "":
            self.acc = self.agg.load(None, state["acc"])
        elif self.kind == "time":
            self.rows = deque((t, deref(events, i)) for t, i in state["rows"])
        elif self.kind == "unique":
            self.rows = {}
            for i in state["rows"]:
                ev = deref(events, i)
                self.rows[self.key(ev)] = ev
        else:
            self.rows = deque(deref(events, i) for i in state["rows"])


# ------------------------------------------------------------------ compiling

@dataclass(frozen=True)
class SubquerySpec:
    """One compiled subquery: its type, how to build its store, and ``evaluate(store,
    outer_event) -> value`` (``mode`` ``value``, ``exists`` or ``values`` for ``in``)."""
    event_type: str
    kind: str
    size: int
    key: Any
    accept: Any
    agg: AggSpec | None
    evaluate: Callable[[SubqueryStore, Any], Any]
    correlated: bool
    #: a named window or table the subquery reads (``kind`` ``named``), else None
    source: Any = None


def _outer_names(stream: A.StreamDef) -> set[str]:
    return {stream.alias or stream.event_type, stream.event_type}


def _rewrite_inner(node, inner_names: set[str], outer_names: set[str]):
    """The subquery's AST with ``inner.prop`` -> ``prop`` and ``outer.prop`` ->
    ``\\x01prop`` (a qualifier naming both streams is the subquery's own)."""
    return rewrite(node, lambda n: _inner_name(n, inner_names, outer_names))


def _inner_name(node, inner_names: set[str], outer_names: set[str]):
    if isinstance(node, A.Property) and "." in node.name:
        head, rest = node.name.split(".", 1)
        if head in inner_names:
            return A.Property(rest, node.line, node.column)
        if head in outer_names:
            return A.Property(_OUTER + rest, node.line, node.column)
        return node
    if isinstance(node, A.Subquery):
        raise EPLCompileError("A subquery inside a subquery is not supported", line=node.line,
                              column=node.column)
    return None


def _compile_one(sub: A.Subquery, mode: str, outer: A.StreamDef, declared_types: dict,
                 ctx, source=None) -> SubquerySpec:
    st = sub.statement
    pos = dict(line=sub.line, column=sub.column)
    if not isinstance(st.stream, A.StreamDef) or st.joins or st.match_recognize is not None:
        raise EPLCompileError("A subquery selects from one stream (no join, pattern or "
                              "match_recognize)", **pos)
    if st.group_by or st.having is not None or st.output is not None or st.order_by \
            or st.limit is not None or st.stream_selector != "istream":
        raise EPLCompileError("A subquery has a select list, a from clause and a where clause "
                              "only (group by, having, output, order by, limit and stream "
                              "selectors are not supported in a subquery)", **pos)
    stream = st.stream
    tn = stream.event_type
    inner_names = {stream.alias or tn, tn}
    body = _rewrite_inner(dataclasses.replace(st, stream=dataclasses.replace(stream, views=())),
                          inner_names, _outer_names(outer))
    inner_declared = declared_types.get(tn) if source is None else source.declared
    outer_declared = declared_types.get(outer.event_type)
    scope_declared = None
    if inner_declared is not None and outer_declared is not None:
        scope_declared = {**inner_declared, **{_OUTER + p: t for p, t in outer_declared.items()}}
    correlated = any(isinstance(n, A.Property) and n.name.startswith(_OUTER) for n in A.walk(body))
    plain = Scope(scope_declared, tn, "subquery", None, ctx)

    if source is not None and stream.views:
        raise EPLCompileError(f"A subquery reads named window or table '{tn}' as it is (no data "
                              "window)", **pos)
    vp = view_plan(stream, inner_declared, ctx)
    if vp.groupwin is not None or len(vp.windows) > 1 or (vp.windows and vp.kind not in SUBQUERY_VIEWS):
        raise EPLCompileError(
            f"A subquery keeps one data window of {', '.join(sorted(SUBQUERY_VIEWS))} "
            f"(got {' '.join('#' + v.name for v in stream.views)})", **pos)
    kind = "named" if source is not None else vp.kind
    size = int(vp.windows[0].size or 0) if vp.windows else 0
    key = vp.windows[0].key if vp.windows and kind == "unique" else None
    accept = stream_filter(stream, inner_declared, ctx)
    where = compile_row_expr(body.where, plain) if body.where is not None else None

    items = body.items
    aggs: list[A.Aggregate] = []
    for i in items or ():
        for a in A.nodes_of(i.expr, A.Aggregate):
            if a not in aggs:
                aggs.append(a)
    if source is None and not vp.windows and (correlated or not aggs):
        raise EPLCompileError(
            "Subqueries require one or more views to limit the stream, consider declaring a "
            "length or time window (applies to correlated or non-fully-aggregated subqueries)",
            **pos)
    agg_spec = None
    if aggs:
        for i in items:
            for p in _free_inner_props(i.expr):
                raise EPLCompileError(
                    f"Subselect with aggregation function requires all properties of the "
                    f"subselect stream to be in aggregation functions ('{p.name}')",
                    line=p.line, column=p.column)
        functions = []
        for a in aggs:
            if a.arg is None:
                functions.append((a.func, False, None, None, True))
            else:
                functions.append((a.plugin or a.func, a.distinct, compile_row_expr(a.arg, plain), None,
                                  False))
        agg_spec = build_aggs(functions, retract=False)
        if kind == "" and where is not None:
            # Uncorrelated (checked above): the filter applies on entry.
            f_accept, f_where = accept, where
            accept = (lambda ev: f_where(ev) is True) if f_accept is None else \
                (lambda ev: f_accept(ev) and f_where(ev) is True)
            where = None
        agg_index = {a: k for k, a in enumerate(aggs)}
        ascope = Scope(scope_declared, tn, "subquery", agg_index, ctx)
        fns = tuple(compile_expr(i.expr, ascope) for i in items)
        names = tuple(_item_name(i) for i in items)
    elif items is not None:
        fns = tuple(compile_row_expr(i.expr, plain) for i in items)
        names = tuple(_item_name(i) for i in items)
    else:
        fns = names = None
    if mode == "values" and (items is None or len(items) != 1):
        raise EPLCompileError("The subquery of 'in' selects exactly one expression", **pos)
    evaluate = _evaluator(mode, kind, where, agg_spec, fns, names)
    return SubquerySpec(tn, kind, size, key, accept, agg_spec, evaluate, correlated, source)


def _free_inner_props(e) -> list:
    """The subquery's own properties outside aggregate functions."""
    if isinstance(e, A.Aggregate):
        return []
    if isinstance(e, A.Property):
        return [] if e.name.startswith(_OUTER) else [e]
    out = []
    for f in dataclasses.fields(e) if dataclasses.is_dataclass(e) else ():
        v = getattr(e, f.name)
        for x in (v if isinstance(v, tuple) else (v,)):
            if isinstance(x, tuple):
                for y in x:
                    out += _free_inner_props(y)
            elif dataclasses.is_dataclass(x):
                out += _free_inner_props(x)
    return out


def _item_name(item: A.SelectItem) -> str:
    if item.alias is not None:
        return item.alias
    e = item.expr
    if isinstance(e, A.Property) and e.name.startswith(_OUTER):
        return e.name[1:]
    return A.expr_text(e)


def _evaluator(mode: str, kind: str, where, agg: AggSpec | None, fns, names):
    """``evaluate(store, outer) -> value`` for the compiled parts of one subquery."""

    def passing(store, pair):
        rows = store.current()
        if where is None:
            return rows
        out = []
        for r in rows:
            pair.inner = r
            if where(pair) is True:
                out.append(r)
        return out

    if agg is not None:
        def aggregated(store, outer):
            pair = _Correlated(outer)
            if kind == "":
                values = agg.values(store.acc)
            else:
                acc = agg.new_acc(None)
                for r in passing(store, pair):
                    pair.inner = r
                    agg.update(acc, pair)
                values = agg.values(acc)
            pair.inner = None
            if len(fns) == 1:
                return fns[0](pair, values)
            return {n: f(pair, values) for n, f in zip(names, fns)}
        if mode == "exists":
            return lambda store, outer: True
        if mode == "values":
            return lambda store, outer: [aggregated(store, outer)]
        return aggregated

    if mode == "exists":
        def exists(store, outer):
            return bool(passing(store, _Correlated(outer)))
        return exists

    def row_value(pair):
        if fns is None:
            return dict(pair.inner)
        if len(fns) == 1:
            return fns[0](pair)
        return {n: f(pair) for n, f in zip(names, fns)}

    if mode == "values":
        def values(store, outer):
            pair = _Correlated(outer)
            out = []
            for r in passing(store, pair):
                pair.inner = r
                out.append(row_value(pair))
            return out
        return values

    def single(store, outer):
        pair = _Correlated(outer)
        rows = passing(store, pair)
        if len(rows) != 1:
            return None
        pair.inner = rows[0]
        return row_value(pair)
    return single


def _in_values(operand_name: str, values_name: str, negated: bool):
    """``x in (subquery)`` over the synthetic properties of the operand and the values."""
    hit, miss = (False, True) if negated else (True, False)

    def ev_in(row):
        v = row.get(operand_name)
        if v is None:
            return None
        has_null = False
        for x in row.get(values_name):
            if x is None:
                has_null = True
            elif x == v:
                return hit
        return None if has_null else miss
    return ev_in


@dataclass(frozen=True)
class SubqueryPlan(WrappedPlan):
    """A single-stream statement with subqueries: the statement compiled with each
    subquery as a synthetic property (answered by ``access`` when read), and the
    subqueries whose windows its operator maintains."""
    inner: Any
    access: dict
    subqueries: tuple[tuple[str, SubquerySpec], ...]
    cells: dict

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "SubqueryOperator":
        return SubqueryOperator(stmt, self, engine)


def compile_subquery_statement(st: A.SelectStatement, declared_types: dict, ctx, catalog: dict,
                               compile_statement: Callable) -> SubqueryPlan:
    """Compile a single-stream statement with subqueries (see the module docs).

    ``compile_statement`` compiles the rewritten statement (the dispatcher's own).

    Raises:
        EPLCompileError: a subquery where it is not supported, a subquery without a data
            window that is correlated or not fully aggregated, a property outside the
            aggregates of an aggregated subquery, an unknown property of a declared type.
    """
    stream = st.stream
    if st.joins or not isinstance(stream, A.StreamDef) or st.match_recognize is not None \
            or stream.event_type in catalog:
        raise EPLCompileError("Subqueries are supported in single-stream statements over an event "
                              "stream only (not in joins, patterns, match_recognize or over a "
                              "named window or table)", line=stream.line, column=stream.column)
    tn = stream.event_type
    subs: list[tuple[str, SubquerySpec]] = []
    access: dict[str, Callable] = {}
    types: dict[str, type] = {}

    def reader(spec: SubquerySpec, name: str):
        def read(row):
            return spec.evaluate(row.stores[name], row)
        return read

    def add(sub: A.Subquery, mode: str) -> str:
        source = catalog.get(getattr(sub.statement.stream, "event_type", None))
        if source is not None and getattr(source, "kind", None) not in ("window", "table"):
            source = None
        spec = _compile_one(sub, mode, stream, declared_types, ctx, source)
        name = f"$subquery[{len(subs)}]"
        subs.append((name, spec))
        access[name] = reader(spec, name)
        types[name] = object
        return name

    # An uncorrelated subquery reads nothing of the enclosing event: it compiles as a
    # variable (a value read when evaluated), so it does not make the statement's rows
    # per event (Esper's output models count only the stream's own properties).
    ctx.variables = dict(ctx.variables)
    cells: dict[str, _SubqueryCell] = {}

    def value_node(sub: A.Subquery, mode: str) -> A.Expr:
        name = add(sub, mode)
        spec = subs[-1][1]
        if spec.correlated:
            return A.Property(name, sub.line, sub.column)
        cell = cells[name] = _SubqueryCell(spec.evaluate)
        ctx.variables[name] = VariableDecl(cell, None, False, None)
        return A.Variable(name, None, sub.line, sub.column)

    def replace(node):
        if isinstance(node, A.SelectItem) and node.alias is None and any(
                isinstance(n, (A.Subquery, A.Exists, A.InSubquery)) for n in A.walk(node.expr)):
            # The column keeps the name of the expression as written.
            return A.SelectItem(rewrite(node.expr, replace), A.expr_text(node.expr))
        if isinstance(node, A.Subquery):
            return value_node(node, "value")
        if isinstance(node, A.Exists):
            return value_node(node.subquery, "exists")
        if isinstance(node, A.InSubquery):
            s = node.subquery
            # The operand is the enclosing statement's: 'alias.prop' is its own property.
            operand = _rewrite_inner(rewrite(node.operand, replace), _outer_names(stream), set())
            values = add(s, "values")
            opname = f"$subquery-in[{len(subs) - 1}]"
            access[opname] = compile_row_expr(operand, Scope(None, tn, "subquery", None, ctx))
            access[f"{values}?in"] = _in_values(opname, values, node.negated)
            types[f"{values}?in"] = object
            return A.Property(f"{values}?in", s.line, s.column)
        return None

    rewritten = rewrite(st, replace)
    inner_types = dict(declared_types)
    if declared_types.get(tn) is not None:
        inner_types[tn] = {**declared_types[tn], **types}
    inner = compile_statement(rewritten, inner_types, ctx, catalog)
    return SubqueryPlan(inner, access, tuple(subs), cells)


class _SubqueryCell:
    """An uncorrelated subquery read as a variable: ``value`` evaluates it over ``store``
    (bound by the operator)."""

    __slots__ = ("evaluate", "store")

    def __init__(self, evaluate) -> None:
        self.evaluate = evaluate
        self.store: SubqueryStore | None = None

    @property
    def value(self):
        return self.evaluate(self.store, None)


class SubqueryRow(AccessRow):
    """An event of the enclosing statement whose ``get`` also answers its subqueries,
    evaluated when read, over the operator's subquery windows (``stores``)."""

    __slots__ = ("stores",)


class SubqueryOperator(AccessOperator):
    """Wraps the statement's operator: feeds each subquery's window from its type (before
    the statement when the types are the same) and hands events on as
    :class:`SubqueryRow`."""

    row_type = SubqueryRow

    def __init__(self, stmt: StatementHost, plan: SubqueryPlan, engine: EngineHost) -> None:
        self.type = plan.event_type
        now = lambda: engine.current_time_ms  # noqa: E731
        self.stores = {name: SubqueryStore(s.kind, s.size, s.key, s.accept, now, s.agg, s.source)
                       for name, s in plan.subqueries}
        by_type: dict[str, list[SubqueryStore]] = {}
        for name, s in plan.subqueries:
            if s.source is None:   # a named window or table keeps its own rows
                by_type.setdefault(s.event_type, []).append(self.stores[name])
        self.by_type = by_type
        for name, cell in plan.cells.items():
            cell.store = self.stores[name]
        self.own = tuple(by_type.get(self.type, ()))
        super().__init__(stmt, plan, engine)

    def wrap(self, ev) -> SubqueryRow:
        row = super().wrap(ev)
        row.stores = self.stores
        return row

    def on_events(self, events) -> None:
        own, inner = self.own, self.inner
        for ev in events:
            for store in own:
                store.enter(ev)
            inner.on_events((self.wrap(ev),))

    def on_typed_events(self, type_name: str, events) -> None:
        if type_name == self.type:
            self.on_events(events)
            return
        for ev in events:
            for store in self.by_type[type_name]:
                store.enter(ev)

    def inlets(self):
        # The statement reads one stream (compile_subquery_statement refuses the others).
        return tuple((t, TypedInlet(self, t)) for t in (self.type, *(t for t in self.by_type
                                                                      if t != self.type)))

    def snapshot_state(self, events: EventTable):
        return {"inner": self.inner.snapshot_state(events),
                "subqueries": {n: s.snapshot(events) for n, s in self.stores.items()}}

    def restore_state(self, state, events: list) -> None:
        self.rewrap(events)
        for n, s in self.stores.items():
            if n in state["subqueries"]:
                s.restore(state["subqueries"][n], events)
        self.inner.restore_state(state["inner"], events)
