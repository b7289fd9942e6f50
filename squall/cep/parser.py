"""EPL text -> AST (:mod:`squall.cep.ast`), with a LALR(1) lark grammar (``epl.lark``).

Keywords are case-insensitive; ``--`` line comments and ``/* */`` block comments are
ignored; several statements are separated by ``;``.

>>> [type(s).__name__ for s in parse("select a from T#length_batch(2); select b from T#length_batch(3)")]
['SelectStatement', 'SelectStatement']
>>> parse("select a fro T")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
squall.cep.errors.EPLSyntaxError: Incorrect syntax near 'fro' at line 1, column 10: expected ...
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import ast as _pyast
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import lark
from lark import Token, Transformer, v_args

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError, EPLError, EPLSyntaxError
from squall.cep.match_recognize_parse import attach_clauses, find_clauses

__all__ = ["parse", "parse_with_spans", "parse_statements", "ParsedStatement", "Annotation",
           "parse_expression"]

_OPERATOR_TOKENS = {"COMP_OP", "ADD_OP", "MUL_OP", "AND", "OR", "IS", "STAR"}
_PRETTY = {"COMMA": "','", "SEMICOLON": "';'", "LPAR": "'('", "RPAR": "')'", "DOT": "'.'",
           "COLON": "':'", "HASH": "'#'", "$END": "end of input", "NAME": "an identifier",
           "NUMBER": "a number", "STRING": "a string", "AT": "'@'",
           "STAR": "'*'"}


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = (Path(__file__).with_name("epl.lark")).read_text()
    return lark.Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=False)


def _unescape(tok: Token) -> str:
    body = str(tok)[1:-1]
    if "\\" not in body:
        return body
    # literal_eval on a re-quoted *string literal* only: no code is evaluated. An unknown
    # escape ('\d' in a regexp) stays as written; Python warns about it, which is noise here.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _pyast.literal_eval('"' + body.replace('"', '\\"').replace('\\\\"', '\\"') + '"')
    except (SyntaxError, ValueError) as exc:   # \x, \u, \N escapes that are incomplete
        reason = (exc.msg if isinstance(exc, SyntaxError) else str(exc)).rsplit(": ", 1)[-1]
        raise _token_error(tok, f"an invalid escape sequence in a string ({reason})") from None


def _token_error(tok: Token, what: str) -> EPLSyntaxError:
    """A syntax error at ``tok`` that the grammar cannot see (a value out of range)."""
    return EPLSyntaxError(f"Incorrect syntax near '{_clip(str(tok))}' at line {tok.line}, column "
                          f"{tok.column}: {what}", line=tok.line, column=tok.column, token=str(tok))


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _number(tok: Token):
    """A NUMBER token's value: int (``10``, Java long ``10L``) or float (``1.5``, ``1e3``).

    Raises:
        EPLSyntaxError: an integer too long to convert (Python's 4300-digit limit) or a
            float that overflows to infinity.
    """
    s = str(tok)
    try:
        if s[-1] in "lL":
            return int(s[:-1])
        if any(c in s for c in ".eE"):
            v = float(s)
            if math.isinf(v):
                raise ValueError("out of range")
            return v
        return int(s)
    except ValueError:
        raise _token_error(tok, "a number out of range") from None


def _name(tok: Token) -> str:
    s = str(tok)
    return s[1:-1] if s.startswith("`") else s


@v_args(inline=True)
class _ToAst(Transformer):
    def number(self, tok):
        return A.Literal(_number(tok))

    def string(self, tok):
        return A.Literal(_unescape(tok), tok.line, tok.column)

    def true(self, _):
        return A.Literal(True)

    def false(self, _):
        return A.Literal(False)

    def null(self, _):
        return A.Literal(None)

    def prop(self, tok):
        return A.Property(_name(tok), tok.line, tok.column)

    def dotted_prop(self, head, tail):
        # 'a.speed': a property of the stream or pattern tag named 'a' (joins, patterns).
        return A.Property(f"{_name(head)}.{_name(tail)}", head.line, head.column)

    def context_prop(self, head, *tail):
        # 'context.key1', 'context.q.k': a property of the statement's context partition
        # (squall.cep.context).
        return A.Property("context." + ".".join(_name(t) for t in tail), head.line, head.column)

    def func(self, name, args=None):
        fname = str(name).lower()
        if args is None:
            args = ("args", False, ())
        kind, distinct, exprs = args
        if fname in A.AGGREGATE_FUNCTIONS:
            if kind == "star":
                return A.Aggregate(fname, None, False, name.line, name.column)
            if len(exprs) != 1:
                return A.FunctionCall(str(name), tuple(exprs), name.line, name.column)
            return A.Aggregate(fname, exprs[0], distinct, name.line, name.column)
        return A.FunctionCall(str(name), tuple(exprs), name.line, name.column)

    def func_args(self, *items):
        if len(items) == 1 and isinstance(items[0], Token) and items[0].type == "STAR":
            return ("star", False, ())
        distinct = bool(items) and isinstance(items[0], Token) and items[0].type == "DISTINCT"
        return ("args", distinct, tuple(items[1:] if distinct else items))

    def sign(self, op, operand):
        if op == "+":
            return operand
        if isinstance(operand, A.Literal) and isinstance(operand.value, (int, float)) \
                and not isinstance(operand.value, bool):
            return A.Literal(-operand.value)
        return A.UnaryOp("-", operand, op.line, op.column)

    def arith(self, left, op, right):
        return A.BinaryOp(str(op), left, right, op.line, op.column)

    def compare(self, left, op, right):
        o = str(op)
        return A.BinaryOp("!=" if o == "<>" else o, left, right, op.line, op.column)

    def is_null(self, operand, _is, *rest):
        return A.IsNull(operand, negated=len(rest) == 2)

    # -- in, between, like, regexp, case (Esper 8 reference, 9 "EPL Reference: Operators")

    @staticmethod
    def _split_negation(rest):
        neg = isinstance(rest[0], Token) and rest[0].type == "NOT"
        return neg, [r for r in rest if not isinstance(r, Token) or r.type == "STRING"]

    def in_list(self, operand, *rest):
        neg, items = self._split_negation(rest)
        return A.InList(operand, tuple(items), neg)

    # -- subqueries (Esper 8 reference, 5.11 "Subqueries"; squall.cep.subquery)

    @staticmethod
    def _subquery(st) -> A.Subquery:
        return A.Subquery(st, st.stream.line, st.stream.column)

    def subquery(self, st):
        return self._subquery(st)

    def exists(self, _exists, st):
        return A.Exists(self._subquery(st))

    def in_subquery(self, operand, *rest):
        neg = isinstance(rest[0], Token) and rest[0].type == "NOT"
        return A.InSubquery(operand, self._subquery(rest[-1]), neg)

    def between(self, operand, *rest):
        neg, (low, high) = self._split_negation(rest)
        return A.Between(operand, low, high, neg)

    def like(self, operand, *rest):
        neg, parts = self._split_negation(rest)
        escape = _unescape(parts[1]) if len(parts) > 1 else None
        return A.Like(operand, parts[0], escape, neg)

    def regexp(self, operand, *rest):
        neg, (pattern,) = self._split_negation(rest)
        return A.Regexp(operand, pattern, neg)

    def case_when(self, _when, cond, _then, result):
        return ("when", cond, result)

    def case(self, _case, *rest):
        operand, whens, otherwise = None, [], None
        items = [r for r in rest if not (isinstance(r, Token) and r.type in ("END", "ELSE"))]
        if items and not (isinstance(items[0], tuple) and items[0][:1] == ("when",)):
            operand, items = items[0], items[1:]
        for it in items:
            if isinstance(it, tuple) and it[:1] == ("when",):
                whens.append((it[1], it[2]))
            else:
                otherwise = it
        return A.Case(operand, tuple(whens), otherwise)

    def and_op(self, left, op, right):
        return A.BinaryOp("and", left, right, op.line, op.column)

    def or_op(self, left, op, right):
        return A.BinaryOp("or", left, right, op.line, op.column)

    def not_op(self, op, operand):
        return A.UnaryOp("not", operand, op.line, op.column)

    def select_item(self, expr, *alias):
        return A.SelectItem(expr, _name(alias[1]) if alias else None)

    def wildcard(self):
        return None

    def select_list(self, *items):
        if len(items) == 1 and items[0] is None:
            return None
        return tuple(items)

    def stream_selector(self, tok):
        return str(tok).lower()

    def time_period(self, *toks):
        parts = []
        for num, unit in zip(toks[::2], toks[1::2]):
            if str(unit).lower() not in A.TIME_UNIT_MS:
                raise EPLSyntaxError(
                    f"Incorrect syntax near '{unit}' at line {unit.line}, column {unit.column}: "
                    f"expected a time unit (one of {', '.join(sorted(A.TIME_UNIT_MS))})",
                    line=unit.line, column=unit.column, token=str(unit),
                    expected=tuple(sorted(A.TIME_UNIT_MS)))
            n = _number(num)
            parts.append((n, str(unit).lower()))
        period = A.TimePeriod(tuple(parts))
        if math.isinf(period.msec):
            raise _token_error(toks[0], "a time period out of range")
        return period

    def view_params(self, *params):
        return tuple(params)

    def view_dot(self, ns, name, params=()):
        return A.View(str(name), params, str(ns), ns.line, ns.column)

    def view_hash(self, name, params=()):
        return A.View(str(name), params, None, name.line, name.column)

    def stream_def(self, type_tok, *rest):
        views = tuple(r for r in rest if isinstance(r, A.View))
        names = [r for r in rest if isinstance(r, Token) and r.type == "NAME"]
        alias = _name(names[-1]) if names else None
        uni = any(isinstance(r, Token) and r.type == "UNIDIRECTIONAL" for r in rest)
        filters = next((r[1] for r in rest if isinstance(r, tuple) and r and r[0] == "filter"), ())
        return A.StreamDef(_name(type_tok), views, alias, type_tok.line, type_tok.column,
                           unidirectional=uni, filters=filters)

    def stream_filter(self, *exprs):
        return ("filter", tuple(exprs))

    # -- joins and patterns (squall.cep.join, squall.cep.pattern)

    def join_streams(self, *streams):
        return ("joins", tuple(streams))

    def pattern_stream(self, kw, pattern, *rest):
        names = [r for r in rest if isinstance(r, Token) and r.type == "NAME"]
        return A.PatternStream(pattern, _name(names[-1]) if names else None, kw.line, kw.column)

    def pattern_followed_by(self, *children):
        flat = []
        for c in children:
            flat.extend(c.children if isinstance(c, A.PatternFollowedBy) else (c,))
        return A.PatternFollowedBy(tuple(flat))

    def pattern_or(self, *items):
        return A.PatternOr(tuple(i for i in items if not isinstance(i, Token)))

    def pattern_and(self, *items):
        return A.PatternAnd(tuple(i for i in items if not isinstance(i, Token)))

    def pattern_every(self, _kw, *rest):
        child = rest[-1]
        if len(rest) == 2:   # every [n] A: every restarts the repeat
            child = self._repeat(rest[0], child, None)
        return A.PatternEvery(child)

    def pattern_not(self, _kw, child):
        return A.PatternNot(child)

    def pattern_guard(self, child, _where, ns, name, params=()):
        return A.PatternGuard(child, _name(ns), _name(name), params, ns.line, ns.column)

    def pattern_observer(self, ns, name, params=()):
        return A.PatternObserver(_name(ns), _name(name), params, ns.line, ns.column)

    def pattern_every_distinct(self, kw, params, *rest):
        child = rest[-1]
        if len(rest) == 2:
            child = self._repeat(rest[0], child, None)
        return A.PatternEveryDistinct(child, params, kw.line, kw.column)

    def pattern_until(self, *items):
        rng = items[0] if isinstance(items[0], tuple) else None
        child, _kw, until = items[-3:]
        return self._repeat(rng or (None, None, _kw), child, until)

    def pattern_repeat(self, rng, child):
        return self._repeat(rng, child, None)

    @staticmethod
    def _repeat(rng, child, until):
        low, high, tok = rng
        return A.PatternRepeat(child, low, high, until, tok.line, tok.column)

    def pattern_while(self, child, kw, expr):
        return A.PatternWhile(child, expr, kw.line, kw.column)

    def pattern_timer_at(self, kw, *params):
        fields = self.cond_crontab(*params).crontab
        return A.PatternTimerAt(fields, kw.line, kw.column)

    # Repeat bounds (Esper 8 reference, 7.5.4 "Repeat"/"Until"): (low, high, token).
    def range_exact(self, n):
        v = self._range_count(n, 1)
        return (v, v, n)

    def range_both(self, lo, hi):
        low, high = self._range_count(lo, 0), self._range_count(hi, 1)
        if high < low:
            raise _token_error(hi, f"the repeat's upper bound {high} is below its lower bound {low}")
        return (low, high, lo)

    def range_high(self, hi):
        return (None, self._range_count(hi, 1), hi)

    def range_low(self, lo):
        return (self._range_count(lo, 0), None, lo)

    @staticmethod
    def _range_count(tok, least):
        if not str(tok).isdigit() or int(str(tok)) < least:
            raise _token_error(tok, f"a repeat count is a whole number of at least {least}")
        return int(str(tok))

    def pattern_filter(self, *items):
        toks = [i for i in items if isinstance(i, Token)]
        filters = tuple(i for i in items if not isinstance(i, Token))
        tag = None
        if len(toks) == 3:
            tag_tok, op, type_tok = toks
            if str(op) != "=":
                raise EPLSyntaxError(
                    f"Incorrect syntax near '{op}' at line {op.line}, column {op.column}: "
                    "expected '=' between a pattern tag and its event type",
                    line=op.line, column=op.column, token=str(op), expected=("'='",))
            tag = _name(tag_tok)
        else:
            type_tok = toks[0]
        return A.PatternFilter(_name(type_tok), tag, filters, type_tok.line, type_tok.column)

    def where_clause(self, _kw, expr):
        return ("where", expr)

    def group_by_clause(self, _g, _b, *exprs):
        return ("group_by", tuple(exprs))

    def having_clause(self, _kw, expr):
        return ("having", expr)

    def annotation_pair(self, name, op, value):
        if str(op) != "=":
            raise EPLSyntaxError(
                f"Incorrect syntax near '{op}' at line {op.line}, column {op.column}: expected '='",
                line=op.line, column=op.column, token=str(op), expected=("'='",))
        return (_name(name), _annotation_value(value))

    def annotation(self, name, *args):
        if len(args) == 1 and isinstance(args[0], Token):
            value = _annotation_value(args[0])
        else:
            value = dict(args) if args else None
        return Annotation(_name(name), value, name.line, name.column)

    def annotations(self, *items):
        return tuple(items)

    # -- output rate limiting, order by, limit (squall.cep.output)

    def output_clause(self, _kw, *rest):
        fields: dict = {"line": _kw.line, "column": _kw.column}
        kind, kind_tok = "default", None
        for item in rest:
            if isinstance(item, Token) and item.type == "NAME":
                kind_tok = item
                kind = str(item).lower()
                if kind not in ("all", "first", "last", "snapshot"):
                    raise EPLSyntaxError(
                        f"Incorrect syntax near '{item}' at line {item.line}, column {item.column}: "
                        "expected all, first, last, snapshot or every",
                        line=item.line, column=item.column, token=str(item),
                        expected=("all", "first", "last", "snapshot", "every"))
            else:
                fields.update(item)
        out = A.OutputRate(kind, **fields)
        if not out.has_condition and (kind_tok is not None or out.after_events is None
                                      and out.after_period is None):
            tok = kind_tok or _kw
            raise EPLSyntaxError(
                f"Incorrect syntax near '{tok}' at line {tok.line}, column {tok.column}: "
                "expected every, when or after", line=tok.line, column=tok.column, token=str(tok),
                expected=("every", "when", "after"))
        return ("output", out)

    def output_after(self, _kw, rate):
        if isinstance(rate, int):
            return {"after_events": rate}
        return {"after_period": rate}

    def output_every(self, _kw, rate):
        if isinstance(rate, int):
            return {"events": rate}
        return {"period": rate}

    def output_when(self, _kw, expr, *then):
        return {"when": expr, "then": then[0] if then else ()}

    @staticmethod
    def _terminated(rest) -> dict:
        expr = next((r for r in rest if not isinstance(r, (Token, tuple))), None)
        then = next((r for r in rest if isinstance(r, tuple)), ())
        return {"terminated_when": expr, "terminated_then": then}

    def output_when_terminated(self, _when, _term, *rest):
        return {"terminated": True, **self._terminated(rest)}

    def output_and_term(self, _and, _when, _term, *rest):
        return {"and_terminated": True, **self._terminated(rest)}

    def output_then(self, _then, _set, *assignments):
        return tuple(assignments)

    def output_rate(self, *toks):
        if len(toks) == 2 and str(toks[1]).lower() in ("events", "event"):
            n = str(toks[0])
            if not n.isdigit() or _number(toks[0]) < 1:
                raise EPLSyntaxError(
                    f"Incorrect syntax near '{n}' at line {toks[0].line}, column {toks[0].column}: "
                    "expected a positive whole number of events",
                    line=toks[0].line, column=toks[0].column, token=n)
            return _number(toks[0])
        return self.time_period(*toks)

    def order_item(self, expr, *direction):
        return A.OrderItem(expr, bool(direction) and direction[0].type == "DESC")

    def order_by_clause(self, _o, _b, *items):
        return ("order_by", tuple(items))

    @staticmethod
    def _count(tok):
        """A whole number, or a variable's name as a Property (resolved when compiled)."""
        if tok.type == "NAME":
            return A.Property(_name(tok), tok.line, tok.column)
        s = str(tok)
        if not s.isdigit():
            raise EPLSyntaxError(
                f"Incorrect syntax near '{s}' at line {tok.line}, column {tok.column}: "
                "expected a whole number", line=tok.line, column=tok.column, token=s)
        return _number(tok)

    def limit_clause(self, _kw, first, second=None):
        if second is None:
            return ("limit", A.Limit(self._count(first)))
        return ("limit", A.Limit(self._count(second), self._count(first)))   # limit offset, count

    def limit_offset(self, _kw, count, _off, offset):
        return ("limit", A.Limit(self._count(count), self._count(offset)))

    # -- variables (squall.cep.variables)

    @staticmethod
    def _equals(op):
        if str(op) != "=":
            raise EPLSyntaxError(
                f"Incorrect syntax near '{op}' at line {op.line}, column {op.column}: expected '='",
                line=op.line, column=op.column, token=str(op), expected=("'='",))

    def create_variable(self, create, *rest):
        constant = isinstance(rest[0], Token) and rest[0].type == "CONSTANT"
        toks = [r for r in rest if isinstance(r, Token) and r.type in ("NAME", "COMP_OP")]
        type_tok, name_tok = toks[0], toks[1]
        from squall.cep.variables import java_type_of
        jt = java_type_of(_name(type_tok))
        if jt is None:
            raise _token_error(type_tok, "expected a variable type (int, long, double, float, "
                                         "string, boolean)")
        initial = None
        if len(toks) > 2:
            self._equals(toks[2])
            initial = rest[-1]
        return A.CreateVariable(_name(name_tok), jt, constant, initial, name_tok.line, name_tok.column)

    def assignment(self, name, op, expr):
        self._equals(op)
        return A.Assignment(_name(name), expr, name.line, name.column)

    def on_set(self, _on, stream, _set, *assignments):
        return A.OnSet(stream, tuple(assignments))

    # -- named windows, tables, on-actions, fire-and-forget (squall.cep.named_window,
    #    squall.cep.table, squall.cep.on_action)

    def create_window(self, _create, _window, name, *rest):
        views = tuple(r for r in rest if isinstance(r, A.View))
        source, items, columns = rest[-1]
        return A.CreateWindow(_name(name), views, source, items, columns, name.line, name.column)

    def window_select(self, _select, items, _from, type_tok):
        return (_name(type_tok), items, None)

    def window_type(self, type_tok):
        return (_name(type_tok), None, None)

    def window_columns(self, *cols):
        return (None, None, tuple(cols))

    def column_def(self, name, type_tok):
        return (_name(name), _name(type_tok))

    def create_table(self, _create, _table, name, *rest):
        cols = tuple(r for r in rest if isinstance(r, A.TableColumn))
        return A.CreateTable(_name(name), cols, name.line, name.column)

    def table_column(self, name, type_tok, *rest):
        names = [r for r in rest if isinstance(r, Token) and r.type == "NAME"]
        args = next((r for r in rest if isinstance(r, tuple)), None)
        primary = False
        if names:
            if [str(n).lower() for n in names] != ["primary", "key"]:
                raise _token_error(names[0], "expected 'primary key' after the column type")
            primary = True
        if args is None:
            return A.TableColumn(_name(name), _name(type_tok), None, primary, False,
                                 name.line, name.column)
        kind, distinct, exprs = args
        func = str(type_tok).lower()
        if kind == "star":
            arg_type = None
        elif len(exprs) == 1 and isinstance(exprs[0], A.Property):
            arg_type = exprs[0].name
        else:
            raise _token_error(type_tok, "expected an aggregation column such as 'sum(double)' or "
                                         "'count(*)'")
        return A.TableColumn(_name(name), arg_type, func, primary, distinct, name.line, name.column)

    def create_schema(self, _create, _schema, name, *rest):
        cols, parents, after = [], [], False
        for r in rest:
            if isinstance(r, tuple):   # column_def: (name, type name)
                cols.append(r)
            elif isinstance(r, Token) and r.type == "INHERITS":
                after = True
            elif after and isinstance(r, Token) and r.type == "NAME":
                parents.append(_name(r))
        return A.CreateSchema(_name(name), tuple(cols), tuple(parents), name.line, name.column)

    # -- contexts (Esper 8 reference, 4 "Context and Context Partitions"; squall.cep.context)

    def create_context(self, _create, _context, name, *rest):
        kind, items, extra = rest[-1]
        return A.CreateContext(_name(name), kind, items, line=name.line, column=name.column, **extra)

    def create_nested_context(self, _create, _context, name, *rest):
        items = tuple(r for r in rest if isinstance(r, A.CreateContext))
        return A.CreateContext(_name(name), "nested", items, line=name.line, column=name.column)

    def nested_item(self, _context, name, *rest):
        kind, items, extra = rest[-1]
        return A.CreateContext(_name(name), kind, items, line=name.line, column=name.column, **extra)

    def context_keyed(self, *rest):
        return ("keyed", tuple(r for r in rest if isinstance(r, A.KeyedItem)), {})

    def keyed_item(self, *rest):
        props = tuple(_name(r) for r in rest if isinstance(r, Token) and r.type == "NAME")
        return A.KeyedItem(props, rest[-1])

    def context_hash(self, *rest):
        items = tuple(r for r in rest if isinstance(r, A.HashItem))
        toks = [r for r in rest if isinstance(r, Token)]
        i = next(k for k, t in enumerate(toks) if t.type == "GRANULARITY")
        number = toks[i + 1]
        if not str(number).isdigit() or int(str(number)) < 1:
            raise _token_error(number, "expected a positive integer granularity")
        if i + 2 < len(toks) and str(toks[i + 2]).lower() != "preallocate":
            raise _token_error(toks[i + 2], "expected 'preallocate' or the end of the statement")
        return ("hash", items, {"granularity": int(str(number))})

    def hash_item(self, fn, expr, _from, stream):
        return A.HashItem(_name(fn), expr, stream, fn.line, fn.column)

    def context_category(self, *rest):
        return ("category", tuple(r for r in rest if isinstance(r, A.CategoryItem)),
                {"stream": rest[-1]})

    def category_item(self, *rest):
        return A.CategoryItem(rest[-3], _name(rest[-1]))

    def context_span(self, _start, start, _end, end):
        if start.kind == "after":
            raise _token_error(_start, "a context partition starts with an event or @now")
        if end.kind == "now":
            raise _token_error(_end, "a context partition ends with an event or 'after <period>'")
        return ("span", (start, end), {})

    def context_overlap(self, *rest):
        conds = [r for r in rest if isinstance(r, A.ContextCondition)]
        if conds[0].kind not in ("event", "crontab", "pattern"):
            raise _token_error(rest[0], "an overlapping context is initiated by an event, a "
                                        "pattern or a crontab")
        if conds[1].kind == "now":
            raise _token_error(rest[0], "a context partition ends with an event or 'after <period>'")
        return ("overlap", tuple(conds), {})

    def cond_now(self, name):
        if str(name).lower() != "now":
            raise _token_error(name, "expected '@now'")
        return A.ContextCondition("now", line=name.line, column=name.column)

    def cond_after(self, after, period):
        return A.ContextCondition("after", period_ms=int(period.msec), line=after.line,
                                  column=after.column)

    def cond_event(self, type_tok, *rest):
        filters = next((r[1] for r in rest if isinstance(r, tuple) and r and r[0] == "filter"), ())
        names = [r for r in rest if isinstance(r, Token) and r.type == "NAME"]
        stream = A.StreamDef(_name(type_tok), (), _name(names[-1]) if names else None, type_tok.line,
                             type_tok.column, filters=filters)
        return A.ContextCondition("event", stream, line=type_tok.line, column=type_tok.column)

    # Crontab fields and their ranges (Esper 8 reference, 7.6.4 "timer:at").
    _CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6), (0, 59))

    def cond_crontab(self, *params):
        if len(params) not in (5, 6):
            raise _token_error(params[0][1],
                               "a crontab has 5 or 6 fields (minutes, hours, days of month, "
                               "months, days of week [, seconds])")
        fields = []
        for (kind, tok, values), (lo, hi) in zip(params, self._CRON_RANGES):
            if kind == "star" and values is None:
                fields.append(None)
                continue
            if kind == "star":   # */n
                fields.append(frozenset(range(lo, hi + 1, values)))
                continue
            bad = [v for v in values if not lo <= v <= hi]
            if bad:
                raise _token_error(tok, f"crontab value {bad[0]} is out of range {lo}..{hi}")
            fields.append(frozenset(values))
        if len(fields) == 5:
            fields.append(frozenset([0]))
        first = params[0][1]
        return A.ContextCondition("crontab", crontab=tuple(fields), line=first.line,
                                  column=first.column)

    def cond_pattern(self, kw, pattern):
        return A.ContextCondition("pattern", pattern=A.PatternStream(pattern, None, kw.line, kw.column),
                                  line=kw.line, column=kw.column)

    def cron_star(self, star, *rest):
        if not rest:
            return ("star", star, None)
        op, num = rest
        if str(op) != "/" or not str(num).isdigit() or int(str(num)) < 1:
            raise _token_error(op, "expected '*/n' with a positive n")
        return ("star", star, int(str(num)))

    def cron_value(self, a, b=None):
        for t in (a, b):
            if t is not None and not str(t).isdigit():
                raise _token_error(t, "expected a whole number")
        lo = int(str(a))
        return ("values", a, tuple(range(lo, int(str(b)) + 1)) if b is not None else (lo,))

    def cron_list(self, *items):
        values = []
        for kind, tok, v in items:
            if kind != "values":
                raise _token_error(tok, "a crontab list holds numbers and ranges")
            values += v
        return ("values", items[0][1], tuple(values))

    def context_stmt(self, _context, name, st):
        return dataclasses.replace(st, context=_name(name))

    def into_table_stmt(self, _into, _table, name, st):
        return dataclasses.replace(st, into_table=_name(name))

    @staticmethod
    def _target(rest):
        """(target name, alias, the remaining items) from ``_target`` tokens at the front."""
        toks = []
        i = 0
        while i < len(rest) and isinstance(rest[i], Token) and rest[i].type in ("NAME", "AS"):
            if rest[i].type == "NAME":
                toks.append(rest[i])
            i += 1
        return _name(toks[0]), (_name(toks[1]) if len(toks) > 1 else None), toks[0], rest[i:]

    def on_select(self, on, trigger, *rest):
        rest = list(rest)
        insert_into = None
        if isinstance(rest[0], Token) and rest[0].type == "INSERT":
            insert_into = _name(rest[2])
            rest = rest[3:]
        rest = rest[1:]   # SELECT
        and_delete = False
        if isinstance(rest[0], Token) and rest[0].type == "AND":
            and_delete, rest = True, rest[2:]
        items, rest = rest[0], rest[2:]   # select list, FROM
        target, alias, tok, rest = self._target(rest)
        kw = dict(rest)
        return A.OnAction("select", trigger, target, alias, kw.get("where"), items, and_delete,
                          kw.get("group_by", ()), kw.get("having"), kw.get("order_by", ()),
                          insert_into=insert_into, line=tok.line, column=tok.column)

    def on_delete(self, on, trigger, _delete, _from, *rest):
        target, alias, tok, rest = self._target(rest)
        kw = dict(rest)
        return A.OnAction("delete", trigger, target, alias, kw.get("where"), line=tok.line,
                          column=tok.column)

    def on_update(self, on, trigger, _update, *rest):
        target, alias, tok, rest = self._target(rest)
        assignments = tuple(r for r in rest if isinstance(r, A.Assignment))
        kw = dict(r for r in rest if isinstance(r, tuple))
        return A.OnAction("update", trigger, target, alias, kw.get("where"),
                          assignments=assignments, line=tok.line, column=tok.column)

    def on_merge(self, on, trigger, _merge, *rest):
        if isinstance(rest[0], Token) and rest[0].type == "INTO":
            rest = rest[1:]
        target, alias, tok, rest = self._target(rest)
        clauses = tuple(r for r in rest if isinstance(r, A.MergeClause))
        kw = dict(r for r in rest if isinstance(r, tuple))
        return A.OnAction("merge", trigger, target, alias, kw.get("where"), clauses=clauses,
                          line=tok.line, column=tok.column)

    def merge_when(self, _when, *rest):
        matched = not (isinstance(rest[0], Token) and rest[0].type == "NOT")
        actions = tuple(r for r in rest if isinstance(r, A.MergeAction))
        cond = None
        for i, r in enumerate(rest):
            if isinstance(r, Token) and r.type == "AND":
                cond = rest[i + 1]
        return A.MergeClause(matched, cond, actions)

    def merge_update(self, _then, _update, _set, *rest):
        kw = dict(r for r in rest if isinstance(r, tuple))
        return A.MergeAction("update", tuple(r for r in rest if isinstance(r, A.Assignment)),
                             where=kw.get("where"))

    def merge_delete(self, _then, _delete, *rest):
        return A.MergeAction("delete", where=dict(rest).get("where"))

    def merge_insert(self, _then, _insert, *rest):
        into = None
        if isinstance(rest[0], Token) and rest[0].type == "INTO":
            into, rest = _name(rest[1]), rest[2:]
        items = rest[1]
        kw = dict(rest[2:])
        return A.MergeAction("insert", items=items, where=kw.get("where"), insert_into=into)

    def faf_delete(self, _delete, _from, *rest):
        target, alias, tok, rest = self._target(rest)
        return A.OnAction("delete", None, target, alias, dict(rest).get("where"), line=tok.line,
                          column=tok.column)

    def faf_update(self, _update, *rest):
        target, alias, tok, rest = self._target(rest)
        assignments = tuple(r for r in rest if isinstance(r, A.Assignment))
        kw = dict(r for r in rest if isinstance(r, tuple))
        return A.OnAction("update", None, target, alias, kw.get("where"), assignments=assignments,
                          line=tok.line, column=tok.column)

    def table_access(self, name, *rest):
        col = None
        if rest and isinstance(rest[-1], Token) and rest[-1].type == "NAME":
            col, rest = _name(rest[-1]), rest[:-1]
        return A.TableAccess(_name(name), tuple(rest), col, name.line, name.column)

    def insert_stmt(self, _insert, *rest):
        selector = "istream"
        if isinstance(rest[0], str) and not isinstance(rest[0], Token):
            selector, rest = rest[0], rest[1:]
        name, st = rest[1], rest[-1]
        if len(rest) == 4:
            st = self._name_columns(st, rest[2])
        return dataclasses.replace(st, insert_into=str(name).strip("`"), insert_selector=selector)

    @staticmethod
    def _name_columns(st, names):
        """``insert into R(a, b) select x, y``: the columns are named a and b, as if the
        select said ``x as a, y as b`` (Esper 8.9: its listeners see a and b too)."""
        first = names[0]
        if st.items is None:
            raise EPLCompileError("Wildcard not allowed when insert-into specifies column order",
                                  line=first.line, column=first.column)
        if len(names) != len(st.items):
            raise EPLCompileError(
                f"Number of supplied values in the select or values clause does not match "
                f"insert-into clause ({len(st.items)} values, {len(names)} columns)",
                line=first.line, column=first.column)
        items = tuple(dataclasses.replace(i, alias=_name(n)) for i, n in zip(st.items, names))
        return dataclasses.replace(st, items=items)

    def insert_columns(self, *names):
        return list(names)

    def select_stmt(self, _select, *parts):
        selector = "istream"
        if isinstance(parts[0], str):
            selector, parts = parts[0], parts[1:]
        items, _from, stream, *clauses = parts
        kw = dict(clauses)
        st = A.SelectStatement(items, stream, kw.get("where"), kw.get("group_by", ()),
                               kw.get("having"), selector, joins=kw.get("joins", ()),
                               output=kw.get("output"), order_by=kw.get("order_by", ()),
                               limit=kw.get("limit"))
        return _pattern_tag_indexes(st) if isinstance(stream, A.PatternStream) else st


