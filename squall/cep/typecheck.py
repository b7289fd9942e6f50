"""Static type checking of EPL expressions where types are known (compile time only).

Types are Esper's Java type names: ``String``, ``Boolean``, ``Integer``, ``Long``,
``Double``, ``Float``; ``None`` means unknown (an undeclared event type, a property of
an undeclared type, ``null``, a function). A check only fails when every type it
needs is known, so statements on undeclared types stay as permissive as before.

Rejected, as Esper 8 rejects them when the statement is compiled:

- arithmetic (``+ - * / %``, unary ``-``) on a non-numeric operand;
- ``sum``/``avg``/``median``/``stddev``/``avedev`` of a non-numeric expression;
- ``< <= > >=`` and ``between`` on operands that are neither all strings nor all
  numeric; ``in`` mixing a string and a non-string;
- ``=``/``!=`` between types that are neither equal nor both numeric;
- ``like``/``regexp`` on a boolean, or with a non-string pattern;
- ``and``/``or``/``not`` and searched-``case`` conditions that are not boolean.

Semantics: Esper 8 source, ``ExprMathNode``, ``ExprRelationalOpNodeImpl``,
``ExprEqualsNodeImpl``, ``ExprAndNodeImpl``, ``ExprOrNode``, ``ExprNotNode``,
``ExprLikeNode``, ``ExprRegexpNode``, ``ExprBetweenNodeImpl``, ``ExprInNodeImpl``,
``ExprCaseNode`` and the numeric aggregation forges (``validate``).

>>> from squall.cep.parser import parse
>>> e = parse("select car > 5 from T")[0].items[0].expr
>>> check_expr(e, lambda p: {"car": "String"}.get(p.name), "select-clause")
Traceback (most recent call last):
...
squall.cep.errors.EPLCompileError: Failed to validate select-clause expression 'car>5': Implicit conversion from datatype 'String' to numeric is not allowed (line 1, column 8)
"""

from __future__ import annotations

from typing import Callable

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError

__all__ = ["check_expr", "java_type", "PropType"]

#: property -> its Java type name, or None when unknown
PropType = Callable[[A.Property], "str | None"]

NUMERIC = frozenset({"Integer", "Long", "Double", "Float"})
_NUMERIC_AGGS = frozenset({"sum", "avg", "median", "stddev", "avedev"})
_ARITH = frozenset({"+", "-", "*", "/", "%"})
_RELATIONAL = frozenset({"<", "<=", ">", ">="})

_PY_TYPES = {bool: "Boolean", int: "Integer", float: "Double", str: "String"}


def java_type(t) -> str | None:
    """The Java type name of a declared property type (a Python type), or None.

    >>> java_type(float), java_type(str), java_type(dict)
    ('Double', 'String', None)
    """
    return _PY_TYPES.get(t)


def _literal_type(v) -> str | None:
    if v is None:
        return None
    return _PY_TYPES.get(type(v))


def _position(e) -> tuple[int | None, int | None]:
    """The first source position in ``e`` (an operator's own, else its leftmost operand's).
    A literal's own position is skipped: a mismatch is reported at its operator."""
    if isinstance(e, A.Literal):
        return None, None
    line = getattr(e, "line", None)
    if line is not None:
        return line, getattr(e, "column", None)
    for c in _children(e):
        pos = _position(c)
        if pos[0] is not None:
            return pos
    return None, None


def _children(e) -> tuple:
    if isinstance(e, A.BinaryOp):
        return (e.left, e.right)
    if isinstance(e, (A.UnaryOp, A.IsNull)):
        return (e.operand,)
    if isinstance(e, A.Aggregate):
        return () if e.arg is None else (e.arg,)
    if isinstance(e, A.FunctionCall):
        return tuple(e.args)
    return A.children(e)


def check_expr(e: A.Expr, prop_type: PropType, clause: str,
               default_pos: tuple[int | None, int | None] = (None, None)) -> str | None:
    """Infer the type of ``e``; raise on a mismatch between known types.

    Args:
        e: the expression (a whole clause expression: it names the error).
        prop_type: a property's Java type name, None when unknown.
        clause: the clause named in the error, e.g. ``where-clause``.
        default_pos: (line, column) when the expression carries no position.

    Returns:
        The Java type name, or None when unknown.

    Raises:
        EPLCompileError: a type mismatch, with the line and column of the operator (or of
            its leftmost operand).
    """
    return _Checker(prop_type, clause, e, default_pos).infer(e)


