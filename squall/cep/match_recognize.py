"""The ``match_recognize`` operator: per partition, the partial matches of the row
pattern's NFA (built by :mod:`squall.cep.match_recognize_compile`), stepped by each event.

Each partial match (an *entry*) waits in one NFA state with the events it matched so far.
An event of its partition is tested against every waiting entry, in order, and then
against the pattern's start states (a new match may begin at every event). An entry whose
state accepts the event moves on to each of the state's next states (copied when there
are several); reaching the end state completes a match. Matches completed by one event
are ranked per partition and per first event: among those with the same first event one
is kept (the one ending last, unless one with more events on a greedy ``*``/``?`` wins),
and ``after match skip`` then drops the matches, completed or partial, that overlap it:

* ``past last row`` (default): every match beginning at or before the kept match's last
  event; the next match starts after it.
* ``to next row``: every match beginning at or before the kept match's first event.
* ``to current row``: nothing; overlapping matches with other first events are output too.

A match is output as soon as it is complete: a greedy quantifier at the end of the
pattern (``A B*``) does not wait for more events, as in Esper. As in Esper 8.9, an event
whose several matches belong to a partition it leaves empty outputs none of them (see
:meth:`MatchRecognizeOperator._output`).

``interval <period>``: a match is held until ``period`` after its first event (engine
time) and the best of the matches with that first event is output then; a match
completed later is output at once. Partial matches are not dropped by ``after match
skip`` under ``interval`` (as in Esper). ``or terminated``: a match that can no longer
grow (its last state leads only to the end) is output at once, not held.

Partial matches are capped per statement by the engine's ``max_pattern_instances``; at
the cap an event starts or extends no further partial match (reported once through the
statement's error path). Esper is unbounded by default.

Semantics: Esper 8 reference, 8 "EPL Reference: Match Recognize", and Esper 8.9's
``RowRecogNFAView`` (step, ranking and skip), verified against Esper 8.9 by
``tests/cep/esper/test_esper_match_recognize.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Callable

from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.snapshot import EventTable, deref

# Entry, Partition, always, group_cells and group_lists are the state the fast path
# (squall.cep.match_recognize_fast) converts to and from.
__all__ = ["MatchRecognizeOperator", "MatchRecognizePlan", "NFAState", "END", "Entry", "Partition",
           "always", "group_cells", "group_lists"]


def always(ev, part) -> bool:
    """The test of a variable without ``define``: every event."""
    return True


def always_batch(events) -> list[bool]:
    """:func:`always` for a batch."""
    return [True] * len(events)


class NFAState:
    """One pattern-variable occurrence of the NFA.

    ``stream``: the variable's slot among the single events; ``multi``: its slot among
    the group lists (-1 for a single variable); ``greedy``: None, or whether more events
    on this state make a better match (Esper's greedy counts); ``test``: the define
    condition (without one: always true), called as ``test(event, partition)`` when ``pure``
    (it reads only the event tested and ``prev()``, so its value is the same for every
    partial match) and as ``test(events, partition)`` otherwise (``events``: the single
    events per slot, the event tested in its variable's slot); ``batch``: None, or for a
    pure test without side effects ``batch(events) -> [bool, ...]``, the test of every
    event of a batch at once; ``next``: the next states,
    :data:`END` among them when the pattern may end here; ``index``: flat state number.
    """

    __slots__ = ("var", "stream", "multiple", "multi", "greedy", "test", "pure", "loops",
                 "batch", "next", "index")

    def __init__(self, var, stream, multiple, multi, greedy, test, pure, loops, batch=None):
        self.var, self.stream, self.multiple, self.multi = var, stream, multiple, multi
        self.greedy, self.pure, self.loops = greedy, pure, loops
        self.test = always if test is None else test
        self.batch = always_batch if test is None else batch
        self.next: Any = []
        self.index = -1


#: The end state: a next state that completes the match.
END = NFAState("$end", -1, False, -1, None, None, True, False)


@dataclass(frozen=True)
class MatchRecognizePlan:
    """A compiled ``match_recognize`` statement, built by
    :func:`squall.cep.match_recognize_compile.compile_match_recognize_statement`."""
    event_type: str
    columns: tuple[str, ...]
    start_states: tuple[NFAState, ...]
    all_states: tuple[NFAState, ...]
    num_streams: int
    num_multi: int
    partition: Callable[[dict], Any] | None   # event -> partition key
    prev_depth: int                           # events kept per partition for prev()
    measures: Callable[[list, list | None], dict]   # (single events, group lists) -> row
    select: Callable[[dict], dict] | None     # measure row -> output row (None: select *)
    stream_filter: Callable[[dict], Any] | None
    all_matches: bool
    skip: str
    interval_ms: int | None
    or_terminated: bool
    model: str = "match_recognize"
    #: None, or the statement's squall.cep.match_recognize_fast.FastPath (its operator
    #: then runs the statement, with this module's for what the fast path hands over)
    fast: Any = dataclasses.field(default=None, compare=False)

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> Operator:
        if self.fast is not None:
            return self.fast.make_operator(stmt, self, engine)
        return MatchRecognizeOperator(stmt, self, engine)


class Entry:
    """A partial (or, with ``end`` set, complete) match.

    ``events``: the single events per slot (owned: stepped in place); ``groups``: None
    or per group variable its events as a cons list ``(older, event)`` (shared between
    the copies a branch makes, so a branch costs O(variables), not O(events));
    ``greedy``: the greedy counts per state (a shared tuple of zeros when the pattern has
    no greedy state).
    """

    __slots__ = ("begin", "begin_ms", "state", "events", "groups", "greedy", "end", "key")

    def __init__(self, begin, begin_ms, state, events, groups, greedy, key, end=-1):
        self.begin, self.begin_ms, self.state = begin, begin_ms, state
        self.events, self.groups, self.greedy = events, groups, greedy
        self.end = end
        self.key = key


class Partition:
    """One partition's partial matches (``states``, in first-event order) and its last
    events for ``prev()`` (``prev``, newest last)."""

    __slots__ = ("states", "prev")

    def __init__(self):
        self.states: list[Entry] = []
        self.prev: list = []       # the last events of the partition, newest last


def _group_list(cell) -> list:
    """A group's cons list as a list, oldest event first."""
    out = []
    while cell is not None:
        cell, ev = cell
        out.append(ev)
    out.reverse()
    return out


def group_cells(events) -> Any:
    """A list of events as a group's cons list (the inverse of ``_group_list``)."""
    cell = None
    for ev in events:
        cell = (cell, ev)
    return cell


def group_lists(groups):
    """An entry's groups (cons lists) as the lists the measures read: None, or per group
    variable None or its events, oldest first."""
    return None if groups is None else [None if g is None else _group_list(g) for g in groups]


def _test_in_match(st: NFAState, ev, part, events: list) -> bool:
    """An impure define: ``ev`` tested in its variable's slot of a partial match's single
    events (the slot is empty again afterwards)."""
    events[st.stream] = ev
    ok = st.test(events, part)
    events[st.stream] = None
    return ok


class MatchRecognizeOperator(Operator):
    """Runs one ``match_recognize`` statement (see the module docs)."""

    def __init__(self, stmt: StatementHost, plan: MatchRecognizePlan, engine: EngineHost) -> None:
        self.stmt, self.plan, self.engine = stmt, plan, engine
        self.stopped = False
        self.max_instances = engine.max_pattern_instances
        self.instances = 0
        self._cap_reported = False
        self.partitions: dict[Any, Partition] = {}
        self.seq = 0
        #: interval: first-event time -> complete matches held until then + interval
        self.held: dict[int, list[Entry]] = {}
        self.due: int | None = None
        self._states = plan.all_states
        # Only states with greedy True ever count (_advance); without one, every match
        # shares one tuple of zeros and a branch copies no counts.
        self._has_greedy = any(s.greedy for s in plan.all_states)
        self._zeros = (0,) * len(plan.all_states)
        # When every pure test has a batch form, a batch's tests run as one comprehension
        # per variable (no call per event): one per variable slot, or None.
        pure = [s for s in plan.all_states if s.pure]
        self._batch = None
        if pure and all(s.batch is not None for s in pure):
            self._batch = {s.stream: s.batch for s in pure}

    # -- engine interface

    def on_events(self, events) -> None:
        """Step every event through its partition's partial matches.

        The define of a ``pure`` state is evaluated at most once per event (memo per
        variable, see :meth:`_memos`), whatever the number of partial matches waiting on
        it; a partial match that fails is reused for the next one that starts."""
        self.stmt.events_in += len(events)
        flt = self.plan.stream_filter
        if flt is not None:
            events = [ev for ev in events if flt(ev)]
        self.step(events)

    def step(self, events) -> None:
        """:meth:`on_events` after the stream's filter: the events are counted and kept."""
        plan = self.plan
        partition, prev_depth = plan.partition, plan.prev_depth
        starts, num_streams = plan.start_states, plan.num_streams
        or_terminated, interval = plan.or_terminated, plan.interval_ms is not None
        partitions = self.partitions
        advance = self._advance
        has_greedy, zeros = self._has_greedy, self._zeros
        for ev, memo in zip(events, self._memos(events, num_streams)):
            if memo is None:
                memo = [None] * num_streams
            self.seq = seq = self.seq + 1
            key = partition(ev) if partition is not None else None
            part = partitions.get(key)
            if part is None:
                part = partitions[key] = Partition()
            if prev_depth:
                buf = part.prev
                buf.append(ev)
                if len(buf) > prev_depth + 1:
                    del buf[0]
            nxt: list[Entry] = []
            ends: list[Entry] = []
            terminated = None
            spare = None
            for entry in part.states:
                # one at a time, so that at the cap the earlier matches' next states are
                # admitted first (the count frees as each old entry is stepped)
                self.instances -= 1
                st = entry.state
                if st.pure:
                    ok = memo[st.stream]
                    if ok is None:
                        ok = memo[st.stream] = st.test(ev, part)
                else:
                    ok = _test_in_match(st, ev, part, entry.events)
                if ok:
                    advance(entry, st, ev, seq, nxt, ends)
                elif or_terminated and END in st.next:
                    if terminated is None:
                        terminated = []
                    terminated.append(Entry(entry.begin, entry.begin_ms, END, entry.events,
                                             entry.groups, entry.greedy, key))
                else:
                    spare = entry
            for st in starts:
                if not st.pure:
                    ok = _test_in_match(st, ev, part, [None] * num_streams)
                else:
                    ok = memo[st.stream]
                    if ok is None:
                        ok = memo[st.stream] = st.test(ev, part)
                if not ok:
                    continue
                begin_ms = self.engine.current_time_ms if interval else 0
                greedy = [0] * len(zeros) if has_greedy else zeros
                if spare is None:
                    entry = Entry(seq, begin_ms, st, [None] * num_streams, None, greedy, key)
                else:
                    # A partial match that just failed is referenced by nothing any more:
                    # reusing the object costs 0.13 us against 0.36 us for a new one, and
                    # on most events one match starts as another fails.
                    entry, spare = spare, None
                    entry.begin, entry.begin_ms, entry.state = seq, begin_ms, st
                    entry.events, entry.groups, entry.greedy = [None] * num_streams, None, greedy
                    entry.key = key
                advance(entry, st, ev, seq, nxt, ends)
            part.states = nxt
            if ends or terminated:
                self._complete(ends, terminated or [],
                               self.engine.current_time_ms if interval else 0)

    def _memos(self, events, num_streams: int):
        """Per event, the memo of the pure tests: all of them evaluated for the batch at
        once (a tuple per event), or None (evaluated when first needed). A batch test
        that raises (a property of another type) leaves the batch to the per-event path,
        which tests only what a match needs (so an event raises only where a partial
        match needs its test, the events before it done, as on the fast path of
        :mod:`squall.cep.match_recognize_fast`)."""
        batch = self._batch
        if batch is None:
            return repeat(None)
        columns: list = [repeat(None)] * num_streams
        try:
            for k, fn in batch.items():
                columns[k] = fn(events)
        except Exception:
            return repeat(None)
        return zip(*columns)

    def stop(self) -> None:
        self.stopped = True

    def schedule_owners(self) -> dict[tuple, Any]:
        return {("match_recognize",): self}

    # -- the step

    def _refuse(self, ev) -> None:
        """At the cap: the partial match is not started or extended by ``ev``; reported
        once, naming that event."""
        if not self._cap_reported:
            self._cap_reported = True
            self.stmt.report_error(ev, f"match_recognize: {self.max_instances} partial matches "
                                         "active (the engine's max_pattern_instances); further "
                                         "partial matches are not started until some end")

    def _advance(self, entry: Entry, st: NFAState, ev, seq: int, nxt: list, ends: list) -> None:
        """``st`` accepted ``ev`` for ``entry``: record the event on it, then move it on to
        each next state of ``st`` (the first admitted takes ``entry`` itself, the others
        copies); a completed match goes to ``ends`` with ``st`` as its state."""
        events, groups, greedy = entry.events, entry.groups, entry.greedy
        if st.multiple:
            if groups is None:
                groups = entry.groups = [None] * self.plan.num_multi
            groups[st.multi] = (groups[st.multi], ev)
        else:
            events[st.stream] = ev
        if st.greedy:
            greedy[st.index] += 1
        nexts = st.next
        if len(nexts) == 1 and nexts[0] is not END and self.instances < self.max_instances:
            # the common step: one next state, room under the cap
            self.instances += 1
            entry.state = nexts[0]
            nxt.append(entry)
            return
        first = True
        for n in nexts:
            if n is not END:
                if self.instances >= self.max_instances:
                    self._refuse(ev)
                    continue
                self.instances += 1
            if first:
                e = entry
                first = False
            else:
                e = Entry(entry.begin, entry.begin_ms, n, list(events),
                           None if groups is None else list(groups),
                           list(greedy) if self._has_greedy else greedy, entry.key)
            if n is END:
                e.state = st
                e.end = seq
                ends.append(e)
            else:
                e.state = n
                nxt.append(e)

    def _complete(self, ends: list[Entry], terminated: list[Entry], now: int) -> None:
        """The matches one event completed: rank, hold (interval), skip, output."""
        plan = self.plan
        if not plan.all_matches:
            ends = self._rank_multi(ends)
        if plan.interval_ms is not None:
            ends = self._hold(ends, terminated, now)
            if not ends:
                return
        elif plan.skip != "to current row":
            past = plan.skip == "past last row"
            for end in ends:
                p = self.partitions.get(end.key)
                if p is None:
                    continue
                limit = end.end if past else end.begin
                kept = [s for s in p.states if s.begin > limit]
                self.instances -= len(p.states) - len(kept)
                p.states = kept
        self._output(ends)

    # -- ranking (Esper's RowRecogNFAView.rankEndStates*)

    def _better(self, current, best) -> bool:
        for s in self._states:
            g = s.greedy
            if g is None:
                continue
            if g:
                if current[s.index] > best[s.index]:
                    return True
            elif current[s.index] < best[s.index]:
                return True
        return False

    def _rank(self, ends: list[Entry]) -> Entry:
        ends = sorted(ends, key=lambda e: -e.end)
        low = min(e.begin for e in ends)
        found = None
        for e in ends:
            if e.begin != low:
                continue
            if found is None or self._better(e.greedy, found.greedy):
                found = e
        return found

    def _rank_multi(self, ends: list[Entry]) -> list[Entry]:
        if len(ends) <= 1:
            return ends
        if self.plan.partition is None:
            return self._rank_by_begin(ends)
        per: dict[Any, list[Entry]] = {}
        for e in ends:
            per.setdefault(e.key, []).append(e)
        out = []
        for lst in per.values():
            out.extend(lst if len(lst) == 1 else self._rank_by_begin(lst))
        return out

    def _rank_by_begin(self, ends: list[Entry]) -> list[Entry]:
        by_begin: dict[int, list[Entry]] = {}
        for e in ends:
            by_begin.setdefault(e.begin, []).append(e)
        if len(by_begin) == 1:
            lst = next(iter(by_begin.values()))
            return lst if self.plan.all_matches else [self._rank(lst)]
        out = []
        skip = self.plan.skip
        for b in sorted(by_begin):
            lst = by_begin.pop(b, None)
            if not lst:
                continue
            taken = self._rank(lst) if len(lst) > 1 else lst[0]
            out.extend(lst if self.plan.all_matches and len(lst) > 1 else [taken])
            if skip == "past last row" or skip == "to next row":
                limit = taken.end if skip == "past last row" else taken.begin
                for k in list(by_begin):
                    by_begin[k] = [e for e in by_begin[k] if e.begin > limit]
        return out

    # -- interval (Esper's RowRecogNFAView interval handling and triggered())

    def _hold(self, ends, terminated, now):
        plan = self.plan
        interval = plan.interval_ms
        out = []
        for end in ends:
            if plan.or_terminated and len(end.state.next) == 1 and end.state.next[0] is END:
                out.append(end)
                continue
            since = now - end.begin_ms
            until = interval - since
            if end.begin_ms in self.held or since < until:
                self._hold_one(end, now + until)
            else:
                out.append(end)
        if plan.or_terminated and terminated:
            for t in terminated:
                lst = self.held.get(t.begin_ms)
                if not lst:
                    continue
                keep = []
                for e in lst:
                    if e.key == t.key and e.begin == t.begin:
                        out.append(e)
                    else:
                        keep.append(e)
                if keep:
                    self.held[t.begin_ms] = keep
                else:
                    del self.held[t.begin_ms]
            if not plan.all_matches:
                out = self._rank_multi(out)
        return out

    def _hold_one(self, end: Entry, due: int) -> None:
        if not self.held:
            self.held[end.begin_ms] = [end]
            self._schedule(due)
            return
        self.held.setdefault(end.begin_ms, []).append(end)

    def _schedule(self, due: int) -> None:
        self.due = due
        self.engine.schedule(due, self.on_interval)

    def on_interval(self, now: int) -> None:
        """The interval of the earliest held matches is over: output the best of them."""
        if self.stopped or self.due != now:
            return      # a schedule replaced by a later one
        self.due = None
        if not self.held:
            return
        cutoff = now - self.plan.interval_ms
        due: list[Entry] = []
        for begin in sorted(self.held):
            if begin > cutoff:
                break
            due.extend(self.held.pop(begin))
        if self.held:
            self._schedule(min(self.held) + self.plan.interval_ms)
        if not self.plan.all_matches:
            due = self._rank_multi(due)
        self._output(due, on_event=False)

    # -- output

    def _output(self, ends: list[Entry], on_event: bool = True) -> None:
        """Output the rows of ``ends`` and forget the partitions they leave empty.

        ``on_event``: the matches were completed by an event (not by the interval timer).
        Then, as in Esper 8.9, the event outputs no row at all when two or more of its
        matches belong to one partition (``partition by``, key not null) that is left
        with no partial match and no ``prev()`` events: Esper's ``RowRecogNFAView``
        drops such a partition after the first row and fails on the next row's lookup of
        it, losing the event's rows (its runtime logs the exception). That happens with
        ``all matches``, ``to next row`` / ``to current row`` (matches with different
        first events ending on one event) and ``interval ... or terminated``. Esper's
        timer path does not drop partitions, so it loses nothing.
        """
        plan = self.plan
        rows = []
        dropped = set()
        for e in ends:
            key = e.key
            if on_event and key in dropped:
                return      # Esper 8.9's failed lookup: none of the event's rows
            row = plan.measures(e.events, group_lists(e.groups))
            rows.append(row if plan.select is None else plan.select(row))
            p = self.partitions.get(key)
            if p is not None and not p.states and not plan.prev_depth:
                del self.partitions[key]
                if key is not None:     # Esper keeps no state to drop for a null key
                    dropped.add(key)
        if rows and not self.stopped:
            self.stmt.emit(rows, None)

    # -- snapshot

    def _dump_entry(self, e: Entry, t: EventTable) -> list:
        return [e.begin, e.begin_ms, e.state.index if e.state is not END else -1,
                t.refs(e.events),
                None if e.groups is None else [None if g is None else t.refs(_group_list(g))
                                               for g in e.groups],
                list(e.greedy), e.end, _plain_key(e.key)]

    def _load_entry(self, d: list, events: list) -> Entry:
        begin, begin_ms, si, evs, groups, greedy, end, key = d
        e = Entry(begin, begin_ms, END if si < 0 else self._states[si],
                   [deref(events, i) for i in evs],
                   None if groups is None else [None if g is None else
                                                group_cells([deref(events, i) for i in g])
                                                for g in groups],
                   list(greedy) if self._has_greedy else self._zeros, _key(key), end)
        return e

    def snapshot_state(self, events: EventTable) -> Any:
        return {"seq": self.seq, "instances": self.instances, "due": self.due,
                "cap_reported": self._cap_reported,
                "partitions": [[_plain_key(k), [self._dump_entry(e, events) for e in p.states],
                                events.refs(p.prev)] for k, p in self.partitions.items()],
                "held": [[b, [self._dump_entry(e, events) for e in lst]]
                         for b, lst in self.held.items()]}

    def restore_state(self, state: Any, events: list) -> None:
        self.seq, self.instances, self.due = state["seq"], state["instances"], state["due"]
        self._cap_reported = state["cap_reported"]
        self.partitions = {}
        for k, entries, prev in state["partitions"]:
            p = Partition()
            p.states = [self._load_entry(d, events) for d in entries]
            p.prev = [deref(events, i) for i in prev]
            self.partitions[_key(k)] = p
        self.held = {b: [self._load_entry(d, events) for d in lst] for b, lst in state["held"]}


def _plain_key(k):
    return list(k) if isinstance(k, tuple) else k


def _key(k):
    return tuple(k) if isinstance(k, list) else k