def _pattern_tag_indexes(st: A.SelectStatement) -> A.SelectStatement:
    """``a[0].v`` on a pattern tag ``a`` (an array of events when ``a`` is under a repeat
    or until) is the property ``'a[0].v'``, not a table access (Esper 8 reference, 7.5.4)."""
    tags = {n.tag for n in A.nodes_of(st.stream.pattern, A.PatternFilter) if n.tag}

    def fix(node):
        if isinstance(node, A.TableAccess) and node.table in tags and len(node.keys) == 1 \
                and isinstance(node.keys[0], A.Literal) and type(node.keys[0].value) is int:
            name = f"{node.table}[{node.keys[0].value}]" + (f".{node.column}" if node.column else "")
            return A.Property(name, node.line, node.column_pos)
        if isinstance(node, tuple):
            return tuple(fix(x) for x in node)
        if dataclasses.is_dataclass(node) and not isinstance(node, type):
            return dataclasses.replace(node, **{f.name: fix(getattr(node, f.name))
                                                for f in dataclasses.fields(node) if f.init})
        return node

    if not tags or not A.nodes_of(st, A.TableAccess):
        return st
    return fix(st)


def _describe_expected(expected: set[str]) -> str:
    names = sorted(expected)
    ops = [n for n in names if n in _OPERATOR_TOKENS]
    rest = [_PRETTY.get(n, n) for n in names if n not in _OPERATOR_TOKENS]
    if ops:
        rest.append("an operator")
    return " or ".join(rest) if rest else "nothing"


