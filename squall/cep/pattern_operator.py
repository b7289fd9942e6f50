"""The pattern operator: runs one pattern statement's state tree
(:mod:`squall.cep.pattern_states`) behind the operator protocol
(:class:`squall.cep.protocol.Operator`): routes events to the active filters, fires
timers on the engine schedule, turns matches into output rows, and snapshots/restores
the state tree as plain data.

Semantics: Esper 8 reference, 7 "EPL Reference: Patterns" (see :mod:`squall.cep.pattern`).
"""

from __future__ import annotations

import heapq

from squall.cep.pattern_compile import PatternProgram, TagRow
from squall.cep.pattern_states import STATES, FilterState, RootState
from squall.cep.protocol import EngineHost, Operator, StatementHost, TypedInlet
from squall.cep.snapshot import EventTable, deref

__all__ = ["PatternOperator"]


class PatternOperator(Operator):
    """Runs one pattern statement: filters by event type, timers, the state tree.

    Filters are kept per event type in start order; an equality filter on a tag
    (``carNumber = a.carNumber``) is also indexed by its key, so an event only meets the
    filters waiting for its key. Timers are kept in a heap ordered by (due time, start
    order) with one engine schedule per distinct due time.

    Active instances: ``instances`` counts the filters waiting for an event and the
    timers waiting for their time. At the engine's ``max_pattern_instances`` a state
    that would start a new instance while the one that triggered it stays active (an
    ``every`` restarting a child that keeps running, a followed-by advancing from an
    ``every``) does not start it; replacing an instance that finished is always allowed,
    so the count stays within the cap plus one sub-pattern's leaves. The first refusal
    is reported through the statement's error path (the engine's ``on_error``).
    """

    def __init__(self, stmt: "StatementHost", plan: PatternProgram, engine: "EngineHost") -> None:
        self.stmt = stmt
        self.plan = plan
        self.engine = engine
        self.stopped = False
        self.max_instances = engine.max_pattern_instances
        self.instances = 0
        self._cap_reported = False
        self._plain: dict[str, dict[int, FilterState]] = {t: {} for t in plan.event_types}
        self._indexed: dict[str, dict[int, dict]] = {t: {} for t in plan.event_types}
        self._seq = 0
        self._slot = 0
        self._timers: list = []     # heap of [due, slot, state | None]
        self._dues: set[int] = set()
        self.pending_matches: list = []
        self.root = RootState(self)
        self.root.start()
        self.pending_matches.clear()  # matches at statement start reach no listener (as in Esper)

    # -- engine interface

    def inlets(self):
        return tuple((t, TypedInlet(self, t)) for t in self.plan.event_types)

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
            if self.pending_matches:
                self._flush()

    def stop(self) -> None:
        self.stopped = True

    # -- filters

    def register_filter(self, fs: FilterState) -> None:
        fs.active = True
        self.instances += 1
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

    def unregister_filter(self, fs: FilterState) -> None:
        fs.active = False
        self.instances -= 1
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

    def alloc_slot(self) -> int:
        self._slot += 1
        return self._slot

    def add_timer(self, due: int, slot: int, state) -> list:
        entry = [due, slot, state]
        heapq.heappush(self._timers, entry)
        self.instances += 1
        if due not in self._dues:
            self._dues.add(due)
            self.engine.schedule(due, self._on_time)
        return entry

    def cancel_timer(self, entry: list) -> None:
        """Cancel a timer of :meth:`add_timer` (its heap entry stays, as a no-op)."""
        if entry[2] is not None:
            entry[2] = None
            self.instances -= 1

    # -- the cap on active instances

    def may_start(self, match: dict) -> bool:
        """Whether a state may start a new instance next to the one that triggered it
        (``match``: its tags); False at ``max_instances``, reported once."""
        if self.instances < self.max_instances:
            return True
        if not self._cap_reported:
            self._cap_reported = True
            self.stmt.report_error(
                match, f"the pattern reached {self.max_instances} active instances "
                "(EPLEngine max_pattern_instances): new instances "
                "are not started until some finish; further refusals are not reported")
        return False

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
                self.instances -= 1
                state.fire()
        if self.pending_matches:
            self._flush()

    # -- output

    def _flush(self) -> None:
        matches, self.pending_matches = self.pending_matches, []
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
            self.stmt.emit(rows, None)

    # -- snapshot (protocol of squall.cep.snapshot)

    def schedule_owners(self) -> dict:
        return {("pattern",): self}

    def snapshot_state(self, events: EventTable) -> dict:
        ref = events.ref

        def one(v):     # an event, or a repeat's array of events
            return [ref(e) for e in v] if type(v) is list else ref(v)

        def match(m):
            return [[k, one(v)] for k, v in m.items()]

        def keys(seen):
            return [[list(k) if type(k) is tuple else k, due] for k, due in seen.items()]

        def dump(s):
            if s is None:
                return None
            k = s.node.kind
            d = {"n": s.node.nid}
            if k == "filter":
                d.update(begin=match(s.begin), active=s.active, seq=s.seq)
            elif k in ("interval", "timer_at"):
                d.update(begin=match(s.begin), timer=None if s.timer is None else s.timer[:2])
            elif k == "guard":
                d.update(begin=match(s.begin), child=dump(s.child), slot=s.slot,
                         timer=None if s.timer is None else s.timer[:2])
            elif k == "every":
                d.update(begin=match(s.begin), spawned=[dump(c) for c in s.spawned])
            elif k in ("not", "while"):
                d.update(child=dump(s.child))
            elif k == "every_distinct":
                d.update(begin=match(s.begin),
                         spawned=[[dump(c), keys(seen)] for c, seen in s.spawned.items()])
            elif k == "repeat":
                d.update(begin=match(s.begin), matcher=dump(s.matcher), until=dump(s.until),
                         count=s.count, arrays=None if s.arrays is None else match(s.arrays))
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
        self.instances = 0
        filters, timers = [], []
        nodes = self.plan.nodes

        def one(i):
            return [deref(events, j) for j in i] if type(i) is list else deref(events, i)

        def match(pairs):
            return {k: one(i) for k, i in pairs}

        def keys(pairs):
            return {tuple(k) if type(k) is list else k: due for k, due in pairs}

        def load(d, parent):
            if d is None:
                return None
            node = nodes[d["n"]]
            s = STATES[node.kind](node, parent, self)
            k = node.kind
            if k == "filter":
                s.begin = match(d["begin"])
                s.active = False
                if d["active"]:
                    filters.append((d["seq"], s))
            elif k in ("interval", "timer_at"):
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
            elif k in ("not", "while"):
                s.child = load(d["child"], s)
            elif k == "every_distinct":
                s.begin = match(d["begin"])
                s.spawned = {load(c, s): keys(seen) for c, seen in d["spawned"]}
            elif k == "repeat":
                s.begin = match(d["begin"])
                s.matcher = load(d["matcher"], s)
                s.until = load(d["until"], s)
                s.count = d["count"]
                s.arrays = None if d["arrays"] is None else match(d["arrays"])
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
            self.register_filter(fs)
        self._seq = state["seq"]
        self._slot = state["slot"]
        for (due, slot), s in timers:
            entry = [due, slot, s]
            s.timer = entry
            heapq.heappush(self._timers, entry)
        self.instances += len(timers)
        self._dues = set(state["dues"])  # the engine restores the matching schedules
        self.pending_matches = []
