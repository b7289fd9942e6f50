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

* Operators, loosest first: ``->`` (followed-by), ``or``, ``and``, ``every`` / ``not``,
  then the guard postfix ``where timer:within(period)``; parentheses group. So
  ``every a=A -> b=B where timer:within(10 sec)`` is ``(every a=A) -> (b=B where
  timer:within(10 sec))``: each A waits at most 10 seconds for its B.
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
pattern, ``every-distinct``, ``until``/repeat ``[n]``, ``timer:at``, ``while`` guards.

State lives in the statement's operator (:class:`PatternOperator`) and takes part in
:meth:`squall.cep.engine.EPLEngine.snapshot` (plain data: the state tree with its
matches, filter order, timers).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import Scope, column_name, compile_expr
from squall.cep.protocol import Inlet, Operator
from squall.cep.snapshot import EventTable, deref
from squall.cep.typecheck import check_expr, java_type

if TYPE_CHECKING:
    from squall.cep.engine import EPLEngine, Statement
    from squall.cep.matching import EvalContext

__all__ = ["PatternPlan", "PatternOperator", "compile_pattern_statement"]


# ================================================================ compile

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
        ev = self.tags.get(tag)
        if ev is None:
            return None
        return ev if prop is None else ev.get(prop)


def _period_ms(params, what: str, line, column) -> int:
    if len(params) != 1:
        raise EPLCompileError(f"{what} takes one parameter, a time period such as '10 sec'",
                              line=line, column=column)
    p = params[0]
    if isinstance(p, A.TimePeriod):
        ms = p.msec
    elif isinstance(p, A.Literal) and isinstance(p.value, (int, float)) \
            and not isinstance(p.value, bool):
        ms = p.value * 1000  # a plain number is seconds, as in Esper
    else:
        raise EPLCompileError(f"{what} expects a time period such as '10 sec', got "
                              f"'{A.expr_text(p)}'", line=line, column=column)
    return int(round(ms))


