"""Statement operators: :func:`make_operator`, and the batch data windows fused with
Esper's result-set processors.

A statement runs as one operator object (the protocol: :class:`squall.cep.protocol.Operator`).
Events enter through ``on_events(list)``;
the WHERE filter and, for the fully aggregated models, the per-group aggregation
happen on arrival, so a batch holds per-group accumulators rather than events.

Semantics of the batch windows (Esper 8 reference, 14 "EPL Reference: Data Windows",
"Time batch window" and "Length batch window"; Esper 8 source ``TimeBatchView``,
``LengthBatchView``):

* A batch posts its events as new data and the prior batch as old data. The WHERE
  clause is applied to what the window posts (Esper applies it after the data window),
  so events failing WHERE still count as arrivals for the window's schedule.
* time_batch without a reference point: the reference point is the engine time of the
  first event ever received; batch ends are ``reference + k * period``.
* When a batch ends and neither it nor the prior batch had events, nothing is posted
  and no further callback is scheduled. The next event schedules the end of the
  period it falls in, still aligned to the original reference point, not restarted at
  that event: ``reference + (floor((now - reference) / period) + 1) * period``
  (source: ``TimeBatchView.scheduleCallback`` -> ``TimePeriodComputeConstGivenDeltaEval
  .deltaAddWReference``, and the class comment "no next callback is scheduled ... until
  the next event arrives").
* An event at exactly a batch end goes to the next batch: the engine fires schedules
  due at or before a time before processing events at that time.
"""

from __future__ import annotations

from typing import Any, Callable

from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.resultset import Pipeline
from squall.cep.select import OutputModel, StatementPlan
from squall.cep.snapshot import EventTable, deref

__all__ = ["make_operator"]

Rows = list


# ------------------------------------------------------------ batch contents

class _Content:
    """How a batch holds its (already WHERE-filtered) events and turns
    (new batch, prior batch) into output rows."""

    def __init__(self, plan: StatementPlan) -> None:
        self.plan = plan

    def empty(self):
        raise NotImplementedError

    def adder(self, batch) -> Callable[[Any], None]:
        """A function adding a sequence of events to ``batch``."""
        raise NotImplementedError

    def rows(self, new, old) -> Rows:
        raise NotImplementedError

    def dump(self, batch, events: EventTable):
        """The batch as plain data (see :mod:`squall.cep.snapshot`)."""
        raise NotImplementedError

    def load(self, data, events: list):
        raise NotImplementedError


def _row_maker(plan: StatementPlan):
    cols = plan.columns
    sel = plan.select
    if plan.wildcard:
        return lambda ev, av: dict(ev)
    pairs = tuple(zip(cols, sel))
    return lambda ev, av: {c: f(ev, av) for c, f in pairs}


class _GroupAccs(_Content):
    """Fully aggregated (grouped or not): a dict group key -> accumulator.

    Output rows (Esper 8 source ``ResultSetProcessorRowPerGroupImpl.processViewResult``):
    one row per group key present in the new batch *or* in the prior batch, aggregates
    over the new batch only, so a group seen only in the prior batch yields a row with
    count 0 and null sum/avg/min/max. Row order: new-batch keys in first-arrival order,
    then prior-batch-only keys. HAVING filters rows. Ungrouped (``RowForAll``): one row
    when either batch had events.
    """

    def empty(self):
        return {}

    def dump(self, batch, events):
        dump, ref = self.plan.aggs.dump, events.ref
        return [[k, ref(acc[0]), dump(acc)] for k, acc in batch.items()]

    def load(self, data, events):
        load = self.plan.aggs.load
        return {(tuple(k) if isinstance(k, list) else k): load(deref(events, e), slots)
                for k, e, slots in data}

    def adder(self, batch):
        plan = self.plan
        key = plan.group_key or (lambda ev: None)
        where = plan.where
        new_acc = plan.aggs.new_acc
        upd = plan.aggs.update
        get = batch.get
        if where is None:
            def add(events):
                for ev in events:
                    k = key(ev)
                    acc = get(k)
                    if acc is None:
                        acc = batch[k] = new_acc(ev)
                    upd(acc, ev)
        else:
            def add(events):
                for ev in events:
                    if where(ev):
                        k = key(ev)
                        acc = get(k)
                        if acc is None:
                            acc = batch[k] = new_acc(ev)
                        upd(acc, ev)
        return add

    def rows(self, new, old):
        plan = self.plan
        values = plan.aggs.values
        having = plan.having
        make = _row_maker(plan)
        new_acc = plan.aggs.new_acc
        out = []
        if plan.group_key is None:
            if not new and not old:
                return out
            acc = new.get(None) or new_acc(None)
            items = [acc]
        else:
            items = list(new.values())
            items.extend(new_acc(acc[0]) for k, acc in old.items() if k not in new)
        for acc in items:
            ev = acc[0]
            av = values(acc)
            if having is None or having(ev, av):
                out.append(make(ev, av))
        return out


