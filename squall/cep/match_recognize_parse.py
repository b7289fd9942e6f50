"""The ``match_recognize`` clause: its AST and its parser.

``select * from Car match_recognize ( partition by carNumber measures A.speed as a,
last(B.speed) as b pattern (A B+ C?) define A as A.speed > 80, B as B.speed > prev(B.speed) )``

The main grammar (``epl.lark``) does not know the clause: :func:`find_clauses` finds each
``match_recognize ( ... )`` in a rule text (outside strings and comments) and blanks it
out, positions kept, before the statement grammar runs; :func:`attach_clauses` then parses
each clause here and attaches it to the select statement it follows. The clause's
expressions (partition by, measures, define) are parsed by the statement grammar's own
expression parser, handed in by :mod:`squall.cep.parser`, so they are ordinary EPL
expressions; indexed access to a repeated variable (``B[0].speed``) is rewritten, same
length, to the property ``B$0$.speed`` before they are parsed.

Clause order (Esper 8 reference, 8.3 "Syntax"): ``partition by``, ``measures``, ``all
matches``, ``after match skip (past last row | to next row | to current row)``,
``pattern (...)``, ``interval <period> [or terminated]``, ``define``.
Row pattern: variables, concatenation by juxtaposition, alternation ``|``, parentheses,
quantifiers ``* + ?`` (reluctant with a trailing ``?``) and ``{n}``, ``{n,}``,
``{,m}``, ``{n,m}``.

Semantics: Esper 8 reference, 8 "EPL Reference: Match Recognize".
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Callable, Union

from squall.cep import ast as A
from squall.cep.errors import EPLSyntaxError

__all__ = ["MatchRecognize", "MeasureItem", "DefineItem", "RowAtom", "RowConcat", "RowAlt",
           "RowGroup", "RowPattern", "Quantifier", "SKIP_MODES", "find_clauses",
           "attach_clauses", "parse_clause", "row_pattern_text", "INDEXED_PROPERTY"]

#: ``after match skip`` modes, in Esper's words.
SKIP_MODES = ("past last row", "to next row", "to current row")

#: How ``B[3].speed`` reads once rewritten: ``B$3$.speed`` (groups: variable, index, rest).
INDEXED_PROPERTY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\$(\d+)\$(?:\.(.+))?$")


@dataclass(frozen=True)
class Quantifier:
    """``kind``: ``one`` (none), ``*``, ``+``, ``?``; ``reluctant`` for ``*? +? ??``;
    ``repeat``: ``(low, high)`` of ``{low,high}`` (None for an open bound), or None."""
    kind: str = "one"
    reluctant: bool = False
    repeat: tuple[int | None, int | None] | None = None

    def text(self) -> str:
        if self.repeat is not None:
            lo, hi = self.repeat
            if lo == hi:
                return f"{{{lo}}}"
            return "{" + ("" if lo is None else str(lo)) + "," + ("" if hi is None else str(hi)) + "}"
        if self.kind == "one":
            return ""
        return self.kind + ("?" if self.reluctant else "")


@dataclass(frozen=True)
class RowAtom:
    """A pattern variable with its quantifier."""
    name: str
    quantifier: Quantifier = Quantifier()
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RowConcat:
    children: tuple["RowPattern", ...]


@dataclass(frozen=True)
class RowAlt:
    children: tuple["RowPattern", ...]


@dataclass(frozen=True)
class RowGroup:
    """``( ... )`` with its quantifier."""
    child: "RowPattern"
    quantifier: Quantifier = Quantifier()


RowPattern = Union[RowAtom, RowConcat, RowAlt, RowGroup]


def row_pattern_text(p: RowPattern) -> str:
    """Render a row pattern as EPL text.

    >>> row_pattern_text(RowConcat((RowAtom("A"), RowAtom("B", Quantifier("+", True)))))
    'A B+?'
    """
    if isinstance(p, RowAtom):
        return p.name + p.quantifier.text()
    if isinstance(p, RowConcat):
        return " ".join(f"({row_pattern_text(c)})" if isinstance(c, RowAlt) else row_pattern_text(c)
                        for c in p.children)
    if isinstance(p, RowAlt):
        return " | ".join(row_pattern_text(c) for c in p.children)
    return f"({row_pattern_text(p.child)}){p.quantifier.text()}"


@dataclass(frozen=True)
class MeasureItem:
    expr: A.Expr
    name: str


@dataclass(frozen=True)
class DefineItem:
    name: str
    condition: A.Expr
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class MatchRecognize:
    """A parsed ``match_recognize ( ... )`` clause (see the module docs)."""
    partition_by: tuple[A.Expr, ...]
    measures: tuple[MeasureItem, ...]
    pattern: RowPattern
    defines: tuple[DefineItem, ...] = ()
    all_matches: bool = False
    skip: str = "past last row"
    interval: A.TimePeriod | None = None
    or_terminated: bool = False
    line: int | None = field(default=None, compare=False, repr=False)
    column: int | None = field(default=None, compare=False, repr=False)

    def text(self) -> str:
        """The clause as EPL text (parses back to an equal clause)."""
        out = ["match_recognize ("]
        if self.partition_by:
            out.append("partition by " + ", ".join(_expr(e) for e in self.partition_by))
        out.append("measures " + ", ".join(f"{_expr(m.expr)} as {m.name}" for m in self.measures))
        if self.all_matches:
            out.append("all matches")
        if self.skip != "past last row":
            out.append(f"after match skip {self.skip}")
        out.append(f"pattern ({row_pattern_text(self.pattern)})")
        if self.interval is not None:
            period = " ".join(f"{n} {u}" for n, u in self.interval.parts)
            out.append(f"interval {period}" + (" or terminated" if self.or_terminated else ""))
        if self.defines:
            out.append("define " + ", ".join(f"{d.name} as {_expr(d.condition)}" for d in self.defines))
        return " ".join(out) + ")"


def _expr(e: A.Expr) -> str:
    # Indexed access was read as the property 'B$0$.speed': write it back as B[0].speed.
    text = A.expr_text(e)
    return re.sub(r"\b([A-Za-z_][A-Za-z0-9_]*)\$(\d+)\$", r"\1[\2]", text)


# ----------------------------------------------------------------- finding the clauses

_SKIPPABLE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|--[^\n]*|/\*(?:.|\n)*?\*/|`[^`]*`")
_KEYWORD = re.compile(r"(?<![A-Za-z0-9_$])match_recognize(?![A-Za-z0-9_$])", re.IGNORECASE)


@dataclass(frozen=True)
class ClauseSpan:
    """Where a clause is in the rule text: ``start`` (the keyword), ``body`` (after its
    '('), ``end`` (after its ')')."""
    start: int
    body: int
    end: int


def _blank(s: str) -> str:
    return "".join(c if c == "\n" else " " for c in s)


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _error(text: str, pos: int, near: str, what: str) -> EPLSyntaxError:
    line, column = _position(text, pos)
    where = f"near '{near}'" if near else "at end of input"
    return EPLSyntaxError(f"Incorrect syntax {where} at line {line}, column {column}: {what}",
                          line=line, column=column, token=near)


def _masked(text: str) -> str:
    """``text`` with strings and comments blanked (same length), so brackets and
    keywords inside them are not seen."""
    return _SKIPPABLE.sub(lambda m: _blank(m.group()), text)


def find_clauses(text: str) -> tuple[str, list[ClauseSpan]]:
    """Each ``match_recognize ( ... )`` of ``text``, and ``text`` with them blanked
    (newlines kept, so positions do not move).

    Raises:
        EPLSyntaxError: a ``match_recognize`` without its parenthesised body.
    """
    masked = _masked(text)
    spans = []
    for m in _KEYWORD.finditer(masked):
        i = m.end()
        while i < len(masked) and masked[i].isspace():
            i += 1
        if i >= len(masked) or masked[i] != "(":
            raise _error(text, i, masked[i:i + 1].strip(), "expected '(' after match_recognize")
        depth, j = 0, i
        while j < len(masked):
            c = masked[j]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if depth:
            raise _error(text, len(text), "", "expected ')' closing match_recognize")
        spans.append(ClauseSpan(m.start(), i + 1, j + 1))
    if not spans:
        return text, spans
    parts, last = [], 0
    for s in spans:
        parts.append(text[last:s.start])
        parts.append(_blank(text[s.start:s.end]))
        last = s.end
    parts.append(text[last:])
    return "".join(parts), spans


ExprParser = Callable[[str, int, int], A.Expr]


def attach_clauses(stmt, text: str, spans: list[ClauseSpan], start: int, next_start: int,
                   end: int, parse_expr: ExprParser):
    """Attach the clause found between a statement's ``start`` and the next statement's
    ``next_start`` to the statement; returns ``(statement, end of its text)``.

    Raises:
        EPLSyntaxError: a clause that does not parse, or that follows something else
            than the from clause of a select statement.
    """
    mine = [s for s in spans if start <= s.start < next_start]
    if not mine:
        return stmt, end
    if len(mine) > 1:
        raise _error(text, mine[1].start, "match_recognize", "one match_recognize per statement")
    span = mine[0]
    if not isinstance(stmt, A.SelectStatement) or stmt.joins \
            or isinstance(stmt.stream, A.PatternStream):
        raise _error(text, span.start, "match_recognize",
                     "match_recognize follows the single stream of a select statement's from clause")
    clause = parse_clause(text, span, parse_expr)
    return dataclasses.replace(stmt, match_recognize=clause), max(end, span.end)


# ----------------------------------------------------------------- the clause

_TOKEN = re.compile(r"\s+|(?P<name>[A-Za-z_$][A-Za-z0-9_$]*|`[^`]+`)|(?P<num>\d+(?:\.\d*)?)"
                    r"|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<op><=|>=|!=|<>|->|.)",
                    re.DOTALL)
_INDEXED = re.compile(r"(?<![A-Za-z0-9_$])([A-Za-z_][A-Za-z0-9_]*)\[(\d+)\]")


class _Tok:
    __slots__ = ("kind", "text", "pos", "depth")

    def __init__(self, kind, text, pos, depth):
        self.kind, self.text, self.pos, self.depth = kind, text, pos, depth

    def word(self) -> str:
        return self.text.lower() if self.kind == "name" else ""


def _tokens(masked: str, start: int, end: int) -> list[_Tok]:
    out, depth, pos = [], 0, start
    while pos < end:
        m = _TOKEN.match(masked, pos, end)
        pos = m.end()
        kind = m.lastgroup
        if kind is None:
            continue
        t = m.group()
        if t in ")]}":
            depth -= 1
        out.append(_Tok(kind, t, m.start(), depth))
        if t in "([{":
            depth += 1
    return out


class _ClauseParser:
    def __init__(self, text: str, span: ClauseSpan, parse_expr: ExprParser) -> None:
        self.text = text
        # Strings blanked for the scan; B[0] -> B$0$ (same length) for the expressions.
        self.masked = _masked(text)
        self.expr_text = _INDEXED.sub(lambda m: f"{m.group(1)}${m.group(2)}$", text[:span.end])
        self.span = span
        self.toks = _tokens(self.masked, span.body, span.end - 1)
        self.i = 0
        self.parse_expr = parse_expr

    # -- token helpers

    def peek(self, k: int = 0) -> _Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at_word(self, *words: str) -> bool:
        for k, w in enumerate(words):
            t = self.peek(k)
            if t is None or t.depth != 0 or t.word() != w:
                return False
        return True

    def fail(self, what: str) -> EPLSyntaxError:
        t = self.peek()
        if t is None:
            return _error(self.text, self.span.end - 1, ")", what)
        return _error(self.text, t.pos, t.text, what)

    def expect_word(self, *words: str) -> None:
        for w in words:
            if not self.at_word(w):
                raise self.fail(f"expected '{w}'")
            self.i += 1

    def expect(self, sym: str) -> _Tok:
        t = self.peek()
        if t is None or t.text != sym:
            raise self.fail(f"expected '{sym}'")
        self.i += 1
        return t

    def name(self, what: str) -> _Tok:
        t = self.peek()
        if t is None or t.kind != "name":
            raise self.fail(f"expected {what}")
        self.i += 1
        return t

    # -- expressions: the tokens up to a top-level ',' or one of ``stop`` words

    def expr_span(self, stop: tuple[str, ...]) -> tuple[int, int]:
        first = self.i
        while True:
            t = self.peek()
            if t is None or (t.depth == 0 and (t.text == "," or t.word() in stop)):
                break
            self.i += 1
        if self.i == first:
            raise self.fail("expected an expression")
        last = self.toks[self.i - 1]
        return self.toks[first].pos, last.pos + len(last.text)

    def expr(self, stop: tuple[str, ...]) -> A.Expr:
        s, e = self.expr_span(stop)
        return self.parse_expr(self.expr_text, s, e)

    # -- the clause

    def clause(self) -> MatchRecognize:
        partition = []
        if self.at_word("partition"):
            self.expect_word("partition", "by")
            partition.append(self.expr(("measures",)))
            while self.peek() is not None and self.peek().text == ",":
                self.i += 1
                partition.append(self.expr(("measures",)))
        self.expect_word("measures")
        measures = [self.measure()]
        while self.peek() is not None and self.peek().text == ",":
            self.i += 1
            measures.append(self.measure())
        all_matches = False
        if self.at_word("all", "matches"):
            self.i += 2
            all_matches = True
        skip = "past last row"
        if self.at_word("after"):
            self.expect_word("after", "match", "skip")
            for mode in SKIP_MODES:
                if self.at_word(*mode.split()):
                    self.i += len(mode.split())
                    skip = mode
                    break
            else:
                raise self.fail("expected 'past last row', 'to next row' or 'to current row'")
        self.expect_word("pattern")
        self.expect("(")
        pattern = self.alternation()
        self.expect(")")
        interval, terminated = None, False
        if self.at_word("interval"):
            self.i += 1
            interval = self.period()
            if self.at_word("or", "terminated"):
                self.i += 2
                terminated = True
        defines = []
        if self.at_word("define"):
            self.i += 1
            defines.append(self.define())
            while self.peek() is not None and self.peek().text == ",":
                self.i += 1
                defines.append(self.define())
        if self.peek() is not None:
            raise self.fail("expected ')' closing match_recognize")
        line, column = _position(self.text, self.span.start)
        return MatchRecognize(tuple(partition), tuple(measures), pattern, tuple(defines),
                              all_matches, skip, interval, terminated, line, column)

    def measure(self) -> MeasureItem:
        stop = ("as", "all", "after", "pattern")
        e = self.expr(stop)
        if not self.at_word("as"):
            raise self.fail("expected 'as' and a column name after a measure expression")
        self.i += 1
        return MeasureItem(e, self.name("a column name").text.strip("`"))

    def define(self) -> DefineItem:
        t = self.name("a pattern variable")
        self.expect_word("as")
        return DefineItem(t.text, self.expr(()), *_position(self.text, t.pos))

    def period(self) -> A.TimePeriod:
        parts = []
        while self.peek() is not None and self.peek().kind == "num":
            num = self.peek()
            self.i += 1
            unit = self.name("a time unit")
            if unit.text.lower() not in A.TIME_UNIT_MS:
                self.i -= 1
                raise self.fail(f"expected a time unit (one of {', '.join(sorted(A.TIME_UNIT_MS))})")
            value = float(num.text) if "." in num.text else int(num.text)
            parts.append((value, unit.text.lower()))
        if not parts:
            raise self.fail("expected a time period such as '10 seconds'")
        return A.TimePeriod(tuple(parts))

    # -- row pattern: alternation of concatenations of quantified atoms or groups

    def alternation(self) -> RowPattern:
        items = [self.concatenation()]
        while self.peek() is not None and self.peek().text == "|":
            self.i += 1
            items.append(self.concatenation())
        return items[0] if len(items) == 1 else RowAlt(tuple(items))

    def concatenation(self) -> RowPattern:
        items = []
        while True:
            t = self.peek()
            if t is None or t.text in (")", "|"):
                break
            items.append(self.unit())
        if not items:
            raise self.fail("expected a pattern variable or '('")
        return items[0] if len(items) == 1 else RowConcat(tuple(items))

    def unit(self) -> RowPattern:
        t = self.peek()
        if t.text == "(":
            self.i += 1
            inner = self.alternation()
            self.expect(")")
            return RowGroup(inner, self.quantifier())
        if t.kind != "name":
            raise self.fail("expected a pattern variable or '('")
        self.i += 1
        line, column = _position(self.text, t.pos)
        return RowAtom(t.text, self.quantifier(), line, column)

    def quantifier(self) -> Quantifier:
        t = self.peek()
        if t is None:
            return Quantifier()
        if t.text in ("*", "+", "?"):
            self.i += 1
            nxt = self.peek()
            if nxt is not None and nxt.text == "?" and nxt.pos == t.pos + 1:
                self.i += 1
                return Quantifier(t.text, True)
            return Quantifier(t.text)
        if t.text == "{":
            self.i += 1
            lo = self.count()
            hi = lo
            if self.peek() is not None and self.peek().text == ",":
                self.i += 1
                hi = self.count()
            self.expect("}")
            if lo is None and hi is None:
                raise self.fail("expected a repeat count")
            for v in (lo, hi):
                if v is not None and v < 1:
                    raise _error(self.text, t.pos, t.text, f"Invalid pattern quantifier value {v}, "
                                 "expecting a minimum of 1")
            if lo is not None and hi is not None and lo > hi:
                raise _error(self.text, t.pos, t.text, f"Invalid pattern quantifier value {lo}, "
                             f"expecting a minimum of 1 and maximum of {hi}")
            return Quantifier("one", False, (lo, hi))
        return Quantifier()

    def count(self) -> int | None:
        t = self.peek()
        if t is not None and t.kind == "num" and t.text.isdigit():
            self.i += 1
            return int(t.text)
        return None


def parse_clause(text: str, span: ClauseSpan, parse_expr: ExprParser) -> MatchRecognize:
    """Parse the clause at ``span`` of ``text``; ``parse_expr(text, start, end)`` parses
    the expression at ``text[start:end]`` (positions in errors relative to ``text``).

    Raises:
        EPLSyntaxError: with the line and column of the offending token.
    """
    return _ClauseParser(text, span, parse_expr).clause()
