"""Pattern compilation: a ``pattern [...]`` expression (AST) -> a tree of immutable
:class:`PatternNode` objects, built once per statement, with its tags validated and its
filter expressions compiled (and, for ``prop = tag.prop`` filters, an index key).

The nodes are read by the states of :mod:`squall.cep.pattern_states`; the statement
(select, where, output columns) is assembled by :mod:`squall.cep.pattern`.

Semantics: Esper 8 reference, 7 "EPL Reference: Patterns" (see :mod:`squall.cep.pattern`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from squall.cep import ast as A
from squall.cep.crontab import Crontab
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import Scope, compile_expr
from squall.cep.typecheck import check_expr, java_type

if TYPE_CHECKING:
    from squall.cep.matching import EvalContext

__all__ = ["TagRow", "PatternNode", "PatternCompiler", "PatternProgram", "arrayed_tags"]


class TagRow:
    """What select/where/filter expressions see in a pattern: ``get('a.speed')`` reads
    tag ``a``'s event, ``get('a')`` is the event itself, a bare property reads the event
    being filtered (``event``). ``names`` maps each property name used to how it reads."""

    __slots__ = ("tags", "event", "names")

    def __init__(self, tags: dict, event, names: dict) -> None:
        self.tags = tags
        self.event = event
        self.names = names

    def get(self, name, default=None):
        how = self.names.get(name)
        if how is None:
            ev = self.event
            return None if ev is None else ev.get(name)
        tag, prop = how
        if type(tag) is tuple:      # 'a[i].prop': event i of a repeat's array of events
            tag, i = tag
            evs = self.tags.get(tag)
            ev = evs[i] if type(evs) is list and i < len(evs) else None
        else:
            ev = self.tags.get(tag)
        if ev is None:
            return None
        return ev if prop is None else ev.get(prop)


# 'a[0].v' / 'a[0]': event 0 of tag a (an array under a repeat or until)
_INDEXED_TAG = re.compile(r"^([A-Za-z_$][A-Za-z0-9_$]*)\[(\d+)\](?:\.(.+))?$")


def _period_ms(params, what: str, line, column) -> int:
    if len(params) != 1:
        raise EPLCompileError(f"{what} takes one parameter, a time period such as '10 sec'",
                              line=line, column=column)
    return _one_period_ms(params[0], what, line, column)


def _one_period_ms(p, what: str, line, column) -> int:
    if isinstance(p, A.TimePeriod):
        ms = p.msec
    elif isinstance(p, A.Literal) and isinstance(p.value, (int, float)) \
            and not isinstance(p.value, bool):
        ms = p.value * 1000  # a plain number is seconds, as in Esper
    else:
        raise EPLCompileError(f"{what} expects a time period such as '10 sec', got "
                              f"'{A.expr_text(p)}'", line=line, column=column)
    return int(round(ms))


class PatternCompiler:
    def __init__(self, declared_types: dict[str, dict[str, type]], ctx: "EvalContext") -> None:
        self.declared_types = declared_types
        self.ctx = ctx
        self.tags: dict[str, str] = {}          # tag -> event type, first-appearance order
        self.visible_tags: list[str] = []       # tags not only under 'not' (select *)
        self.types: list[str] = []
        self.nodes: list[PatternNode] = []
        # Tags that are arrays of events where the expression being compiled reads them
        # (matched under a repeat/until before it); the caller sets it for select/where.
        self.arrayed: frozenset[str] = frozenset()

    # -- tags

    def collect_tags(self, p, under_not=False) -> None:
        if isinstance(p, A.PatternFilter):
            if p.event_type not in self.types:
                self.types.append(p.event_type)
            if p.tag is not None:
                known = self.tags.get(p.tag)
                if known is not None and known != p.event_type:
                    raise EPLCompileError(
                        f"Tag '{p.tag}' for event type '{p.event_type}' was already used for "
                        f"event type '{known}'", line=p.line, column=p.column)
                self.tags.setdefault(p.tag, p.event_type)
                if not under_not and p.tag not in self.visible_tags:
                    self.visible_tags.append(p.tag)
            return
        if isinstance(p, A.PatternNot):
            self.collect_tags(p.child, True)
            return
        for c in _pattern_children(p):
            self.collect_tags(c, under_not)

    # -- expressions

    def check_tag_property(self, prop: A.Property, tag: str, name: str | None,
                           available, clause: str) -> None:
        if tag not in self.tags:
            raise EPLCompileError(
                f"Failed to validate {clause}: '{prop.name}' names no tag of the pattern "
                f"(tags: {', '.join(self.tags) or 'none'})", line=prop.line, column=prop.column)
        if available is not None and tag not in available:
            raise EPLCompileError(
                f"Failed to validate {clause}: tag '{tag}' is not available here; a filter can "
                f"only use tags matched before it in a followed-by (available: "
                f"{', '.join(available) or 'none'})", line=prop.line, column=prop.column)
        declared = self.declared_types.get(self.tags[tag])
        if name is not None and declared is not None and name not in declared:
            raise EPLCompileError(
                f"Failed to validate {clause}: property named '{name}' is not valid in event "
                f"type '{self.tags[tag]}' of tag '{tag}' (its properties: "
                f"{', '.join(sorted(declared)) or 'none'})", line=prop.line, column=prop.column)

    def names_for(self, exprs, clause: str, event_type: str | None, available) -> dict:
        """Validate the properties of ``exprs``; -> TagRow name table."""
        names = {}
        for prop in A.nodes_of(exprs, A.Property):
            n = prop.name
            indexed = _INDEXED_TAG.match(n)
            if indexed:
                tag, index, sub = indexed.groups()
                self.check_tag_property(prop, tag, sub, available, clause)
                if tag not in self.arrayed:
                    raise EPLCompileError(
                        f"Failed to validate {clause}: tag '{tag}' is one event here, not an "
                        f"array (only a tag under a repeat or until is an array); use "
                        f"'{tag}{'.' + sub if sub else ''}'", line=prop.line, column=prop.column)
                names[n] = ((tag, int(index)), sub)
                continue
            head, dot, tail = n.partition(".")
            if dot:
                self.check_tag_property(prop, head, tail, available, clause)
                self.check_not_array(prop, head, clause)
                names[n] = (head, tail)
            elif event_type is None or (n in self.tags and (available is None or n in available)
                                         and not self.has_property(event_type, n)):
                if n not in self.tags:
                    raise EPLCompileError(
                        f"Failed to validate {clause}: property '{n}' is not a tag of the pattern; "
                        f"use tag.property (tags: {', '.join(self.tags) or 'none'})",
                        line=prop.line, column=prop.column)
                self.check_tag_property(prop, n, None, available, clause)
                names[n] = (n, None)
            else:
                self.check_event_property(prop, n, event_type, clause)
        return names

    def check_not_array(self, prop: A.Property, tag: str, clause: str) -> None:
        if tag in self.arrayed:
            raise EPLCompileError(
                f"Failed to validate {clause}: tag '{tag}' is an array of events here (it is "
                f"matched under a repeat or until): read one event with an index, such as "
                f"'{tag}[0].{prop.name.partition('.')[2]}'", line=prop.line, column=prop.column)

    def prop_type(self, names: dict, event_type: str | None):
        """``prop -> Java type name or None``: tag properties through ``names``, others
        of ``event_type`` (see :mod:`squall.cep.typecheck`)."""
        def prop_type(prop: A.Property) -> str | None:
            ref = names.get(prop.name)
            if ref is not None:
                tag, sub = ref
                if type(tag) is tuple:
                    tag = tag[0]
                declared = self.declared_types.get(self.tags.get(tag))
            else:
                declared, sub = self.declared_types.get(event_type), prop.name
            return None if declared is None or sub is None else java_type(declared.get(sub))
        return prop_type

    def has_property(self, event_type: str, name: str) -> bool:
        declared = self.declared_types.get(event_type)
        return declared is not None and name in declared

    def check_event_property(self, prop: A.Property, name: str, event_type: str, clause: str):
        declared = self.declared_types.get(event_type)
        if declared is not None and name not in declared:
            raise EPLCompileError(
                f"Failed to validate {clause}: property named '{name}' is not valid in event "
                f"type '{event_type}' (its properties: {', '.join(sorted(declared)) or 'none'})",
                line=prop.line, column=prop.column)

    # -- pattern nodes

    def node(self, p, available: tuple[str, ...]) -> "PatternNode":
        nid = len(self.nodes)
        self.nodes.append(None)  # type: ignore[arg-type]  (pre-order id, filled below)
        if isinstance(p, A.PatternFilter):
            n = self.filter_node(p, available)
        elif isinstance(p, A.PatternTimerAt):
            n = PatternNode("timer_at", (), crontab=Crontab(p.fields))
        elif isinstance(p, A.PatternEveryDistinct):
            n = self.every_distinct_node(p, available)
        elif isinstance(p, A.PatternRepeat):
            if p.until is None and p.low != p.high:
                raise EPLCompileError("A repeat with variable bounds ([n:m], [n:], [:m]) needs "
                                      "an until-expression ('... until B')", line=p.line,
                                      column=p.column)
            kids = (self.node(p.child, available),)
            if p.until is not None:
                kids += (self.node(p.until, available),)
            n = PatternNode("repeat", kids, low=p.low, high=p.high,
                            arrayed=tuple(_tags_defined(p.child)))
        elif isinstance(p, A.PatternWhile):
            child = self.node(p.child, available)
            inner = tuple(available) + tuple(t for t in _tags_defined(p.child) if t not in available)
            exprs, names = self.tag_exprs((p.expr,), "pattern guard expression", inner,
                                          arrayed_tags(p.child))
            n = PatternNode("while", (child,), exprs=exprs, names=names)
        elif isinstance(p, A.PatternObserver):
            if (p.namespace.lower(), p.name.lower()) != ("timer", "interval"):
                raise EPLCompileError(
                    f"Unknown or unsupported pattern observer '{p.namespace}:{p.name}'; "
                    "supported: timer:interval(period), timer:at(crontab)",
                    line=p.line, column=p.column)
            n = PatternNode("interval", (), delay_ms=_period_ms(p.params, "timer:interval", p.line,
                                                          p.column))
        elif isinstance(p, A.PatternGuard):
            if (p.namespace.lower(), p.name.lower()) != ("timer", "within"):
                raise EPLCompileError(
                    f"Unknown or unsupported pattern guard '{p.namespace}:{p.name}'; "
                    "supported: timer:within(period)", line=p.line, column=p.column)
            ms = _period_ms(p.params, "timer:within", p.line, p.column)
            n = PatternNode("guard", (self.node(p.child, available),), delay_ms=ms)
        elif isinstance(p, A.PatternEvery):
            n = PatternNode("every", (self.node(p.child, available),))
        elif isinstance(p, A.PatternNot):
            n = PatternNode("not", (self.node(p.child, available),))
        elif isinstance(p, A.PatternAnd):
            n = PatternNode("and", tuple(self.node(c, available) for c in p.children))
        elif isinstance(p, A.PatternOr):
            n = PatternNode("or", tuple(self.node(c, available) for c in p.children))
        elif isinstance(p, A.PatternFollowedBy):
            kids = []
            avail = list(available)
            outer = self.arrayed
            for c in p.children:
                kids.append(self.node(c, tuple(avail)))
                for t in _tags_defined(c):
                    if t not in avail:
                        avail.append(t)
                self.arrayed = self.arrayed | arrayed_tags(c)
            self.arrayed = outer
            n = PatternNode("followed_by", tuple(kids))
        else:
            raise TypeError(f"not a pattern expression: {p!r}")
        n.nid = nid
        self.nodes[nid] = n
        return n

    def tag_exprs(self, exprs, clause: str, available,
                  arrayed: frozenset) -> tuple[tuple[Callable, ...], dict]:
        """Compile ``exprs`` over the tags in ``available`` (``arrayed``: the tags that
        are arrays there besides the enclosing ones): (``f(TagRow, None) -> value`` per
        expression, the TagRow name table)."""
        names: dict = {}
        out = []
        outer = self.arrayed
        self.arrayed = outer | arrayed
        try:
            for e in exprs:
                f, n = self._tag_expr(e, clause, available)
                out.append(f)
                names.update(n)
        finally:
            self.arrayed = outer
        return tuple(out), names

    def _tag_expr(self, e, clause: str, available):
        if A.nodes_of(e, A.Aggregate):
            raise EPLCompileError(f"Aggregate functions are not allowed in a {clause} "
                                  f"('{A.expr_text(e)}')", line=getattr(e, "line", None),
                                  column=getattr(e, "column", None))
        names = self.names_for(e, clause, None, available)
        check_expr(e, self.prop_type(names, None), clause, (None, None))
        return compile_expr(e, Scope(None, "pattern", clause, None, self.ctx)), names

    def every_distinct_node(self, p: A.PatternEveryDistinct, available) -> "PatternNode":
        params = list(p.params)
        expiry = None
        if params and isinstance(params[-1], A.TimePeriod):
            expiry = _one_period_ms(params.pop(), "every-distinct", p.line, p.column)
        if not params or any(isinstance(x, A.TimePeriod) for x in params):
            raise EPLCompileError(
                "every-distinct takes one or more distinct-value expressions and, last, an "
                "optional time period, e.g. every-distinct(a.carNumber, 10 sec)",
                line=p.line, column=p.column)
        child = self.node(p.child, available)
        inner = tuple(available) + tuple(t for t in _tags_defined(p.child) if t not in available)
        exprs, names = self.tag_exprs(params, "every-distinct expression", inner,
                                      arrayed_tags(p.child))
        return PatternNode("every_distinct", (child,), exprs=exprs, names=names, delay_ms=expiry)

    def filter_node(self, p: A.PatternFilter, available) -> "PatternNode":
        clause = f"filter expression of '{p.event_type}'"
        names = self.names_for(p.filters, clause, p.event_type, available)
        conjuncts = []
        for f in p.filters:
            if A.nodes_of(f, A.Aggregate):
                raise EPLCompileError(f"Aggregate functions are not allowed in a pattern filter "
                                      f"('{A.expr_text(f)}')", line=p.line, column=p.column)
            conjuncts.extend(_conjuncts(f))
        scope = Scope(None, p.event_type, clause, None, self.ctx)
        plain, tagged = [], []
        index = None
        for c in conjuncts:
            uses_tags = any(pr.name in names for pr in A.nodes_of(c, A.Property))
            f = compile_expr(c, scope)
            (tagged if uses_tags else plain).append(f)
            if index is None and uses_tags:
                index = _index_candidate(c, names, scope)
        prop_type = self.prop_type(names, p.event_type)
        for f in p.filters:
            check_expr(f, prop_type, "filter", (p.line, p.column))
        return PatternNode("filter", (), event_type=p.event_type, tag=p.tag, plain=tuple(plain),
                     tagged=tuple(tagged), names=names, index=index)


def _conjuncts(e) -> list:
    if isinstance(e, A.BinaryOp) and e.op == "and":
        return _conjuncts(e.left) + _conjuncts(e.right)
    return [e]


def _index_candidate(c, names, scope):
    """``prop = <expression of tags only>`` (either way round) -> (prop, key getter)."""
    if not (isinstance(c, A.BinaryOp) and c.op == "="):
        return None
    for ev_side, tag_side in ((c.left, c.right), (c.right, c.left)):
        if isinstance(ev_side, A.Property) and ev_side.name not in names \
                and "." not in ev_side.name:
            props = list(A.nodes_of(tag_side, A.Property))
            if props and all(pr.name in names for pr in props):
                return (ev_side.name, compile_expr(tag_side, scope))
    return None


def _pattern_children(p) -> tuple:
    if isinstance(p, (A.PatternAnd, A.PatternOr, A.PatternFollowedBy)):
        return p.children
    if isinstance(p, A.PatternRepeat):
        return (p.child,) if p.until is None else (p.child, p.until)
    if isinstance(p, (A.PatternEvery, A.PatternNot, A.PatternGuard, A.PatternEveryDistinct,
                      A.PatternWhile)):
        return (p.child,)
    return ()


def _tags_defined(p) -> list[str]:
    if isinstance(p, A.PatternFilter):
        return [p.tag] if p.tag else []
    if isinstance(p, A.PatternNot):
        return []
    out = []
    for c in _pattern_children(p):
        out.extend(_tags_defined(c))
    return out


def arrayed_tags(p) -> frozenset:
    """The tags that are arrays of events after ``p`` matched: those matched by the
    repeated part of a repeat/until (its until-expression's own tags are single)."""
    if isinstance(p, A.PatternRepeat):
        return frozenset(_tags_defined(p.child)) | (
            arrayed_tags(p.until) if p.until is not None else frozenset())
    if isinstance(p, A.PatternNot):
        return frozenset()
    out = frozenset()
    for c in _pattern_children(p):
        out |= arrayed_tags(c)
    return out


class PatternNode:
    """A compiled pattern node; ``kind`` picks the state class (see ``STATES``)."""

    __slots__ = ("kind", "children", "nid", "event_type", "tag", "plain", "tagged", "names",
                 "index", "delay_ms", "crontab", "exprs", "low", "high", "arrayed")

    def __init__(self, kind: str, children: tuple, *, event_type=None, tag=None, plain=(),
                 tagged=(), names=None, index=None, delay_ms=0, crontab=None, exprs=(),
                 low=None, high=None, arrayed=()) -> None:
        self.kind = kind
        self.children = children
        self.nid = -1
        self.event_type = event_type
        self.tag = tag
        self.plain = plain
        self.tagged = tagged
        self.names = names or {}
        self.index = index
        self.delay_ms = delay_ms      # interval / within: the period; every-distinct: expiry or None
        self.crontab = crontab        # timer:at: a Crontab
        self.exprs = exprs            # every-distinct: the distinct values; while: the condition
        self.low = low                # repeat: bounds (None: open) and the tags made arrays
        self.high = high
        self.arrayed = arrayed

    def matches(self, ev, tags) -> bool:
        for f in self.plain:
            if f(ev, None) is not True:
                return False
        if self.tagged:
            row = TagRow(tags, ev, self.names)
            for f in self.tagged:
                if f(row, None) is not True:
                    return False
        return True


@dataclass(frozen=True)
class PatternProgram:
    """What a pattern operator runs: the compiled node tree and the output expressions
    (a statement's :class:`~squall.cep.pattern.PatternPlan` adds how it is built)."""
    event_type: str                 # the first event type (for code reading plan.event_type)
    event_types: tuple[str, ...]
    root: PatternNode
    nodes: tuple                    # pre-order: nodes[n.nid] is n
    columns: tuple[str, ...]
    select: tuple[Callable, ...]    # f(TagRow, None) -> value, per column
    where: Callable | None
    names: dict
