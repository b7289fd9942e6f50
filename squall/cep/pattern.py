"""EPL patterns: ``select ... from pattern [every a=A(x > 1) -> b=B(k = a.k) where timer:within(10 sec)]``.

A pattern statement compiles to a tree of *pattern nodes* (immutable, built once) and
runs as a tree of *state nodes* that the nodes spawn: a followed-by state starts the
state of its next child each time the current one turns true, ``every`` restarts its
child, a guard stops its child when its timer fires, and so on. A state reports to its
parent that it turned true (with the tags matched so far and whether it is finished)
or permanently false. The root turns every report of the whole pattern into one output
row (a *match*: tag -> event).

Semantics (Esper 8 reference, 7 "EPL Reference: Patterns"; verified against Esper 8.9
by ``tests/cep/esper/test_esper_patterns.py``):

* Operators, loosest first: ``->`` (followed-by), ``or``, ``and``, repeat / ``until``
  (``[n] X``, ``[n:m] X until Y``), ``every`` / ``every-distinct(...)`` / ``not``, then
  the guard postfixes ``where timer:within(period)`` and ``while (expr)``; parentheses
  group. So ``every a=A -> b=B where timer:within(10 sec)`` is ``(every a=A) -> (b=B
  where timer:within(10 sec))``: each A waits at most 10 seconds for its B; ``every a=A
  until b=B`` is ``(every a=A) until b=B``; ``every [2] a=A`` restarts ``[2] a=A``.
* A filter ``tag=Type(f1, f2)`` matches one event of ``Type`` for which every filter
  expression is true (null is false); filters may use tags matched earlier in a
  followed-by (``carNumber = a.carNumber``). A filter that is not directly under
  ``every`` stops after its match; under ``every`` it keeps matching, each match
  reported separately.
* ``every X``: restarts ``X`` each time it turns true (``every (A -> B)`` looks for the
  next A only after a B) or permanently false.
* ``X and Y``: true once both were true, for every combination of the matches collected
  so far; it finishes when every child that is not a ``not`` finished.
  ``X or Y``: true when either is; the first child that finishes stops the others.
  ``not X``: true as soon as it starts, permanently false once ``X`` is true (and
  finished) — so ``A -> (B and not C)`` is "A, then B before any C".
* ``every-distinct(e1, ..., [period]) X``: ``every X``, but a match whose values of
  ``e1, ...`` (over its tags) its instance saw before is dropped; the restart after a
  match inherits the values seen, a restart after ``X`` turned false starts with none.
  With a period, a value is forgotten ``period`` after it was first seen.
* ``[n] X``: true at the n-th match of ``X`` (``X`` restarted after each match).
  ``[low:high] X until Y`` (``[n:]``, ``[:m]``, plain ``X until Y``): matches ``X``
  repeatedly (at most ``high`` times) until ``Y`` turns true, then is true if ``X``
  matched at least ``low`` times, else permanently false; ``[n] X until Y`` is true at
  the n-th ``X`` or false at ``Y`` before it. ``Y`` starts before ``X``, so an event that
  matches both ends the repeat without counting. Variable bounds need ``until``. Tags
  of ``X`` are *arrays of events* after the repeat: ``a[0].v`` (null past the end; null
  tag when ``X`` never matched); ``a.v`` on such a tag is a compile error, as in Esper.
* ``X while (expr)``: each match of ``X`` passes while ``expr`` (over its tags) is true;
  false ends ``X`` (permanently false); null drops the match only.
* ``timer:at(minutes, hours, days of month, months, days of week [, seconds])``
  (``*``, ``*/n``, ``n``, ``a:b``, ``[list]``; seconds 0 when omitted; UTC): true at the
  first matching second after it starts, plus the milliseconds of its start time
  within its second (Esper's schedule: started at 10.001 s, ``*/10`` seconds fires at
  20.001 s).
* ``timer:interval(p)``: true ``p`` after it starts. ``X where timer:within(p)``: ``X``
  must turn true within ``p`` of the guard's start, else it is permanently false. A
  timer due at the same time as an event fires first, so an event exactly at the
  ``within`` limit is too late.
* An event is matched against the filters that were active when it arrived: a filter
  started while processing an event (``every a=A -> b=A``) waits for the next one.
* Filters matched by one event report in the order they were started; timers due at
  the same time fire in the order they were started (the guard before its child).

Output: one row per match, after the event (or the time) that completed it; ``select *``
gives one column per tag (the tagged event as a dict; null when an ``or`` branch left
it unset). Properties in select/where are ``tag.property`` or a bare tag.
Not supported (EPLCompileError): aggregates, group by, having, data windows on a
pattern; properties without a tag in ``every-distinct`` and ``while`` expressions
(Esper resolves them against the tagged events); repeat bounds given by expressions;
``timer:at`` with ``last``/``weekday`` forms or a time zone; ``-[n]>``.

Active instances (waiting filters and timers) are capped per statement by the engine's
``max_pattern_instances`` (:class:`squall.cep.pattern_operator.PatternOperator` says
which starts are refused at the cap); Esper is unbounded by default.

Modules: :mod:`squall.cep.pattern_compile` (pattern expression -> pattern nodes),
:mod:`squall.cep.pattern_states` (the states of active instances),
:mod:`squall.cep.pattern_operator` (the statement's operator: filters, timers, output,
snapshot); this module validates the statement and builds its :class:`PatternPlan`.
State lives in the statement's operator (:class:`PatternOperator`) and takes part in
:meth:`squall.cep.engine.EPLEngine.snapshot` (plain data: the state tree with its
matches, filter order, timers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import Scope, column_name, compile_expr
from squall.cep.pattern_compile import PatternCompiler, PatternProgram, TagRow, arrayed_tags
from squall.cep.pattern_operator import PatternOperator
from squall.cep.typecheck import check_expr

if TYPE_CHECKING:
    from squall.cep.protocol import EngineHost, StatementHost
    from squall.cep.matching import EvalContext

__all__ = ["PatternPlan", "PatternOperator", "TagRow", "compile_pattern_statement"]


@dataclass(frozen=True)
class PatternPlan(PatternProgram):
    """A compiled pattern statement (see the module docs)."""
    model: str = "pattern"
    wildcard: bool = False

    def make_operator(self, stmt: "StatementHost", engine: "EngineHost") -> "PatternOperator":
        return PatternOperator(stmt, self, engine)


def compile_pattern_statement(st: A.SelectStatement, declared_types: dict[str, dict[str, type]],
                              ctx: "EvalContext") -> PatternPlan:
    """Validate a ``select ... from pattern [...]`` statement and build its plan.

    Raises:
        EPLCompileError: unknown tag or property (naming it), a tag used in a filter
            before it is matched, unsupported clause, observer or guard.
    """
    stream: A.PatternStream = st.stream
    pos = dict(line=stream.line, column=stream.column)
    if st.joins:
        raise EPLCompileError("Joining a pattern with other streams is not supported", **pos)
    if st.stream_selector not in ("istream", "irstream"):
        raise EPLCompileError(f"'{st.stream_selector}' is not supported on a pattern: a pattern "
                              "only has an insert stream", **pos)
    if st.group_by or st.having is not None:
        raise EPLCompileError("group by / having are not supported on a pattern statement", **pos)
    items = st.items
    for e in ([i.expr for i in items] if items else []) + ([st.where] if st.where else []):
        aggs = A.nodes_of(e, A.Aggregate)
        if aggs:
            raise EPLCompileError(f"Aggregate functions are not supported on a pattern statement "
                                  f"('{A.expr_text(aggs[0])}')", line=aggs[0].line,
                                  column=aggs[0].column)
    for extra in ("output", "order_by", "limit"):
        if getattr(st, extra, None):
            raise EPLCompileError(f"'{extra.replace('_', ' ')}' is not supported on a pattern "
                                  "statement yet", **pos)
    c = PatternCompiler(declared_types, ctx)
    c.collect_tags(stream.pattern)
    root = c.node(stream.pattern, ())
    c.arrayed = arrayed_tags(stream.pattern)
    wildcard = items is None
    if wildcard:
        items = tuple(A.SelectItem(A.Property(t)) for t in c.visible_tags)
    select_exprs = [i.expr for i in items]
    names = c.names_for(select_exprs, "select-clause expression", None, None)
    if st.where is not None:
        names.update(c.names_for(st.where, "where-clause expression", None, None))
    prop_type = c.prop_type(names, None)
    for e in select_exprs:
        check_expr(e, prop_type, "select-clause", pos)
    if st.where is not None:
        check_expr(st.where, prop_type, "where-clause", pos)
    scope = Scope(None, c.types[0] if c.types else "pattern", "select-clause", None, ctx)
    select = tuple(compile_expr(e, scope) for e in select_exprs)
    where = compile_expr(st.where, scope) if st.where is not None else None
    return PatternPlan(c.types[0] if c.types else "", tuple(c.types), root, tuple(c.nodes),
                       tuple(column_name(i) for i in items), select, where, names,
                       wildcard=wildcard)
