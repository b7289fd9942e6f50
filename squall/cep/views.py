"""Data windows (Esper "views"): what a stream keeps, and the insert/remove streams it posts.

Semantics: Esper 8 reference, 14 "EPL Reference: Data Windows" (and the view
descriptions in 5.4.1 "Specifying data windows"). Each data window below posts, for
each arriving event or timer, *new data* (events entering) and *old data* (events
leaving); the statement's result-set processor turns those into insert- and
remove-stream rows.

============================  ====================================================
view                          posts
============================  ====================================================
``length(n)``                 each event as new; when more than n are held, the
                              oldest as old (sliding)
``time(p)``                   each event as new; events held for p as old when p has
                              passed since their arrival (``arrival + p <= now``)
``ext_timed(expr, p)``        like time, on the events' own timestamp ``expr``: an
                              event older than ``ts - p`` (ts of the arriving event)
                              leaves when that event arrives; events are kept in
                              arrival order and expire from the oldest arrival on
``length_batch(n)``           every n events: the batch as new, the prior batch as old
``time_batch(p [, ref]        see :mod:`squall.cep.operators` (same schedule);
[, flags])``                  ``ref``: batch ends at ``ref + k * p``; flags
                              ``force_update``, ``start_eager`` (:class:`TimeBatch`)
``ext_timed_batch(expr, p     batches on the events' timestamps: the first event's
[, reference])``              timestamp (or ``reference``, aligned) starts a batch; an
                              event with ``ts >= start + p`` posts the batch as new
                              and the prior batch as old, and starts the batch that
                              holds ``ts`` (still aligned to the first start);
                              events with older timestamps join the current batch
``unique(expr, ...)``         each event as new; the prior event with the same key
                              as old
``lastevent()``               each event as new; the prior event as old
``firstevent()``              the first event ever as new; nothing after
``keepall()``                 each event as new; never old
``groupwin(expr, ...)#w...``  a separate window (or intersection) ``w`` per key
============================  ====================================================

A stream without any view has no data window (:class:`NoWindow`): each event is posted
as new data when it arrives and is not kept; nothing is ever posted as old data.

Several data windows on one stream (not counting a leading ``groupwin``) form an
*intersection*: each arriving event enters every window, and an event leaving any of
them leaves all of them; what leaves is posted once as old data, and an arriving event
that immediately left is not posted as new (Esper 8 reference, 14.1 "A Note on Data
Window Intersection"). Namespaces of the dotted form: ``win:`` length, length_batch,
time, time_batch, ext_timed, ext_timed_batch, keepall; ``std:`` unique, groupwin,
lastevent, firstevent. A view without parameters may be written without parentheses
(``#lastevent``, ``.std:lastevent``), as in Esper.

An intersection may hold one ``time_batch`` or ``length_batch`` window (Esper's batch
intersection, :class:`BatchIntersection`): the batch posts only the events the other
windows still hold. Known difference: an ``ext_timed_batch`` window in an intersection is
rejected (Esper posts the events other windows remove from its batch at once).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError

__all__ = ["WindowSpec", "compile_views", "BATCH_KINDS", "NAMESPACES"]

NAMESPACES = {
    "win": {"length", "length_batch", "time", "time_batch", "ext_timed", "ext_timed_batch", "keepall"},
    "std": {"unique", "groupwin", "lastevent", "firstevent"},
}
_ALL = set().union(*NAMESPACES.values())
BATCH_KINDS = frozenset({"length_batch", "time_batch", "ext_timed_batch"})


@dataclass(frozen=True)
class WindowSpec:
    """One data window: ``kind`` (lower-case view name), ``size`` (events or msec),
    ``key`` (getter for unique/groupwin/ext_timed timestamp), ``reference`` (msec),
    ``flags`` (time_batch: ``force_update``, ``start_eager``)."""
    kind: str
    size: int | None = None
    key: Callable[[dict], Any] | None = None
    reference: int | None = None
    flags: frozenset = frozenset()


# ------------------------------------------------------------ compiling view specs

def _err(view: A.View, msg: str) -> EPLCompileError:
    return EPLCompileError(f"Error in view '{view.name}', {msg}", line=view.line, column=view.column)


def _positive_int(view: A.View, what: str) -> int:
    p = view.params[0] if len(view.params) == 1 else None
    if not (isinstance(p, A.Literal) and isinstance(p.value, int) and not isinstance(p.value, bool)):
        raise _err(view, f"{what} view requires a single integer-type parameter")
    if p.value < 1:
        raise _err(view, f"{what} view requires a positive integer for size but received {p.value}")
    return p.value


def _msec(view: A.View, p, what: str) -> int:
    if isinstance(p, A.TimePeriod):
        ms = p.msec
    elif isinstance(p, A.Literal) and isinstance(p.value, (int, float)) and not isinstance(p.value, bool):
        ms = p.value * 1000  # a plain number is seconds, as in Esper
    else:
        raise _err(view, f"{what} view requires a time period such as '30 sec' or a number of "
                   f"seconds, got '{_param_text(p)}'")
    if ms < 1:
        raise _err(view, f"{what} view requires a time period of at least 1 msec")
    return int(round(ms))


def _param_text(p) -> str:
    if isinstance(p, A.TimePeriod):
        return " ".join(f"{n} {u}" for n, u in p.parts)
    return A.expr_text(p)


def _exprs(view: A.View, compile_expr, what: str):
    if not view.params or any(isinstance(p, A.TimePeriod) for p in view.params):
        raise _err(view, f"{what} view requires one or more expressions providing key values")
    getters = [compile_expr(p) for p in view.params]
    if len(getters) == 1:
        return getters[0]
    gs = tuple(getters)
    return lambda ev: tuple([g(ev) for g in gs])


def _spec(view: A.View, compile_expr) -> WindowSpec:
    name = view.name.lower()
    if view.namespace is not None:
        ns = view.namespace.lower()
        if name not in NAMESPACES.get(ns, ()):
            raise EPLCompileError(
                f"View name '{view.namespace}:{view.name}' is not a known view name",
                line=view.line, column=view.column)
    elif name not in _ALL:
        raise EPLCompileError(
            f"Unknown or unsupported view '{view.name}': view name '{view.name}' is not a known "
            f"view name (supported: {', '.join(sorted(_ALL))})", line=view.line, column=view.column)
    n = len(view.params)
    if name in ("length", "length_batch"):
        return WindowSpec(name, _positive_int(view, "Length" if name == "length" else "Length batch"))
    if name == "time":
        if n != 1:
            raise _err(view, "Time view requires a single time period parameter")
        return WindowSpec(name, _msec(view, view.params[0], "Time"))
    if name == "time_batch":
        return _time_batch_spec(view)
    if name in ("ext_timed", "ext_timed_batch"):
        what = "Externally-timed" + (" batch" if name == "ext_timed_batch" else "")
        if n not in ((2,) if name == "ext_timed" else (2, 3)) or isinstance(view.params[0], A.TimePeriod):
            raise _err(view, f"{what} view requires a timestamp expression and a time period" +
                       (" and an optional reference point" if name == "ext_timed_batch" else ""))
        ref = None
        if n == 3:
            p = view.params[2]
            if not (isinstance(p, A.Literal) and isinstance(p.value, int) and not isinstance(p.value, bool)):
                raise _err(view, f"{what} view requires a long-typed reference point, got '{_param_text(p)}'")
            ref = p.value
        return WindowSpec(name, _msec(view, view.params[1], what), compile_expr(view.params[0]), ref)
    if name in ("unique", "groupwin"):
        return WindowSpec(name, key=_exprs(view, compile_expr, "Unique" if name == "unique" else "Group-by"))
    if n:
        raise _err(view, f"'{name}' view takes no parameters")
    return WindowSpec(name)


_TIME_BATCH_FLAGS = ("force_update", "start_eager")


def _time_batch_spec(view: A.View) -> WindowSpec:
    """``time_batch(period [, reference] [, flags])``: ``reference`` a whole number of
    msec, ``flags`` a string of comma-separated keywords (any case)."""
    params = list(view.params)
    if not 1 <= len(params) <= 3:
        raise _err(view, "Time batch view requires a time period, an optional reference point "
                   "and optional flags")
    flags: frozenset = frozenset()
    last = params[-1]
    if len(params) > 1 and isinstance(last, A.Literal) and isinstance(last.value, str):
        params.pop()
        words = [w.strip().lower() for w in last.value.split(",") if w.strip()]
        for w in words:
            if w not in _TIME_BATCH_FLAGS:
                raise _err(view, f"Time-batch encountered an invalid keyword '{w}', valid control "
                           f"keywords are: {','.join(_TIME_BATCH_FLAGS)}")
        flags = frozenset(words)
    ref = None
    if len(params) == 2:
        p = params[1]
        if not (isinstance(p, A.Literal) and isinstance(p.value, int) and not isinstance(p.value, bool)):
            raise _err(view, "Time-Batch view requires a Long-typed reference point in msec as a "
                       f"second parameter, got '{_param_text(p)}'")
        ref = p.value
    elif len(params) > 2:
        raise _err(view, "Time batch view requires a time period, an optional reference point "
                   "and optional flags")
    return WindowSpec("time_batch", _msec(view, params[0], "Time batch"), reference=ref, flags=flags)


def compile_views(stream: A.StreamDef, compile_expr) -> tuple[tuple[WindowSpec, ...], WindowSpec | None]:
    """Validate a stream's views -> (data windows of the intersection, groupwin or None);
    ``((), None)`` for a stream without a data window.

    ``compile_expr(expr) -> getter`` compiles a view parameter expression.

    Raises:
        EPLCompileError: unknown view, bad parameters, groupwin not first or alone,
            several batch windows, an ext_timed_batch window in an intersection.
    """
    if not stream.views:
        return (), None
    specs = [_spec(v, compile_expr) for v in stream.views]
    group = None
    views = list(zip(stream.views, specs))
    for i, (v, s) in enumerate(views):
        if s.kind == "groupwin" and i > 0:
            raise EPLCompileError("Error in view 'groupwin', the 'groupwin' declaration must occur in "
                                  "the first position", line=v.line, column=v.column)
    if specs[0].kind == "groupwin":
        group = specs[0]
        if len(specs) == 1:
            v = stream.views[0]
            raise EPLCompileError("Invalid use of the 'groupwin' view, the view requires one or more "
                                  "child views to group, or consider using the group-by clause",
                                  line=v.line, column=v.column)
        views = views[1:]
    batches = [(v, s) for v, s in views if s.kind in BATCH_KINDS]
    if len(batches) > 1:
        v = batches[1][0]
        raise EPLCompileError("Cannot combine multiple batch data windows into an intersection",
                              line=v.line, column=v.column)
    if batches and len(views) > 1 and batches[0][1].kind == "ext_timed_batch":
        v = batches[0][0]
        raise EPLCompileError(
            f"An externally-timed batch window ('{v.name}') in an intersection with other data "
            "windows is not supported (time_batch and length_batch are)",
            line=v.line, column=v.column)
    return tuple(s for _, s in views), group


# ------------------------------------------------------------ sliding windows
#
# insert(ev) -> list of events that left because ev arrived, or None when the window
# refuses ev (firstevent); remove(ev) forgets ev if held (intersections); timed
# windows report expiries through ``on_expire(window, events)``.

class _Length:
    __slots__ = ("size", "buf")
    timed = False

    def __init__(self, spec: WindowSpec, host) -> None:
        self.size = spec.size
        self.buf = deque()

    def insert(self, ev):
        buf = self.buf
        buf.append(ev)
        if len(buf) > self.size:
            return [buf.popleft()]
        return []

    def remove(self, ev) -> None:
        _remove_identity(self.buf, ev)

    def dump(self, tab):
        return tab.refs(self.buf)

    def load(self, data, events) -> None:
        self.buf = deque(events[i] for i in data)


def _remove_identity(buf: deque, ev) -> None:
    for i, x in enumerate(buf):
        if x is ev:
            del buf[i]
            return


class _Time:
    """``time(p)``: a deque of (arrival ms, event); one pending timer at a time."""
    __slots__ = ("size", "buf", "host", "scheduled", "on_expire", "slot")
    timed = True

    def __init__(self, spec: WindowSpec, host) -> None:
        self.size = spec.size
        self.buf = deque()
        self.host = host
        self.scheduled = None   # due time of the pending timer
        self.on_expire = None

    def insert(self, ev):
        now = self.host.engine.current_time_ms
        self.buf.append((now, ev))
        if self.scheduled is None:
            self._schedule(now + self.size)
        return []

    def _schedule(self, due: int) -> None:
        self.scheduled = due
        self.host.schedule(due, self)

    def on_timer(self, now: int) -> None:
        if self.scheduled != now:
            return
        self.scheduled = None
        buf, size = self.buf, self.size
        out = []
        while buf and buf[0][0] + size <= now:
            out.append(buf.popleft()[1])
        if buf:
            self._schedule(buf[0][0] + size)
        if out:
            self.on_expire(self, out)

    def remove(self, ev) -> None:
        buf = self.buf
        for i, (_, x) in enumerate(buf):
            if x is ev:
                del buf[i]
                return

    def dump(self, tab):
        return {"buf": [[t, tab.ref(e)] for t, e in self.buf], "scheduled": self.scheduled}

    def load(self, data, events) -> None:
        self.buf = deque((t, events[i]) for t, i in data["buf"])
        self.scheduled = data["scheduled"]


class _ExtTimed:
    __slots__ = ("size", "key", "buf")
    timed = False

    def __init__(self, spec: WindowSpec, host) -> None:
        self.size = spec.size
        self.key = spec.key
        self.buf = deque()

    def insert(self, ev):
        ts = self.key(ev)
        buf = self.buf
        buf.append((ts, ev))
        cutoff = ts - self.size + 1
        out = []
        while buf and buf[0][0] < cutoff:
            out.append(buf.popleft()[1])
        return out

    def remove(self, ev) -> None:
        buf = self.buf
        for i, (_, x) in enumerate(buf):
            if x is ev:
                del buf[i]
                return

    def dump(self, tab):
        return [[t, tab.ref(e)] for t, e in self.buf]

    def load(self, data, events) -> None:
        self.buf = deque((t, events[i]) for t, i in data)


class _Unique:
    __slots__ = ("key", "held")
    timed = False

    def __init__(self, spec: WindowSpec, host) -> None:
        self.key = spec.key
        self.held: dict = {}

    def insert(self, ev):
        k = self.key(ev)
        held = self.held
        prev = held.pop(k, None)   # re-insert: the dict keeps arrival order
        held[k] = ev
        return [] if prev is None else [prev]

    def remove(self, ev) -> None:
        k = self.key(ev)
        if self.held.get(k) is ev:
            del self.held[k]

    def dump(self, tab):
        return [[k, tab.ref(e)] for k, e in self.held.items()]

    def load(self, data, events) -> None:
        self.held = {(tuple(k) if isinstance(k, list) else k): events[i] for k, i in data}


class TimerHost:
    """What every window host shares: its timed windows numbered in creation order
    (``slot``), and one engine schedule per due time, delivered to ``on_due(now)``.

    Subclasses set ``engine`` and define ``on_due``; call ``_init_timers()`` first.
    """

    def _init_timers(self) -> None:
        self._timed: list = []         # timed windows, in creation order (their slot)
        self._due: dict = {}           # due ms -> timed windows waiting for it

    def register(self, obj) -> None:
        obj.slot = len(self._timed)
        self._timed.append(obj)

    def schedule(self, due: int, obj) -> None:
        waiting = self._due.get(due)
        if waiting is None:
            self._due[due] = [obj]
            self.engine.schedule(due, self.on_due)
        else:
            waiting.append(obj)


class _OneEvent:
    """A window holding at most one event; subclasses decide which one stays."""

    __slots__ = ("ev",)
    timed = False

    def __init__(self, spec: WindowSpec, host) -> None:
        self.ev = None

    def remove(self, ev) -> None:
        if self.ev is ev:
            self.ev = None

    def dump(self, tab):
        return tab.ref(self.ev)

    def load(self, data, events) -> None:
        self.ev = None if data < 0 else events[data]


class _LastEvent(_OneEvent):
    __slots__ = ()

    def insert(self, ev):
        prev, self.ev = self.ev, ev
        return [] if prev is None else [prev]


class _FirstEvent(_OneEvent):
    __slots__ = ()

    def insert(self, ev):
        if self.ev is not None:
            return None
        self.ev = ev
        return []


class _KeepAll:
    __slots__ = ("held",)
    timed = False

    def __init__(self, spec: WindowSpec, host) -> None:
        self.held: dict = {}    # id -> event, arrival order

    def insert(self, ev):
        self.held[id(ev)] = ev
        return []

    def remove(self, ev) -> None:
        self.held.pop(id(ev), None)

    def dump(self, tab):
        return tab.refs(self.held.values())

    def load(self, data, events) -> None:
        self.held = {id(events[i]): events[i] for i in data}


_SLIDING = {"length": _Length, "time": _Time, "ext_timed": _ExtTimed, "unique": _Unique,
            "lastevent": _LastEvent, "firstevent": _FirstEvent, "keepall": _KeepAll}


# ------------------------------------------------------------ window sets
#
# A window set turns arriving events and timers into post(new, old, window) calls.
# ``host`` is the statement operator: ``host.engine``, ``host.post(new, old, window)``,
# ``host.register(obj)`` for every timed window (in creation order, which orders
# timers due at the same time, as Esper's schedule slots do) and
# ``host.schedule(due_ms, obj)`` to have ``obj.on_timer(due_ms)`` called.

class Sliding:
    """One sliding window, or an intersection of several."""

    def __init__(self, specs, host, path: tuple) -> None:
        self.host = host
        self.windows = [_SLIDING[s.kind](s, host) for s in specs]
        for w in self.windows:
            if w.timed:
                w.on_expire = self._expired
                host.register(w)
        self.single = self.windows[0] if len(self.windows) == 1 else None

    def insert(self, ev) -> None:
        single = self.single
        if single is not None:
            gone = single.insert(ev)
            if gone is not None:
                self.host.post([ev], gone, None)
            return
        gone: list = []
        refused = False
        for w in self.windows:
            r = w.insert(ev)
            if r is None:
                refused = True
            elif r:
                gone.extend(r)
        if refused:
            for w in self.windows:
                w.remove(ev)
            gone = [g for g in gone if g is not ev]
        if gone:
            gone = _unique_by_identity(gone)
            for g in gone:
                for w in self.windows:
                    w.remove(g)
        new = [ev]
        if refused or any(g is ev for g in gone):
            new = []
            gone = [g for g in gone if g is not ev]
        if new or gone:
            self.host.post(new, gone, None)

    def _expired(self, window, events) -> None:
        if self.single is None:
            for g in events:
                for w in self.windows:
                    if w is not window:
                        w.remove(g)
        self.host.post([], events, None)

    def dump(self, tab):
        return [w.dump(tab) for w in self.windows]

    def load(self, data, events) -> None:
        for w, d in zip(self.windows, data):
            w.load(d, events)


def _unique_by_identity(evs: list) -> list:
    seen = set()
    out = []
    for e in evs:
        if id(e) not in seen:
            seen.add(id(e))
            out.append(e)
    return out


class LengthBatch:
    def __init__(self, spec: WindowSpec, host, path: tuple) -> None:
        self.host = host
        self.size = spec.size
        self.cur: list = []
        self.prior: list = []

    def insert(self, ev) -> None:
        cur = self.cur
        cur.append(ev)
        if len(cur) >= self.size:
            prior = self.prior
            self.cur, self.prior = [], cur
            self.host.post(cur, prior, None)

    def remove(self, ev) -> None:
        _remove_from_list(self.cur, ev)

    def dump(self, tab):
        return {"cur": tab.refs(self.cur), "prior": tab.refs(self.prior)}

    def load(self, data, events) -> None:
        self.cur = [events[i] for i in data["cur"]]
        self.prior = [events[i] for i in data["prior"]]


def _remove_from_list(buf: list, ev) -> None:
    for i, x in enumerate(buf):
        if x is ev:
            del buf[i]
            return


class TimeBatch:
    """``time_batch(p [, reference] [, flags])``: the schedule of :mod:`squall.cep.operators`
    (reference point = the given one, else the time of the first event; empty batch ends
    post nothing and stop the timer until the next event, which schedules the end of its
    period, aligned to the reference).

    Flags (Esper 8.9, verified): ``force_update`` posts at every batch end, even with
    both batches empty, and never stops the timer; ``start_eager`` starts the schedule
    when the window is created (the statement starts, or a groupwin group appears), the
    reference point then being that time whatever reference was given, and posts at
    every batch end as ``force_update`` does.
    """

    def __init__(self, spec: WindowSpec, host, path: tuple) -> None:
        self.host = host
        self.period = spec.size
        self.reference = spec.reference
        self.force = bool(spec.flags)
        self.scheduled = None
        self.cur: list = []
        self.prior: list = []
        host.register(self)
        if "start_eager" in spec.flags:
            self.reference = host.engine.current_time_ms
            self._schedule(self.reference + self.period)

    def insert(self, ev) -> None:
        if self.reference is None:
            self.reference = self.host.engine.current_time_ms
        self.cur.append(ev)
        if self.scheduled is None:
            now, ref, p = self.host.engine.current_time_ms, self.reference, self.period
            self._schedule(ref + ((now - ref) // p + 1) * p)

    def _schedule(self, due: int) -> None:
        self.scheduled = due
        self.host.schedule(due, self)

    def on_timer(self, now: int) -> None:
        if self.scheduled != now:
            return
        self.scheduled = None
        cur, prior = self.cur, self.prior
        self.cur, self.prior = [], cur
        if cur or prior or self.force:
            self._schedule(now + self.period)
            self.host.post(cur, prior, (now - self.period, now))

    def remove(self, ev) -> None:
        _remove_from_list(self.cur, ev)

    def dump(self, tab):
        return {"reference": self.reference, "scheduled": self.scheduled,
                "cur": tab.refs(self.cur), "prior": tab.refs(self.prior)}

    def load(self, data, events) -> None:
        self.reference = data["reference"]
        self.scheduled = data["scheduled"]
        self.cur = [events[i] for i in data["cur"]]
        self.prior = [events[i] for i in data["prior"]]


class ExtTimedBatch:
    def __init__(self, spec: WindowSpec, host, path: tuple) -> None:
        self.host = host
        self.period = spec.size
        self.key = spec.key
        self.start = None
        self.reference = spec.reference
        self.cur: list = []
        self.prior: list = []

    def insert(self, ev) -> None:
        ts = self.key(ev)
        p = self.period
        if self.start is None:
            ref = self.reference
            self.start = ts if ref is None else ref + ((ts - ref) // p) * p
        elif ts >= self.start + p:
            cur, prior = self.cur, self.prior
            self.cur, self.prior = [ev], cur
            self.start += ((ts - self.start) // p) * p
            self.host.post(cur, prior, None)
            return
        self.cur.append(ev)

    def dump(self, tab):
        return {"start": self.start, "cur": tab.refs(self.cur), "prior": tab.refs(self.prior)}

    def load(self, data, events) -> None:
        self.start = data["start"]
        self.cur = [events[i] for i in data["cur"]]
        self.prior = [events[i] for i in data["prior"]]


_BATCH = {"length_batch": LengthBatch, "time_batch": TimeBatch, "ext_timed_batch": ExtTimedBatch}


class _Relay:
    """The host a window inside a :class:`BatchIntersection` sees: timers are the
    statement's, posts go to ``post``."""

    __slots__ = ("engine", "register", "schedule", "post")

    def __init__(self, host, post) -> None:
        self.engine = host.engine
        self.register = host.register
        self.schedule = host.schedule
        self.post = post