def _syntax_error(text: str, exc: lark.exceptions.UnexpectedInput) -> EPLSyntaxError:
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        token = text[exc.pos_in_stream]
        msg = f"Incorrect syntax near '{token}' at line {exc.line}, column {exc.column}: " \
              "unexpected character"
        return EPLSyntaxError(msg, line=exc.line, column=exc.column, token=token)
    else:
        tok = exc.token
        token = "" if tok.type == "$END" else str(tok)
        expected = set(exc.expected or ())
    line, column = exc.line, exc.column
    if not token or line is None or line < 0:  # end of input
        # Lines end at '\n' only, as lark counts them (splitlines also splits at '\r').
        lines = text.split("\n")
        if len(lines) > 1 and not lines[-1]:
            lines.pop()
        line, column = len(lines), len(lines[-1]) + 1
    near = f"near '{token}'" if token else "at end of input"
    msg = f"Incorrect syntax {near} at line {line}, column {column}: " \
          f"expected {_describe_expected(expected)}"
    return EPLSyntaxError(msg, line=line, column=column, token=token,
                          expected=tuple(sorted(expected)))


class Annotation(NamedTuple):
    """A statement annotation: ``@Name('x')`` -> ``Annotation('Name', 'x', line, column)``.

    ``value`` is the single value, a dict for ``@Tag(name='a', value='b')``, or None.
    """

    name: str
    value: Any
    line: int | None = None
    column: int | None = None


