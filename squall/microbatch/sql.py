"""SQL over a stream: one ``SELECT`` compiled to a streaming query's frozen plan.

:func:`sql` parses a query with sqlglot (Spark's dialect, which also reads the Flink SQL
used here), and compiles it to the operators of :mod:`squall.microbatch.plan`: ``WHERE``
to a ``Filter``, the group window to the windowed ``group_by`` (a ``WindowAggregate``),
``HAVING`` to a ``Filter`` after it, the select list to a ``Select``. Scalar expressions
become polars expressions through ``polars.sql_expr``, so every per-record step runs in
polars' kernels, once per batch; no Python runs per row.

Group windows, in either spelling:

* Flink SQL: ``GROUP BY TUMBLE(ts, INTERVAL '30' SECOND)``, ``HOP(ts, slide, size)``,
  with ``TUMBLE_START/TUMBLE_END/TUMBLE_ROWTIME`` (``HOP_...``) in the select list;
* Spark SQL: ``GROUP BY window(ts, '30 seconds'[, '10 seconds'[, startTime]])``, with
  ``window.start``, ``window.end`` (or ``window``: both columns) in the select list;
* Flink SQL's window table functions: ``FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts),
  size[, offset]))`` or ``HOP(TABLE t, DESCRIPTOR(ts), slide, size[, offset])``, with
  ``GROUP BY window_start, window_end, ...`` and ``window_start``, ``window_end``,
  ``window_time`` in the select list (positional arguments only).

The event-time column is integer epoch milliseconds or a polars ``Datetime`` (turned
into epoch ms before the window). A window's start and end come out as ``window_start``
and ``window_end`` (epoch ms) unless aliased. The watermark is the largest event time
seen minus ``watermark_delay`` (Flink declares it in the table's DDL, Spark with
``withWatermark``; here it is an argument). A ``GROUP BY`` without a window (or
aggregates without ``GROUP BY``) keeps one running row per key: update mode emits the
changed keys after each batch, append mode emits every key once at the end of input.

Supported: one table in ``FROM`` (an alias allowed), optionally flattened by one
Flink ``CROSS JOIN UNNEST(list) AS t(col)`` or Spark ``LATERAL VIEW explode(list) t AS
col`` (one row per element, the record's columns repeated; ``SPLIT(str, ' ')`` at a
plain separator makes the list), ``WHERE``, ``GROUP BY`` (columns, expressions, at most
one group window), ``HAVING`` (which may name a select alias, as Spark allows), the
aggregates ``COUNT(*)``, ``COUNT(x)``, ``SUM``, ``AVG``, ``MIN``, ``MAX`` over any
scalar expression, and scalar expressions polars' SQL knows (arithmetic, comparisons,
``AND/OR/NOT``, ``IN``, ``BETWEEN``, ``LIKE``, ``IS NULL``, ``CASE``, ``CAST``, string
functions). Refused with a :class:`SqlError` naming the clause: other joins, subqueries,
``UNION``, ``ORDER BY``, ``LIMIT``, ``DISTINCT``, ``OVER`` windows, ``SESSION`` windows,
``COUNT(DISTINCT ...)`` and other aggregates (their partials do not merge across
batches), ``CUMULATE`` and named arguments of Flink's window table functions. Column
names are case-sensitive.

Semantics: Flink SQL "Group Window Aggregation" (TUMBLE, HOP and their auxiliary
functions; ``HOP(time, slide, size)``) and "Window Aggregation" (window TVFs), Spark SQL ``window()`` ("Window Operations on
Event Time"); the stream semantics are the plan's (see :mod:`squall.microbatch.engine`).

>>> import polars as pl
>>> from squall.microbatch import ListSource, ListSink
>>> src = ListSource([pl.DataFrame({"ts": [1_000, 2_000, 31_000], "car": ["a", "a", "a"], "v": [1.0, 3.0, 90.0]})])
>>> q = sql("SELECT car, TUMBLE_START(ts, INTERVAL '30' SECOND) AS ws, AVG(v) AS av, COUNT(*) AS n "
...         "FROM obd GROUP BY TUMBLE(ts, INTERVAL '30' SECOND), car", {"obd": src})
>>> sink = ListSink()
>>> _ = q.write_stream(sink).run()
>>> sink.rows()
[('a', 0, 2.0, 2), ('a', 30000, 90.0, 1)]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..extras import require
from .errors import PlanError
from .frame import StreamingDataFrame
from .plan import (
    Agg,
    Filter,
    Select,
    Watermark,
    Window,
    WindowAggregate,
    WithColumns,
    to_ms,
    window,
)
from .sources import Source

pl = require("polars", "microbatch")

__all__ = [
    "CompiledSql",
    "CsvSource",
    "JsonLinesSource",
    "SqlError",
    "TextFileSource",
    "compile_sql",
    "parse_duration_ms",
    "sql",
]

_HIDDEN = "__sql_"
_WS, _WE = "window_start", "window_end"
_GLOBAL = f"{_HIDDEN}global"
_WINDOW_FUNCS = {"TUMBLE": "tumble", "HOP": "hop", "WINDOW": "window", "SESSION": "session"}
_AUX = {"TUMBLE_START": ("tumble", _WS), "TUMBLE_END": ("tumble", _WE), "TUMBLE_ROWTIME": ("tumble", "rowtime"),
        "HOP_START": ("hop", _WS), "HOP_END": ("hop", _WE), "HOP_ROWTIME": ("hop", "rowtime")}
_UNIT_MS = {"ms": 1, "msec": 1, "millisecond": 1, "milliseconds": 1, "msecs": 1,
            "s": 1_000, "sec": 1_000, "secs": 1_000, "second": 1_000, "seconds": 1_000,
            "m": 60_000, "min": 60_000, "mins": 60_000, "minute": 60_000, "minutes": 60_000,
            "h": 3_600_000, "hour": 3_600_000, "hours": 3_600_000,
            "d": 86_400_000, "day": 86_400_000, "days": 86_400_000,
            "week": 604_800_000, "weeks": 604_800_000}


class SqlError(PlanError):
    """A SQL query does not parse, or uses what a streaming query cannot run.

    Raised by :func:`sql` before any batch runs. The message names the clause or
    expression at fault and, for a parse error, the line and column.

    Attributes:
        query: the SQL text.
    """

    def __init__(self, query: str, reason: str) -> None:
        super().__init__(f"SQL: {reason}")
        self.query = query
        self.reason = reason


def parse_duration_ms(text: str) -> int:
    """Milliseconds of a duration written as Spark's ``window()`` takes it.

    ``"30 seconds"``, ``"1 minute"``, ``"1 hour 30 minutes"``, ``"500 ms"``, ``"2s"``.

    Raises:
        ValueError: not a sequence of ``<integer> <unit>`` with a known unit.

    >>> parse_duration_ms("1 minute 30 seconds"), parse_duration_ms("250ms")
    (90000, 250)
    """
    parts = re.findall(r"\s*(\d+)\s*([A-Za-z]+)\s*", text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", text):
        raise ValueError(f"duration {text!r} is not '<integer> <unit>' (units: ms, second, minute, hour, day, week)")
    total = 0
    for number, unit in parts:
        factor = _UNIT_MS.get(unit.lower())
        if factor is None:
            raise ValueError(f"duration {text!r}: unknown unit {unit!r} (ms, second, minute, hour, day, week)")
        total += int(number) * factor
    return total


@dataclass(frozen=True)
class CompiledSql:
    """A query compiled from SQL: the table it reads and the plan operators to apply.

    Attributes:
        table: the name in ``FROM`` (the key of the source in :func:`sql`'s ``sources``).
        operators: the operator specs (``Filter``, ``WithColumns``, ``Watermark``,
            ``WindowAggregate``, ``Select``), in order, for a ``StreamingDataFrame``.
        columns: the output column names, in order (``None`` for ``SELECT *``).
        windowed: True when the query groups by an event-time window.
    """

    table: str
    operators: tuple[Any, ...]
    columns: tuple[str, ...] | None
    windowed: bool


def sql(query: str, sources: Mapping[str, Source], *, watermark_delay: int | timedelta = 0) -> StreamingDataFrame:
    """A streaming query from one SQL ``SELECT`` over one of ``sources``.

    Args:
        query: the SQL text (see the module doc for what is supported).
        sources: table name -> :class:`~squall.microbatch.sources.Source`; the query's
            ``FROM`` names one of them (matched exactly, then ignoring case).
        watermark_delay: for a windowed query, how late a record may come (ms or
            ``timedelta``): the watermark is the largest event time seen minus it.

    Returns:
        A :class:`StreamingDataFrame` holding the compiled operators; run it with
        ``write_stream(sink, output_mode=...)`` (``"append"``: a window's rows once, when
        the watermark passes its end; ``"update"``: the changed rows after each batch).

    Raises:
        SqlError: a parse error (with line and column), an unsupported clause or
            aggregate, a column neither grouped nor aggregated, an unknown table.

    Semantics: see the module doc.
    """
    compiled = compile_sql(query, watermark_delay=watermark_delay)
    source = sources.get(compiled.table)
    if source is None:
        folded = {k.lower(): v for k, v in sources.items()}
        source = folded.get(compiled.table.lower())
    if source is None:
        raise SqlError(query, f"FROM {compiled.table}: no such source (sources: {sorted(sources)})")
    return StreamingDataFrame(source, compiled.operators)


def compile_sql(query: str, *, watermark_delay: int | timedelta = 0) -> CompiledSql:
    """Compile ``query`` without binding a source (what :func:`sql` runs first).

    Raises:
        SqlError: as :func:`sql`.
    """
    delay_ms = to_ms(watermark_delay, "watermark delay")
    if delay_ms < 0:
        raise SqlError(query, f"watermark delay must be >= 0 ms, got {delay_ms}")
    return _Compiler(query, delay_ms).compile()


@dataclass(frozen=True)
class _TableFunction:
    """Flink's window table function in ``FROM``: ``TUMBLE(TABLE t, DESCRIPTOR(ts), size[, offset])``
    or ``HOP(TABLE t, DESCRIPTOR(ts), slide, size[, offset])``; ``args`` are the durations."""

    kind: str
    column: str
    args: tuple[Any, ...]
    text: str


def _take_table_function(query: str, tokens: list[Any], dialect: Any) -> tuple[list[Any], _TableFunction | None]:
    """``tokens`` with ``TABLE(TUMBLE(TABLE t, ...))`` replaced by ``t``, and what it said.

    sqlglot does not parse Flink's window table functions, so they are taken out of the
    token stream before parsing; the table name stays as the ``FROM`` source.
    """
    from sqlglot.tokens import TokenType

    def word(i: int, text: str) -> bool:
        return i < len(tokens) and tokens[i].text.upper() == text

    def kind(i: int, token_type: Any) -> bool:
        return i < len(tokens) and tokens[i].token_type == token_type

    for i in range(len(tokens)):
        if not (word(i, "TABLE") and kind(i + 1, TokenType.L_PAREN) and kind(i + 3, TokenType.L_PAREN)):
            continue
        name = tokens[i + 2].text.upper()
        if not (word(i + 4, "TABLE") and word(i + 6, ",") and word(i + 7, "DESCRIPTOR") and kind(i + 8, TokenType.L_PAREN)
                and kind(i + 10, TokenType.R_PAREN) and word(i + 11, ",")):
            raise SqlError(query, f"FROM TABLE({name}(...)): expected {name}(TABLE t, DESCRIPTOR(ts), ...) "
                                  f"(positional arguments)")
        depth, j = 0, i + 12
        while j < len(tokens):
            depth += kind(j, TokenType.L_PAREN) - kind(j, TokenType.R_PAREN)
            if depth < 0:
                break
            j += 1
        if not (kind(j, TokenType.R_PAREN) and kind(j + 1, TokenType.R_PAREN)):
            raise SqlError(query, f"FROM TABLE({name}(...)): unbalanced parentheses")
        text = query[tokens[i].start: tokens[j + 1].end + 1]
        if name not in ("TUMBLE", "HOP"):
            raise SqlError(query, f"{text}: only the TUMBLE and HOP window table functions are supported")
        args_text = query[tokens[i + 12].start: tokens[j - 1].end + 1] if j > i + 12 else ""
        args = tuple(dialect.parse(f"SELECT {args_text}")[0].expressions)
        call = _TableFunction(name.lower(), tokens[i + 9].text, args, text)
        return tokens[:i] + [tokens[i + 5]] + tokens[j + 2:], call
    return tokens, None


def _parse(query: str) -> tuple[Any, _TableFunction | None]:
    sqlglot = require("sqlglot", "microbatch", "SQL over a stream (squall.microbatch.sql)")
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.tokens import TokenType

    dialect = Dialect.get_or_raise("spark")
    try:
        tokens = dialect.tokenize(query)
        # Spark's window(ts, '30 seconds') and window.start: WINDOW (and SESSION) are
        # keywords to the parser; used as a function or struct they are names.
        for tok, nxt in itertools.pairwise(tokens):
            if tok.text.upper() in _WINDOW_FUNCS and nxt.token_type in (TokenType.L_PAREN, TokenType.DOT):
                tok.token_type = TokenType.VAR
        tokens, table_function = _take_table_function(query, tokens, dialect)
        statements = dialect.parser().parse(tokens, query)
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        raise SqlError(query, f"does not parse{where}: {first.get('description', exc)}") from exc
    except sqlglot.errors.TokenError as exc:
        raise SqlError(query, f"does not parse: {exc}") from exc
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise SqlError(query, f"expected one SELECT statement, got {len(statements)}")
    return statements[0], table_function


@dataclass(frozen=True)
class _WindowCall:
    kind: str                # tumble, hop, window
    spec: Window


class _Compiler:
    """One query's compilation; holds the sqlglot module and the parts found so far."""

    def __init__(self, query: str, delay_ms: int) -> None:
        self.query = query
        self.delay_ms = delay_ms
        self.exp = require("sqlglot", "microbatch", "SQL over a stream (squall.microbatch.sql)").exp
        self.hidden: list[Any] = []          # aliased polars expressions computed before the aggregate

    def fail(self, reason: str) -> SqlError:
        return SqlError(self.query, reason)

    # ------------------------------------------------------------ entry

    def compile(self) -> CompiledSql:
        exp = self.exp
        tree, self.table_function = _parse(self.query)
        if not isinstance(tree, exp.Select):
            raise self.fail(f"only SELECT runs over a stream, got {type(tree).__name__.upper()}")
        unnest = self._unnest(tree)
        self._refuse_unsupported(tree)
        table, alias = self._table(tree)
        self._strip_qualifiers(tree, {table, alias, unnest[2] if unnest else None} - {None})
        where = tree.args.get("where")
        group = tree.args.get("group")
        having = tree.args.get("having")
        items = list(tree.expressions)
        aggs_found = [a for e in [*items, *([having.this] if having else [])] for a in self._aggregates(e)]
        operators: list[Any] = []
        if unnest is not None:
            operators.append(self._explode(tree, *unnest[:2]))
        if where is not None:
            if self._aggregates(where.this):
                raise self.fail(f"WHERE {where.this.sql()}: aggregates belong in HAVING")
            operators.append(Filter(self._polars(where.this, "WHERE")))
        if group is None and not aggs_found:
            if having is not None:
                raise self.fail("HAVING needs GROUP BY or an aggregate")
            if self.table_function is not None:
                raise self.fail(f"{self.table_function.text}: a window table function needs GROUP BY "
                                f"window_start, window_end (window aggregation)")
            columns = self._project(items, operators)
            return CompiledSql(table, tuple(operators), columns, windowed=False)
        return self._aggregate(table, tree, items, group, having, operators)

    def _unnest(self, tree: Any) -> tuple[Any, str, str | None] | None:
        """Take Flink's ``CROSS JOIN UNNEST(list) AS t(col)`` or Spark's ``LATERAL VIEW
        explode(list) t AS col`` out of ``tree``: (the list expression, col, t), or None."""
        exp = self.exp
        joins, laterals = tree.args.get("joins") or [], tree.args.get("laterals") or []
        if len(joins) + len(laterals) != 1:
            return None
        if joins:
            join = joins[0]
            node = join.this
            if not isinstance(node, exp.Unnest) or join.args.get("on") or join.side or \
                    (join.kind or "CROSS").upper() != "CROSS" or len(node.expressions) != 1:
                return None
            listed = node.expressions[0]
        else:
            node = laterals[0]
            if not isinstance(node.this, exp.Explode) or node.args.get("outer"):
                return None
            listed = node.this.this
        alias = node.args.get("alias")
        columns = alias.columns if alias is not None else []
        if len(columns) != 1:
            raise self.fail(f"{node.sql()}: name the unnested column, e.g. UNNEST(...) AS t(word) or "
                            f"LATERAL VIEW explode(...) t AS word")
        tree.set("joins", None)
        tree.set("laterals", None)
        return listed, columns[0].name, alias.name or None

    def _explode(self, tree: Any, listed: Any, column: str) -> Select:
        """One row per element of ``listed`` (a list per record), the record's columns repeated."""
        exp = self.exp
        if any(isinstance(item, exp.Star) for item in tree.expressions):
            others = [pl.all().exclude(column)]
        else:
            # Only the columns the query names are repeated (a line of ten words would be
            # copied ten times only to be dropped).
            tvf = self.table_function
            produced = {column, *((_WS, _WE, "window_time") if tvf is not None else ())}
            names = dict.fromkeys([*(c.name for c in tree.find_all(exp.Column)
                                     if c.name not in produced and c.table.lower() != "window"),
                                   *((tvf.column,) if tvf is not None else ())])
            others = [pl.col(name) for name in names]
        if isinstance(listed, exp.RegexpSplit) and isinstance(listed.expression, exp.Literal):
            # Spark's split(str, regex): polars splits at a plain separator only.
            sep = listed.expression.name
            if any(c in sep for c in ".^$*+?{}[]\\|()"):
                raise self.fail(f"{listed.sql()}: split at a regular expression is not supported; use a plain "
                                f"separator such as ' '")
            values = self._polars(listed.this, "UNNEST").str.split(sep)
        else:
            values = self._polars(listed, "UNNEST")
        n = values.list.len().fill_null(0)
        # A null list gives no row, as UNNEST(NULL) in a cross join.
        return Select((*(c.repeat_by(n).explode() for c in others),
                       values.explode(keep_nulls=False).alias(column)))

    def _refuse_unsupported(self, tree: Any) -> None:
        exp = self.exp
        for clause, words in (("joins", "JOIN"), ("order", "ORDER BY"), ("limit", "LIMIT"), ("offset", "OFFSET"),
                              ("distinct", "SELECT DISTINCT"), ("windows", "WINDOW"), ("qualify", "QUALIFY"),
                              ("laterals", "LATERAL VIEW"), ("with_", "WITH"), ("with", "WITH")):
            if tree.args.get(clause):
                raise self.fail(f"{words} is not supported over a stream (one table, no ordering or limit)")
        for node in tree.find_all(exp.Window):
            raise self.fail(f"{node.sql()}: OVER windows are not supported; use a group window "
                            f"(TUMBLE/HOP or window()) in GROUP BY")
        for node in tree.find_all(exp.Subquery, exp.Union):
            raise self.fail(f"{node.sql()[:60]}: subqueries are not supported")
        for node in tree.find_all(exp.Select):
            if node is not tree:
                raise self.fail(f"{node.sql()[:60]}: subqueries are not supported")

    def _table(self, tree: Any) -> tuple[str, str | None]:
        exp = self.exp
        source = tree.args.get("from_") or tree.args.get("from")
        if source is None:
            raise self.fail("a streaming query needs FROM <source>")
        node = source.this
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            raise self.fail(f"FROM {node.sql()}: only a source name is supported")
        return node.name, (node.alias or None)

    def _strip_qualifiers(self, tree: Any, names: set[str]) -> None:
        """``o.speed`` -> ``speed`` when ``o`` is the table or its alias; ``window.start`` stays."""
        for col in list(tree.find_all(self.exp.Column)):
            if col.table and col.table in names:
                col.set("table", None)
            elif col.table and col.table.lower() != "window":
                raise self.fail(f"{col.sql()}: unknown table {col.table!r} (the query reads {sorted(names)})")

    # ------------------------------------------------------------ pieces

    def _aggregates(self, node: Any) -> list[Any]:
        return list(node.find_all(self.exp.AggFunc))

    def _polars(self, node: Any, clause: str) -> Any:
        """The polars expression of a scalar SQL expression (no aggregate, no window call)."""
        text = node.sql(dialect="postgres", identify=True)
        try:
            return pl.sql_expr(text)
        except Exception as exc:  # polars raises several kinds for SQL it does not know
            raise self.fail(f"{clause} {node.sql()}: polars cannot compile it: {exc}") from exc

    def _hidden(self, expr: Any) -> str:
        name = f"{_HIDDEN}{len(self.hidden)}"
        self.hidden.append(expr.alias(name))
        return name

    def _name(self, node: Any) -> str:
        """The output name of a select item without alias (Spark's names for aggregates)."""
        exp = self.exp
        if isinstance(node, exp.Column):
            return node.name
        if isinstance(node, exp.Count) and isinstance(node.this, exp.Star):
            return "count(1)"
        if isinstance(node, (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max)) and isinstance(node.this, exp.Column):
            return f"{node.key.lower()}({node.this.name})"
        return node.sql()

    def _project(self, items: list[Any], operators: list[Any]) -> tuple[str, ...] | None:
        exp = self.exp
        if len(items) == 1 and isinstance(items[0], exp.Star):
            return None
        exprs, names = [], []
        for item in items:
            if isinstance(item, exp.Star):
                raise self.fail("SELECT *, ...: list the columns instead of mixing * with others")
            node, name = (item.this, item.alias) if isinstance(item, exp.Alias) else (item, self._name(item))
            for call in node.find_all(self.exp.Anonymous):
                if call.name.upper() in _AUX or call.name.upper() in _WINDOW_FUNCS:
                    raise self.fail(f"{call.sql()} needs a GROUP BY with a group window")
            exprs.append(self._polars(node, "SELECT").alias(name))
            names.append(name)
        self._unique(names)
        operators.append(Select(tuple(exprs)))
        return tuple(names)

    def _unique(self, names: list[str]) -> None:
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise self.fail(f"output columns {dup} appear twice; name them with AS")

    # ------------------------------------------------------------ windows

    def _duration(self, node: Any, what: str) -> int:
        exp = self.exp
        try:
            if isinstance(node, exp.Interval):
                unit = node.args.get("unit")
                value = node.this.name if node.this is not None else ""
                text = f"{value} {unit.name}" if unit is not None else value
                return parse_duration_ms(text)
            if isinstance(node, exp.Literal) and node.is_string:
                return parse_duration_ms(node.name)
        except ValueError as exc:
            raise self.fail(f"{what} {node.sql()}: {exc}") from None
        raise self.fail(f"{what} {node.sql()}: expected INTERVAL '30' SECOND or '30 seconds'")

    def _window_call(self, node: Any) -> _WindowCall | None:
        """The group window ``node`` is (TUMBLE/HOP/window call), or None."""
        exp = self.exp
        if not isinstance(node, exp.Anonymous):
            return None
        kind = _WINDOW_FUNCS.get(node.name.upper())
        if kind is None:
            return None
        args = list(node.expressions)
        if kind == "session":
            raise self.fail(f"{node.sql()}: SESSION windows are not supported (their partials cannot be merged "
                            f"batch by batch here); use TUMBLE or HOP")
        if not args or not isinstance(args[0], exp.Column):
            raise self.fail(f"{node.sql()}: the first argument must be the event-time column")
        column = args[0].name
        counts = {"tumble": (2,), "hop": (3,), "window": (2, 3, 4)}[kind]
        if len(args) not in counts:
            usage = {"tumble": "TUMBLE(ts, INTERVAL '30' SECOND)", "hop": "HOP(ts, slide, size)",
                     "window": "window(ts, '30 seconds'[, slide[, startTime]])"}[kind]
            raise self.fail(f"{node.sql()}: expected {usage}")
        if kind == "tumble":
            size = slide = self._duration(args[1], node.name)
            start = 0
        elif kind == "hop":
            slide, size, start = self._duration(args[1], node.name), self._duration(args[2], node.name), 0
        else:
            size = self._duration(args[1], node.name)
            slide = self._duration(args[2], node.name) if len(args) > 2 else size
            start = self._duration(args[3], node.name) if len(args) > 3 else 0
        try:
            spec = window(column, size, slide, start)
        except PlanError as exc:
            raise self.fail(f"{node.sql()}: {exc}") from None
        return _WindowCall(kind, spec)

    def _table_function_window(self, call: _TableFunction) -> _WindowCall:
        """The window of ``TUMBLE(TABLE t, DESCRIPTOR(ts), size[, offset])`` or
        ``HOP(TABLE t, DESCRIPTOR(ts), slide, size[, offset])``."""
        args = [self._duration(a, call.kind.upper()) for a in call.args]
        if len(args) not in ((1, 2) if call.kind == "tumble" else (2, 3)):
            raise self.fail(f"{call.text}: expected {'size' if call.kind == 'tumble' else 'slide, size'}"
                            f"[, offset] after DESCRIPTOR(...)")
        size, slide = (args[0], args[0]) if call.kind == "tumble" else (args[1], args[0])
        offset = args[-1] if len(args) == (2 if call.kind == "tumble" else 3) else 0
        try:
            return _WindowCall(call.kind, window(call.column, size, slide, offset % slide))
        except PlanError as exc:
            raise self.fail(f"{call.text}: {exc}") from None

    def _window_ref(self, node: Any, win: _WindowCall | None) -> str | None:
        """For a window auxiliary (TUMBLE_START(...), window.start, ...): its output column, else None.

        Returns ``"rowtime"`` for ``*_ROWTIME`` (the window's end minus 1 ms).
        """
        exp = self.exp
        if self.table_function is not None and isinstance(node, exp.Column) and not node.table \
                and node.name == "window_time":
            return "rowtime"
        if isinstance(node, exp.Column) and node.table.lower() == "window":
            if win is None:
                raise self.fail(f"{node.sql()} needs GROUP BY window(...)")
            part = node.name.lower()
            if part not in ("start", "end"):
                raise self.fail(f"{node.sql()}: a window has start and end")
            return _WS if part == "start" else _WE
        if isinstance(node, exp.Anonymous) and node.name.upper() in _AUX:
            kind, column = _AUX[node.name.upper()]
            if win is None:
                raise self.fail(f"{node.sql()} needs GROUP BY {kind.upper()}(...)")
            fake = exp.Anonymous(this=kind.upper(), expressions=[e.copy() for e in node.expressions])
            call = self._window_call(fake)
            if call.spec != win.spec:
                raise self.fail(f"{node.sql()} does not match the GROUP BY window "
                                f"({win.kind.upper()} of {win.spec.size_ms} ms every {win.spec.slide_ms} ms)")
            return column
        return None

    # ------------------------------------------------------------ aggregation

    def _aggregate(self, table: str, tree: Any, items: list[Any], group: Any, having: Any,
                   operators: list[Any]) -> CompiledSql:
        exp = self.exp
        keys: list[tuple[Any, str]] = []          # (SQL node, key column)
        win: _WindowCall | None = None
        bounds: set[str] = set()                  # window_start/window_end grouped on (table function)
        for node in (group.expressions if group is not None else []):
            call = self._window_call(node)
            if self.table_function is not None and isinstance(node, exp.Column) and not node.table \
                    and node.name in (_WS, _WE):
                bounds.add(node.name)
            elif call is not None:
                if win is not None:
                    raise self.fail(f"GROUP BY {node.sql()}: one group window per query")
                win = call
            elif isinstance(node, exp.Column) and node.table.lower() != "window":
                keys.append((node, node.name))
            elif self._aggregates(node):
                raise self.fail(f"GROUP BY {node.sql()}: aggregates cannot be grouped on")
            else:
                keys.append((node, self._hidden(self._polars(node, "GROUP BY"))))
        if self.table_function is not None:
            if win is not None or bounds != {_WS, _WE}:
                raise self.fail(f"{self.table_function.text}: GROUP BY window_start, window_end (both, and no "
                                f"other group window) to aggregate per window")
            win = self._table_function_window(self.table_function)
        aggs: list[tuple[Any, Agg]] = []

        def agg_column(node: Any) -> str:
            for seen, agg in aggs:
                if seen == node:
                    return agg.name
            if node.args.get("distinct") or isinstance(node.this, exp.Distinct):
                raise self.fail(f"{node.sql()}: DISTINCT aggregates are not supported (their partials do not merge "
                                f"across batches)")
            kinds = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}
            kind = kinds.get(type(node))
            if kind is None:
                raise self.fail(f"{node.sql()}: unsupported aggregate; use COUNT, SUM, AVG, MIN or MAX")
            arg = node.this
            if self._aggregates(arg):
                raise self.fail(f"{node.sql()}: an aggregate inside an aggregate")
            if kind == "count" and (arg is None or isinstance(arg, exp.Star)):
                column = None
            elif isinstance(arg, exp.Column) and arg.table.lower() != "window":
                column = arg.name
            else:
                column = self._hidden(self._polars(arg, node.key.upper()))
            agg = Agg(kind, column, f"{_HIDDEN}a{len(aggs)}")
            aggs.append((node, agg))
            return agg.name

        def post(node: Any, clause: str) -> Any:
            """``node`` over the aggregate's output row, as a polars expression."""
            def swap(n: Any) -> Any:
                ref = self._window_ref(n, win)
                if ref == "rowtime":
                    return exp.Sub(this=exp.column(_WE, quoted=True), expression=exp.Literal.number(1))
                if ref is not None:
                    return exp.column(ref, quoted=True)
                if isinstance(n, exp.AggFunc):
                    return exp.column(agg_column(n), quoted=True)
                for key_node, key_col in keys:
                    if n == key_node:
                        return exp.column(key_col, quoted=True)
                return n
            rewritten = node.copy().transform(swap)
            allowed = {_WS, _WE, *(k for _, k in keys), *(a.name for _, a in aggs)}
            for col in rewritten.find_all(exp.Column):
                if col.name not in allowed:
                    raise self.fail(f"{clause} {node.sql()}: column {col.name!r} must appear in GROUP BY or inside "
                                    f"an aggregate")
            return self._polars(rewritten, clause)

        select_exprs, names = [], []
        for item in items:
            if isinstance(item, exp.Star):
                raise self.fail("SELECT * with GROUP BY: list the grouped columns and aggregates")
            node, name = (item.this, item.alias) if isinstance(item, exp.Alias) else (item, None)
            if isinstance(node, exp.Column) and node.name.lower() == "window" and not node.table and win is not None:
                # Spark's window struct column: its two fields.
                select_exprs += [pl.col(_WS), pl.col(_WE)]
                names += [_WS, _WE]
                continue
            if name is None:
                ref = self._window_ref(node, win)
                name = ref if ref in (_WS, _WE) else self._name(node)
            select_exprs.append(post(node, "SELECT").alias(name))
            names.append(name)
        self._unique(names)
        having_expr = None
        if having is not None:
            # Spark lets HAVING name a select alias (HAVING avg_speed > 80); a grouped
            # column of the same name wins.
            aliases = {i.alias: i.this for i in items if isinstance(i, exp.Alias)}
            grouped = {k for _, k in keys}

            def unalias(n: Any) -> Any:
                if isinstance(n, exp.Column) and not n.table and n.name in aliases and n.name not in grouped:
                    return aliases[n.name].copy()
                return n
            having_expr = post(having.this.copy().transform(unalias), "HAVING")
        if not aggs:
            # GROUP BY without an aggregate (SELECT DISTINCT's meaning): count the rows anyway.
            aggs.append((exp.Count(this=exp.Star()), Agg("count", None, f"{_HIDDEN}a0")))
        if win is not None:
            spec = win.spec
            ts = pl.col(spec.column)
            # Datetime or integer epoch ms -> integer epoch ms (a no-op cast for an integer).
            self.hidden.insert(0, ts.cast(pl.Datetime("ms")).cast(pl.Int64).alias(spec.column))
            mark = Watermark(spec.column, self.delay_ms)
        else:
            # No event-time window: one window holding every record, closed at the end of input.
            spec = window(_GLOBAL, 1)
            self.hidden.insert(0, pl.lit(0, pl.Int64).alias(_GLOBAL))
            mark = Watermark(_GLOBAL, 0)
        operators.append(WithColumns(tuple(self.hidden)))
        agg_keys, agg_specs = tuple(k for _, k in keys), tuple(a for _, a in aggs)
        # Only the columns the aggregate reads go on: polars then never builds the others
        # (an UNNEST would otherwise repeat every column of the record per element).
        needed = dict.fromkeys([spec.column, *agg_keys, *(a.column for a in agg_specs if a.column is not None)])
        operators.append(Select(tuple(needed)))
        operators.append(mark)
        operators.append(WindowAggregate(spec, agg_keys, agg_specs))
        if having_expr is not None:
            operators.append(Filter(having_expr))
        operators.append(Select(tuple(select_exprs)))
        return CompiledSql(table, tuple(operators), tuple(names), windowed=win is not None)


