"""Semantic analysis: statement AST -> :class:`StatementPlan` made of Python closures.

No user text is ever evaluated as code: every expression becomes a tree of closures
built here, once, at compile time.

Output model, chosen as in Esper 8 reference, 5.6 "Aggregation and grouping" and
Appendix A "Output reference and samples" (result-set processor types):

======================  =========================================================
model                   when
======================  =========================================================
``unaggregated``        no aggregate functions (a group by is then ignored, as the
                        statement has nothing to aggregate)
``fully_aggregated``    aggregates, no group by, every property sits inside an aggregate
``aggregated``          aggregates, no group by, some property outside aggregates
``fully_grouped``       group by, every property outside aggregates is a group-by property
``aggregated_grouped``  group by, some other property outside aggregates
======================  =========================================================
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError

__all__ = ["StatementPlan", "AggSpec", "compile_statement", "column_name", "MODELS"]

MODELS = ("unaggregated", "fully_aggregated", "aggregated", "fully_grouped", "aggregated_grouped")

Getter = Callable[[dict], Any]
Eval = Callable[[Any, Any], Any]  # (event or None, aggregate values or None) -> value


def column_name(item: A.SelectItem) -> str:
    """The output-row key of a select item: its alias, else Esper's expression text."""
    return item.alias if item.alias is not None else A.expr_text(item.expr)


# ---------------------------------------------------------------- expressions

def _java_div(a, b):
    # Esper divides as Java doubles: x/0 is +-Infinity, 0/0 is NaN.
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or (isinstance(a, float) and math.isnan(a)):
            return math.nan
        return math.copysign(math.inf, a) * (math.copysign(1.0, b) if isinstance(b, float) else 1.0)


def _java_mod(a, b):
    if b == 0:
        return None if isinstance(a, int) and isinstance(b, int) else math.nan
    r = math.fmod(a, b)
    return int(r) if isinstance(a, int) and isinstance(b, int) else r


_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": _java_div,
          "%": _java_mod}
_COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
            ">": operator.gt, ">=": operator.ge}


def _binary(fn, lf: Eval, rf: Eval) -> Eval:
    def ev_binary(ev, av):
        a = lf(ev, av)
        if a is None:
            return None
        b = rf(ev, av)
        if b is None:
            return None
        return fn(a, b)
    return ev_binary


def _and(lf: Eval, rf: Eval) -> Eval:
    # SQL three-valued logic: false wins over null.
    def ev_and(ev, av):
        a = lf(ev, av)
        if a is False:
            return False
        b = rf(ev, av)
        if b is False:
            return False
        if a is None or b is None:
            return None
        return True
    return ev_and


def _or(lf: Eval, rf: Eval) -> Eval:
    def ev_or(ev, av):
        a = lf(ev, av)
        if a is True:
            return True
        b = rf(ev, av)
        if b is True:
            return True
        if a is None or b is None:
            return None
        return False
    return ev_or


class _Scope:
    """What the expression compiler needs to know about the statement."""

    def __init__(self, declared: dict[str, type] | None, type_name: str, clause: str,
                 agg_index: dict[A.Aggregate, int] | None) -> None:
        self.declared = declared
        self.type_name = type_name
        self.clause = clause
        self.agg_index = agg_index  # None: aggregates not allowed in this clause


def check_property(p: A.Property, scope: _Scope) -> None:
    if scope.declared is not None and p.name not in scope.declared:
        raise EPLCompileError(
            f"Failed to validate {scope.clause} expression: property named '{p.name}' is not "
            f"valid in event type '{scope.type_name}' (its properties: "
            f"{', '.join(sorted(scope.declared)) or 'none'})", line=p.line, column=p.column)