class ParsedStatement(NamedTuple):
    """One statement of a rule text, as :func:`parse_statements` returns it.

    Attributes:
        ast: the statement AST.
        text: its source text, annotations included, without the separating ';'.
        name: the ``@Name`` annotation's value, None when not annotated.
        annotations: every annotation, in order.
        line, column: 1-based position where the statement (or its first annotation) starts.
    """

    ast: Any
    text: str
    name: str | None
    annotations: tuple[Annotation, ...]
    line: int
    column: int


#: Annotations the engine accepts (lower case). Only @Name has an effect; @Description and
#: @Tag are kept with the statement. Esper 8 reference, 5.2.7 "Annotation".
SUPPORTED_ANNOTATIONS = ("name", "description", "tag")


def _annotation_value(tok: Token):
    if tok.type == "STRING":
        return _unescape(tok)
    if tok.type == "NUMBER":
        return _number(tok)
    return tok.type == "TRUE"


def _statement_name(annotations: tuple[Annotation, ...]) -> str | None:
    name = None
    for ann in annotations:
        kind = ann.name.lower()
        if kind not in SUPPORTED_ANNOTATIONS:
            raise EPLCompileError(
                f"Unsupported annotation '@{ann.name}' (supported: @Name, @Description, @Tag)",
                line=ann.line, column=ann.column)
        if kind == "name":
            if name is not None:
                raise EPLCompileError("Duplicate annotation '@Name'", line=ann.line, column=ann.column)
            if not isinstance(ann.value, str) or not ann.value.strip():
                raise EPLCompileError("Annotation '@Name' needs a non-empty string, e.g. @Name('speeding')",
                                      line=ann.line, column=ann.column)
            name = ann.value
    return name


