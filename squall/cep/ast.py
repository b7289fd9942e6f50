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

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = [
    "Literal", "Property", "BinaryOp", "UnaryOp", "IsNull", "Aggregate", "FunctionCall",
    "Expr", "SelectItem", "TimePeriod", "View", "StreamDef", "SelectStatement",
    "AGGREGATE_FUNCTIONS", "TIME_UNIT_MS", "expr_text", "to_epl",
    "PatternFilter", "PatternObserver", "PatternGuard", "PatternEvery", "PatternNot", "PatternAnd",
    "PatternOr", "PatternFollowedBy", "PatternExpr", "PatternStream", "pattern_text", "stream_text",
    "PatternEveryDistinct", "PatternRepeat", "PatternWhile", "PatternTimerAt",
    "OrderItem", "Limit", "OutputRate",
    "CreateWindow", "CreateTable", "TableColumn", "TableAccess", "OnAction", "MergeClause",
    "MergeAction", "Subquery", "Exists", "InSubquery", "CreateContext", "KeyedItem", "HashItem",
    "CategoryItem", "CreateSchema", "ContextCondition",
]

AGGREGATE_FUNCTIONS = frozenset({"avg", "sum", "count", "min", "max", "median", "stddev", "avedev"})

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
    """A constant: int, float, str, bool or None (``null``); string literals carry their
    position (a ``like``/``regexp`` pattern's compile error points at it)."""
    value: object
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Property:
    """An event property reference."""
    name: str
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Variable:
    """A variable reference (``create variable``): a name the compiler resolved to a
    variable of the engine, with the variable's Java type name (see
    :mod:`squall.cep.variables`)."""
    name: str
    java_type: str
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class BinaryOp:
    """``op`` is one of ``+ - * / % = != < <= > >= and or`` (``<>`` is read as ``!=``)."""
    op: str
    left: "Expr"
    right: "Expr"
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class UnaryOp:
    """``op`` is ``not`` or ``-``."""
    op: str
    operand: "Expr"
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class IsNull:
    operand: "Expr"
    negated: bool = False


@dataclass(frozen=True)
class Aggregate:
    """An aggregation function; ``arg`` is None for ``count(*)``. ``func`` is lower case
    for the built-in functions; ``plugin`` is the factory of a plug-in aggregation
    function (:meth:`squall.cep.engine.EPLEngine.register_aggregation`), whose ``func``
    keeps the registered name."""
    func: str
    arg: "Expr | None"
    distinct: bool = False
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)
    plugin: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FunctionCall:
    """A non-aggregate function call (none is supported yet; kept for the grammar's growth)."""
    name: str
    args: tuple["Expr", ...]
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class InList:
    """``operand [not] in (items...)``."""
    operand: "Expr"
    items: tuple
    negated: bool = False


@dataclass(frozen=True)
class Between:
    """``operand [not] between low and high`` (inclusive; the bounds may come in either order)."""
    operand: "Expr"
    low: "Expr"
    high: "Expr"
    negated: bool = False


@dataclass(frozen=True)
class Like:
    """``operand [not] like pattern [escape 'c']`` (``%`` any run, ``_`` one character)."""
    operand: "Expr"
    pattern: "Expr"
    escape: str | None = None
    negated: bool = False


@dataclass(frozen=True)
class Regexp:
    """``operand [not] regexp pattern`` (the whole string must match)."""
    operand: "Expr"
    pattern: "Expr"
    negated: bool = False


@dataclass(frozen=True)
class Case:
    """``case [operand] when w then r ... [else e] end``; ``whens`` are (w, r) pairs."""
    operand: "Expr | None"
    whens: tuple
    otherwise: "Expr | None" = None


