"""What happens to a statement's rows after its result-set processor: ``order by`` and
``limit`` on each output batch (Esper 8 reference, 5.10 "Sorting Output: the Order By
Clause" and 5.11 "Limiting Row Count: the Limit Clause").

An output batch is what one listener call delivers: the insert-stream rows and the
remove-stream rows are sorted and limited separately. Sorting is stable (rows with equal
keys keep the result-set processor's order); ``null`` sorts before every value in
ascending order and after every value in descending order. ``limit n offset m`` keeps
rows m..m+n-1 of the sorted batch; ``limit m, n`` is the same as ``limit n offset m``.

Order-by keys are evaluated on the output row: a key (or part of one) equal to a select
expression reads that column, a property reads the column of that name (an alias or, for
``select *``, the event's property). A key that reads a property that is not selected is
evaluated on each row's event, as Esper does: the result-set processor computes it as a
hidden column (:func:`hidden_order_columns`, named with the :data:`HIDDEN` prefix), which
the shaper sorts by and then drops. An aggregate that is not selected is a compile error
(in Esper too).
"""

from __future__ import annotations

import dataclasses
import operator
from typing import Callable

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import Scope, compile_expr
from squall.cep.matching import EvalContext

__all__ = ["compile_shaper", "hidden_order_columns", "HIDDEN"]

Shaper = Callable[[list], list]

#: Prefix of a hidden column carrying an order-by key (never an EPL identifier).
HIDDEN = "\x00order by "


def _rewrite(e, by_expr: dict):
    """``e`` with every sub-expression equal to a select expression replaced by a
    property reading that column of the row."""
    col = by_expr.get(e)
    if col is not None:
        return A.Property(col)
    if isinstance(e, A.Property) or not dataclasses.is_dataclass(e):
        return e
    changes = {}
    for f in dataclasses.fields(e):
        v = getattr(e, f.name)
        if isinstance(v, tuple):
            nv = tuple(tuple(_rewrite(x, by_expr) for x in item) if isinstance(item, tuple)
                       else _rewrite(item, by_expr) for item in v)
        elif dataclasses.is_dataclass(v):
            nv = _rewrite(v, by_expr)
        else:
            continue
        if nv != v:
            changes[f.name] = nv
    return dataclasses.replace(e, **changes) if changes else e


def _by_expr(items, columns: tuple) -> dict:
    by_expr = {}
    for item, col in zip(items or (), columns):
        by_expr.setdefault(item.expr, col)
    return by_expr


def hidden_order_columns(st: A.SelectStatement, items, columns: tuple) -> tuple:
    """The order-by keys to evaluate on each row's event, as ``(hidden column name, key
    expression)`` pairs: those reading a property that is no output column (none for
    ``select *``, whose rows hold the event's properties). The statement compiler adds
    them to the rows (:mod:`squall.cep.select`), :func:`compile_shaper` sorts by them."""
    if items is None or not columns:
        return ()
    by_expr = _by_expr(items, columns)
    out = []
    for i, o in enumerate(st.order_by):
        r = _rewrite(o.expr, by_expr)
        if any(isinstance(p, A.Property) and p.name not in columns for p in A.walk(r)):
            out.append((f"{HIDDEN}{i}", o.expr))
    return tuple(out)


def _order_key(e: A.Expr, items, columns: tuple, open_columns: bool,
               ctx: EvalContext) -> Callable[[dict], object]:
    r = _rewrite(e, _by_expr(items, columns))
    for sub in A.walk(r):
        if isinstance(sub, A.Aggregate):
            raise EPLCompileError(
                f"Order-by expression '{A.expr_text(e)}' uses the aggregate '{A.expr_text(sub)}', "
                "which is not in the select clause; select it (with an alias) and order by it",
                line=sub.line, column=sub.column)
        if isinstance(sub, A.Property) and not open_columns and sub.name not in columns:
            raise EPLCompileError(
                f"Order-by expression '{A.expr_text(e)}' uses '{sub.name}', which is not a "
                f"column of the output (columns: {', '.join(columns)}); select it and order by it",
                line=sub.line, column=sub.column)
    f = compile_expr(r, Scope(None, "", "order-by", None, ctx))
    return lambda row: f(row, None)


def _sort_key(get):
    def key(row):
        v = get(row)
        return (False, 0) if v is None else (True, v)
    return key


def compile_shaper(st: A.SelectStatement, columns: tuple, ctx: EvalContext) -> Shaper | None:
    """The ``order by`` / ``limit`` step of a statement, ``rows -> rows``; None without
    either clause. ``ctx``: the statement's evaluation context (:mod:`squall.cep.matching`).

    Raises:
        EPLCompileError: an order-by key that is not computable from the output row.
    """
    if not st.order_by and st.limit is None:
        return None
    items = st.items
    if items is None and st.order_by and (st.joins or isinstance(st.stream, A.PatternStream)):
        raise EPLCompileError(
            "'order by' with 'select *' is not supported on a join or pattern: select the "
            "properties to sort by (with aliases) and order by them",
            line=st.stream.line, column=st.stream.column)
    open_columns = items is None or not columns
    hidden = tuple(c for c in columns if c.startswith(HIDDEN))
    keys = [(_sort_key(operator.itemgetter(f"{HIDDEN}{i}") if f"{HIDDEN}{i}" in hidden
                       else _order_key(o.expr, items, columns, open_columns, ctx)), o.descending)
            for i, o in enumerate(st.order_by)]
    keys.reverse()   # successive stable sorts, least significant key first
    lim = st.limit
    if lim is not None and not (isinstance(lim.count, int) and isinstance(lim.offset, int)):
        shape = _shape_with_variables(keys, _limit_value(lim.count, ctx), _limit_value(lim.offset, ctx))
    else:
        start = lim.offset if lim is not None else 0
        stop = start + lim.count if lim is not None else None

        def shape(rows: list) -> list:
            if len(rows) > 1:
                for key, desc in keys:
                    rows = sorted(rows, key=key, reverse=desc)
            if lim is not None:
                rows = rows[start:stop]
            return rows
    return _dropping(shape, hidden) if hidden else shape


def _dropping(shape: Shaper, hidden: tuple) -> Shaper:
    """``shape``, then the rows without their hidden order-by columns (copies: an output
    clause may deliver a row object again)."""
    def drop(rows: list) -> list:
        return [{k: v for k, v in r.items() if k not in hidden} for r in shape(rows)]
    return drop


def _limit_value(v, ctx: EvalContext):
    """``limit`` count or offset: an int, or a numeric variable's cell read per batch."""
    if isinstance(v, int):
        return lambda: v
    if isinstance(v, A.Property):
        raise EPLCompileError(f"Limit clause: '{v.name}' is not a variable (a count or offset is a "
                              "whole number or a numeric variable)", line=v.line, column=v.column)
    if v.java_type not in ("Integer", "Long", "Double", "Float"):
        raise EPLCompileError(f"Limit clause requires a variable of numeric type, variable '{v.name}' "
                              f"is {v.java_type}", line=v.line, column=v.column)
    cell = ctx.variables[v.name].cell
    return lambda: cell.value


def _shape_with_variables(keys, count, offset) -> Shaper:
    """``limit`` with variables (Esper 8.9, verified): a null or negative count means no
    limit, a null or negative offset none; the values are read for each output batch."""
    def shape(rows: list) -> list:
        if len(rows) > 1:
            for key, desc in keys:
                rows = sorted(rows, key=key, reverse=desc)
        n, start = count(), offset()
        start = 0 if start is None or start < 0 else int(start)
        if n is None or n < 0:
            return rows[start:]
        return rows[start:start + int(n)]
    return shape