class BatchIntersection:
    """A time or length batch window intersected with sliding windows (Esper's
    ``IntersectBatchView``; semantics verified against Esper 8.9):

    * an arriving event enters the sliding windows first (as :class:`Sliding`); events
      leaving them, and an arriving event one of them refuses, leave the batch being
      collected, and nothing is posted for them;
    * the batch then takes the arriving event, and posts as a batch window does: the
      events the batch still holds as new data, the prior batch as old data;
    * the events of a posted batch leave the sliding windows at once, unposted, so each
      batch starts them afresh (``#time_batch(10 sec)#firstevent`` posts the first event
      of every batch).
    """

    def __init__(self, specs, host, path: tuple) -> None:
        self.host = host
        i = next(k for k, s in enumerate(specs) if s.kind in BATCH_KINDS)
        others = [s for k, s in enumerate(specs) if k != i]
        make_batch = lambda: _BATCH[specs[i].kind](specs[i], _Relay(host, self._batch_posted), path)  # noqa: E731
        # creation order numbers the timers: it follows the declaration order
        if i == 0:
            self.batch = make_batch()
        self.sliding = Sliding(others, _Relay(host, self._sliding_posted), path)
        if i != 0:
            self.batch = make_batch()

    def insert(self, ev) -> None:
        self.sliding.insert(ev)

    def _sliding_posted(self, new, gone, window) -> None:
        batch = self.batch
        for g in gone:
            batch.remove(g)
        for e in new:
            batch.insert(e)

    def _batch_posted(self, new, old, window) -> None:
        windows = self.sliding.windows
        for e in new:
            for w in windows:
                w.remove(e)
        self.host.post(new, old, window)

    def dump(self, tab):
        return {"sliding": self.sliding.dump(tab), "batch": self.batch.dump(tab)}

    def load(self, data, events) -> None:
        self.sliding.load(data["sliding"], events)
        self.batch.load(data["batch"], events)


