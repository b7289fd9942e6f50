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

import ast as _pyast
from functools import lru_cache
from pathlib import Path

import lark
from lark import Token, Transformer, v_args

from squall.cep import ast as A
from squall.cep.errors import EPLSyntaxError

__all__ = ["parse", "parse_with_spans"]

_OPERATOR_TOKENS = {"COMP_OP", "ADD_OP", "MUL_OP", "AND", "OR", "IS", "STAR"}
_PRETTY = {"COMMA": "','", "SEMICOLON": "';'", "LPAR": "'('", "RPAR": "')'", "DOT": "'.'",
           "COLON": "':'", "HASH": "'#'", "$END": "end of input", "NAME": "an identifier",
           "NUMBER": "a number", "STRING": "a string",
           "STAR": "'*'"}


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = (Path(__file__).with_name("epl.lark")).read_text()
    return lark.Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=False)


def _unescape(tok: str) -> str:
    body = tok[1:-1]
    if "\\" not in body:
        return body
    # literal_eval on a re-quoted *string literal* only: no code is evaluated.
    return _pyast.literal_eval('"' + body.replace('"', '\\"').replace('\\\\"', '\\"') + '"')


def _name(tok: Token) -> str:
    s = str(tok)
    return s[1:-1] if s.startswith("`") else s


@v_args(inline=True)
class _ToAst(Transformer):
    def number(self, tok):
        s = str(tok)
        return A.Literal(float(s) if any(c in s for c in ".eE") else int(s))

    def string(self, tok):
        return A.Literal(_unescape(str(tok)))

    def true(self, _):
        return A.Literal(True)

    def false(self, _):
        return A.Literal(False)

    def null(self, _):
        return A.Literal(None)

    def prop(self, tok):
        return A.Property(_name(tok), tok.line, tok.column)

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
        return A.UnaryOp("-", operand)

    def arith(self, left, op, right):
        return A.BinaryOp(str(op), left, right)

    def compare(self, left, op, right):
        o = str(op)
        return A.BinaryOp("!=" if o == "<>" else o, left, right)

    def is_null(self, operand, _is, *rest):
        return A.IsNull(operand, negated=len(rest) == 2)

    def and_op(self, left, _, right):
        return A.BinaryOp("and", left, right)

    def or_op(self, left, _, right):
        return A.BinaryOp("or", left, right)

    def not_op(self, _, operand):
        return A.UnaryOp("not", operand)

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
            n = float(num) if any(c in str(num) for c in ".eE") else int(num)
            parts.append((n, str(unit).lower()))
        return A.TimePeriod(tuple(parts))

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
        return A.StreamDef(_name(type_tok), views, alias, type_tok.line, type_tok.column)

    def where_clause(self, _kw, expr):
        return ("where", expr)

    def group_by_clause(self, _g, _b, *exprs):
        return ("group_by", tuple(exprs))

    def having_clause(self, _kw, expr):
        return ("having", expr)

    def select_stmt(self, _select, *parts):
        selector = "istream"
        if isinstance(parts[0], str):
            selector, parts = parts[0], parts[1:]
        items, _from, stream, *clauses = parts
        kw = dict(clauses)
        return A.SelectStatement(items, stream, kw.get("where"), kw.get("group_by", ()),
                                 kw.get("having"), selector)


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
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
    near = f"near '{token}'" if token else "at end of input"
    msg = f"Incorrect syntax {near} at line {line}, column {column}: " \
          f"expected {_describe_expected(expected)}"
    return EPLSyntaxError(msg, line=line, column=column, token=token,
                          expected=tuple(sorted(expected)))


def parse_with_spans(text: str) -> list[tuple[A.SelectStatement, str]]:
    """Parse EPL text into (statement AST, statement source text) pairs.

    Raises:
        EPLSyntaxError: with the 1-based line/column of the first offending token.
    """
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    out = []
    for child in tree.children:
        try:
            stmt = _ToAst().transform(child)
        except lark.exceptions.VisitError as exc:
            if isinstance(exc.orig_exc, EPLSyntaxError):
                raise exc.orig_exc from None
            raise
        meta = child.meta
        out.append((stmt, text[meta.start_pos:meta.end_pos]))
    return out


def parse(text: str) -> list[A.SelectStatement]:
    """Parse EPL text (one or more ';'-separated statements) into ASTs.

    Raises:
        EPLSyntaxError: with the 1-based line/column of the first offending token.
    """
    return [s for s, _ in parse_with_spans(text)]