@dataclass(frozen=True)
class Subquery:
    """``(select ... from Type#window ...)`` as a value (Esper 8 reference, 5.11
    "Subqueries"); :mod:`squall.cep.subquery` compiles it. ``statement`` is the inner
    select; :func:`walk` does not enter it (its properties and aggregates are the inner
    statement's, not the enclosing one's)."""
    statement: "SelectStatement"
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Exists:
    """``exists (select ...)``: true when the subquery has a row."""
    subquery: Subquery


@dataclass(frozen=True)
class InSubquery:
    """``x [not] in (select ...)``: ``x`` among the subquery's values."""
    operand: "Expr"
    subquery: Subquery
    negated: bool = False


def walk(e):
    """Every AST node in ``e`` (a node, or lists/tuples of nodes), parents first; a
    :class:`Subquery` is yielded but not entered."""
    if isinstance(e, (list, tuple)):
        for x in e:
            yield from walk(x)
    elif isinstance(e, Subquery):
        yield e
    elif dataclasses.is_dataclass(e) and not isinstance(e, type):
        yield e
        for f in dataclasses.fields(e):
            yield from walk(getattr(e, f.name))


def nodes_of(e, cls) -> list:
    """The nodes of type ``cls`` anywhere in ``e`` (see :func:`walk`)."""
    return [n for n in walk(e) if isinstance(n, cls)]


def children(e) -> tuple:
    """The direct sub-expressions of the expression nodes above."""
    if isinstance(e, InList):
        return (e.operand, *e.items)
    if isinstance(e, Between):
        return (e.operand, e.low, e.high)
    if isinstance(e, (Like, Regexp)):
        return (e.operand, e.pattern)
    if isinstance(e, InSubquery):
        return (e.operand,)
    if isinstance(e, Case):
        out = [] if e.operand is None else [e.operand]
        for w, r in e.whens:
            out += [w, r]
        if e.otherwise is not None:
            out.append(e.otherwise)
        return tuple(out)
    return ()


Expr = Union[Literal, Property, Variable, BinaryOp, UnaryOp, IsNull, Aggregate, FunctionCall, InList, Between,
             Like, Regexp, Case, Subquery, Exists, InSubquery]


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
    #: ``unidirectional``: in a join, only this stream's events trigger join output.
    unidirectional: bool = False
    #: ``Type(expr, ...)``: the filter expressions (and-ed), applied before the data windows.
    filters: tuple = ()


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
    #: Further streams of a join (``from A#length(5) as a, B#time(10 sec) as b``); the first
    #: stream is ``stream``. See :mod:`squall.cep.join`.
    joins: tuple["StreamDef", ...] = ()
    #: ``output ... every ...`` (see :mod:`squall.cep.output`).
    output: "OutputRate | None" = None
    #: ``order by``: the sort keys, applied to each output batch of rows.
    order_by: tuple["OrderItem", ...] = ()
    #: ``limit n [offset m]`` / ``limit m, n``.
    limit: "Limit | None" = None
    #: ``insert into Name select ...``: the insert-stream rows become events of type Name.
    insert_into: str | None = None
    #: ``insert rstream into`` / ``insert irstream into``: which of the statement's streams
    #: ``insert_into`` receives (``"istream"``: the insert stream, whatever the select's
    #: own ``stream_selector``; Esper 8 reference, 5.10).
    insert_selector: str = "istream"
    #: ``into table T select ...``: the aggregations update table T's columns.
    into_table: str | None = None
    #: ``from T match_recognize ( ... )``: a
    #: :class:`squall.cep.match_recognize_parse.MatchRecognize` clause.
    match_recognize: "object | None" = None
    #: ``context Name select ...``: the statement runs per partition of context Name
    #: (:mod:`squall.cep.context`).
    context: str | None = None


@dataclass(frozen=True)
class CreateVariable:
    """``create [constant] variable TYPE NAME [= expr]`` (Esper 8 reference, 6.5
    "Variables and Constants"). ``java_type`` is the Java type name (``Integer``...)."""
    name: str
    java_type: str
    constant: bool = False
    initial: "Expr | None" = None
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)
    insert_into: None = None