class NoWindow:
    """A stream without a data window: each event is posted as new data at once and not
    kept, so nothing is ever posted as old data (Esper 8 reference, 5.4.1: a stream
    without a data window has no remove stream; aggregates over it are unbound)."""

    __slots__ = ("post",)

    def __init__(self, host) -> None:
        self.post = host.post

    def insert(self, ev) -> None:
        self.post([ev], (), None)

    def dump(self, tab):
        return None

    def load(self, data, events) -> None:
        pass


def make_window_set(specs, host, path: tuple = ()):
    """The window set for a (groupwin-free) list of specs: :class:`NoWindow` when there
    are none, a batch window, a :class:`BatchIntersection` or ``Sliding``."""
    if not specs:
        return NoWindow(host)
    if any(s.kind in BATCH_KINDS for s in specs):
        if len(specs) > 1:
            return BatchIntersection(specs, host, path)
        return _BATCH[specs[0].kind](specs[0], host, path)
    return Sliding(specs, host, path)


class GroupWin:
    """``groupwin(keys)#w...``: one window set per key value, created on first use."""

    def __init__(self, group: WindowSpec, specs, host) -> None:
        self.key = group.key
        self.specs = specs
        self.host = host
        self.sets: dict = {}

    def insert(self, ev) -> None:
        k = self.key(ev)
        ws = self.sets.get(k)
        if ws is None:
            ws = self.sets[k] = make_window_set(self.specs, self.host, ("g", k))
        ws.insert(ev)

    def dump(self, tab):
        return [[k, ws.dump(tab)] for k, ws in self.sets.items()]

    def load(self, data, events) -> None:
        for k, d in data:
            if isinstance(k, list):
                k = _tuplify(k)
            ws = self.sets[k] = make_window_set(self.specs, self.host, ("g", k))
            ws.load(d, events)


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, (list, tuple)) else v
