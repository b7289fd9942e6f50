"""Single-stream select statements: statement AST -> :class:`StatementPlan`.

Output model, chosen as in Esper 8 reference, 5.6 "Aggregation and grouping" and
Appendix A "Output reference and samples" (result-set processor types):

======================  =========================================================
model                   when
======================  =========================================================
``unaggregated``        no aggregate functions (a group by is then ignored, as the
                        statement has nothing to aggregate)
``fully_aggregated``    aggregates, no group by, every property sits inside an aggregate
``aggregated``          aggregates, no group by, some property outside aggregates (select
                        or having)
``fully_grouped``       group by, every property outside aggregates is a group-by property
``aggregated_grouped``  group by, some other property outside aggregates (select or
                        having, see :func:`compile_select_statement`)
======================  =========================================================

Joins compile their result set through :func:`compile_select_statement` too, over the
stream of combinations (:mod:`squall.cep.join`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from squall.cep import ast as A
from squall.cep.aggregates import AggSpec, build_aggs
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import (Eval, Getter, Scope, check_clause_types, check_property,
                                    column_name, compile_expr, compile_row_expr,
                                    declared_prop_type)
from squall.cep.matching import EvalContext
from squall.cep.output import hidden_order_columns
from squall.cep.typecheck import check_expr
from squall.cep.views import BATCH_KINDS, compile_views

__all__ = ["OutputModel", "MODELS", "REFERENCED_TIME_BATCH", "ViewPlan", "StatementPlan", "view_plan", "stream_filter",
           "compile_select_statement"]


class OutputModel(str, enum.Enum):
    """A select statement's output model (see the module docs). A ``str`` enum, so a
    model equals its name: ``OutputModel.UNAGGREGATED == "unaggregated"``."""
    UNAGGREGATED = "unaggregated"
    FULLY_AGGREGATED = "fully_aggregated"
    AGGREGATED = "aggregated"
    FULLY_GROUPED = "fully_grouped"
    AGGREGATED_GROUPED = "aggregated_grouped"

    def __str__(self) -> str:
        return self.value


MODELS = tuple(OutputModel)

#: :attr:`ViewPlan.kind` of a ``time_batch`` with a reference point or flags.
REFERENCED_TIME_BATCH = "time_batch(reference, flags)"

# ---------------------------------------------------------------- aggregation

def _build_aggs(aggs: list[A.Aggregate], scope: Scope, retract: bool = False) -> AggSpec:
    """Validate aggregate arguments and build the accumulator layout
    (:mod:`squall.cep.aggregates`); ``retract`` when events leave the window."""
    functions = []
    arg_scope = Scope(scope.declared, scope.type_name, scope.clause, None, scope.ctx)
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
            functions.append((agg.plugin or agg.func, agg.distinct, None, agg.arg.name, False))
        else:
            functions.append((agg.plugin or agg.func, agg.distinct,
                              compile_row_expr(agg.arg, arg_scope), None, False))
    return build_aggs(functions, retract)


# ---------------------------------------------------------------- statement

@dataclass(frozen=True)
class ViewPlan:
    """A stream's data windows (:mod:`squall.cep.views`).

    ``kind``/``size``: the first data window's view name and size (msec or events; 0
    for windows without one), except that a ``time_batch`` with a reference point or
    flags has kind :data:`REFERENCED_TIME_BATCH`: the fused batch operators
    (:mod:`squall.cep.operators`, :mod:`squall.cep.context`) run a plain ``time_batch``
    only, so it runs in the general pipeline (:class:`squall.cep.views.TimeBatch`);
    ``windows``: the data windows (an intersection when
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
    model: OutputModel
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


def view_plan(stream: A.StreamDef, declared: dict[str, type] | None, ctx: EvalContext) -> ViewPlan:
    """Validate the stream's data windows (see :func:`squall.cep.views.compile_views`)."""
    scope = Scope(declared, stream.event_type, "view-parameter", None, ctx)
    windows, groupwin = compile_views(stream, lambda e: compile_row_expr(e, scope))
    if not windows:
        return ViewPlan("", 0)
    kind = windows[0].kind
    if kind == "time_batch" and (windows[0].reference is not None or windows[0].flags):
        kind = REFERENCED_TIME_BATCH
    return ViewPlan(kind, windows[0].size or 0, windows, groupwin)


def stream_filter(stream: A.StreamDef, declared, ctx: EvalContext) -> Getter | None:
    """``Type(e1, e2, ...)``: true when every expression is true (null is false)."""
    if not stream.filters:
        return None
    scope = Scope(declared, stream.event_type, "filter", None, ctx)
    fs = tuple(compile_row_expr(e, scope) for e in stream.filters)
    if len(fs) == 1:
        f = fs[0]
        return lambda ev: f(ev) is True
    return lambda ev: all(f(ev) is True for f in fs)


def compile_select_statement(st: A.SelectStatement, declared_types: dict[str, dict[str, type]],
                             ctx: EvalContext) -> StatementPlan:
    """Validate a select statement over one stream and build its plan (variables already
    resolved, see :func:`squall.cep.compile.compile_statement`).

    Raises:
        EPLCompileError: unknown property of a declared type, type mismatch
            (:mod:`squall.cep.typecheck`), misplaced or nested aggregate, unsupported view,
            output clause or stream selector, ...
    """
    stream = st.stream
    declared = declared_types.get(stream.event_type)
    view = view_plan(stream, declared, ctx)
    tn = stream.event_type

    where = None
    if st.where is not None:
        where = compile_row_expr(st.where, Scope(declared, tn, "where", None, ctx))
    group_exprs = st.group_by
    gscope = Scope(declared, tn, "group-by", None, ctx)
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
    sscope = Scope(declared, tn, "select-clause", agg_index, ctx)
    select = tuple(compile_expr(i.expr, sscope) for i in items)
    columns = tuple(column_name(i) for i in items)
    having = None
    if st.having is not None:
        having = compile_expr(st.having, Scope(declared, tn, "having-clause", agg_index, ctx))
    agg_spec = _build_aggs(aggs, Scope(declared, tn, "select-clause", None, ctx))

    free = [p for i in items for p in _free_props(i.expr)]
    having_free = _free_props(st.having) if st.having is not None else []
    # Order-by keys reading properties that are not selected (squall.cep.output): they
    # count for the grouped models as the select list does (Esper 8.9, verified: 'group
    # by carNumber order by speed' posts a row per event)
    hidden = hidden_order_columns(st, None if wildcard else items, columns)
    for _, e in hidden:
        for a in A.nodes_of(e, A.Aggregate):
            if a not in agg_index:
                raise EPLCompileError(
                    "Aggregate functions in the order-by clause must also occur in the select "
                    f"expression ('{A.expr_text(a)}')", line=a.line, column=a.column)
    hidden_free = [p for _, e in hidden for p in _free_props(e)]
    if not aggs:
        model = OutputModel.UNAGGREGATED
    elif not group_exprs:
        model = OutputModel.AGGREGATED if (free or having_free or wildcard) \
            else OutputModel.FULLY_AGGREGATED
    else:
        group_props = {p.name for g in group_exprs for p in _free_props(g)}
        # Esper 8.9 (verified): a property outside aggregates in HAVING must be grouped
        # or aggregated by an aggregate of the HAVING clause itself ('having speed >
        # avg(speed)'); such a statement then posts a row per event (aggregated-grouped).
        having_aggregated = {p.name for a in A.nodes_of(st.having, A.Aggregate)
                             for p in A.nodes_of(a, A.Property)} if st.having is not None else set()
        for p in having_free:
            if p.name not in group_props and p.name not in having_aggregated:
                raise EPLCompileError(
                    f"Non-aggregated property '{p.name}' in the HAVING clause must occur in the "
                    "group-by clause", line=p.line, column=p.column)
        if wildcard or any(p.name not in group_props for p in free + having_free + hidden_free):
            model = OutputModel.AGGREGATED_GROUPED
        else:
            model = OutputModel.FULLY_GROUPED

    group_key = None
    if model in (OutputModel.FULLY_GROUPED, OutputModel.AGGREGATED_GROUPED):
        if len(group_getters) == 1:
            group_key = group_getters[0]
        else:
            gg = tuple(group_getters)
            group_key = lambda ev: tuple([g(ev) for g in gg])  # noqa: E731
    if hidden:
        # a fully aggregated statement posts one row per stream: nothing to sort
        none = lambda ev, av: None  # noqa: E731
        select += tuple(none if model is OutputModel.FULLY_AGGREGATED else compile_expr(e, sscope)
                        for _, e in hidden)
        columns += tuple(name for name, _ in hidden)
    if st.output is not None:
        _check_output(st, model, view)
    _check_types(st, items, declared)
    if wildcard and declared is None:
        columns = ()
    # Without a data window nothing ever leaves, so the accumulators need no retraction
    # (min/max then keep one value, not a multiset of every value seen).
    aggs_retract = agg_spec if view.unbound else \
        _build_aggs(aggs, Scope(declared, tn, "select-clause", None, ctx), retract=True)
    return StatementPlan(tn, view, model, where, group_key, columns, select, having, agg_spec,
                         wildcard and declared is None, st.stream_selector, aggs_retract,
                         stream_filter(stream, declared, ctx), st.output)


def _check_types(st: A.SelectStatement, items, declared: dict[str, type] | None) -> None:
    prop_type = declared_prop_type(declared)
    pos = (st.stream.line, st.stream.column)
    for f in st.stream.filters:
        check_expr(f, prop_type, "filter", pos)
    check_clause_types(st, items, prop_type, pos)


def _check_output(st: A.SelectStatement, model: OutputModel, view: ViewPlan) -> None:
    """The output clause combinations :mod:`squall.cep.rate` supports: all of Esper's
    but two forms of ``output first`` on grouped statements, whose rows differ from
    Esper 8.9's in cases not yet analysed (docs/epl.md, known differences)."""
    out = st.output
    if out.kind != "first":
        return
    if (out.after_events is not None or out.after_period is not None) \
            and model is not OutputModel.UNAGGREGATED:
        raise EPLCompileError("'output after ... first' on a statement with aggregates is not "
                              "supported yet", line=out.line, column=out.column)
    if model is OutputModel.FULLY_GROUPED and st.stream_selector != "istream":
        raise EPLCompileError(
            f"'output first' with 'select {st.stream_selector}' on a grouped, fully aggregated "
            "statement is not supported yet", line=out.line, column=out.column)
    if model is OutputModel.AGGREGATED_GROUPED and any(w.kind in BATCH_KINDS for w in view.windows):
        raise EPLCompileError(
            "'output first' on a grouped statement that selects properties outside the group by, "
            "over a batch data window, is not supported yet", line=out.line, column=out.column)
