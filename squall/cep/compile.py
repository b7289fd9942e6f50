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
from squall.cep.aggregates import AggSpec, build_aggs
from squall.cep.errors import EPLCompileError
from squall.cep.matching import EvalContext, make_matcher
from squall.cep.typecheck import check_expr, java_type
from squall.cep.views import compile_views

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
                 agg_index: dict[A.Aggregate, int] | None, ctx: EvalContext) -> None:
        self.declared = declared
        self.type_name = type_name
        self.clause = clause
        self.agg_index = agg_index  # None: aggregates not allowed in this clause
        self.ctx = ctx              # the statement's pattern limits and error path


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
    if isinstance(e, A.Variable):
        # The engine's cell for the name: a later set is seen at the next evaluation.
        cell = scope.ctx.variables[e.name].cell

        def ev_variable(ev, av):
            return cell.value
        return ev_variable
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
    if isinstance(e, (A.InList, A.Between, A.Like, A.Regexp, A.Case)):
        return _compile_operator(e, scope)
    raise TypeError(f"unknown expression node {e!r}")


def _compile_operator(e, scope: _Scope) -> Eval:
    """``in``, ``between``, ``like``, ``regexp``, ``case`` (Esper 8 reference, 9
    "EPL Reference: Operators"; null handling as verified against Esper 8.9: ``in`` with a
    null operand, or no match and a null in the list, is null; ``between`` with any null
    is false; ``like``/``regexp`` of null is null)."""
    if isinstance(e, A.InList):
        f = compile_expr(e.operand, scope)
        items = tuple(compile_expr(i, scope) for i in e.items)
        hit, miss = (False, True) if e.negated else (True, False)

        def ev_in(ev, av):
            v = f(ev, av)
            if v is None:
                return None
            has_null = False
            for g in items:
                x = g(ev, av)
                if x is None:
                    has_null = True
                elif x == v:
                    return hit
            return None if has_null else miss
        return ev_in
    if isinstance(e, A.Between):
        f, lo_f, hi_f = (compile_expr(x, scope) for x in (e.operand, e.low, e.high))
        neg = e.negated

        def ev_between(ev, av):
            v, lo, hi = f(ev, av), lo_f(ev, av), hi_f(ev, av)
            if v is None or lo is None or hi is None:
                return False
            if lo > hi:
                lo, hi = hi, lo
            return (lo <= v <= hi) != neg
        return ev_between
    if isinstance(e, (A.Like, A.Regexp)):
        # squall.cep.matching: literal patterns compile once; patterns from events go
        # through a bounded cache; every match is bounded in time.
        pat = e.pattern
        literal = pat.value if isinstance(pat, A.Literal) and isinstance(pat.value, str) else None
        return make_matcher(scope.ctx, "like" if isinstance(e, A.Like) else "regexp",
                            compile_expr(e.operand, scope), compile_expr(pat, scope), e.negated,
                            escape=e.escape if isinstance(e, A.Like) else None, literal=literal,
                            literal_pos=(pat.line, pat.column) if literal is not None else (None, None))
    # case
    whens = tuple((compile_expr(w, scope), compile_expr(r, scope)) for w, r in e.whens)
    other = compile_expr(e.otherwise, scope) if e.otherwise is not None else (lambda ev, av: None)
    results = [r for _, r in e.whens] + ([e.otherwise] if e.otherwise is not None else [])
    # Esper types a case by its branches: int and double branches give a double
    to_float = any(isinstance(r, A.Literal) and isinstance(r.value, float) for r in results)
    if e.operand is None:
        def ev_case(ev, av):
            for w, r in whens:
                if w(ev, av) is True:
                    return r(ev, av)
            return other(ev, av)
    else:
        of = compile_expr(e.operand, scope)

        def ev_case(ev, av):
            v = of(ev, av)
            if v is not None:
                for w, r in whens:
                    x = w(ev, av)
                    if x is not None and x == v:
                        return r(ev, av)
            return other(ev, av)
    if not to_float:
        return ev_case

    def ev_case_float(ev, av):
        v = ev_case(ev, av)
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v
    return ev_case_float


def compile_row_expr(e: A.Expr, scope: _Scope) -> Getter:
    """Compile an aggregate-free expression to ``f(event) -> value`` (per-event path)."""
    if isinstance(e, A.Property):
        check_property(e, scope)
        name = e.name
        return lambda ev: ev.get(name)
    f = compile_expr(e, scope)
    return lambda ev: f(ev, None)


# ---------------------------------------------------------------- aggregation