@dataclass(frozen=True)
class Assignment:
    """``NAME = expr`` in an ``on ... set`` statement."""
    name: str
    expr: "Expr"
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class OnSet:
    """``on Type[(filter)] [as alias] set NAME = expr[, ...]`` (Esper 8 reference, 6.5.2
    "Setting Variable Values"): each event of ``stream`` assigns the variables, in order."""
    stream: "StreamDef"
    assignments: tuple[Assignment, ...]
    insert_into: None = None


@dataclass(frozen=True)
class OrderItem:
    """One ``order by`` key: ``expr [asc|desc]``."""
    expr: Expr
    descending: bool = False


@dataclass(frozen=True)
class Limit:
    """``limit count [offset offset]``: at most ``count`` rows of each output batch,
    after skipping ``offset`` rows; either may be a variable (a :class:`Variable` once
    compiled, a :class:`Property` before)."""
    count: "int | Property | Variable"
    offset: "int | Property | Variable" = 0


@dataclass(frozen=True)
class OutputRate:
    """``output [kind] every N events`` (``events`` set) or ``every <period>`` (``period``).

    ``kind``: ``default`` (no keyword), ``all``, ``first``, ``last`` or ``snapshot``.
    Esper distinguishes ``default`` from ``all`` for grouped, fully aggregated statements.
    """
    kind: str = "default"
    events: int | None = None
    period: "TimePeriod | None" = None
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)
    #: ``when expr``: the trigger expression (no ``events`` nor ``period`` then)
    when: "Expr | None" = None
    #: ``then set v = e, ...`` after a ``when`` (or ``when terminated``) output
    then: "tuple[Assignment, ...]" = ()
    #: ``output after N events`` / ``output after <period>``
    after_events: int | None = None
    after_period: "TimePeriod | None" = None
    #: ``when terminated`` as the condition; ``and when terminated`` next to another one
    terminated: bool = False
    and_terminated: bool = False
    #: ``... when terminated and expr`` (either form), and its ``then set``
    terminated_when: "Expr | None" = None
    terminated_then: "tuple[Assignment, ...]" = ()

    @property
    def has_condition(self) -> bool:
        """Whether a condition holds output back (else only ``after`` applies)."""
        return self.events is not None or self.period is not None or self.when is not None \
            or self.terminated


def _output_text(o: OutputRate) -> str:
    def then(assignments):
        return (" then set " + ", ".join(f"{a.name} = {expr_text(a.expr)}" for a in assignments)
                if assignments else "")

    def term(expr, assignments):
        return "when terminated" + (f" and {expr_text(expr)}" if expr is not None else "") \
            + then(assignments)
    parts = ["output"]
    if o.after_events is not None:
        parts.append(f"after {o.after_events} events")
    elif o.after_period is not None:
        parts.append(f"after {_param_text(o.after_period)}")
    if o.kind != "default":
        parts.append(o.kind)
    if o.events is not None:
        parts.append(f"every {o.events} events")
    elif o.period is not None:
        parts.append(f"every {_param_text(o.period)}")
    elif o.when is not None:
        parts.append(f"when {expr_text(o.when)}{then(o.then)}")
    elif o.terminated:
        parts.append(term(o.terminated_when, o.terminated_then))
    if o.and_terminated:
        parts.append("and " + term(o.terminated_when, o.terminated_then))
    return " ".join(parts)


# Precedence, low to high; mirrors the grammar's rule nesting.
_PREC = {"or": 1, "and": 2, "not": 3, "is": 4, "=": 4, "!=": 4, "<": 4, "<=": 4, ">": 4,
         ">=": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6, "neg": 7}
_ATOM = 8