# ---------------------------------------------------------------- file sources

class CsvSource(Source):
    """A CSV file (with a header) as batches of ``batch_rows`` rows, read by polars' CSV reader.

    Dates and datetimes in ISO form are parsed (``try_parse_dates``), so a timestamp
    column can drive a SQL group window.

    Args:
        path: the file.
        batch_rows: rows per micro-batch (the last one may be shorter).

    Raises (from :meth:`batches`):
        FileNotFoundError: the file does not exist.
    """

    def __init__(self, path: str | Path, batch_rows: int = 65_536) -> None:
        if batch_rows <= 0:
            raise PlanError(f"CsvSource({path}): batch_rows must be positive, got {batch_rows}")
        self.path, self.batch_rows = Path(path), batch_rows

    def _scan(self) -> Any:
        return pl.scan_csv(self.path, try_parse_dates=True)

    def batches(self) -> Iterator[Any]:
        if not self.path.is_file():
            raise FileNotFoundError(f"{type(self).__name__}: no file {self.path}")
        yield from self._scan().collect_batches(chunk_size=self.batch_rows)


class JsonLinesSource(CsvSource):
    """A JSON lines file (one object per line) as batches of ``batch_rows`` rows (polars' reader).

    Args: as :class:`CsvSource`.
    """

    def _scan(self) -> Any:
        return pl.scan_ndjson(self.path)


class TextFileSource(Source):
    """A text file's lines (column ``line``, without the newline) as batches of ``batch_lines`` lines.

    The file is read and split by polars at once (no Python object per line); a
    trailing ``"\\r"`` is dropped, as the socket source does.

    Args:
        path: the file (UTF-8; undecodable bytes are replaced).
        batch_lines: lines per micro-batch (the last one may be shorter).

    Raises (from :meth:`batches`):
        FileNotFoundError: the file does not exist.
    """

    def __init__(self, path: str | Path, batch_lines: int = 65_536) -> None:
        if batch_lines <= 0:
            raise PlanError(f"TextFileSource({path}): batch_lines must be positive, got {batch_lines}")
        self.path, self.batch_lines = Path(path), batch_lines

    def batches(self) -> Iterator[Any]:
        if not self.path.is_file():
            raise FileNotFoundError(f"TextFileSource: no file {self.path}")
        text = self.path.read_bytes().decode("utf-8", errors="replace")
        if not text:
            return
        lines = pl.Series("line", [text]).str.split("\n").explode()
        if text.endswith("\n"):
            lines = lines.head(-1)
        yield from lines.str.strip_suffix("\r").to_frame().iter_slices(self.batch_lines)