def compile_expr(e: A.Expr, scope: _Scope) -> Eval:
    """Compile an expression to ``f(event, aggregate_values) -> value``."""
    if isinstance(e, A.Literal):
        v = e.value
        return lambda ev, av: v
    if isinstance(e, A.Property):
        check_property(e, scope)
        name = e.name

        def ev_prop(ev, av):
            return None if ev is None else ev.get(name)
        return ev_prop
    if isinstance(e, A.Aggregate):
        if scope.agg_index is None:
            raise EPLCompileError(
                f"Aggregate function '{A.expr_text(e)}' is not allowed in the {scope.clause} "
                "clause", line=e.line, column=e.column)
        k = scope.agg_index[e]
        return lambda ev, av: av[k]
    if isinstance(e, A.FunctionCall):
        if e.name.lower() in A.AGGREGATE_FUNCTIONS:
            raise EPLCompileError(f"Aggregate function '{e.name}' takes exactly one argument",
                                  line=e.line, column=e.column)
        raise EPLCompileError(f"Unknown function '{e.name}'", line=e.line, column=e.column)
    if isinstance(e, A.IsNull):
        f = compile_expr(e.operand, scope)
        if e.negated:
            return lambda ev, av: f(ev, av) is not None
        return lambda ev, av: f(ev, av) is None
    if isinstance(e, A.UnaryOp):
        f = compile_expr(e.operand, scope)
        if e.op == "not":
            def ev_not(ev, av):
                v = f(ev, av)
                return None if v is None else not v
            return ev_not

        def ev_neg(ev, av):
            v = f(ev, av)
            return None if v is None else -v
        return ev_neg
    if isinstance(e, A.BinaryOp):
        lf, rf = compile_expr(e.left, scope), compile_expr(e.right, scope)
        if e.op == "and":
            return _and(lf, rf)
        if e.op == "or":
            return _or(lf, rf)
        fn = _ARITH.get(e.op) or _COMPARE[e.op]
        return _binary(fn, lf, rf)
    raise TypeError(f"unknown expression node {e!r}")


def compile_row_expr(e: A.Expr, scope: _Scope) -> Getter:
    """Compile an aggregate-free expression to ``f(event) -> value`` (per-event path)."""
    if isinstance(e, A.Property):
        check_property(e, scope)
        name = e.name
        return lambda ev: ev.get(name)
    f = compile_expr(e, scope)
    return lambda ev: f(ev, None)


# ---------------------------------------------------------------- aggregation

@dataclass(frozen=True)
class AggSpec:
    """Per-group accumulator layout: ``acc[0]`` is a representative event, then slots.

    ``new_acc(ev)`` builds a fresh accumulator; ``update(acc, ev)`` adds one event;
    ``values(acc)`` returns the aggregate values, indexed like ``StatementPlan.aggregates``.
    """
    new_acc: Callable[[Any], list]
    update: Callable[[list, dict], None] | None
    values: Callable[[list], list]


def _aggregator(agg: A.Aggregate, slot: int, scope: _Scope):
    """-> (initial slot values factory, updater(acc, ev), finalizer(acc))."""
    i = slot
    if agg.arg is None:  # count(*)
        def upd(acc, ev):
            acc[i] += 1
        return (lambda: [0]), upd, (lambda acc: acc[i])
    for sub in _walk(agg.arg):
        if isinstance(sub, A.Aggregate):
            raise EPLCompileError(f"Aggregate functions cannot be nested: '{A.expr_text(agg)}'",
                                  line=agg.line, column=agg.column)
    arg_scope = _Scope(scope.declared, scope.type_name, scope.clause, None)
    if isinstance(agg.arg, A.Property):
        check_property(agg.arg, arg_scope)
        name = agg.arg.name
        get = None
    else:
        name = None
        get = compile_row_expr(agg.arg, arg_scope)
    f = agg.func
    if agg.distinct:
        def upd(acc, ev):
            v = ev.get(name) if get is None else get(ev)
            if v is not None:
                acc[i].add(v)
        fin = {"count": lambda acc: len(acc[i]),
               "sum": lambda acc: sum(acc[i]) if acc[i] else None,
               "avg": lambda acc: sum(acc[i]) / len(acc[i]) if acc[i] else None,
               "min": lambda acc: min(acc[i]) if acc[i] else None,
               "max": lambda acc: max(acc[i]) if acc[i] else None}[f]
        return (lambda: [set()]), upd, fin
    if f == "count":
        if get is None:
            def upd(acc, ev):
                if ev.get(name) is not None:
                    acc[i] += 1
        else:
            def upd(acc, ev):
                if get(ev) is not None:
                    acc[i] += 1
        return (lambda: [0]), upd, (lambda acc: acc[i])
    if f in ("sum", "avg"):
        j = i + 1
        if get is None:
            def upd(acc, ev):
                v = ev.get(name)
                if v is not None:
                    acc[i] += 1
                    acc[j] += v
        else:
            def upd(acc, ev):
                v = get(ev)
                if v is not None:
                    acc[i] += 1
                    acc[j] += v
        if f == "sum":
            fin = lambda acc: acc[j] if acc[i] else None  # noqa: E731  sum of nothing is null
        else:
            fin = lambda acc: acc[j] / acc[i] if acc[i] else None  # noqa: E731
        return (lambda: [0, 0]), upd, fin
    better = operator.lt if f == "min" else operator.gt

    def upd(acc, ev):
        v = ev.get(name) if get is None else get(ev)
        if v is not None:
            cur = acc[i]
            if cur is None or better(v, cur):
                acc[i] = v
    return (lambda: [None]), upd, (lambda acc: acc[i])


