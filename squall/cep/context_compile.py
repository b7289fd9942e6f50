"""Compiling contexts: ``create context`` declarations and ``context Name select ...``
statements (run time: :mod:`squall.cep.context`).

Semantics: Esper 8 reference, 4 "Context and Context Partitions".
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from squall.cep import ast as A
from squall.cep.context import (Condition, ContextPlan, ContextStore, CreateContextPlan, TemporalSpec,
                                catalog_key, crc32_bucket)
from squall.cep.crontab import Crontab
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import Scope, compile_row_expr
from squall.cep.join import JoinPlan
from squall.cep.match_recognize_compile import MatchRecognizePlan
from squall.cep.pattern import PatternPlan, compile_pattern_statement
from squall.cep.select import StatementPlan, stream_filter
from squall.cep.subquery import SubqueryPlan
from squall.cep.table import TableAccessPlan
from squall.cep.variables import VariableDecl

__all__ = ["compile_create_context", "compile_context_statement"]

#: Hash functions of a hash segmented context.
HASH_FUNCTIONS = frozenset({"consistent_hash_crc32"})


def compile_create_context(st: A.CreateContext, declared_types: dict, ctx, catalog: dict) -> CreateContextPlan:
    """Validate ``create context`` and add the declaration to ``catalog``.

    Raises:
        EPLCompileError: a context, window or table of that name exists; a type listed
            twice; an unknown hash function; a stream with data windows.
    """
    if catalog_key(st.name) in catalog:
        raise EPLCompileError(f"A context by name '{st.name}' has already been created",
                              line=st.line, column=st.column)
    if st.kind == "nested":
        names = [c.name for c in st.items]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise EPLCompileError(f"Nested context '{st.name}' names context '{n}' twice",
                                      line=st.line, column=st.column)
        store = ContextStore(st.name, "nested", {}, frozenset())
        store.children = tuple(_declare(c, declared_types, ctx) for c in st.items)
    else:
        store = _declare(st, declared_types, ctx)
    catalog[catalog_key(st.name)] = store
    return CreateContextPlan(store, st.name)


def _declare(st: A.CreateContext, declared_types: dict, ctx) -> ContextStore:
    """One (not nested) context declaration -> its store."""
    routes: dict[str, Callable] = {}
    filters: dict[str, Callable | None] = {}
    pos = dict(line=st.line, column=st.column)

    def accept_of(stream: A.StreamDef):
        if not isinstance(stream, A.StreamDef) or stream.views:
            raise EPLCompileError(f"Context '{st.name}' lists event types with optional filters "
                                  "only (no data window, no pattern)", **pos)
        if stream.event_type in routes:
            raise EPLCompileError(f"Context '{st.name}' lists event type '{stream.event_type}' "
                                  "more than once", line=stream.line, column=stream.column)
        return stream_filter(stream, declared_types.get(stream.event_type), ctx)

    if st.kind == "keyed":
        width = len(st.items[0].properties)
        for item in st.items:
            if len(item.properties) != width:
                raise EPLCompileError(f"Context '{st.name}' partitions by {width} properties for "
                                      f"'{st.items[0].stream.event_type}' and "
                                      f"{len(item.properties)} for '{item.stream.event_type}'", **pos)
            tn = item.stream.event_type
            scope = Scope(declared_types.get(tn), tn, "partition-by", None, ctx)
            getters = tuple(compile_row_expr(A.Property(p), scope) for p in item.properties)
            filters[tn] = accept_of(item.stream)
            routes[tn] = _keyed_route(filters[tn], getters)
        props = frozenset(["name", "id"] + [f"key{i + 1}" for i in range(width)])
        describe = _keyed_describe
    elif st.kind == "hash":
        for item in st.items:
            if item.function.lower() not in HASH_FUNCTIONS:
                raise EPLCompileError(f"Unknown hash function '{item.function}' (use "
                                      f"{', '.join(sorted(HASH_FUNCTIONS))})", line=item.line,
                                      column=item.column)
            tn = item.stream.event_type
            scope = Scope(declared_types.get(tn), tn, "coalesce-by", None, ctx)
            routes[tn] = _hash_route(accept_of(item.stream), compile_row_expr(item.expr, scope),
                                     st.granularity)
        props = frozenset(["name", "id"])
        describe = _no_properties
    elif st.kind in ("span", "overlap"):
        store = ContextStore(st.name, st.kind, {}, frozenset(["name", "id", "startTime", "endTime"]))
        start, end = (_condition(c, st.items[0], declared_types, ctx) for c in st.items)
        store.temporal = TemporalSpec(start, end, st.kind == "overlap")
        if start.alias is not None:
            store.prefixes = (start.alias + ".",)
        elif start.kind == "pattern":
            store.prefixes = tuple(t + "." for t in start.tags)
        return store
    else:
        tn = st.stream.event_type
        scope = Scope(declared_types.get(tn), tn, "group-by", None, ctx)
        labels = [c.label for c in st.items]
        for i, lab in enumerate(labels):
            if lab in labels[:i]:
                raise EPLCompileError(f"Context '{st.name}' declares category '{lab}' twice", **pos)
        cats = tuple((i, c.label, compile_row_expr(c.expr, scope)) for i, c in enumerate(st.items))
        routes[tn] = _category_route(accept_of(st.stream), cats)
        props = frozenset(["name", "id", "label"])
        positions = {label: i for i, label, _ in cats}

        def describe(label) -> dict:
            return {"id": positions[label], "label": label}
    store = ContextStore(st.name, st.kind, routes, props, describe)
    if st.kind == "keyed":
        store.keys = {item.stream.event_type: item.properties for item in st.items}
        store.filters = filters
    return store


def _no_properties(key) -> dict:
    return {}


def _condition(cond: A.ContextCondition, start: A.ContextCondition, declared_types: dict,
               ctx) -> Condition:
    """A start or end condition; an end filter may read the starting event's properties
    as ``alias.prop`` (the start condition's alias)."""
    if cond.kind == "crontab":
        return Condition("crontab", cron=Crontab(cond.crontab))
    if cond.kind == "pattern":
        plan = compile_pattern_statement(A.SelectStatement(None, cond.pattern), declared_types, ctx)
        return Condition("pattern", pattern=plan, tags=tuple(plan.columns))
    if cond.kind != "event":
        return Condition(cond.kind, period_ms=cond.period_ms)
    stream = cond.stream
    tn = stream.event_type
    alias = start.stream.alias if start.kind == "event" and cond is not start else None
    if not stream.filters:
        return Condition("event", tn, lambda ev, first: True, alias=stream.alias)
    # Names of the starting event ('q.k') are not the type's: checked when evaluated.
    declared = None if alias is not None else declared_types.get(tn)
    scope = Scope(declared, tn, "filter", None, ctx)
    fs = tuple(compile_row_expr(e, scope) for e in stream.filters)
    prefix = None if alias is None else alias + "."

    def accept(ev, first) -> bool:
        row = ev if prefix is None else _StartRow(ev, first, prefix)
        return all(f(row) is True for f in fs)
    return Condition("event", tn, accept, alias=stream.alias)


class _StartRow:
    """An ending event whose ``get`` also answers ``alias.prop`` from the event that
    started the partition."""

    __slots__ = ("ev", "first", "prefix")

    def __init__(self, ev, first, prefix: str) -> None:
        self.ev, self.first, self.prefix = ev, first, prefix

    def get(self, name, default=None):
        if name.startswith(self.prefix):
            return default if self.first is None else self.first.get(name[len(self.prefix):], default)
        return self.ev.get(name, default)


def _keyed_route(accept, getters):
    """route(event) -> (partition key,): the tuple of the listed properties' values."""
    if len(getters) == 1:
        g = getters[0]

        def route(ev):
            if accept is not None and not accept(ev):
                return ()
            return ((g(ev),),)
        return route

    def route_n(ev):
        if accept is not None and not accept(ev):
            return ()
        return (tuple([g(ev) for g in getters]),)
    return route_n


def _keyed_describe(key) -> dict:
    return {f"key{i + 1}": v for i, v in enumerate(key)}


def _hash_route(accept, getter, granularity: int):
    def route(ev):
        if accept is not None and not accept(ev):
            return ()
        return (crc32_bucket(getter(ev), granularity),)
    return route


def _category_route(accept, cats):
    def route(ev):
        if accept is not None and not accept(ev):
            return ()
        return tuple([label for i, label, f in cats if f(ev) is True])
    return route


def compile_context_statement(st: A.SelectStatement, declared_types: dict, ctx, catalog: dict,
                              compile_statement: Callable) -> ContextPlan:
    """Compile ``context Name select ...``: the statement itself (``compile_statement``,
    the dispatcher's own), run per partition of the context.

    Raises:
        EPLCompileError: an unknown context, statement types the context does not list
            (:func:`_check_types`), a ``context.<x>`` the context does not have, a
            statement kind not supported in a context (over a named window or table,
            with table access, a subquery over a named window or table).
    """
    store = catalog.get(catalog_key(st.context))
    pos = dict(line=st.stream.line, column=st.stream.column)
    if not isinstance(store, ContextStore):
        raise EPLCompileError(f"Context by name '{st.context}' could not be found", **pos)
    # one stream: Esper groups its aggregation by the partition properties (below)
    tn = st.stream.event_type if isinstance(st.stream, A.StreamDef) and not st.joins else None
    nested = store.context_kind == "nested"
    levels = store.children if nested else (store,)
    reads: list[set[str]] = [set() for _ in levels]

    def level_of(name: str, node) -> int:
        if nested:
            head, _, prop = name.partition(".")
            index = next((i for i, lvl in enumerate(levels) if lvl.name == head), None)
            if index is None or not prop:
                raise EPLCompileError(f"Nested context '{store.name}' has no context '{head}' "
                                      f"(write context.<nested context>.<property>)",
                                      line=node.line, column=node.column)
        else:
            index, prop = 0, name
        lvl = levels[index]
        if prop not in lvl.properties and not prop.startswith(lvl.prefixes or ("\0",)):
            raise EPLCompileError(f"Context '{lvl.name}' has no property '{prop}' (it has "
                                  f"{', '.join(sorted(lvl.properties))})", line=node.line,
                                  column=node.column)
        return index

    def rewrite(node):
        if isinstance(node, A.Property) and node.name.startswith("context."):
            name = node.name.split(".", 1)[1]
            reads[level_of(name, node)].add(name)
            return A.Variable(f"$context.{name}", None, node.line, node.column)
        if isinstance(node, tuple):
            return tuple(rewrite(x) for x in node)
        if dataclasses.is_dataclass(node) and not isinstance(node, (type, A.StreamDef)):
            return dataclasses.replace(node, **{f.name: rewrite(getattr(node, f.name))
                                                for f in dataclasses.fields(node)})
        return node

    items = st.items
    if items is not None:
        # A column keeps the name of 'context.x' as written.
        items = tuple(A.SelectItem(i.expr, i.alias if i.alias is not None else A.expr_text(i.expr))
                      if any(isinstance(n, A.Property) and n.name.startswith("context.")
                             for n in A.walk(i.expr)) else i for i in items)
    group_by = st.group_by
    keys = [p for lvl in levels for p in lvl.keys.get(tn, ())] if tn is not None else []
    if isinstance(st.stream, A.StreamDef) and st.joins:
        # a join: the partition properties of each stream of a listed type, qualified
        keys = [f"{s.alias or s.event_type}.{p}" for s in (st.stream, *st.joins)
                for lvl in levels for p in lvl.keys.get(s.event_type, ())]
    if not group_by and keys and any(
            A.nodes_of([i.expr for i in st.items or ()] + [st.having], A.Aggregate)):
        # Esper groups an aggregating statement of a keyed context by the partition
        # properties: its rows are those of 'group by <keys>' (a partition whose batch
        # had no event still posts its row once, count 0; a join's aggregated row
        # comes once per output, not once per joined row).
        group_by = tuple(A.Property(p, st.stream.line, st.stream.column) for p in keys)
    group_keyed = tn is not None and not nested and bool(keys) and \
        [g.name if isinstance(g, A.Property) else None for g in group_by] == keys
    rewritten = rewrite(dataclasses.replace(st, items=items, context=None, group_by=group_by))
    every_read = set().union(*reads)

    def compile_with(props: dict):
        """The statement compiled for one partition: its ``context.x`` are constants
        (variables of fixed value, so they do not count as event properties)."""
        saved = ctx.variables
        ctx.variables = {**saved, **{f"$context.{n}": VariableDecl(_Constant(props.get(n)), None, True,
                                                                    props.get(n)) for n in every_read}}
        try:
            return compile_statement(rewritten, declared_types, ctx, catalog)
        finally:
            ctx.variables = saved

    def plan_at(i: int, fixed: dict) -> ContextPlan:
        lvl, prefix = levels[i], (levels[i].name + "." if nested else "")
        if i == len(levels) - 1:
            inner = compile_with(fixed)
            return ContextPlan(lvl, inner, frozenset(reads[i]),
                               lambda props: compile_with({**fixed, **props}), prefix, group_keyed,
                               *_subquery_types(inner, pos))
        return ContextPlan(lvl, plan_at(i + 1, fixed), frozenset(reads[i]),
                           lambda props: plan_at(i + 1, {**fixed, **props}), prefix)

    plan = plan_at(0, {})
    innermost = plan
    while isinstance(innermost, ContextPlan):
        innermost = innermost.inner
    if not isinstance(innermost, (StatementPlan, JoinPlan, PatternPlan, MatchRecognizePlan, SubqueryPlan,
                                  TableAccessPlan)):
        raise EPLCompileError("Only selects over event streams (with subqueries or table access), "
                              "joins of event streams, patterns and match_recognize run in a context "
                              "yet (not statements over named windows or tables)", **pos)
    types = innermost_plan_types(plan)
    _check_types(levels, types, pos)
    return plan


def innermost_plan_types(plan: ContextPlan) -> tuple[str, ...]:
    """The event types the statement of ``plan`` (any level) reads."""
    while isinstance(plan.inner, ContextPlan):
        plan = plan.inner
    return plan.event_types


def _subquery_types(inner, pos: dict) -> tuple[tuple[str, ...], bool]:
    """(``types``, ``fresh``) of the innermost :class:`ContextPlan` over ``inner``: a
    statement with subqueries reads its subqueries' streams too, and each partition
    compiles its own plan (so its subqueries' windows are its own).

    Raises:
        EPLCompileError: a subquery over a named window or table.
    """
    if not isinstance(inner, SubqueryPlan):
        return (), False
    if any(spec.source is not None for _, spec in inner.subqueries):
        raise EPLCompileError("A subquery in a context reads an event stream (not a named window "
                              "or table)", **pos)
    types = [inner.event_type]
    for _, spec in inner.subqueries:
        if spec.event_type not in types:
            types.append(spec.event_type)
    return tuple(types), True


def _check_types(levels, types: tuple[str, ...], pos: dict) -> None:
    """The statement's event types against the levels of its context (Esper 8.9's rules).

    Raises:
        EPLCompileError: a segmented level lists none of the types; a category level does
            not list one of them; a nested level starts or ends with a type an enclosing
            segmented level does not list.
    """
    for i, lvl in enumerate(levels):
        if lvl.temporal is None and not any(t in lvl.routes for t in types):
            raise EPLCompileError(
                f"Segmented context '{lvl.name}' requires that any of the event types that are "
                f"listed in the segmented context also appear in any of the filter expressions of "
                f"the statement, type '{types[0]}' is not one of the types listed"
                if len(types) == 1 else
                f"Segmented context '{lvl.name}' requires that any of the event types that are "
                f"listed in the segmented context also appear in any of the filter expressions of "
                f"the statement, none of {', '.join(repr(t) for t in types)} is listed", **pos)
        unlisted = [t for t in types if t not in lvl.routes]
        if lvl.context_kind == "category" and unlisted:
            # Esper 8.9 runs such a statement but its partitions never see those events
            # (a join with them outputs nothing); refused rather than silently empty.
            raise EPLCompileError(
                f"Category context '{lvl.name}' does not list event type '{unlisted[0]}', which "
                f"the statement reads: list it in the context (group by ... from {unlisted[0]})",
                **pos)
        for t in _condition_types(lvl) - set(types):
            for outer in levels[:i]:
                if outer.temporal is None and t not in outer.routes:
                    raise EPLCompileError(
                        f"Context '{lvl.name}' starts or ends with '{t}' events, which the enclosing "
                        f"context '{outer.name}' does not list", **pos)


def _condition_types(store: ContextStore) -> set:
    """The event types that start or end a temporal context's partitions."""
    if store.temporal is None:
        return set()
    return {t for c in (store.temporal.start, store.temporal.end) for t in c.event_types()}


class _Constant:
    """A context property's value in one partition, read as a variable's cell."""

    __slots__ = ("value",)

    def __init__(self, value) -> None:
        self.value = value