def _transform(tree):
    try:
        return _ToAst().transform(tree)
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, EPLError):
            raise exc.orig_exc from None
        raise


MAX_NESTING = 200
"""Deepest syntax tree accepted (operators inside operators, patterns inside patterns).
The compiler and the compiled expressions recurse once or twice per level, so this
keeps every statement well inside Python's recursion limit (1000)."""


def _check_nesting(tree: lark.Tree) -> None:
    """Refuse a tree deeper than :data:`MAX_NESTING`, at the first node too deep."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = node.meta
            line, column = (meta.line, meta.column) if not meta.empty else (None, None)
            raise EPLSyntaxError(
                f"Expression nested too deeply (more than {MAX_NESTING} levels) at line {line}, "
                f"column {column}: split it into several statements or expressions, or write a "
                "long chain of 'or' equalities as 'x in (a, b, ...)'", line=line, column=column)
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, lark.Tree))


def parse_statements(text: str) -> list[ParsedStatement]:
    """Parse EPL text into :class:`ParsedStatement` items (AST, source text, @Name).

    Raises:
        EPLSyntaxError: with the 1-based line/column of the first offending token, or of
            an expression nested deeper than :data:`MAX_NESTING`.
        EPLCompileError: an unsupported or malformed annotation (with line/column).
    """
    # match_recognize ( ... ) has its own parser (squall.cep.match_recognize_parse): the
    # statement grammar sees the text with the clauses blanked, positions unchanged.
    blanked, mr_spans = find_clauses(text)
    try:
        tree = _parser().parse(blanked)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(blanked, exc) from None
    _check_nesting(tree)
    out = []
    pending = None
    for i, child in enumerate(tree.children):
        if child.data == "annotations":
            pending = child
            continue
        stmt = _transform(child)
        end_pos = child.meta.end_pos
        if mr_spans:
            nxt = tree.children[i + 1].meta.start_pos if i + 1 < len(tree.children) else len(text)
            stmt, end_pos = attach_clauses(stmt, text, mr_spans, child.meta.start_pos, nxt,
                                           end_pos, parse_expression)
        annotations = _transform(pending) if pending is not None else ()
        first = (pending if pending is not None else child).meta
        out.append(ParsedStatement(stmt, text[first.start_pos:end_pos],
                                   _statement_name(annotations), annotations, first.line, first.column))
        pending = None
    return out


@lru_cache(maxsize=1)
def _expr_parser() -> lark.Lark:
    grammar = (Path(__file__).with_name("epl.lark")).read_text()
    return lark.Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True,
                     maybe_placeholders=False, start="expr")


def parse_expression(text: str, start: int = 0, end: int | None = None):
    """Parse the one EPL expression at ``text[start:end]`` into its AST; line and column
    in the AST and in errors count from the start of ``text``.

    >>> parse_expression("speed > 80")
    BinaryOp(op='>', left=Property(name='speed'), right=Literal(value=80))

    Raises:
        EPLSyntaxError: with the 1-based line/column of the first offending token.
    """
    # Everything before the expression blanked (newlines kept): lark counts positions
    # from the start of the string it parses.
    padded = "".join(c if c == "\n" else " " for c in text[:start]) + text[start:end]
    try:
        tree = _expr_parser().parse(padded)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(padded, exc) from None
    if isinstance(tree, lark.Tree):
        _check_nesting(tree)
    return _transform(tree)


def parse_with_spans(text: str) -> list[tuple[A.SelectStatement, str]]:
    """Parse EPL text into (statement AST, statement source text) pairs.

    Raises:
        EPLSyntaxError: with the 1-based line/column of the first offending token.
    """
    return [(p.ast, p.text) for p in parse_statements(text)]


def parse(text: str) -> list[A.SelectStatement]:
    """Parse EPL text (one or more ';'-separated statements) into ASTs.

    Raises:
        EPLSyntaxError: with the 1-based line/column of the first offending token.
    """
    return [s for s, _ in parse_with_spans(text)]
