"""EPL abstract syntax tree: frozen dataclasses, built by :mod:`squall.cep.parser`.

Source positions (``line``, ``column``, 1-based) are carried where the compiler
reports errors, and excluded from equality so that ``parse(to_epl(ast)) == ast``.

:func:`expr_text` renders an expression the way Esper names an unaliased select
column: operators without spaces (``speed*2``, ``speed>80``), ``and``/``or`` with
spaces, function names as written (``avg(speed)``, ``count(*)``).
Semantics: Esper 8 source, ``ExprMathNode``/``ExprRelationalOpNodeImpl.toPrecedenceFreeEPL``
(select column names come from ``ExprNodeUtilityPrint.toExpressionStringMinPrecedence``).

>>> expr_text(BinaryOp("*", Property("speed"), Literal(2)))
'speed*2'
>>> expr_text(Aggregate("avg", Property("speed")))
'avg(speed)'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

__all__ = [
    "Literal", "Property", "BinaryOp", "UnaryOp", "IsNull", "Aggregate", "FunctionCall",
    "Expr", "SelectItem", "TimePeriod", "View", "StreamDef", "SelectStatement",
    "AGGREGATE_FUNCTIONS", "TIME_UNIT_MS", "expr_text", "to_epl",
]

AGGREGATE_FUNCTIONS = frozenset({"avg", "sum", "count", "min", "max"})

#: Milliseconds per time-period unit, keyed by the lower-cased unit keyword.
TIME_UNIT_MS = {
    "msec": 1, "millisecond": 1, "milliseconds": 1,
    "sec": 1000, "second": 1000, "seconds": 1000,
    "min": 60_000, "minute": 60_000, "minutes": 60_000,
    "hour": 3_600_000, "hours": 3_600_000,
    "day": 86_400_000, "days": 86_400_000,
}


@dataclass(frozen=True)
class Literal:
    """A constant: int, float, str, bool or None (``null``)."""
    value: object


@dataclass(frozen=True)
class Property:
    """An event property reference."""
    name: str
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BinaryOp:
    """``op`` is one of ``+ - * / % = != < <= > >= and or`` (``<>`` is read as ``!=``)."""
    op: str
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class UnaryOp:
    """``op`` is ``not`` or ``-``."""
    op: str
    operand: "Expr"


@dataclass(frozen=True)
class IsNull:
    operand: "Expr"
    negated: bool = False


@dataclass(frozen=True)
class Aggregate:
    """An aggregation function; ``arg`` is None for ``count(*)``. ``func`` is lower case."""
    func: str
    arg: "Expr | None"
    distinct: bool = False
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FunctionCall:
    """A non-aggregate function call (none is supported yet; kept for the grammar's growth)."""
    name: str
    args: tuple["Expr", ...]
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


Expr = Union[Literal, Property, BinaryOp, UnaryOp, IsNull, Aggregate, FunctionCall]


@dataclass(frozen=True)
class SelectItem:
    expr: Expr
    alias: str | None = None


@dataclass(frozen=True)
class TimePeriod:
    """A time period such as ``1 min 30 sec``: ``parts`` are (number, unit) pairs."""
    parts: tuple[tuple[int | float, str], ...]

    @property
    def msec(self) -> float:
        return sum(n * TIME_UNIT_MS[u.lower()] for n, u in self.parts)


@dataclass(frozen=True)
class View:
    """A data window: ``#name(params)`` (``namespace`` None) or ``.namespace:name(params)``."""
    name: str
    params: tuple[Union[Expr, TimePeriod], ...]
    namespace: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class StreamDef:
    event_type: str
    views: tuple[View, ...] = ()
    alias: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SelectStatement:
    """``select [istream|rstream|irstream] items from stream [where] [group by] [having]``.

    ``items`` is None for ``select *``.
    """
    items: tuple[SelectItem, ...] | None
    stream: StreamDef
    where: Expr | None = None
    group_by: tuple[Expr, ...] = ()
    having: Expr | None = None
    stream_selector: str = "istream"


# Precedence, low to high; mirrors the grammar's rule nesting.
_PREC = {"or": 1, "and": 2, "not": 3, "is": 4, "=": 4, "!=": 4, "<": 4, "<=": 4, ">": 4,
         ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6, "neg": 7}
_ATOM = 8


def _prec(e: Expr) -> int:
    if isinstance(e, BinaryOp):
        return _PREC[e.op]
    if isinstance(e, UnaryOp):
        return _PREC["not"] if e.op == "not" else _PREC["neg"]
    if isinstance(e, IsNull):
        return _PREC["is"]
    if isinstance(e, Literal) and isinstance(e.value, (int, float)) \
            and not isinstance(e.value, bool) and e.value < 0:
        return _PREC["neg"]
    return _ATOM


def _wrap(e: Expr, min_prec: int) -> str:
    s = expr_text(e)
    return f"({s})" if _prec(e) < min_prec else s


def _literal_text(v: object) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def expr_text(e: Expr) -> str:
    """Render an expression as EPL text, Esper's select-column naming style."""
    if isinstance(e, Property):
        return e.name
    if isinstance(e, Literal):
        return _literal_text(e.value)
    if isinstance(e, Aggregate):
        if e.arg is None:
            return f"{e.func}(*)"
        return f"{e.func}({'distinct ' if e.distinct else ''}{expr_text(e.arg)})"
    if isinstance(e, FunctionCall):
        return f"{e.name}({','.join(expr_text(a) for a in e.args)})"
    if isinstance(e, IsNull):
        return f"{_wrap(e.operand, _PREC['is'] + 1)} is {'not ' if e.negated else ''}null"
    if isinstance(e, UnaryOp):
        if e.op == "not":
            return f"not {_wrap(e.operand, _PREC['not'])}"
        return f"-{_wrap(e.operand, _PREC['neg'])}"
    if isinstance(e, BinaryOp):
        p = _PREC[e.op]
        sep = f" {e.op} " if e.op in ("and", "or") else e.op
        # Comparisons do not chain in the grammar, so both sides bind tighter.
        rp = p + 1
        lp = p + 1 if p == 4 else p
        right = _wrap(e.right, rp)
        if right.startswith("-"):
            right = f"({right})"  # 'a--5' would read as a comment
        return f"{_wrap(e.left, lp)}{sep}{right}"
    raise TypeError(f"not an EPL expression: {e!r}")


def _param_text(p: Union[Expr, TimePeriod]) -> str:
    if isinstance(p, TimePeriod):
        return " ".join(f"{n!r} {u}" for n, u in p.parts)
    return expr_text(p)


def to_epl(st: SelectStatement) -> str:
    """Render a statement back to EPL text that parses to an equal AST.

    >>> from squall.cep.parser import parse
    >>> st = parse("select a as x, avg(b) from T#time_batch(30 sec) group by a")[0]
    >>> to_epl(st)
    'select a as x, avg(b) from T#time_batch(30 sec) group by a'
    >>> parse(to_epl(st))[0] == st
    True
    """
    out = ["select"]
    if st.stream_selector != "istream":
        out.append(st.stream_selector)
    if st.items is None:
        out.append("*")
    else:
        out.append(", ".join(expr_text(i.expr) + (f" as {i.alias}" if i.alias else "")
                             for i in st.items))
    s = st.stream
    views = "".join(
        (f".{v.namespace}:{v.name}" if v.namespace else f"#{v.name}")
        + "(" + ", ".join(_param_text(p) for p in v.params) + ")"
        for v in s.views)
    out.append(f"from {s.event_type}{views}" + (f" as {s.alias}" if s.alias else ""))
    if st.where is not None:
        out.append("where " + expr_text(st.where))
    if st.group_by:
        out.append("group by " + ", ".join(expr_text(g) for g in st.group_by))
    if st.having is not None:
        out.append("having " + expr_text(st.having))
    return " ".join(out)