def _build_aggs(aggs: list[A.Aggregate], scope: _Scope) -> AggSpec:
    inits, upds, fins = [], [], []
    slot = 1
    for agg in aggs:
        init, upd, fin = _aggregator(agg, slot, scope)
        n = len(init())
        inits.append(init)
        upds.append(upd)
        fins.append(fin)
        slot += n
    if all(len(i()) == 1 and not isinstance(i()[0], set) for i in inits) or not inits:
        template = [None]
        for init in inits:
            template.extend(init())

        def new_acc(ev):
            acc = template.copy()  # immutable slot values only: a shallow copy is enough
            acc[0] = ev
            return acc
    else:
        def new_acc(ev):
            acc = [ev]
            for init in inits:
                acc.extend(init())
            return acc
    if not upds:
        update = None
    elif len(upds) == 1:
        update = upds[0]
    else:
        ups = tuple(upds)

        def update(acc, ev):
            for u in ups:
                u(acc, ev)
    fins_t = tuple(fins)
    return AggSpec(new_acc, update, lambda acc: [fn(acc) for fn in fins_t])


# ---------------------------------------------------------------- statement

@dataclass(frozen=True)
class ViewPlan:
    """``kind`` is 'time_batch' (``size`` in msec) or 'length_batch' (``size`` in events)."""
    kind: str
    size: int


@dataclass(frozen=True)
class StatementPlan:
    """Everything a runtime operator needs, as precomputed closures."""
    event_type: str
    view: ViewPlan
    model: str
    where: Getter | None
    group_key: Getter | None
    columns: tuple[str, ...]
    select: tuple[Eval, ...]
    having: Eval | None
    aggs: AggSpec
    wildcard: bool


def _walk(e):
    yield e
    if isinstance(e, A.BinaryOp):
        yield from _walk(e.left)
        yield from _walk(e.right)
    elif isinstance(e, (A.UnaryOp, A.IsNull)):
        yield from _walk(e.operand)
    elif isinstance(e, A.Aggregate):
        if e.arg is not None:
            yield from _walk(e.arg)
    elif isinstance(e, A.FunctionCall):
        for a in e.args:
            yield from _walk(a)


def _aggregates_in(e) -> list[A.Aggregate]:
    return [s for s in _walk(e) if isinstance(s, A.Aggregate)]


def _free_props(e) -> list[A.Property]:
    """Properties not inside an aggregate function."""
    if isinstance(e, A.Property):
        return [e]
    if isinstance(e, A.Aggregate):
        return []
    out = []
    for child in _children(e):
        out.extend(_free_props(child))
    return out


def _children(e):
    if isinstance(e, A.BinaryOp):
        return (e.left, e.right)
    if isinstance(e, (A.UnaryOp, A.IsNull)):
        return (e.operand,)
    if isinstance(e, A.FunctionCall):
        return e.args
    return ()


def _time_msec(p, view: A.View) -> int:
    if isinstance(p, A.TimePeriod):
        ms = p.msec
    elif isinstance(p, A.Literal) and isinstance(p.value, (int, float)) \
            and not isinstance(p.value, bool):
        ms = p.value * 1000  # a plain number is seconds, as in Esper
    else:
        raise EPLCompileError(f"View '{view.name}' expects a time period such as '30 sec', got "
                              f"'{A.expr_text(p)}'", line=view.line, column=view.column)
    if ms < 1:
        raise EPLCompileError(f"View '{view.name}' needs a time period of at least 1 msec",
                              line=view.line, column=view.column)
    return int(round(ms))