class _EventList(_Content):
    """Un-aggregated and aggregated (non-fully) models: the batch keeps its events.

    Rows, one per new-batch event (Esper 8 reference, 5.6.2 "Output for aggregation and
    group-by"): un-aggregated -> the event's values; aggregated -> the event's values
    with aggregates over the whole batch; aggregated and grouped -> aggregates over the
    event's group in the batch. HAVING filters rows.
    """

    def empty(self):
        return []

    def dump(self, batch, events):
        return events.refs(batch)

    def load(self, data, events):
        return [events[i] for i in data]

    def adder(self, batch):
        where = self.plan.where
        extend = batch.extend
        if where is None:
            return extend
        return lambda events: extend([ev for ev in events if where(ev)])

    def rows(self, new, old):
        plan = self.plan
        having = plan.having
        make = _row_maker(plan)
        model = plan.model
        out = []
        if model is OutputModel.UNAGGREGATED:
            for ev in new:
                if having is None or having(ev, None):
                    out.append(make(ev, None))
            return out
        aggs = plan.aggs
        if model is OutputModel.AGGREGATED:
            acc = aggs.new_acc(None)
            for ev in new:
                aggs.update(acc, ev)
            av = aggs.values(acc)
            for ev in new:
                if having is None or having(ev, av):
                    out.append(make(ev, av))
            return out
        key = plan.group_key
        groups: dict = {}
        for ev in new:
            k = key(ev)
            acc = groups.get(k)
            if acc is None:
                acc = groups[k] = aggs.new_acc(ev)
            aggs.update(acc, ev)
        vals = {k: aggs.values(acc) for k, acc in groups.items()}
        for ev in new:
            av = vals[key(ev)]
            if having is None or having(ev, av):
                out.append(make(ev, av))
        return out


def _content(plan: StatementPlan) -> _Content:
    if plan.model in (OutputModel.FULLY_GROUPED, OutputModel.FULLY_AGGREGATED):
        return _GroupAccs(plan)
    return _EventList(plan)


# ------------------------------------------------------------ windows

