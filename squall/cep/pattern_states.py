"""Pattern states: the running side of a pattern, one state object per active instance
of a :class:`~squall.cep.pattern_compile.PatternNode` (a followed-by starts its next
child's state on each match, ``every`` restarts its child, and so on; see
:mod:`squall.cep.pattern` for the semantics).

A state reports to its parent that it turned true (with the tags matched so far and
whether it is finished) or permanently false; :class:`RootState` hands each match of the
whole pattern to the operator. The operator (``op``, a
:class:`~squall.cep.pattern_operator.PatternOperator`) keeps the filters and timers the
states register: ``register_filter``/``unregister_filter``, ``alloc_slot``,
``add_timer``, ``pending_matches`` and the engine time.

Semantics: Esper 8 reference, 7 "EPL Reference: Patterns".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from squall.cep.pattern_compile import TagRow

if TYPE_CHECKING:
    from squall.cep.pattern_compile import PatternNode, PatternProgram

__all__ = ["STATES", "new_state", "FilterState", "RootState", "PatternHost"]


class PatternHost(Protocol):
    """What the states need of the operator that runs them
    (:class:`~squall.cep.pattern_operator.PatternOperator`)."""

    plan: PatternProgram
    engine: Any                     # its ``current_time_ms``
    pending_matches: list

    def register_filter(self, fs: FilterState) -> None: ...
    def unregister_filter(self, fs: FilterState) -> None: ...
    def alloc_slot(self) -> int: ...
    def add_timer(self, due: int, slot: int, state: Any) -> list: ...
    def cancel_timer(self, entry: list) -> None: ...
    def may_start(self, match: dict) -> bool: ...


# Each state: start(begin), quit(), and (for inner states) evaluate_true(match, src,
# quitted) / evaluate_false(src, restartable) called by its children. ``keeps_filters``:
# a filter child keeps matching after a match (only under 'every').

class _State:
    __slots__ = ("node", "parent", "op")
    keeps_filters = False
    is_not = False
    is_filter = False

    def __init__(self, node: PatternNode, parent, op: PatternHost) -> None:
        self.node = node
        self.parent = parent
        self.op = op


def new_state(node: PatternNode, parent, op) -> _State:
    return STATES[node.kind](node, parent, op)


class FilterState(_State):
    __slots__ = ("begin", "active", "seq", "key")
    is_filter = True

    def start(self, begin: dict) -> None:
        self.begin = begin
        self.op.register_filter(self)

    def quit(self) -> None:
        if self.active:
            self.op.unregister_filter(self)

    def on_event(self, ev) -> None:
        if not self.active or not self.node.matches(ev, self.begin):
            return
        match = dict(self.begin)
        if self.node.tag is not None:
            match[self.node.tag] = ev
        quitted = not self.parent.keeps_filters
        if quitted:
            self.op.unregister_filter(self)
        self.parent.evaluate_true(match, self, quitted)


class _IntervalState(_State):
    __slots__ = ("begin", "timer")

    def start(self, begin: dict) -> None:
        self.begin = begin
        self.timer = None
        slot = self.op.alloc_slot()
        if self.node.delay_ms <= 0:
            self.parent.evaluate_true(begin, self, True)
        else:
            due = self.op.engine.current_time_ms + self.node.delay_ms
            self.timer = self.op.add_timer(due, slot, self)

    def fire(self) -> None:
        self.timer = None
        self.parent.evaluate_true(self.begin, self, True)

    def quit(self) -> None:
        if self.timer is not None:
            self.op.cancel_timer(self.timer)
            self.timer = None


class _TimerAtState(_IntervalState):
    """``timer:at(crontab)``: true at the first time after its start that the crontab
    matches (Esper 8 reference, 7.6.4); fires and quits as ``timer:interval`` does."""
    __slots__ = ()

    def start(self, begin: dict) -> None:
        self.begin = begin
        self.timer = None
        slot = self.op.alloc_slot()
        due = self.node.crontab.next_at_offset(self.op.engine.current_time_ms)
        if due is not None:     # a schedule that matches nothing never fires
            self.timer = self.op.add_timer(due, slot, self)


class _GuardState(_State):
    __slots__ = ("begin", "child", "timer", "slot")

    def start(self, begin: dict) -> None:
        self.begin = begin
        self.timer = None
        self.slot = self.op.alloc_slot()   # the guard's timer is created before its child
        self.child = new_state(self.node.children[0], self, self.op)
        self.child.start(begin)
        due = self.op.engine.current_time_ms + self.node.delay_ms
        self.timer = self.op.add_timer(due, self.slot, self)

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
            self.op.cancel_timer(self.timer)
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
        child = new_state(self.node.children[0], catcher, self.op)
        child.start(self.begin)
        if catcher.fired:
            child.quit()
        else:
            child.parent = self
            self.spawned.append(child)

    def evaluate_true(self, match, src, quitted) -> None:
        if quitted and src in self.spawned:
            self.spawned.remove(src)
        # A child that stays active (not quitted) makes the restart a new instance.
        if not src.is_filter and (quitted or self.op.may_start(match)):
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


class _EveryDistinctState(_State):
    """``every-distinct(exprs [, period]) X``: ``every``, but a match whose distinct values
    its instance saw before is dropped. Each instance of ``X`` has its own set of seen
    values; the restart after a match inherits a copy of it (Esper's
    EvalEveryDistinctState[ExpireKey]Node). With a period, a value is forgotten
    ``period`` after it was first seen; forgetting happens at the next match (the values
    are kept in the order they were seen, so the oldest come first)."""
    __slots__ = ("begin", "spawned")
    keeps_filters = True

    def start(self, begin: dict) -> None:
        self.begin = dict(begin)
        self.spawned = {}           # child state -> {distinct key: expiry time or None}
        self._spawn({})

    def _spawn(self, seen: dict) -> None:
        catcher = _SpawnCatcher()
        child = new_state(self.node.children[0], catcher, self.op)
        child.start(self.begin)
        if catcher.fired:
            child.quit()
        else:
            child.parent = self
            self.spawned[child] = seen

    def _key(self, match):
        row = TagRow(match, None, self.node.names)
        key = tuple([f(row, None) for f in self.node.exprs])
        try:
            hash(key)
        except TypeError:       # an unhashable value (a list) is compared by its text
            key = repr(key)
        return key

    def evaluate_true(self, match, src, quitted) -> None:
        seen = self.spawned.get(src)
        dup = False
        if seen is not None:
            key = self._key(match)
            expiry = self.node.delay_ms
            if expiry is None:
                dup = key in seen
                seen.setdefault(key, None)
            else:
                now = self.op.engine.current_time_ms
                for k, due in list(seen.items()):
                    if now < due:
                        break
                    del seen[k]
                dup = key in seen
                if not dup:
                    seen[key] = now + expiry
        if quitted:
            self.spawned.pop(src, None)
        if not src.is_filter and (quitted or self.op.may_start(match)):
            self._spawn(dict(seen) if seen is not None else {})
        if not dup:
            self.parent.evaluate_true(match, self, False)

    def evaluate_false(self, src, restartable) -> None:
        src.quit()
        self.spawned.pop(src, None)
        if not restartable:
            self.parent.evaluate_false(self, False)
            return
        self._spawn({})

    def quit(self) -> None:
        for c in list(self.spawned):
            c.quit()


class _RepeatState(_State):
    """``[low:high] X until Y`` (and ``[n] X``, ``X until Y``): counts the matches of
    ``X``, restarting it after each, and collects the events of its tags into arrays.
    ``[n] X`` is true at the n-th match; otherwise ``Y`` ends it: true when ``X`` matched
    at least ``low`` times, else permanently false. At ``high`` matches ``X`` is no longer
    restarted. Esper's EvalMatchUntilStateNode."""
    __slots__ = ("begin", "matcher", "until", "count", "arrays")

    def start(self, begin: dict) -> None:
        self.begin = dict(begin)
        self.count = 0
        self.arrays = {}
        self.until = self.matcher = None
        kids = self.node.children
        # The until-expression starts first (Esper does so): an event that both ends the
        # repeat and matches X is not counted.
        if len(kids) > 1:
            self.until = new_state(kids[1], self, self.op)
            self.until.start(self.begin)
            if self.arrays is None:     # done while starting
                return
        self.matcher = new_state(kids[0], self, self.op)
        self.matcher.start(self.begin)

    def _consolidated(self, match: dict) -> dict:
        out = dict(match)
        for tag, events in self.arrays.items():
            out[tag] = list(events)
        return out

    def evaluate_true(self, match, src, quitted) -> None:
        if self.arrays is None:
            return
        node = self.node
        is_matcher = src is self.matcher
        if is_matcher:
            self.count += 1
            for tag in node.arrayed:
                v = match.get(tag)
                if v is not None:
                    lst = self.arrays.setdefault(tag, [])
                    if type(v) is list:
                        lst.extend(v)
                    else:
                        lst.append(v)
            if quitted:
                self.matcher = None
        elif quitted:
            self.until = None
        if is_matcher:
            if node.low is not None and node.low == node.high and self.count == node.low:
                # tightly bound ([n] X, with or without until): true at the n-th match
                out = self._consolidated(match)
                self._quit_all()
                self.parent.evaluate_true(out, self, True)
            else:
                restart = node.high is None or node.high > self.count
                if self.matcher is None:
                    if restart:
                        self.matcher = new_state(node.children[0], self, self.op)
                        self.matcher.start(self.begin)
                elif not restart:
                    self.matcher.quit()
                    self.matcher = None
            return
        out = self._consolidated(match)
        enough = node.low is None or self.count >= node.low
        self._quit_all()
        if enough:
            self.parent.evaluate_true(out, self, True)
        else:
            self.parent.evaluate_false(self, True)

    def evaluate_false(self, src, restartable) -> None:
        # Esper quits only the child that turned false; the parent quits the rest.
        if src is self.matcher:
            self.matcher = None
        elif src is self.until:
            self.until = None
        src.quit()
        self.parent.evaluate_false(self, True)

    def _quit_all(self) -> None:
        for c in (self.matcher, self.until):
            if c is not None:
                c.quit()
        self.matcher = self.until = None
        self.arrays = None

    def quit(self) -> None:
        if self.arrays is not None:
            self._quit_all()