def _prec(e: Expr) -> int:
    if isinstance(e, BinaryOp):
        return _PREC[e.op]
    if isinstance(e, UnaryOp):
        return _PREC["not"] if e.op == "not" else _PREC["neg"]
    if isinstance(e, (IsNull, InList, Between, Like, Regexp, InSubquery)):
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
    if isinstance(e, (InList, Between, Like, Regexp, Case)):
        return _special_text(e)
    if isinstance(e, (Property, Variable)):
        return e.name
    if isinstance(e, Subquery):
        # Esper names an unaliased subquery column after the subquery's select expression.
        items = e.statement.items
        return expr_text(items[0].expr) if items and len(items) == 1 else "subselect"
    if isinstance(e, Exists):
        return f"exists({expr_text(e.subquery)})"
    if isinstance(e, InSubquery):
        return f"{expr_text(e.operand)} {'not ' if e.negated else ''}in (subselect)"
    if isinstance(e, TableAccess):
        keys = f"[{','.join(expr_text(k) for k in e.keys)}]" if e.keys else ""
        return e.table + keys + (f".{e.column}" if e.column is not None else "")
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
    out = [] if st.insert_into is None else \
        [f"insert into {st.insert_into}" if st.insert_selector == "istream"
         else f"insert {st.insert_selector} into {st.insert_into}"]
    out.append("select")
    if st.stream_selector != "istream":
        out.append(st.stream_selector)
    if st.items is None:
        out.append("*")
    else:
        out.append(", ".join(expr_text(i.expr) + (f" as {i.alias}" if i.alias else "")
                             for i in st.items))
    s = st.stream
    if isinstance(s, PatternStream) or st.joins or s.unidirectional:
        out.append("from " + ", ".join(stream_text(x) for x in (s, *st.joins)))
    else:
        views = "".join(
            (f".{v.namespace}:{v.name}" if v.namespace else f"#{v.name}")
            + "(" + ", ".join(_param_text(p) for p in v.params) + ")"
            for v in s.views)
        flt = f"({', '.join(expr_text(f) for f in s.filters)})" if s.filters else ""
        out.append(f"from {s.event_type}{flt}{views}" + (f" as {s.alias}" if s.alias else ""))
    if st.match_recognize is not None:
        out.append(st.match_recognize.text())
    if st.where is not None:
        out.append("where " + expr_text(st.where))
    if st.group_by:
        out.append("group by " + ", ".join(expr_text(g) for g in st.group_by))
    if st.having is not None:
        out.append("having " + expr_text(st.having))
    if st.output is not None:
        out.append(_output_text(st.output))
    if st.order_by:
        out.append("order by " + ", ".join(expr_text(i.expr) + (" desc" if i.descending else "")
                                           for i in st.order_by))
    if st.limit is not None:
        count, offset = (v if isinstance(v, int) else v.name for v in (st.limit.count, st.limit.offset))
        out.append(f"limit {count}" + (f" offset {offset}" if offset else ""))
    return " ".join(out)


# ---------------------------------------------------------------- patterns
# Esper 8 reference, 7 "EPL Reference: Patterns". Built by the parser; compiled by
# :mod:`squall.cep.pattern`.

@dataclass(frozen=True)
class PatternFilter:
    """``tag=Type(filter, ...)``: one event of ``event_type`` for which every filter
    expression is true. Filters may refer to earlier tags (``carNumber = a.carNumber``)."""
    event_type: str
    tag: str | None = None
    filters: tuple["Expr", ...] = ()
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PatternObserver:
    """``namespace:name(params)``, e.g. ``timer:interval(10 sec)``."""
    namespace: str
    name: str
    params: tuple[Union["Expr", TimePeriod], ...] = ()
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PatternGuard:
    """``child where namespace:name(params)``, e.g. ``where timer:within(10 sec)``."""
    child: "PatternExpr"
    namespace: str
    name: str
    params: tuple[Union["Expr", TimePeriod], ...] = ()
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PatternEvery:
    child: "PatternExpr"


@dataclass(frozen=True)
class PatternNot:
    child: "PatternExpr"


@dataclass(frozen=True)
class PatternAnd:
    children: tuple["PatternExpr", ...]