class _TimeBatch(Operator):
    """``#time_batch(period)``: see the module docstring for the exact semantics."""

    def __init__(self, stmt: "StatementHost", plan: StatementPlan, engine: "EngineHost") -> None:
        self.stmt = stmt
        self.engine = engine
        self.period = plan.view.size
        self.content = _content(plan)
        self.reference: int | None = None
        self.scheduled = False
        self.stopped = False
        self.cur = self.content.empty()
        self.cur_add = self.content.adder(self.cur)
        self.cur_arrived = False
        self.last = self.content.empty()
        self.last_arrived = False

    def on_events(self, events) -> None:
        if not self.cur_arrived:
            self._first_arrival()
        self.stmt.events_in += len(events)
        self.cur_add(events)

    def _first_arrival(self) -> None:
        self.cur_arrived = True
        if self.reference is None:
            self.reference = self.engine.current_time_ms
        if not self.scheduled:
            self._schedule()

    def _schedule(self) -> None:
        now, ref, p = self.engine.current_time_ms, self.reference, self.period
        due = ref + ((now - ref) // p + 1) * p
        self.scheduled = True
        self.engine.schedule(due, self._fire)

    def _fire(self, now: int) -> None:
        if self.stopped:
            return
        self.scheduled = False
        any_data = self.cur_arrived or self.last_arrived
        if any_data:
            rows = self.content.rows(self.cur, self.last)
            self.stmt.emit(rows, (now - self.period, now))
            self._schedule()
        self.last, self.last_arrived = self.cur, self.cur_arrived
        self.cur = self.content.empty()
        self.cur_add = self.content.adder(self.cur)
        self.cur_arrived = False

    def stop(self) -> None:
        self.stopped = True

    # -- snapshot protocol (squall.cep.snapshot)

    def schedule_owners(self) -> dict:
        return {(): self}

    def snapshot_state(self, events: EventTable):
        c = self.content
        return {"reference": self.reference, "scheduled": self.scheduled,
                "cur": c.dump(self.cur, events), "cur_arrived": self.cur_arrived,
                "last": c.dump(self.last, events), "last_arrived": self.last_arrived}

    def restore_state(self, state, events: list) -> None:
        c = self.content
        self.reference = state["reference"]
        self.scheduled = state["scheduled"]
        self.cur = c.load(state["cur"], events)
        self.cur_add = c.adder(self.cur)
        self.cur_arrived = state["cur_arrived"]
        self.last = c.load(state["last"], events)
        self.last_arrived = state["last_arrived"]


class _LengthBatch(Operator):
    """``#length_batch(n)``: posts every n events (counted before WHERE) as new data,
    the prior batch as old data. ``last_output_window`` is None for this window."""

    def __init__(self, stmt: "StatementHost", plan: StatementPlan, engine: "EngineHost") -> None:
        self.stmt = stmt
        self.size = plan.view.size
        self.content = _content(plan)
        self.count = 0
        self.cur = self.content.empty()
        self.cur_add = self.content.adder(self.cur)
        self.last = self.content.empty()

    def on_events(self, events) -> None:
        self.stmt.events_in += len(events)
        i, n = 0, len(events)
        while i < n:
            take = min(self.size - self.count, n - i)
            self.cur_add(events[i:i + take] if (i or take != n) else events)
            self.count += take
            i += take
            if self.count >= self.size:
                rows = self.content.rows(self.cur, self.last)
                self.last = self.cur
                self.cur = self.content.empty()
                self.cur_add = self.content.adder(self.cur)
                self.count = 0
                self.stmt.emit(rows, None)

    def stop(self) -> None:
        pass

    # -- snapshot protocol (squall.cep.snapshot)

    def schedule_owners(self) -> dict:
        return {}

    def snapshot_state(self, events: EventTable):
        c = self.content
        return {"count": self.count, "cur": c.dump(self.cur, events),
                "last": c.dump(self.last, events)}

    def restore_state(self, state, events: list) -> None:
        c = self.content
        self.count = state["count"]
        self.cur = c.load(state["cur"], events)
        self.cur_add = c.adder(self.cur)
        self.last = c.load(state["last"], events)


def make_operator(stmt: "StatementHost", plan, engine: "EngineHost") -> Operator:
    """The operator running ``plan`` (any plan :func:`squall.cep.compile.compile_statement`
    returns) for ``stmt`` in ``engine``."""
    if not isinstance(plan, StatementPlan):
        # joins, patterns, variables: their plans build their own operator kind
        return plan.make_operator(stmt, engine)
    # Fused batch operators: one time/length batch window, insert stream only;
    # squall.cep.resultset.Pipeline for everything else.
    view = plan.view
    if plan.selector == "istream" and view.groupwin is None and len(view.windows) <= 1 \
            and plan.stream_filter is None and plan.output is None:
        if view.kind == "time_batch":
            return _TimeBatch(stmt, plan, engine)
        if view.kind == "length_batch":
            return _LengthBatch(stmt, plan, engine)
    return Pipeline(stmt, plan, engine)
