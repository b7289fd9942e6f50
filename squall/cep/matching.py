"""``like`` and ``regexp``: patterns compiled once or from a bounded cache, matches
bounded in time, and the per-statement context that reports what went wrong.

A pattern written in the statement (a string literal) is compiled once, when the
statement compiles; an invalid one is an :class:`~squall.cep.errors.EPLCompileError`.
A pattern that comes from the events (``name regexp pattern`` where ``pattern`` is a
property) is compiled when first seen and kept in the statement's LRU cache of
:data:`PATTERN_CACHE_SIZE` entries, so a stream of distinct patterns costs a bounded
amount of memory.

Every match, literal pattern or not, runs with the third-party ``regex`` engine's
``timeout=``: one match stops after :data:`MATCH_TIMEOUT_S` (per engine:
``EPLEngine(match_timeout_s=...)``), so a catastrophically backtracking pattern such as
``(a|aa)+$`` against ``'a' * 40 + 'b'`` cannot stall the engine. Compiling is bounded
too: ``regex`` expands counted repeats when it compiles (``(a{1000}){1000}`` takes a
second, one more level takes minutes and gigabytes), so a pattern longer than
:data:`MAX_PATTERN_SIZE` characters, or whose counted repeats expand beyond that many
units, is refused before it is compiled.

A match that times out, and a pattern from an event that is refused or does not
compile, make the ``like``/``regexp`` expression **null** (so ``where``, ``having`` and
filters drop the event, and ``not`` keeps it null rather than turning it true), and are
reported through the engine's error path (:class:`EvalContext`), naming the statement,
the reason and the event.

Semantics: Esper 8 reference, 9.7 "The 'like' Keyword" and 9.8 "The 'regexp' Keyword"
(the whole string must match); the time and size bounds are Squall's own (Esper runs
``java.util.regex`` unbounded and throws on an invalid pattern from an event).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any, Callable

import regex

from squall.cep.errors import EPLCompileError

__all__ = ["MATCH_TIMEOUT_S", "PATTERN_CACHE_SIZE", "MAX_PATTERN_SIZE", "EvalContext",
           "PatternCache", "like_to_regex", "make_matcher"]

MATCH_TIMEOUT_S = 0.05
"""Default bound on one ``like``/``regexp`` match, seconds (the ``regex`` package's ``timeout``)."""

PATTERN_CACHE_SIZE = 256
"""Default number of compiled patterns from event data one statement keeps (LRU)."""

MAX_PATTERN_SIZE = 10_000
"""Longest pattern (characters, and units after expanding counted repeats) compiled."""

#: report(statement name, record, reason): the engine's error path
Reporter = Callable[[str, Any, str], None]


class EvalContext:
    """What one statement's compiled expressions share at run time: the pattern limits,
    the cache of patterns from event data, and where evaluation problems go.

    The engine makes one per statement before compiling it and names it afterwards
    (``statement``); :meth:`report` then hands problems to the engine's error path.

    Attributes:
        match_timeout_s: bound on one match, seconds.
        patterns: the statement's :class:`PatternCache`.
        statement: the statement's name (None until the engine names it).
        errors: problems reported so far (all, including those the engine's throttle
            did not pass on).
        variables, cells: see :mod:`squall.cep.variables` (compile time only).
    """

    __slots__ = ("match_timeout_s", "patterns", "statement", "errors", "_reporter", "variables",
                 "cells", "functions", "aggregations")

    def __init__(self, reporter: Reporter | None = None, *, match_timeout_s: float = MATCH_TIMEOUT_S,
                 pattern_cache_size: int = PATTERN_CACHE_SIZE) -> None:
        self.match_timeout_s = float(match_timeout_s)
        self.patterns = PatternCache(pattern_cache_size)
        self.statement: str | None = None
        self.errors = 0
        self._reporter = reporter
        #: compile time: the variables a statement may read, name -> VariableDecl, and the
        #: engine's variable cells (squall.cep.variables); the engine sets both
        self.variables: dict = {}
        self.cells: dict = {}
        #: compile time: plug-in single-row functions (name -> callable) and aggregation
        #: functions (name -> factory) registered with the engine (squall.cep.plugins)
        self.functions: dict = {}
        self.aggregations: dict = {}

    def report(self, record: Any, reason: str) -> None:
        """One event could not be evaluated as written (the expression became null)."""
        self.errors += 1
        if self._reporter is not None:
            self._reporter(self.statement or "(unnamed)", record, reason)


class PatternCache:
    """Compiled patterns from event data, least recently used dropped beyond ``size``.

    Values are compiled patterns, or the reason (a string) a pattern was refused, so a
    bad pattern repeated by many events is diagnosed once.
    """

    __slots__ = ("size", "_entries")

    def __init__(self, size: int = PATTERN_CACHE_SIZE) -> None:
        self.size = int(size)
        self._entries: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key):
        """The entry for ``key`` (now the most recently used), None when absent."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key, value):
        """Add an entry, dropping the least recently used beyond ``size``; returns ``value``."""
        entries = self._entries
        entries[key] = value
        if len(entries) > self.size:
            entries.popitem(last=False)
        return value


def like_to_regex(pattern: str, escape: str | None) -> str:
    """SQL ``like`` pattern (``%`` any run, ``_`` one character) -> regular expression."""
    esc = "\\" if escape is None else escape
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == esc and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return "".join(out)


_COUNT = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_BRACED_ESCAPES = frozenset("pPNxgku")  # \p{L}, \N{name}, \x{41}, \g{1}: braces are not a count


def expanded_size(pattern: str) -> int:
    """An upper estimate of the units ``regex`` builds for ``pattern``: characters, with
    each group or atom multiplied by its counted repeat (``{n}``, ``{n,m}``; the larger
    bound). Alternatives add up. Syntax errors are left to the compiler."""
    stack: list[int] = [0]        # size of each open group so far
    last = 0                      # size of the atom a quantifier would repeat
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 2 < n and pattern[i + 1] in _BRACED_ESCAPES and pattern[i + 2] == "{":
                j = pattern.find("}", i + 3)
                i = n if j < 0 else j + 1
            else:
                i += 2
            last = 1
            stack[-1] += 1
            continue
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            last = 1
            stack[-1] += 1
            continue
        if c == "(":
            stack.append(0)
            i += 1
            continue
        if c == ")":
            inner = stack.pop() if len(stack) > 1 else 0
            last = max(inner, 1)
            stack[-1] += last
            i += 1
            continue
        if c == "{":
            m = _COUNT.match(pattern, i)
            if m and (m.group(1) or m.group(3)):
                count = max(int(m.group(1) or 0), int(m.group(3) or 0))
                if count > 1:
                    # The atom is already counted once. Capped: past the limit the exact
                    # size does not matter, and the numbers stay small.
                    grown = min(last * count, MAX_PATTERN_SIZE + 1)
                    stack[-1] += grown - last
                    last = grown
                i = m.end()
                continue
        last = 1
        stack[-1] += 1
        i += 1
    return sum(stack)


def _compile(source: str, what: str, text: str):
    """Compile ``source`` (the regex built from ``text``); raises ValueError with a reason."""
    if len(text) > MAX_PATTERN_SIZE:
        raise ValueError(f"{what} pattern of {len(text):,} characters is longer than the "
                         f"{MAX_PATTERN_SIZE:,} allowed")
    size = expanded_size(source)
    if size > MAX_PATTERN_SIZE:
        raise ValueError(f"{what} pattern {_clip(text)} expands to more than {MAX_PATTERN_SIZE:,} "
                         "units (counted repeats multiply); write it without large nested counts")
    try:
        return regex.compile(source, regex.DOTALL if what == "like" else 0)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"invalid {what} pattern {_clip(text)}: {exc}") from None


def _clip(text: str, width: int = 80) -> str:
    r = repr(text)
    return r if len(r) <= width else r[:width - 4] + "...'"


def make_matcher(ctx: EvalContext, kind: str, operand, pattern, negated: bool,
                 escape: str | None = None, literal: str | None = None,
                 literal_pos: tuple[int | None, int | None] = (None, None)):
    """The evaluator of ``operand [not] like|regexp pattern``: ``(event, aggregates) ->
    True | False | None``.

    Args:
        ctx: the statement's evaluation context (limits, cache, error path).
        kind: ``"like"`` or ``"regexp"``.
        operand, pattern: compiled evaluators of both sides.
        literal: the pattern when it is a string literal (compiled here, once).
        literal_pos: line and column of the literal, for its compile error.

    Raises:
        EPLCompileError: the literal pattern is invalid or too large.
    """
    def build(p: str):
        source = like_to_regex(p, escape) if kind == "like" else p
        return _compile(source, kind, p)

    timeout = ctx.match_timeout_s
    report = ctx.report

    def matches(rx, v, p, ev):
        s = str(v)
        try:
            return (rx.fullmatch(s, timeout=timeout) is not None) != negated
        except TimeoutError:
            report(ev, f"{kind} match of pattern {_clip(str(p))} against a {len(s):,}-character "
                       f"value took longer than the {timeout:g} s bound; the expression is null")
            return None

    if literal is not None:
        try:
            rx = build(literal)
        except ValueError as exc:
            raise EPLCompileError(str(exc)[0].upper() + str(exc)[1:], line=literal_pos[0],
                                  column=literal_pos[1]) from None

        def ev_match_literal(ev, av):
            v = operand(ev, av)
            return None if v is None else matches(rx, v, literal, ev)
        return ev_match_literal

    cache = ctx.patterns

    def compile_or_reason(p: str):
        try:
            return build(p)
        except ValueError as exc:
            return str(exc)
    put = cache.put

    def ev_match(ev, av):
        v = operand(ev, av)
        if v is None:
            return None
        p = pattern(ev, av)
        if p is None:
            return None
        p = str(p)
        key = (kind, escape, p)
        rx = cache.get(key)
        if rx is None:
            rx = put(key, compile_or_reason(p))
        if type(rx) is str:
            report(ev, f"{rx}; the expression is null")
            return None
        return matches(rx, v, p, ev)
    return ev_match