def _view_plan(stream: A.StreamDef) -> ViewPlan:
    if not stream.views:
        raise EPLCompileError(
            f"Stream '{stream.event_type}' needs a data window; supported: #time_batch(period), "
            "#length_batch(count)", line=stream.line, column=stream.column)
    if len(stream.views) > 1:
        v = stream.views[1]
        raise EPLCompileError("Only one data window per stream is supported", line=v.line,
                              column=v.column)
    v = stream.views[0]
    name = v.name.lower()
    if v.namespace is not None and v.namespace.lower() != "win":
        raise EPLCompileError(f"Unknown view namespace '{v.namespace}'", line=v.line,
                              column=v.column)
    if name == "time_batch":
        if len(v.params) != 1:
            raise EPLCompileError("time_batch takes one parameter, the batch period "
                                  "(reference points and flags are not supported yet)",
                                  line=v.line, column=v.column)
        return ViewPlan("time_batch", _time_msec(v.params[0], v))
    if name == "length_batch":
        p = v.params[0] if len(v.params) == 1 else None
        if not (isinstance(p, A.Literal) and isinstance(p.value, int)
                and not isinstance(p.value, bool) and p.value >= 1):
            raise EPLCompileError("length_batch takes one parameter, a positive integer count",
                                  line=v.line, column=v.column)
        return ViewPlan("length_batch", p.value)
    raise EPLCompileError(f"Unknown or unsupported view '{v.name}'; supported: time_batch, "
                          "length_batch", line=v.line, column=v.column)


def compile_statement(st: A.SelectStatement,
                      declared_types: dict[str, dict[str, type]]) -> StatementPlan:
    """Validate a statement and build its plan.

    Raises:
        EPLCompileError: unknown property of a declared type, misplaced or nested
            aggregate, unsupported view or stream selector, ...
    """
    stream = st.stream
    if st.stream_selector != "istream":
        raise EPLCompileError(f"'{st.stream_selector}' is not supported yet; only the insert "
                              "stream (the default) is", line=stream.line, column=stream.column)
    view = _view_plan(stream)
    declared = declared_types.get(stream.event_type)
    tn = stream.event_type

    where = None
    if st.where is not None:
        where = compile_row_expr(st.where, _Scope(declared, tn, "where", None))
    group_exprs = st.group_by
    gscope = _Scope(declared, tn, "group-by", None)
    group_getters = [compile_row_expr(g, gscope) for g in group_exprs]

    # Aggregates used by select and having, deduplicated so avg(speed) is computed once.
    items = st.items
    wildcard = items is None
    if wildcard:
        if declared is not None:
            items = tuple(A.SelectItem(A.Property(n)) for n in declared)
        else:
            items = ()
    aggs: list[A.Aggregate] = []
    for e in [i.expr for i in items] + ([st.having] if st.having is not None else []):
        for a in _aggregates_in(e):
            if a not in aggs:
                aggs.append(a)
    agg_index = {a: k for k, a in enumerate(aggs)}
    sscope = _Scope(declared, tn, "select-clause", agg_index)
    select = tuple(compile_expr(i.expr, sscope) for i in items)
    columns = tuple(column_name(i) for i in items)
    having = None
    if st.having is not None:
        having = compile_expr(st.having, _Scope(declared, tn, "having-clause", agg_index))
    agg_spec = _build_aggs(aggs, _Scope(declared, tn, "select-clause", None))

    free = [p for i in items for p in _free_props(i.expr)]
    having_free = _free_props(st.having) if st.having is not None else []
    if not aggs:
        model = "unaggregated"
    elif not group_exprs:
        model = "aggregated" if (free or having_free or wildcard) else "fully_aggregated"
    else:
        group_props = {p.name for g in group_exprs for p in _free_props(g)}
        for p in having_free:
            if p.name not in group_props:
                raise EPLCompileError(
                    f"Non-aggregated property '{p.name}' in the HAVING clause must occur in the "
                    "group-by clause", line=p.line, column=p.column)
        if wildcard or any(p.name not in group_props for p in free):
            model = "aggregated_grouped"
        else:
            model = "fully_grouped"

    group_key = None
    if model in ("fully_grouped", "aggregated_grouped"):
        if len(group_getters) == 1:
            group_key = group_getters[0]
        else:
            gg = tuple(group_getters)
            group_key = lambda ev: tuple([g(ev) for g in gg])  # noqa: E731
    if wildcard and declared is None:
        columns = ()
    return StatementPlan(tn, view, model, where, group_key, columns, select, having, agg_spec,
                         wildcard and declared is None)