class _Compiler:
    def __init__(self, declared_types: dict[str, dict[str, type]], ctx: "EvalContext") -> None:
        self.declared_types = declared_types
        self.ctx = ctx
        self.tags: dict[str, str] = {}          # tag -> event type, first-appearance order
        self.visible_tags: list[str] = []       # tags not only under 'not' (select *)
        self.types: list[str] = []
        self.nodes: list[_Node] = []

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
            head, dot, tail = n.partition(".")
            if dot:
                self.check_tag_property(prop, head, tail, available, clause)
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

    def prop_type(self, names: dict, event_type: str | None):
        """``prop -> Java type name or None``: tag properties through ``names``, others
        of ``event_type`` (see :mod:`squall.cep.typecheck`)."""
        def prop_type(prop: A.Property) -> str | None:
            ref = names.get(prop.name)
            if ref is not None:
                tag, sub = ref
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

    def node(self, p, available: tuple[str, ...]) -> "_Node":
        nid = len(self.nodes)
        self.nodes.append(None)  # type: ignore[arg-type]  (pre-order id, filled below)
        if isinstance(p, A.PatternFilter):
            n = self.filter_node(p, available)
        elif isinstance(p, A.PatternObserver):
            if (p.namespace.lower(), p.name.lower()) != ("timer", "interval"):
                raise EPLCompileError(
                    f"Unknown or unsupported pattern observer '{p.namespace}:{p.name}'; "
                    "supported: timer:interval(period)", line=p.line, column=p.column)
            n = _Node("interval", (), delay_ms=_period_ms(p.params, "timer:interval", p.line,
                                                          p.column))
        elif isinstance(p, A.PatternGuard):
            if (p.namespace.lower(), p.name.lower()) != ("timer", "within"):
                raise EPLCompileError(
                    f"Unknown or unsupported pattern guard '{p.namespace}:{p.name}'; "
                    "supported: timer:within(period)", line=p.line, column=p.column)
            ms = _period_ms(p.params, "timer:within", p.line, p.column)
            n = _Node("guard", (self.node(p.child, available),), delay_ms=ms)
        elif isinstance(p, A.PatternEvery):
            n = _Node("every", (self.node(p.child, available),))
        elif isinstance(p, A.PatternNot):
            n = _Node("not", (self.node(p.child, available),))
        elif isinstance(p, A.PatternAnd):
            n = _Node("and", tuple(self.node(c, available) for c in p.children))
        elif isinstance(p, A.PatternOr):
            n = _Node("or", tuple(self.node(c, available) for c in p.children))
        elif isinstance(p, A.PatternFollowedBy):
            kids = []
            avail = list(available)
            for c in p.children:
                kids.append(self.node(c, tuple(avail)))
                for t in _tags_defined(c):
                    if t not in avail:
                        avail.append(t)
            n = _Node("followed_by", tuple(kids))
        else:
            raise TypeError(f"not a pattern expression: {p!r}")
        n.nid = nid
        self.nodes[nid] = n
        return n

    def filter_node(self, p: A.PatternFilter, available) -> "_Node":
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
        return _Node("filter", (), event_type=p.event_type, tag=p.tag, plain=tuple(plain),
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
    if isinstance(p, (A.PatternEvery, A.PatternNot, A.PatternGuard)):
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


class _Node:
    """A compiled pattern node; ``kind`` picks the state class (see ``_STATES``)."""

    __slots__ = ("kind", "children", "nid", "event_type", "tag", "plain", "tagged", "names",
                 "index", "delay_ms")

    def __init__(self, kind: str, children: tuple, *, event_type=None, tag=None, plain=(),
                 tagged=(), names=None, index=None, delay_ms=0) -> None:
        self.kind = kind
        self.children = children
        self.nid = -1
        self.event_type = event_type
        self.tag = tag
        self.plain = plain
        self.tagged = tagged
        self.names = names or {}
        self.index = index
        self.delay_ms = delay_ms

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
class PatternPlan:
    """A compiled pattern statement (see the module docs)."""
    event_type: str                 # the first event type (for code reading plan.event_type)
    event_types: tuple[str, ...]
    root: _Node
    nodes: tuple                    # pre-order: nodes[n.nid] is n
    columns: tuple[str, ...]
    select: tuple[Callable, ...]    # f(TagRow, None) -> value, per column
    where: Callable | None
    names: dict
    model: str = "pattern"
    wildcard: bool = False

    def make_operator(self, stmt: "Statement", engine: "EPLEngine") -> "PatternOperator":
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
    c = _Compiler(declared_types, ctx)
    c.collect_tags(stream.pattern)
    root = c.node(stream.pattern, ())
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


# ================================================================ runtime: states
# Each state: start(begin), quit(), and (for inner states) evaluate_true(match, src,
# quitted) / evaluate_false(src, restartable) called by its children. ``keeps_filters``:
# a filter child keeps matching after a match (only under 'every').

class _State:
    __slots__ = ("node", "parent", "op")
    keeps_filters = False
    is_not = False
    is_filter = False

    def __init__(self, node: _Node, parent, op: "PatternOperator") -> None:
        self.node = node
        self.parent = parent
        self.op = op


def _new_state(node: _Node, parent, op) -> _State:
    return _STATES[node.kind](node, parent, op)


class _FilterState(_State):
    __slots__ = ("begin", "active", "seq", "key")
    is_filter = True

    def start(self, begin: dict) -> None:
        self.begin = begin
        self.op._register(self)

    def quit(self) -> None:
        if self.active:
            self.op._unregister(self)

    def on_event(self, ev) -> None:
        if not self.active or not self.node.matches(ev, self.begin):
            return
        match = dict(self.begin)
        if self.node.tag is not None:
            match[self.node.tag] = ev
        quitted = not self.parent.keeps_filters
        if quitted:
            self.op._unregister(self)
        self.parent.evaluate_true(match, self, quitted)


class _IntervalState(_State):
    __slots__ = ("begin", "timer")

    def start(self, begin: dict) -> None:
        self.begin = begin
        self.timer = None
        slot = self.op._alloc_slot()
        if self.node.delay_ms <= 0:
            self.parent.evaluate_true(begin, self, True)
        else:
            self.timer = self.op._add_timer(self.op.engine._now + self.node.delay_ms, slot, self)

    def fire(self) -> None:
        self.timer = None
        self.parent.evaluate_true(self.begin, self, True)

    def quit(self) -> None:
        if self.timer is not None:
            self.timer[2] = None
            self.timer = None


class _GuardState(_State):
    __slots__ = ("begin", "child", "timer", "slot")

    def start(self, begin: dict) -> None:
        self.begin = begin
        self.timer = None
        self.slot = self.op._alloc_slot()   # the guard's timer is created before its child
        self.child = _new_state(self.node.children[0], self, self.op)
        self.child.start(begin)
        self.timer = self.op._add_timer(self.op.engine._now + self.node.delay_ms, self.slot, self)

    def evaluate_true(self, match, src, quitted) -> None:
        had_quit = self.child is None
        if quitted:
            self.child = None
            self._stop_timer()
        if not had_quit:
            self.parent.evaluate_true(match, self, quitted)

    def evaluate_false(self, src, restartable) -> None:
        self.child = None
        self.parent.evaluate_false(self, True)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer[2] = None
            self.timer = None

    def quit(self) -> None:
        if self.child is None:
            return
        self.child.quit()
        self._stop_timer()
        self.child = None

    def fire(self) -> None:  # the time is up
        self.timer = None
        if self.child is not None:
            self.child.quit()
        self.child = None
        self.parent.evaluate_false(self, True)


class _SpawnCatcher:
    """Parent of a state 'every' is starting: notes whether it turned true during start."""
    __slots__ = ("fired",)
    keeps_filters = False
    is_not = False

    def __init__(self) -> None:
        self.fired = False

    def evaluate_true(self, match, src, quitted) -> None:
        self.fired = True

    def evaluate_false(self, src, restartable) -> None:
        pass


class _EveryState(_State):
    __slots__ = ("begin", "spawned")
    keeps_filters = True

    def start(self, begin: dict) -> None:
        self.begin = dict(begin)
        self.spawned = []
        self._spawn()

    def _spawn(self) -> None:
        catcher = _SpawnCatcher()
        child = _new_state(self.node.children[0], catcher, self.op)
        child.start(self.begin)
        if catcher.fired:
            child.quit()
        else:
            child.parent = self
            self.spawned.append(child)

    def evaluate_true(self, match, src, quitted) -> None:
        if quitted and src in self.spawned:
            self.spawned.remove(src)
        if not src.is_filter:
            self._spawn()
        self.parent.evaluate_true(match, self, False)

    def evaluate_false(self, src, restartable) -> None:
        src.quit()
        if src in self.spawned:
            self.spawned.remove(src)
        if not restartable:
            self.parent.evaluate_false(self, False)
            return
        self._spawn()

    def quit(self) -> None:
        for c in list(self.spawned):
            c.quit()


class _NotState(_State):
    __slots__ = ("child",)
    is_not = True

    def start(self, begin: dict) -> None:
        self.child = _new_state(self.node.children[0], self, self.op)
        self.child.start(begin)
        self.parent.evaluate_true(begin, self, False)

    def evaluate_true(self, match, src, quitted) -> None:
        if quitted:
            self.child = None
            self.parent.evaluate_false(self, True)

    def evaluate_false(self, src, restartable) -> None:
        pass

    def quit(self) -> None:
        if self.child is not None:
            self.child.quit()


class _AndState(_State):
    __slots__ = ("active", "events")

    def start(self, begin: dict) -> None:
        kids = self.node.children
        self.active = [_new_state(k, self, self.op) for k in kids]
        self.events = [[] for _ in kids]
        for c in list(self.active):
            if c is not None:
                c.start(begin)

    def _index(self, src):
        for i, c in enumerate(self.active):
            if c is src:
                return i
        return None

    def evaluate_true(self, match, src, quitted) -> None:
        i = self._index(src)
        if quitted and i is not None:
            self.active[i] = None
        if self.events is None or i is None:
            return
        events = self.events
        if any(not events[j] for j in range(len(events)) if j != i):
            events[i].append(match)
            return
        others_quit = all(self.active[j] is None for j in range(len(events)) if j != i)
        has_active = any(c is not None for c in self.active)
        if not others_quit:
            events[i].append(match)
        results = [dict(match)]
        for j, lst in enumerate(events):
            if j == i:
                continue
            results = [{**r, **{k: v for k, v in m.items() if v is not None}}
                       for r in results for m in lst]
        finished = not has_active or all(c is None or c.is_not for c in self.active)
        if finished:
            self._quit_all()
        for r in results:
            self.parent.evaluate_true(r, self, finished)

    def evaluate_false(self, src, restartable) -> None:
        i = self._index(src)
        if i is not None:
            self.active[i] = None
            if self.events is not None:
                self.events[i] = []
        self._quit_all()
        self.parent.evaluate_false(self, restartable)

    def _quit_all(self) -> None:
        for c in self.active:
            if c is not None:
                c.quit()
        self.active = [None] * len(self.active)
        self.events = None

    def quit(self) -> None:
        if self.events is None:
            return
        self._quit_all()


class _OrState(_State):
    __slots__ = ("kids", "done")

    def start(self, begin: dict) -> None:
        self.done = False
        self.kids = [_new_state(k, self, self.op) for k in self.node.children]
        for c in list(self.kids):
            c.start(begin)
            if self.done:
                break

    def evaluate_true(self, match, src, quitted) -> None:
        if quitted:
            self.kids = [None if c is src else c for c in self.kids]
            self._quit_all()
        self.parent.evaluate_true(match, self, quitted)

    def evaluate_false(self, src, restartable) -> None:
        self.kids = [None if c is src else c for c in self.kids]
        if all(c is None for c in self.kids):
            self.parent.evaluate_false(self, True)

    def _quit_all(self) -> None:
        for c in self.kids:
            if c is not None:
                c.quit()
        self.kids = [None] * len(self.kids)
        self.done = True

    def quit(self) -> None:
        self._quit_all()


class _FollowedByState(_State):
    __slots__ = ("states",)

    def start(self, begin: dict) -> None:
        self.states = {}
        c = _new_state(self.node.children[0], self, self.op)
        self.states[c] = 0
        c.start(begin)

    def evaluate_true(self, match, src, quitted) -> None:
        index = self.states.get(src)
        if quitted:
            self.states.pop(src, None)
        if index is None:
            return
        kids = self.node.children
        if index == len(kids) - 1:
            self.parent.evaluate_true(match, self, not self.states)
        else:
            c = _new_state(kids[index + 1], self, self.op)
            self.states[c] = index + 1
            c.start(match)

    def evaluate_false(self, src, restartable) -> None:
        src.quit()
        self.states.pop(src, None)
        if not self.states:
            self.parent.evaluate_false(self, True)

    def quit(self) -> None:
        for c in list(self.states):
            c.quit()
        self.states.clear()


_STATES = {"filter": _FilterState, "interval": _IntervalState, "guard": _GuardState,
           "every": _EveryState, "not": _NotState, "and": _AndState, "or": _OrState,
           "followed_by": _FollowedByState}


class _Root:
    """Top of the state tree: hands each match of the whole pattern to the operator."""
    __slots__ = ("op", "top")
    keeps_filters = False
    is_not = False

    def __init__(self, op: "PatternOperator") -> None:
        self.op = op
        self.top = None

    def start(self) -> None:
        self.top = _new_state(self.op.plan.root, self, self.op)
        self.top.start({})

    def evaluate_true(self, match, src, quitted) -> None:
        if quitted:
            self.top = None
        self.op._matches.append(match)

    def evaluate_false(self, src, restartable) -> None:
        if self.top is not None:
            self.top.quit()
            self.top = None


# ================================================================ runtime: operator

class _Inlet(Inlet):
    """Route entry for one event type (the engine calls ``_operator.on_events``)."""
    __slots__ = ("_operator", "_target", "_type")

    def __init__(self, target: "PatternOperator", type_name: str) -> None:
        self._operator = self
        self._target = target
        self._type = type_name

    def on_events(self, events) -> None:
        self._target.on_typed_events(self._type, events)


class PatternOperator(Operator):
    """Runs one pattern statement: filters by event type, timers, the state tree.

    Filters are kept per event type in start order; an equality filter on a tag
    (``carNumber = a.carNumber``) is also indexed by its key, so an event only meets the
    filters waiting for its key. Timers are kept in a heap ordered by (due time, start
    order) with one engine schedule per distinct due time.
    """

    def __init__(self, stmt: "Statement", plan: PatternPlan, engine: "EPLEngine") -> None:
        self.stmt = stmt
        self.plan = plan
        self.engine = engine
        self.stopped = False
        self._plain: dict[str, dict[int, _FilterState]] = {t: {} for t in plan.event_types}
        self._indexed: dict[str, dict[int, dict]] = {t: {} for t in plan.event_types}
        self._seq = 0
        self._slot = 0
        self._timers: list = []     # heap of [due, slot, state | None]
        self._dues: set[int] = set()
        self._matches: list = []
        self.root = _Root(self)
        self.root.start()
        self._matches.clear()  # matches at statement start reach no listener (as in Esper)

    # -- engine interface

    def inlets(self):
        return tuple((t, _Inlet(self, t)) for t in self.plan.event_types)

    def on_events(self, events) -> None:
        self.on_typed_events(self.plan.event_type, events)

    def on_typed_events(self, type_name: str, events) -> None:
        self.stmt.events_in += len(events)
        plain = self._plain[type_name]
        indexed = self._indexed[type_name]
        for ev in events:
            if indexed:
                cands = list(plain.items())
                sources = 1 if cands else 0
                for prop, buckets in indexed.values():
                    try:
                        bucket = buckets.get(ev.get(prop))
                    except TypeError:  # an unhashable value equals no key
                        bucket = None
                    if bucket:
                        cands.extend(bucket.items())
                        sources += 1
                if sources > 1:
                    cands.sort(key=lambda kv: kv[0])
                states = [s for _, s in cands]
            elif plain:
                states = list(plain.values())
            else:
                continue
            for s in states:
                s.on_event(ev)
            if self._matches:
                self._flush()

    def stop(self) -> None:
        self.stopped = True

    # -- filters

    def _register(self, fs: _FilterState) -> None:
        fs.active = True
        fs.seq = self._seq
        self._seq += 1
        fs.key = None
        idx = fs.node.index
        t = fs.node.event_type
        if idx is not None:
            try:
                key = idx[1](TagRow(fs.begin, None, fs.node.names), None)
                hash(key)
            except TypeError:
                key = None
            if key is not None:
                fs.key = (key,)
                per_node = self._indexed[t].setdefault(fs.node.nid, (idx[0], {}))
                per_node[1].setdefault(key, {})[fs.seq] = fs
                return
        self._plain[t][fs.seq] = fs

    def _unregister(self, fs: _FilterState) -> None:
        fs.active = False
        t = fs.node.event_type
        if fs.key is None:
            self._plain[t].pop(fs.seq, None)
            return
        per_node = self._indexed[t].get(fs.node.nid)
        if per_node is not None:
            bucket = per_node[1].get(fs.key[0])
            if bucket is not None:
                bucket.pop(fs.seq, None)
                if not bucket:
                    del per_node[1][fs.key[0]]
                    if not per_node[1]:
                        del self._indexed[t][fs.node.nid]

    # -- timers

    def _alloc_slot(self) -> int:
        self._slot += 1
        return self._slot

    def _add_timer(self, due: int, slot: int, state) -> list:
        entry = [due, slot, state]
        heapq.heappush(self._timers, entry)
        if due not in self._dues:
            self._dues.add(due)
            self.engine._schedule(due, self._on_time)
        return entry

    def _on_time(self, now: int) -> None:
        self._dues.discard(now)
        if self.stopped:
            return
        timers = self._timers
        while timers and timers[0][0] <= now:
            entry = heapq.heappop(timers)
            state = entry[2]
            if state is not None:
                entry[2] = None
                state.fire()
        if self._matches:
            self._flush()

    # -- output

    def _flush(self) -> None:
        matches, self._matches = self._matches, []
        plan = self.plan
        names = plan.names
        where = plan.where
        pairs = tuple(zip(plan.columns, plan.select))
        rows = []
        for m in matches:
            row = TagRow(m, None, names)
            if where is not None and where(row, None) is not True:
                continue
            rows.append({c: f(row, None) for c, f in pairs})
        if rows and not self.stopped:
            self.stmt._emit(rows, None)

    # -- snapshot (protocol of squall.cep.snapshot)

    def schedule_owners(self) -> dict:
        return {("pattern",): self}

    def snapshot_state(self, events: EventTable) -> dict:
        ref = events.ref

        def match(m):
            return [[k, ref(v)] for k, v in m.items()]

        def dump(s):
            if s is None:
                return None
            k = s.node.kind
            d = {"n": s.node.nid}
            if k == "filter":
                d.update(begin=match(s.begin), active=s.active, seq=s.seq)
            elif k == "interval":
                d.update(begin=match(s.begin), timer=None if s.timer is None else s.timer[:2])
            elif k == "guard":
                d.update(begin=match(s.begin), child=dump(s.child), slot=s.slot,
                         timer=None if s.timer is None else s.timer[:2])
            elif k == "every":
                d.update(begin=match(s.begin), spawned=[dump(c) for c in s.spawned])
            elif k == "not":
                d.update(child=dump(s.child))
            elif k == "and":
                d.update(active=[dump(c) for c in s.active],
                         events=None if s.events is None else [[match(m) for m in lst]
                                                               for lst in s.events])
            elif k == "or":
                d.update(kids=[dump(c) for c in s.kids], done=s.done)
            elif k == "followed_by":
                d.update(states=[[dump(c), i] for c, i in s.states.items()])
            return d

        return {"top": dump(self.root.top), "seq": self._seq, "slot": self._slot,
                "dues": sorted(self._dues)}

    def restore_state(self, state: dict, events: list) -> None:
        # Drop what the fresh start registered; rebuild the saved tree without starting it.
        for t in self._plain:
            self._plain[t].clear()
            self._indexed[t].clear()
        self._timers = []
        filters, timers = [], []
        nodes = self.plan.nodes

        def match(pairs):
            return {k: deref(events, i) for k, i in pairs}

        def load(d, parent):
            if d is None:
                return None
            node = nodes[d["n"]]
            s = _STATES[node.kind](node, parent, self)
            k = node.kind
            if k == "filter":
                s.begin = match(d["begin"])
                s.active = False
                if d["active"]:
                    filters.append((d["seq"], s))
            elif k == "interval":
                s.begin = match(d["begin"])
                s.timer = None
                if d["timer"] is not None:
                    timers.append((d["timer"], s))
            elif k == "guard":
                s.begin = match(d["begin"])
                s.slot = d["slot"]
                s.child = load(d["child"], s)
                s.timer = None
                if d["timer"] is not None:
                    timers.append((d["timer"], s))
            elif k == "every":
                s.begin = match(d["begin"])
                s.spawned = [load(c, s) for c in d["spawned"]]
            elif k == "not":
                s.child = load(d["child"], s)
            elif k == "and":
                s.active = [load(c, s) for c in d["active"]]
                s.events = None if d["events"] is None else [[match(m) for m in lst]
                                                             for lst in d["events"]]
            elif k == "or":
                s.kids = [load(c, s) for c in d["kids"]]
                s.done = d["done"]
            elif k == "followed_by":
                s.states = {}
                for c, i in d["states"]:
                    s.states[load(c, s)] = i
            return s

        self.root.top = load(state["top"], self.root)
        for seq, fs in sorted(filters, key=lambda x: x[0]):
            self._seq = seq
            self._register(fs)
        self._seq = state["seq"]
        self._slot = state["slot"]
        for (due, slot), s in timers:
            entry = [due, slot, s]
            s.timer = entry
            heapq.heappush(self._timers, entry)
        self._dues = set(state["dues"])  # the engine restores the matching schedules
        self._matches = []