def _build_aggs(aggs: list[A.Aggregate], scope: _Scope, retract: bool = False) -> AggSpec:
    """Validate aggregate arguments and build the accumulator layout
    (:mod:`squall.cep.aggregates`); ``retract`` when events leave the window."""
    functions = []
    arg_scope = _Scope(scope.declared, scope.type_name, scope.clause, None, scope.ctx)
    for agg in aggs:
        if agg.arg is None:
            functions.append((agg.func, False, None, None, True))
            continue
        for sub in A.walk(agg.arg):
            if isinstance(sub, A.Aggregate):
                raise EPLCompileError(f"Aggregate functions cannot be nested: '{A.expr_text(agg)}'",
                                      line=agg.line, column=agg.column)
        if isinstance(agg.arg, A.Property):
            check_property(agg.arg, arg_scope)
            functions.append((agg.func, agg.distinct, None, agg.arg.name, False))
        else:
            functions.append((agg.func, agg.distinct, compile_row_expr(agg.arg, arg_scope), None,
                              False))
    return build_aggs(functions, retract)


# ---------------------------------------------------------------- statement

@dataclass(frozen=True)
class ViewPlan:
    """A stream's data windows (:mod:`squall.cep.views`).

    ``kind``/``size``: the first data window's view name and size (msec or events; 0
    for windows without one); ``windows``: the data windows (an intersection when
    several), ``groupwin``: the leading ``groupwin`` view or None. A stream without a
    data window has ``kind`` ``""`` and no ``windows`` (:attr:`unbound`).
    """
    kind: str
    size: int
    windows: tuple = ()
    groupwin: Any = None

    @property
    def unbound(self) -> bool:
        """No data window: events are not kept, aggregates cover every event since the
        statement started (Esper's unbound aggregation)."""
        return not self.windows


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
    selector: str = "istream"         # istream | rstream | irstream
    aggs_retract: AggSpec | None = None   # aggs with leave(), for windows events leave
    stream_filter: Getter | None = None   # Type(expr, ...): true to enter the windows
    output: Any = None                    # ast.OutputRate: output rate limiting (squall.cep.rate)


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
    return A.children(e)


def _view_plan(stream: A.StreamDef, declared: dict[str, type] | None, ctx: EvalContext) -> ViewPlan:
    """Validate the stream's data windows (see :func:`squall.cep.views.compile_views`)."""
    scope = _Scope(declared, stream.event_type, "view-parameter", None, ctx)
    windows, groupwin = compile_views(stream, lambda e: compile_row_expr(e, scope))
    if not windows:
        return ViewPlan("", 0)
    return ViewPlan(windows[0].kind, windows[0].size or 0, windows, groupwin)


def _stream_filter(stream: A.StreamDef, declared, ctx: EvalContext) -> Getter | None:
    """``Type(e1, e2, ...)``: true when every expression is true (null is false)."""
    if not stream.filters:
        return None
    scope = _Scope(declared, stream.event_type, "filter", None, ctx)
    fs = tuple(compile_row_expr(e, scope) for e in stream.filters)
    if len(fs) == 1:
        f = fs[0]
        return lambda ev: f(ev) is True
    return lambda ev: all(f(ev) is True for f in fs)