@dataclass(frozen=True)
class PatternOr:
    children: tuple["PatternExpr", ...]


@dataclass(frozen=True)
class PatternFollowedBy:
    """``a -> b -> c``: one node with the children in order."""
    children: tuple["PatternExpr", ...]


@dataclass(frozen=True)
class PatternEveryDistinct:
    """``every-distinct(expr, ... [, period]) child``: ``every`` that drops a match whose
    distinct values were seen before (forgotten ``period`` after they were first seen)."""
    child: "PatternExpr"
    params: tuple[Union["Expr", TimePeriod], ...] = ()
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PatternRepeat:
    """``[low:high] child until stop``: repeat and match-until in one node. ``[n] A`` has
    ``low == high == n`` and no ``until``; ``A until B`` has no bounds."""
    child: "PatternExpr"
    low: int | None = None
    high: int | None = None
    until: "PatternExpr | None" = None
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PatternWhile:
    """``child while (expr)``: the child ends (permanently false) at a match for which
    ``expr`` is false."""
    child: "PatternExpr"
    expr: "Expr"
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PatternTimerAt:
    """``timer:at(minutes, hours, days of month, months, days of week [, seconds])``:
    ``fields`` as in :class:`squall.cep.crontab.Crontab` (a frozenset per field, None
    for any)."""
    fields: tuple
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


PatternExpr = Union[PatternFilter, PatternObserver, PatternGuard, PatternEvery, PatternNot,
                    PatternAnd, PatternOr, PatternFollowedBy, PatternEveryDistinct, PatternRepeat,
                    PatternWhile, PatternTimerAt]


@dataclass(frozen=True)
class PatternStream:
    """``from pattern [ ... ]`` in place of a stream."""
    pattern: PatternExpr
    alias: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


_PATTERN_PREC = {PatternFollowedBy: 1, PatternOr: 2, PatternAnd: 3, PatternRepeat: 3.5,
                 PatternEvery: 4, PatternNot: 4, PatternEveryDistinct: 4, PatternGuard: 5,
                 PatternWhile: 5}


def _cron_text(values) -> str:
    if values is None:
        return "*"
    values = sorted(values)
    return str(values[0]) if len(values) == 1 else "[" + ", ".join(map(str, values)) + "]"


def pattern_text(p: PatternExpr) -> str:
    """Render a pattern expression as EPL text (parenthesised where precedence needs it).

    >>> pattern_text(PatternFollowedBy((PatternEvery(PatternFilter("A", "a")),
    ...                                 PatternFilter("B", "b", (BinaryOp("=", Property("k"), Property("a.k")),)))))
    'every a=A -> b=B(k=a.k)'
    """
    def sub(child, min_prec):
        text = pattern_text(child)
        return f"({text})" if _PATTERN_PREC.get(type(child), 6) < min_prec else text

    if isinstance(p, PatternFilter):
        head = f"{p.tag}={p.event_type}" if p.tag else p.event_type
        return head + (f"({', '.join(expr_text(f) for f in p.filters)})" if p.filters else "")
    if isinstance(p, PatternObserver):
        return f"{p.namespace}:{p.name}({', '.join(_param_text(x) for x in p.params)})"
    if isinstance(p, PatternGuard):
        return (f"{sub(p.child, 6)} where {p.namespace}:{p.name}"
                f"({', '.join(_param_text(x) for x in p.params)})")
    if isinstance(p, PatternEvery):
        return f"every {sub(p.child, 5)}"
    if isinstance(p, PatternNot):
        return f"not {sub(p.child, 5)}"
    if isinstance(p, PatternAnd):
        return " and ".join(sub(c, 4) for c in p.children)
    if isinstance(p, PatternOr):
        return " or ".join(sub(c, 3) for c in p.children)
    if isinstance(p, PatternFollowedBy):
        return " -> ".join(sub(c, 2) for c in p.children)
    if isinstance(p, PatternEveryDistinct):
        return (f"every-distinct({', '.join(_param_text(x) for x in p.params)}) "
                f"{sub(p.child, 5)}")
    if isinstance(p, PatternRepeat):
        if p.low is None and p.high is None:
            head = ""
        elif p.low == p.high:
            head = f"[{p.low}] "
        else:
            head = f"[{'' if p.low is None else p.low}:{'' if p.high is None else p.high}] "
        return head + sub(p.child, 4) + ("" if p.until is None else f" until {sub(p.until, 4)}")
    if isinstance(p, PatternWhile):
        return f"{sub(p.child, 6)} while ({expr_text(p.expr)})"
    if isinstance(p, PatternTimerAt):
        fields = p.fields if p.fields[5] != frozenset([0]) else p.fields[:5]
        return f"timer:at({', '.join(_cron_text(f) for f in fields)})"
    raise TypeError(f"not a pattern expression: {p!r}")