class _WhileState(_State):
    """``X while (expr)``: each match of ``X`` passes when ``expr`` is true over its tags;
    false ends ``X`` (permanently false), null drops the match only. Esper's
    EvalGuardStateNode with the expression guard."""
    __slots__ = ("child",)

    def start(self, begin: dict) -> None:
        self.child = new_state(self.node.children[0], self, self.op)
        self.child.start(begin)

    def evaluate_true(self, match, src, quitted) -> None:
        had_quit = self.child is None
        if quitted:
            self.child = None
        if had_quit:
            return
        ok = self.node.exprs[0](TagRow(match, None, self.node.names), None)
        if ok is True:
            self.parent.evaluate_true(match, self, quitted)
        elif ok is not None:
            if self.child is not None:
                self.child.quit()
                self.child = None
            self.parent.evaluate_false(self, True)

    def evaluate_false(self, src, restartable) -> None:
        self.child = None
        self.parent.evaluate_false(self, True)

    def quit(self) -> None:
        if self.child is not None:
            self.child.quit()
            self.child = None


class _NotState(_State):
    __slots__ = ("child",)
    is_not = True

    def start(self, begin: dict) -> None:
        self.child = new_state(self.node.children[0], self, self.op)
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
        self.active = [new_state(k, self, self.op) for k in kids]
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
        self.kids = [new_state(k, self, self.op) for k in self.node.children]
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
        c = new_state(self.node.children[0], self, self.op)
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
        elif quitted or self.op.may_start(match):  # src still waiting: a new instance
            c = new_state(kids[index + 1], self, self.op)
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


STATES = {"filter": FilterState, "interval": _IntervalState, "guard": _GuardState,
           "every": _EveryState, "not": _NotState, "and": _AndState, "or": _OrState,
           "followed_by": _FollowedByState, "timer_at": _TimerAtState,
           "every_distinct": _EveryDistinctState, "repeat": _RepeatState, "while": _WhileState}


class RootState:
    """Top of the state tree: hands each match of the whole pattern to the operator."""
    __slots__ = ("op", "top")
    keeps_filters = False
    is_not = False

    def __init__(self, op: PatternHost) -> None:
        self.op = op
        self.top = None

    def start(self) -> None:
        self.top = new_state(self.op.plan.root, self, self.op)
        self.top.start({})

    def evaluate_true(self, match, src, quitted) -> None:
        if quitted:
            self.top = None
        self.op.pending_matches.append(match)

    def evaluate_false(self, src, restartable) -> None:
        if self.top is not None:
            self.top.quit()
            self.top = None
