"""The general statement operator: data windows -> WHERE -> result-set processor -> selector.

Used for every statement the fused batch operators of :mod:`squall.cep.operators` do not
cover (sliding windows, intersections, ``groupwin``, ``ext_timed_batch``, ``irstream``
and ``rstream``). Each post of the data windows (new data, old data; see
:mod:`squall.cep.views`) goes through WHERE (applied to both; nothing happens when
nothing passes), then through the result-set processor of the statement's output
model, which keeps the aggregation state incrementally (enter new, leave old).

Rows per post (Esper 8 reference, 5.6 "Aggregation and grouping" and Appendix A
"Output reference and samples"; verified against Esper 8.9 in tests/cep/esper):

======================  ==============================  ================================
model                   insert-stream rows              remove-stream rows
======================  ==============================  ================================
un-aggregated           one per new event               one per old event
fully aggregated        one row, aggregates after the   one row, aggregates *before*
(no group by)           post                            the post
aggregated (no group    one per new event, aggregates   one per old event, aggregates
by)                     after the post                  *after* the post
fully aggregated,       one per group key in the post   one per such key, aggregates
grouped                 (new or old), after the post    *before* the post
aggregated, grouped     one per new event, its group's  one per old event, its group's
                        aggregates after the post       aggregates after the post
======================  ==============================  ================================

HAVING filters insert- and remove-stream rows alike. ``select istream`` (default)
delivers the insert stream; ``irstream`` both (listeners get ``(new_rows, old_rows)``);
``rstream`` delivers the remove stream in place of the insert stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.snapshot import EventTable, deref
from squall.cep.views import GroupWin, TimerHost, make_window_set

if TYPE_CHECKING:
    from squall.cep.select import StatementPlan

__all__ = ["Pipeline"]


def _row_maker(plan):
    if plan.wildcard:
        return lambda ev, av: dict(ev)
    pairs = tuple(zip(plan.columns, plan.select))
    return lambda ev, av: {c: f(ev, av) for c, f in pairs}


class _Processor:
    def __init__(self, plan: "StatementPlan", want_new: bool, want_old: bool) -> None:
        self.make = _row_maker(plan)
        self.having = plan.having
        self.want_new = want_new
        self.want_old = want_old
        self.aggs = plan.aggs_retract

    def _rows(self, events, av):
        make, having = self.make, self.having
        if having is None:
            return [make(ev, av) for ev in events]
        return [make(ev, av) for ev in events if having(ev, av)]

    def dump(self, tab):
        return None

    def load(self, data, events) -> None:
        pass


class _Simple(_Processor):
    def process(self, new, old):
        return (self._rows(new, None) if self.want_new else [],
                self._rows(old, None) if self.want_old else [])


class _RowForAll(_Processor):
    def __init__(self, *a) -> None:
        super().__init__(*a)
        self.acc = self.aggs.new_acc(None)

    def _row(self):
        av = self.aggs.values(self.acc)
        if self.having is None or self.having(None, av):
            return [self.make(None, av)]
        return []

    def process(self, new, old):
        old_rows = self._row() if self.want_old else []
        acc, upd, leave = self.acc, self.aggs.update, self.aggs.leave
        for ev in new:
            upd(acc, ev)
        for ev in old:
            leave(acc, ev)
        return (self._row() if self.want_new else []), old_rows

    def dump(self, tab):
        return self.aggs.dump(self.acc)

    def load(self, data, events) -> None:
        self.acc = self.aggs.load(None, data)


class _AggregateAll(_RowForAll):
    def process(self, new, old):
        acc, upd, leave = self.acc, self.aggs.update, self.aggs.leave
        for ev in new:
            upd(acc, ev)
        for ev in old:
            leave(acc, ev)
        av = self.aggs.values(acc)
        return (self._rows(new, av) if self.want_new else [],
                self._rows(old, av) if self.want_old else [])


class _Grouped(_Processor):
    def __init__(self, plan, *a) -> None:
        super().__init__(plan, *a)
        self.key = plan.group_key
        self.groups: dict = {}

    def _apply(self, new, old) -> None:
        groups, key = self.groups, self.key
        new_acc, upd, leave = self.aggs.new_acc, self.aggs.update, self.aggs.leave
        for ev in new:
            k = key(ev)
            acc = groups.get(k)
            if acc is None:
                acc = groups[k] = new_acc(ev)
            upd(acc, ev)
        for ev in old:
            acc = groups.get(key(ev))
            if acc is not None:
                leave(acc, ev)

    def _values(self, k):
        acc = self.groups.get(k)
        if acc is None:
            acc = self.aggs.new_acc(None)
        return self.aggs.values(acc)

    def dump(self, tab):
        dump, ref = self.aggs.dump, tab.ref
        return [[k, ref(acc[0]), dump(acc)] for k, acc in self.groups.items()]

    def load(self, data, events) -> None:
        load = self.aggs.load
        self.groups = {(_tuplify(k)): load(deref(events, e), slots) for k, e, slots in data}


class _RowPerGroup(_Grouped):
    def _group_rows(self, keys):
        make, having, values = self.make, self.having, self._values
        out = []
        for k, ev in keys.items():
            av = values(k)
            if having is None or having(ev, av):
                out.append(make(ev, av))
        return out

    def process(self, new, old):
        key = self.key
        keys: dict = {}
        for ev in new:
            keys[key(ev)] = ev
        for ev in old:
            keys[key(ev)] = ev
        old_rows = self._group_rows(keys) if self.want_old else []
        self._apply(new, old)
        return (self._group_rows(keys) if self.want_new else []), old_rows


class _AggregateGrouped(_Grouped):
    def _event_rows(self, events):
        make, having, values, key = self.make, self.having, self._values, self.key
        out = []
        for ev in events:
            av = values(key(ev))
            if having is None or having(ev, av):
                out.append(make(ev, av))
        return out

    def process(self, new, old):
        self._apply(new, old)
        return (self._event_rows(new) if self.want_new else [],
                self._event_rows(old) if self.want_old else [])


PROCESSORS = {"unaggregated": _Simple, "fully_aggregated": _RowForAll, "aggregated": _AggregateAll,
               "fully_grouped": _RowPerGroup, "aggregated_grouped": _AggregateGrouped}


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, (list, tuple)) else v


class Pipeline(TimerHost, Operator):
    """A statement over data windows (see the module docstring)."""

    def __init__(self, stmt: StatementHost, plan: "StatementPlan", engine: EngineHost) -> None:
        self.stmt = stmt
        self.engine = engine
        self.stopped = False
        self._init_timers()
        self._merged = None            # (new rows, old rows, [window]) while merging
        selector = plan.selector
        self.rstream = selector == "rstream"
        self.rsp = PROCESSORS[plan.model](plan, selector != "rstream", selector != "istream")
        self.where = plan.where
        self.stream_filter = getattr(plan, "stream_filter", None)
        self.rate = None
        if getattr(plan, "output", None) is not None:
            from squall.cep.rate import RateLimiter
            self.rate = RateLimiter(self, plan)
        view = plan.view
        if view.groupwin is not None:
            self.windows = GroupWin(view.groupwin, view.windows, self)
        else:
            self.windows = make_window_set(view.windows, self, ())

    # -- host interface for the windows

    def on_due(self, now: int) -> None:
        """Engine timer: the timed windows due now fire in creation order."""
        waiting = self._due.pop(now, None)
        if self.stopped or not waiting:
            return
        if len(waiting) == 1:
            waiting[0].on_timer(now)
            return
        # Several windows (groupwin groups) due at once: Esper dispatches what they post
        # as one listener call, the insert rows of all first, then the remove rows.
        waiting.sort(key=_slot)
        merged = self._merged = ([], [], [None])
        try:
            for obj in waiting:
                obj.on_timer(now)
        finally:
            self._merged = None
        self.stmt.emit_streams(merged[0], merged[1], merged[2][0])

    def on_events(self, events) -> None:
        self.stmt.events_in += len(events)
        insert = self.windows.insert
        flt = self.stream_filter
        if flt is None:
            for ev in events:
                insert(ev)
        else:
            for ev in events:
                if flt(ev):
                    insert(ev)

    def post(self, new: list, old: list, window) -> None:
        where = self.where
        if where is not None:
            new = [ev for ev in new if where(ev)]
            old = [ev for ev in old if where(ev)]
            if not new and not old:
                return
        rate = self.rate
        if rate is not None and rate.wants_before:
            rate.before_post(new, old)
        new_rows, old_rows = self.rsp.process(new, old)
        if self.rstream:
            new_rows, old_rows = old_rows, []
        if self.rate is not None:
            self.rate.on_post(new, old, new_rows, old_rows)
            return
        merged = self._merged
        if merged is not None:
            merged[0].extend(new_rows)
            merged[1].extend(old_rows)
            merged[2][0] = window
            return
        self.stmt.emit_streams(new_rows, old_rows, window)

    def stop(self) -> None:
        self.stopped = True

    def terminate(self) -> None:
        if self.rate is not None:
            self.rate.on_terminate()

    # -- snapshot protocol (squall.cep.snapshot)

    def schedule_owners(self) -> dict:
        owners = {("pipeline",): self}
        if self.rate is not None:
            owners[("rate",)] = self.rate
        return owners

    def snapshot_state(self, events: EventTable):
        state = {"windows": self.windows.dump(events), "rsp": self.rsp.dump(events)}
        if self.rate is not None:
            state["rate"] = self.rate.snapshot_state(events)
        return state

    def restore_state(self, state, events: list) -> None:
        self.windows.load(state["windows"], events)
        self.rsp.load(state["rsp"], events)
        if self.rate is not None:
            self.rate.restore_state(state["rate"], events)
        # The windows' pending timers, from their restored due times; the engine
        # restores its on_due entries itself.
        self._due = {}
        for obj in self._timed:
            if obj.scheduled is not None:
                self._due.setdefault(obj.scheduled, []).append(obj)


def _slot(obj) -> int:
    return obj.slot