def stream_text(s: Union[StreamDef, PatternStream]) -> str:
    """Render one stream of a from clause (a filtered/windowed stream or a pattern)."""
    if isinstance(s, PatternStream):
        return f"pattern [{pattern_text(s.pattern)}]" + (f" as {s.alias}" if s.alias else "")
    views = "".join(
        (f".{v.namespace}:{v.name}" if v.namespace else f"#{v.name}")
        + "(" + ", ".join(_param_text(p) for p in v.params) + ")"
        for v in s.views)
    return (f"{s.event_type}{views}" + (f" as {s.alias}" if s.alias else "")
            + (" unidirectional" if s.unidirectional else ""))


def _special_text(e) -> str:
    neg = "not " if getattr(e, "negated", False) else ""
    if isinstance(e, InList):
        return f"{_wrap(e.operand, 5)} {neg}in ({','.join(expr_text(i) for i in e.items)})"
    if isinstance(e, Between):
        return f"{_wrap(e.operand, 5)} {neg}between {_wrap(e.low, 5)} and {_wrap(e.high, 5)}"
    if isinstance(e, Like):
        esc = "" if e.escape is None else f" escape {_literal_text(e.escape)}"
        return f"{_wrap(e.operand, 5)} {neg}like {_wrap(e.pattern, 5)}{esc}"
    if isinstance(e, Regexp):
        return f"{_wrap(e.operand, 5)} {neg}regexp {_wrap(e.pattern, 5)}"
    parts = ["case"]
    if e.operand is not None:
        parts.append(expr_text(e.operand))
    for w, r in e.whens:
        parts.append(f"when {expr_text(w)} then {expr_text(r)}")
    if e.otherwise is not None:
        parts.append(f"else {expr_text(e.otherwise)}")
    parts.append("end")
    return " ".join(parts)


# ---------------------------------------------------------------- named windows and tables
# Esper 8 reference, 6 "EPL Reference: Named Windows and Tables". Built by the parser;
# compiled by squall.cep.named_window, squall.cep.table and squall.cep.on_action.

@dataclass(frozen=True)
class CreateWindow:
    """``create window NAME#view... as (select items from TYPE | TYPE | (col type, ...))``.

    ``source`` is the event type the window's rows come from (None for a column list);
    ``items`` the select list of ``as select ...`` (None: ``*`` or ``as TYPE``);
    ``columns`` the ``(name, type name)`` pairs of the column-list form."""
    name: str
    views: tuple[View, ...]
    source: str | None = None
    items: tuple[SelectItem, ...] | None = None
    columns: tuple[tuple[str, str], ...] | None = None
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)
    insert_into: None = None


@dataclass(frozen=True)
class TableColumn:
    """One column of ``create table``: ``name type [primary key]`` or ``name agg(type)``
    (``agg`` a lower-case aggregation function; ``type`` None for ``count(*)``)."""
    name: str
    type_name: str | None
    aggregate: str | None = None
    primary_key: bool = False
    distinct: bool = False
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CreateTable:
    """``create table NAME (column, ...)``."""
    name: str
    columns: tuple[TableColumn, ...]
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)
    insert_into: None = None