class _Checker:
    def __init__(self, prop_type: PropType, clause: str, root, default_pos) -> None:
        self.prop_type = prop_type
        self.clause = clause
        self.root = root
        self.default_pos = default_pos

    def fail(self, at, reason: str, near=None):
        """Raise at ``at``'s position, else ``near``'s (the operator), else the clause's."""
        line, column = _position(at)
        if line is None and near is not None:
            line, column = _position(near)
        if line is None:
            line, column = _position(self.root)
        if line is None:
            line, column = self.default_pos
        raise EPLCompileError(f"Failed to validate {self.clause} expression "
                              f"'{A.expr_text(self.root)}': {reason}", line=line, column=column)

    def numeric(self, at, t: str | None, near=None) -> None:
        if t is not None and t not in NUMERIC:
            self.fail(at, f"Implicit conversion from datatype '{t}' to numeric is not allowed",
                      near)

    def boolean(self, at, t: str | None, what: str, near=None) -> None:
        if t is not None and t != "Boolean":
            self.fail(at, f"Incorrect use of {what}, sub-expressions do not return boolean", near)

    def comparable(self, at, types: list) -> None:
        """Values compared with each other (``in``): one string needs all strings."""
        known = [t for t in types if t is not None]
        if any(t == "String" for t in known) and any(t != "String" for t in known):
            a, b = known[0], next(t for t in known if (t == "String") != (known[0] == "String"))
            self.fail(at, f"Implicit conversion not allowed: Cannot coerce types {a} and {b}")

    def ordered(self, at, operands: list) -> None:
        """Operands of ``< <= > >=`` / ``between``: all strings, else all numeric."""
        types = [t for _, t in operands]
        if None in types or all(t == "String" for t in types):
            return
        for x, t in operands:
            self.numeric(x, t, at)

    def infer(self, e) -> str | None:  # noqa: C901 - one case per node type
        if isinstance(e, A.Literal):
            return _literal_type(e.value)
        if isinstance(e, A.Property):
            return self.prop_type(e)
        if isinstance(e, A.Variable):
            return e.java_type
        if isinstance(e, A.Aggregate):
            if e.plugin is not None:   # a Python aggregation: its result type is unknown
                self.infer(e.arg)
                return None
            if e.arg is None:
                return "Long"
            t = self.infer(e.arg)
            if e.func in _NUMERIC_AGGS:
                if t is not None and t not in NUMERIC:
                    self.fail(e, f"Implicit conversion from datatype '{t}' to numeric is not "
                                 f"allowed for aggregation function '{e.func}'")
                return "Double" if e.func != "sum" else t
            return "Long" if e.func == "count" else t
        if isinstance(e, A.FunctionCall):
            for a in e.args:
                self.infer(a)
            return None
        if isinstance(e, A.IsNull):
            self.infer(e.operand)
            return "Boolean"
        if isinstance(e, A.UnaryOp):
            t = self.infer(e.operand)
            if e.op == "not":
                self.boolean(e, t, "NOT clause")
                return "Boolean"
            self.numeric(e, t)
            return t
        if isinstance(e, A.BinaryOp):
            return self.binary(e)
        if isinstance(e, A.InList):
            types = [self.infer(x) for x in (e.operand, *e.items)]
            self.comparable(e, types)
            return "Boolean"
        if isinstance(e, A.Between):
            self.ordered(e, [(x, self.infer(x)) for x in (e.operand, e.low, e.high)])
            return "Boolean"
        if isinstance(e, (A.Like, A.Regexp)):
            op = "'like'" if isinstance(e, A.Like) else "'regexp'"
            t, pt = self.infer(e.operand), self.infer(e.pattern)
            if t is not None and t != "String" and t not in NUMERIC:
                self.fail(e, f"The {op} operator requires a String or numeric type left-hand "
                             f"expression (got '{t}')")
            if pt is not None and pt != "String":
                self.fail(e.pattern, f"The {op} operator requires a String-type pattern "
                                     f"expression (got '{pt}')", e)
            return "Boolean"
        if isinstance(e, A.Case):
            return self.case(e)
        return None

    def binary(self, e: A.BinaryOp) -> str | None:
        lt, rt = self.infer(e.left), self.infer(e.right)
        op = e.op
        if op in ("and", "or"):
            what = "AND clause" if op == "and" else "OR clause"
            self.boolean(e.left, lt, what, e)
            self.boolean(e.right, rt, what, e)
            return "Boolean"
        if op in _ARITH:
            self.numeric(e.left, lt, e)
            self.numeric(e.right, rt, e)
            if lt is None or rt is None:
                return None
            if op == "/" or "Double" in (lt, rt) or "Float" in (lt, rt):
                return "Double"
            return "Long" if "Long" in (lt, rt) else "Integer"
        if op in _RELATIONAL:
            self.ordered(e, [(e.left, lt), (e.right, rt)])
            return "Boolean"
        # = and !=
        if lt is not None and rt is not None and lt != rt \
                and not (lt in NUMERIC and rt in NUMERIC):
            self.fail(e, f"Implicit conversion from datatype '{rt}' to '{lt}' is not allowed")
        return "Boolean"

    def case(self, e: A.Case) -> str | None:
        if e.operand is not None:
            ot = self.infer(e.operand)
            for w, _ in e.whens:
                wt = self.infer(w)
                if ot is not None and wt is not None and ot != wt \
                        and not (ot in NUMERIC and wt in NUMERIC):
                    self.fail(w, f"Implicit conversion from datatype '{wt}' to '{ot}' is not "
                                 "allowed")
        else:
            for w, _ in e.whens:
                wt = self.infer(w)
                if wt is not None and wt != "Boolean":
                    self.fail(w, "Case node 'when' expressions must return a boolean value")
        results = [self.infer(r) for _, r in e.whens]
        if e.otherwise is not None:
            results.append(self.infer(e.otherwise))
        if any(t is None for t in results):
            return None
        kinds = set(results)
        if len(kinds) == 1:
            return results[0]
        if kinds <= NUMERIC:
            return "Double" if kinds & {"Double", "Float"} else "Long"
        return None