def compile_statement(st: A.SelectStatement, declared_types: dict[str, dict[str, type]],
                      ctx: EvalContext | None = None) -> StatementPlan:
    """Validate a statement and build its plan.

    ``ctx`` is the statement's evaluation context (pattern limits, error path; see
    :mod:`squall.cep.matching`); the engine passes its own, a fresh one reports nowhere.
    Names in ``ctx.variables`` are read as variables; ``create variable`` and ``on ...
    set`` statements compile in :mod:`squall.cep.variables`.

    Raises:
        EPLCompileError: unknown property of a declared type, type mismatch
            (:mod:`squall.cep.typecheck`), misplaced or nested aggregate, unsupported view
            or stream selector, ...
    """
    if isinstance(st, A.SelectStatement) and st.insert_into is not None \
            and st.stream_selector == "rstream":
        raise EPLCompileError(
            "'insert into' with 'select rstream' is not supported yet (Esper inserts the insert "
            "stream there; use 'select' or 'select irstream')", line=st.stream.line,
            column=st.stream.column)
    if isinstance(st, A.SelectStatement) and st.output is not None \
            and (st.joins or isinstance(st.stream, A.PatternStream)):
        raise EPLCompileError("Output rate limiting ('output ... every ...') on a join or pattern "
                              "is not supported yet", line=st.output.line, column=st.output.column)
    if ctx is None:
        ctx = EvalContext()
    if isinstance(st, (A.CreateVariable, A.OnSet)):
        from squall.cep.variables import compile_create_variable, compile_on_set
        if isinstance(st, A.CreateVariable):
            return compile_create_variable(st, ctx)
        return compile_on_set(st, declared_types, ctx)
    from squall.cep.variables import resolve_variables
    st = resolve_variables(st, ctx.variables, declared_types)
    if isinstance(st.stream, A.PatternStream):
        from squall.cep.pattern import compile_pattern_statement
        return compile_pattern_statement(st, declared_types, ctx)
    if st.joins:
        from squall.cep.join import compile_join_statement
        return compile_join_statement(st, declared_types, ctx)
    stream = st.stream
    declared = declared_types.get(stream.event_type)
    view = _view_plan(stream, declared, ctx)
    tn = stream.event_type

    where = None
    if st.where is not None:
        where = compile_row_expr(st.where, _Scope(declared, tn, "where", None, ctx))
    group_exprs = st.group_by
    gscope = _Scope(declared, tn, "group-by", None, ctx)
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
        for a in A.nodes_of(e, A.Aggregate):
            if a not in aggs:
                aggs.append(a)
    agg_index = {a: k for k, a in enumerate(aggs)}
    sscope = _Scope(declared, tn, "select-clause", agg_index, ctx)
    select = tuple(compile_expr(i.expr, sscope) for i in items)
    columns = tuple(column_name(i) for i in items)
    having = None
    if st.having is not None:
        having = compile_expr(st.having, _Scope(declared, tn, "having-clause", agg_index, ctx))
    agg_spec = _build_aggs(aggs, _Scope(declared, tn, "select-clause", None, ctx))

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
    if st.output is not None:
        _check_output(st, model, view)
    _check_types(st, items, declared)
    if wildcard and declared is None:
        columns = ()
    # Without a data window nothing ever leaves, so the accumulators need no retraction
    # (min/max then keep one value, not a multiset of every value seen).
    aggs_retract = agg_spec if view.unbound else \
        _build_aggs(aggs, _Scope(declared, tn, "select-clause", None, ctx), retract=True)
    return StatementPlan(tn, view, model, where, group_key, columns, select, having, agg_spec,
                         wildcard and declared is None, st.stream_selector, aggs_retract,
                         _stream_filter(stream, declared, ctx), st.output)


def declared_prop_type(declared: dict[str, type] | None):
    """``prop -> Java type name or None`` for a stream of the type ``declared`` (None:
    undeclared, every property of unknown type)."""
    if declared is None:
        return lambda p: None
    return lambda p: java_type(declared.get(p.name))


def check_clause_types(st: A.SelectStatement, items, prop_type, stream_pos) -> None:
    """Type-check the select list, where, group by and having of ``st`` (see
    :mod:`squall.cep.typecheck`); compile time only."""
    for i in items:
        check_expr(i.expr, prop_type, "select-clause", stream_pos)
    if st.where is not None:
        check_expr(st.where, prop_type, "where-clause", stream_pos)
    for g in st.group_by:
        check_expr(g, prop_type, "group-by-clause", stream_pos)
    if st.having is not None:
        check_expr(st.having, prop_type, "having-clause", stream_pos)


def _check_types(st: A.SelectStatement, items, declared: dict[str, type] | None) -> None:
    prop_type = declared_prop_type(declared)
    pos = (st.stream.line, st.stream.column)
    for f in st.stream.filters:
        check_expr(f, prop_type, "filter", pos)
    check_clause_types(st, items, prop_type, pos)


def _check_output(st: A.SelectStatement, model: str, view: ViewPlan) -> None:
    """The output clause combinations :mod:`squall.cep.rate` supports."""
    out = st.output
    if model == "aggregated_grouped":
        raise EPLCompileError(
            "Output rate limiting on a grouped statement that selects properties outside the "
            "group by (aggregated and grouped) is not supported yet; select only group-by "
            "properties and aggregates", line=out.line, column=out.column)
    if st.stream_selector != "istream" and (model != "unaggregated"
                                            or out.kind not in ("default", "all")):
        raise EPLCompileError(
            f"Output rate limiting with 'select {st.stream_selector}' is supported only for "
            "statements without aggregates and with 'output [all] every'",
            line=out.line, column=out.column)
    from squall.cep.views import BATCH_KINDS
    if out.kind == "snapshot" and any(w.kind in BATCH_KINDS for w in view.windows):
        raise EPLCompileError(
            "'output snapshot' over a batch data window is not supported yet",
            line=out.line, column=out.column)