@dataclass(frozen=True)
class TableAccess:
    """``T[key, ...].column`` (``keys`` empty for ``T.column`` of a table without
    primary key; ``column`` None for the whole row)."""
    table: str
    keys: tuple
    column: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)
    column_pos: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class MergeAction:
    """One ``then`` of ``on ... merge``: ``kind`` ``update`` (``assignments``), ``delete``,
    or ``insert`` (``items``, into ``insert_into`` or the merged window/table); ``where``
    an optional condition of the action."""
    kind: str
    assignments: tuple = ()
    items: tuple[SelectItem, ...] | None = None
    where: "Expr | None" = None
    insert_into: str | None = None


@dataclass(frozen=True)
class MergeClause:
    """``when [not] matched [and condition] then ...``."""
    matched: bool
    condition: "Expr | None"
    actions: tuple[MergeAction, ...]


@dataclass(frozen=True)
class OnAction:
    """``on TRIGGER [as t] (select ... from | delete from | update | merge) TARGET [as w] ...``.

    ``action``: ``select``, ``delete``, ``update`` or ``merge``; ``trigger`` the
    triggering stream (None in a fire-and-forget ``delete``/``update``); ``target`` the
    named window or table. ``items`` is the select list of ``on ... select`` (None:
    ``*``), ``and_delete`` its ``select and delete``; ``assignments`` those of
    ``update``; ``clauses`` the ``when`` clauses of ``merge``."""
    action: str
    trigger: "StreamDef | None"
    target: str
    target_alias: str | None = None
    where: "Expr | None" = None
    items: tuple[SelectItem, ...] | None = None
    and_delete: bool = False
    group_by: tuple = ()
    having: "Expr | None" = None
    order_by: tuple = ()
    assignments: tuple = ()
    clauses: tuple[MergeClause, ...] = ()
    insert_into: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class KeyedItem:
    """``partition by p1 and p2 from Type(filter)`` of a keyed segmented context."""
    properties: tuple[str, ...]
    stream: StreamDef


@dataclass(frozen=True)
class HashItem:
    """``coalesce by fn(expr) from Type(filter)`` of a hash segmented context."""
    function: str
    expr: "Expr"
    stream: StreamDef
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CategoryItem:
    """``group by expr as label`` of a category context."""
    expr: "Expr"
    label: str


@dataclass(frozen=True)
class ContextCondition:
    """When a context partition starts or ends: ``kind`` ``now`` (``@now``), ``after``
    (``period_ms`` after it started), ``event`` (an event of ``stream``, its filter and
    alias), ``crontab`` or ``pattern``."""
    kind: str
    stream: "StreamDef | None" = None
    period_ms: int = 0
    #: ``crontab``: per field (minutes, hours, days of month, months, days of week,
    #: seconds) the allowed values, None for any
    crontab: tuple = ()
    #: ``pattern``: the pattern (a PatternStream)
    pattern: "PatternStream | None" = None
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class CreateContext:
    """``create context Name ...``: ``kind`` ``keyed`` (``items`` KeyedItem), ``hash``
    (HashItem, ``granularity``), ``category`` (CategoryItem over ``stream``), ``span``
    (``start ... end ...``) or ``overlap`` (``initiated by ... terminated by ...``), the
    last two with ``items`` = (start, end) ContextConditions."""
    name: str
    kind: str
    items: tuple
    stream: "StreamDef | None" = None
    granularity: int = 0
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)
    insert_into: None = None


@dataclass(frozen=True)
class CreateSchema:
    """``create schema Name [as] (col type, ...) [inherits Parent, ...]``: ``columns``
    are (name, type name) pairs."""
    name: str
    columns: tuple[tuple[str, str], ...]
    inherits: tuple[str, ...] = ()
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)
    insert_into: None = None
