"""Expressions and scopes: EPL expression AST -> Python closures.

No user text is ever evaluated as code: every expression becomes a tree of closures
built here, once, at compile time. Every statement kind (select, join, pattern,
variables, order by) compiles its expressions through this module.

Semantics: Esper 8 reference, 9 "EPL Reference: Operators" (null handling, Java
arithmetic) as verified against Esper 8.9 by tests/cep/esper.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.matching import EvalContext, make_matcher
from squall.cep.plugins import call_function
from squall.cep.typecheck import check_expr, java_type

__all__ = ["Getter", "Eval", "Scope", "column_name", "check_property", "compile_expr",
           "compile_row_expr", "declared_prop_type", "check_clause_types"]

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


class Scope:
    """What the expression compiler needs to know about the statement: the declared
    properties of its event type (None: undeclared, any property), the type's name and
    the clause (both for error messages), the index of each aggregate in the aggregate
    values (None: aggregates are not allowed in this clause), and the statement's
    evaluation context (:mod:`squall.cep.matching`)."""

    def __init__(self, declared: dict[str, type] | None, type_name: str, clause: str,
                 agg_index: dict[A.Aggregate, int] | None, ctx: EvalContext) -> None:
        self.declared = declared
        self.type_name = type_name
        self.clause = clause
        self.agg_index = agg_index  # None: aggregates not allowed in this clause
        self.ctx = ctx              # the statement's pattern limits and error path


def check_property(p: A.Property, scope: Scope) -> None:
    if scope.declared is not None and p.name not in scope.declared:
        raise EPLCompileError(
            f"Failed to validate {scope.clause} expression: property named '{p.name}' is not "
            f"valid in event type '{scope.type_name}' (its properties: "
            f"{', '.join(sorted(scope.declared)) or 'none'})", line=p.line, column=p.column)


def compile_expr(e: A.Expr, scope: Scope) -> Eval:
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
        fn = scope.ctx.functions.get(e.name)
        if fn is not None:
            return call_function(e.name, fn, tuple(compile_expr(a, scope) for a in e.args),
                                 scope.ctx.report)
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
    if isinstance(e, (A.Subquery, A.Exists, A.InSubquery)):
        # squall.cep.subquery rewrites the subqueries of the statements it supports.
        sub = e if isinstance(e, A.Subquery) else e.subquery
        raise EPLCompileError(f"Subqueries are not supported in the {scope.clause} clause of this "
                              "statement (only in single-stream select statements)",
                              line=sub.line, column=sub.column)
    raise TypeError(f"unknown expression node {e!r}")


def _compile_operator(e, scope: Scope) -> Eval:
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


def compile_row_expr(e: A.Expr, scope: Scope) -> Getter:
    """Compile an aggregate-free expression to ``f(event) -> value`` (per-event path)."""
    if isinstance(e, A.Property):
        check_property(e, scope)
        name = e.name
        return lambda ev: ev.get(name)
    f = compile_expr(e, scope)
    return lambda ev: f(ev, None)


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

