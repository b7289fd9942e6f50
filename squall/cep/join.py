"""Joins of data windows: ``select ... from A#length(10) as a, B#time(30 sec) as b where a.k = b.k``.

Each stream of the from clause keeps its own data window (any window of
:mod:`squall.cep.views`). After each event (or timer) the windows' posts are joined
once, as Esper's join composer does (Esper 8 reference, 5.12 "Joining event streams";
verified against Esper 8.9 by ``tests/cep/esper/test_esper_joins.py``):

1. events that left a window (old data) are joined against the other windows as they
   were before this step: the remove-stream combinations;
2. the windows' contents are updated (new events added, then old ones removed);
3. events that entered a window (new data) are joined against the other windows as
   they are now: the insert-stream combinations. A combination found twice (a
   self-join, where one event enters both streams) counts once.

The where clause filters the combinations; the output models (aggregation, group by,
having, ``irstream``/``rstream``) then work on combinations as a single-stream
statement works on events (:mod:`squall.cep.resultset`). Nothing is output when no
combination passes. Combinations are found in stream order: a new event of stream
``i`` meets the other streams' events in the order they entered their windows.

A stream marked ``unidirectional`` has no window: only its events trigger the join
(against the other windows), the other streams' events only fill their windows, and
there is no remove stream; aggregates cover the combinations of one triggering event
(Esper clears the aggregation state before each execution of a unidirectional join).

Properties are qualified by the stream's alias (or its event type name when it has no
alias): ``a.k``; a bare alias is the event itself (``select a, b``; ``select *`` gives
one column per stream). An unqualified property is allowed when the event types are
declared and exactly one stream's type has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError
from squall.cep.expressions import check_clause_types
from squall.cep.protocol import EngineHost, Operator, StatementHost, TypedInlet
from squall.cep.resultset import PROCESSORS
from squall.cep.select import compile_select_statement, view_plan
from squall.cep.snapshot import EventTable, deref
from squall.cep.typecheck import java_type
from squall.cep.views import GroupWin, TimerHost, make_window_set

if TYPE_CHECKING:
    from squall.cep.matching import EvalContext

__all__ = ["JoinPlan", "JoinOperator", "compile_join_statement", "JoinRow"]


class JoinRow(dict):
    """One combination: alias -> event. ``get('a.k')`` reads stream ``a``'s event,
    ``get('a')`` is the event, ``get('k')`` an unqualified property (see ``names``)."""

    __slots__ = ("names",)

    def get(self, name, default=None):
        how = self.names.get(name)
        if how is None:
            return dict.get(self, name)
        alias, prop = how
        ev = dict.get(self, alias)
        if ev is None:
            return None
        return ev if prop is None else ev.get(prop)


@dataclass(frozen=True)
class _Stream:
    alias: str
    event_type: str
    view: Any            # compile.ViewPlan, or None for a unidirectional stream
    unidirectional: bool


@dataclass(frozen=True)
class JoinPlan:
    """A compiled join statement: its streams and the result-set plan over combinations."""
    event_type: str
    event_types: tuple[str, ...]
    streams: tuple[_Stream, ...]
    rs: Any              # a compile.StatementPlan whose "events" are JoinRows
    names: dict

    @property
    def columns(self) -> tuple[str, ...]:
        return self.rs.columns

    @property
    def model(self) -> str:
        return self.rs.model

    @property
    def wildcard(self) -> bool:
        return False

    def make_operator(self, stmt: "StatementHost", engine: "EngineHost") -> "JoinOperator":
        return JoinOperator(stmt, self, engine)


def compile_join_statement(st: A.SelectStatement,
                           declared_types: dict[str, dict[str, type]], ctx: "EvalContext") -> JoinPlan:
    """Validate a join statement and build its plan.

    Raises:
        EPLCompileError: a stream without a data window (unless unidirectional), two
            streams with the same name, an unknown stream name or property (named), an
            ambiguous or unqualified property that cannot be resolved.
    """
    defs = (st.stream, *st.joins)
    streams = []
    seen: dict[str, A.StreamDef] = {}
    for pos, s in enumerate(defs):
        if isinstance(s, A.PatternStream):
            raise EPLCompileError("Joining a pattern with other streams is not supported",
                                  line=s.line, column=s.column)
        alias = s.alias or s.event_type
        if alias in seen:
            raise EPLCompileError(
                f"Two streams are named '{alias}' in the from clause; give each an alias "
                f"('{s.event_type}#length(10) as x')", line=s.line, column=s.column)
        seen[alias] = s
        if s.unidirectional:
            if s.views:
                v = s.views[0]
                raise EPLCompileError(
                    "The unidirectional keyword requires that no views are declared onto the "
                    f"stream (applies to stream {pos}): a unidirectional stream takes no data "
                    "window (its events are joined as they arrive and not kept)",
                    line=v.line, column=v.column)
            view = None
        else:
            if not s.views:
                raise EPLCompileError(
                    f"Joins require that at least one view is specified for each stream, no "
                    f"view was specified for {s.event_type}", line=s.line, column=s.column)
            view = view_plan(s, declared_types.get(s.event_type), ctx)
        streams.append(_Stream(alias, s.event_type, view, s.unidirectional))
    if sum(1 for s in streams if s.unidirectional) > 1:
        raise EPLCompileError("Only one stream of a join can be unidirectional",
                              line=st.stream.line, column=st.stream.column)

    aliases = [s.alias for s in streams]
    all_declared = all(declared_types.get(s.event_type) is not None for s in streams)

    def resolve(prop: A.Property) -> tuple[str, str | None]:
        head, dot, tail = prop.name.partition(".")
        if dot:
            if head not in seen:
                raise EPLCompileError(
                    f"Failed to resolve property '{prop.name}': '{head}' is not a stream of the "
                    f"join (streams: {', '.join(aliases)})", line=prop.line, column=prop.column)
            declared = declared_types.get(seen[head].event_type)
            if declared is not None and tail not in declared:
                raise EPLCompileError(
                    f"Failed to resolve property '{prop.name}': property named '{tail}' is not "
                    f"valid in event type '{seen[head].event_type}' (its properties: "
                    f"{', '.join(sorted(declared)) or 'none'})", line=prop.line, column=prop.column)
            return (head, tail)
        if prop.name in seen:
            return (prop.name, None)
        if not all_declared:
            raise EPLCompileError(
                f"Property '{prop.name}' in a join must be qualified with a stream name "
                f"({aliases[0]}.{prop.name}) unless the event types are declared",
                line=prop.line, column=prop.column)
        owners = [s.alias for s in streams if prop.name in declared_types[s.event_type]]
        if not owners:
            raise EPLCompileError(
                f"Property named '{prop.name}' is not valid in any stream", line=prop.line,
                column=prop.column)
        if len(owners) > 1:
            raise EPLCompileError(
                f"Property named '{prop.name}' is ambiguous as it is valid for more than one "
                f"stream ({', '.join(owners)}); qualify it", line=prop.line, column=prop.column)
        return (owners[0], prop.name)

    items = st.items
    if items is None:
        # Esper names a stream's wildcard column by its alias, 'stream_<i>' when it has none
        items = tuple(A.SelectItem(A.Property(a), None if d.alias else f"stream_{i}")
                      for i, (a, d) in enumerate(zip(aliases, defs)))
    exprs = [i.expr for i in items] + [e for e in (st.where, st.having) if e is not None] \
        + list(st.group_by)
    names = {}
    for p in A.nodes_of(exprs, A.Property):
        names[p.name] = resolve(p)
    # The result-set plan: the statement as if over one stream of combinations.
    synthetic = A.StreamDef("$join", (A.View("keepall", ()),))
    rs_stmt = A.SelectStatement(items, synthetic, st.where, st.group_by, st.having,
                                st.stream_selector, output=st.output)
    if st.insert_into:
        raise EPLCompileError("'insert into' is not supported on a join yet",
                              line=st.stream.line, column=st.stream.column)
    rs = compile_select_statement(rs_stmt, {}, ctx)

    def prop_type(prop: A.Property) -> str | None:
        alias, sub = names.get(prop.name, (None, None))
        declared = declared_types.get(seen[alias].event_type) if sub is not None else None
        return None if declared is None else java_type(declared.get(sub))
    check_clause_types(st, items, prop_type, (st.stream.line, st.stream.column))
    types = []
    for s in streams:
        if s.event_type not in types:
            types.append(s.event_type)
    return JoinPlan(types[0], tuple(types), tuple(streams), rs, names)


# ================================================================ runtime

class _SideHost:
    """The window host (see :mod:`squall.cep.views`) for one stream of the join."""
    __slots__ = ("op", "index", "engine")

    def __init__(self, op: "JoinOperator", index: int) -> None:
        self.op = op
        self.index = index
        self.engine = op.engine

    def post(self, new, old, window) -> None:
        self.op._buffer(self.index, new, old)

    def register(self, obj) -> None:
        self.op.register(obj)

    def schedule(self, due: int, obj) -> None:
        self.op.schedule(due, obj)


class JoinOperator(TimerHost, Operator):
    """Runs one join statement (see the module docs)."""

    def __init__(self, stmt: "StatementHost", plan: JoinPlan, engine: "EngineHost") -> None:
        self.stmt = stmt
        self.plan = plan
        self.engine = engine
        self.stopped = False
        self._init_timers()
        rs = plan.rs
        selector = rs.selector
        self.rstream = selector == "rstream"
        self._new_rsp = lambda: PROCESSORS[rs.model](rs, selector != "rstream",
                                                     selector != "istream")
        self.rsp = self._new_rsp()
        self.aggregated = rs.model != "unaggregated"
        self.where = rs.where
        self.names = plan.names
        self.aliases = tuple(s.alias for s in plan.streams)
        n = len(plan.streams)
        self.uni = next((i for i, s in enumerate(plan.streams) if s.unidirectional), None)
        self.windows = []
        for i, s in enumerate(plan.streams):
            if s.view is None:
                self.windows.append(None)
                continue
            host = _SideHost(self, i)
            if s.view.groupwin is not None:
                self.windows.append(GroupWin(s.view.groupwin, s.view.windows, host))
            else:
                self.windows.append(make_window_set(s.view.windows, host, ("s", i)))
        # repositories: per stream, id(event) -> event, in the order events entered
        self.repos: list[dict] = [{} for _ in range(n)]
        self.by_type: dict[str, tuple[int, ...]] = {}
        for i, s in enumerate(plan.streams):
            self.by_type[s.event_type] = self.by_type.get(s.event_type, ()) + (i,)
        self._new: list = [None] * n
        self._old: list = [None] * n
        self._pending = False
        self.rate = None
        if rs.output is not None:
            from squall.cep.rate import RateLimiter
            self.rate = RateLimiter(self, rs, contents=self._all_combos)

    # -- engine interface

    def inlets(self):
        return tuple((t, TypedInlet(self, t)) for t in self.plan.event_types)

    def on_events(self, events) -> None:
        self.on_typed_events(self.plan.event_type, events)

    def on_typed_events(self, type_name: str, events) -> None:
        self.stmt.events_in += len(events)
        sides = self.by_type[type_name]
        windows = self.windows
        for ev in events:
            for i in sides:
                w = windows[i]
                if w is None:
                    self._buffer(i, [ev], [])
                else:
                    w.insert(ev)
            if self._pending:
                self._dispatch()

    def stop(self) -> None:
        self.stopped = True

    def terminate(self) -> None:
        if self.rate is not None:
            self.rate.on_terminate()

    # -- window host

    def on_due(self, now: int) -> None:
        waiting = self._due.pop(now, None)
        if self.stopped or not waiting:
            return
        waiting.sort(key=lambda o: o.slot)
        for obj in waiting:
            obj.on_timer(now)
        if self._pending:
            self._dispatch()

    def _buffer(self, i: int, new, old) -> None:
        if new:
            if self._new[i] is None:
                self._new[i] = list(new)
            else:
                self._new[i].extend(new)
        if old:
            if self._old[i] is None:
                self._old[i] = list(old)
            else:
                self._old[i].extend(old)
        self._pending = True

    # -- the join

    def _combos(self, i: int, events, out: dict) -> None:
        """Add the combinations of each of ``events`` (stream i) with the other
        streams' repositories to ``out`` (identity tuple -> JoinRow), where passing."""
        repos = self.repos
        n = len(repos)
        aliases = self.aliases
        names = self.names
        where = self.where
        others = [j for j in range(n) if j != i]
        for ev in events:
            partial = [[None] * n]
            partial[0][i] = ev
            for j in others:
                repo = repos[j]
                if not repo:
                    partial = []
                    break
                nxt = []
                for p in partial:
                    for other in repo.values():
                        q = p.copy()
                        q[j] = other
                        nxt.append(q)
                partial = nxt
            for combo in partial:
                key = tuple(map(id, combo))
                if key in out:
                    continue
                row = JoinRow(zip(aliases, combo))
                row.names = names
                if where is None or where(row) is True:
                    out[key] = row

    def _dispatch(self) -> None:
        new_per, old_per = self._new, self._old
        n = len(new_per)
        self._new, self._old = [None] * n, [None] * n
        self._pending = False
        uni = self.uni
        old_rows: dict = {}
        new_rows: dict = {}
        if uni is None:
            for i in range(n):
                if old_per[i]:
                    self._combos(i, old_per[i], old_rows)
        for i in range(n):
            if i == uni:
                continue
            repo = self.repos[i]
            for ev in new_per[i] or ():
                repo[id(ev)] = ev
            for ev in old_per[i] or ():
                repo.pop(id(ev), None)
        for i in range(n):
            if new_per[i] and (uni is None or i == uni):
                self._combos(i, new_per[i], new_rows)
        if not new_rows and not old_rows:
            return
        if uni is not None and self.aggregated:
            # Esper clears a unidirectional join's aggregation state before each execution:
            # aggregates cover the combinations of one triggering event only.
            self.rsp = self._new_rsp()
        new_combos, old_combos = list(new_rows.values()), list(old_rows.values())
        rate = self.rate
        if rate is not None and rate.wants_before:
            rate.before_post(new_combos, old_combos)
        ins, rem = self.rsp.process(new_combos, old_combos)
        if self.stopped:
            return
        if rate is not None:
            # output rate limiting counts combinations (Esper's join output view)
            rate.on_post(new_combos, old_combos, *((rem, []) if self.rstream else (ins, rem)))
        elif self.rstream:
            self.stmt.emit_streams(rem, [], None)
        else:
            self.stmt.emit_streams(ins, rem, None)

    def _all_combos(self) -> list:
        """The combinations the windows hold now (``output snapshot``); none when a
        stream is unidirectional (it holds no events)."""
        if self.uni is not None:
            return []
        out: dict = {}
        self._combos(0, list(self.repos[0].values()), out)
        return list(out.values())

    # -- snapshot (protocol of squall.cep.snapshot)

    def combo_ref(self, row: JoinRow, events: EventTable) -> list:
        """A combination held by the output clause, as references to its events."""
        return [events.ref(row[a]) for a in self.aliases]

    def combo_deref(self, events: list, refs: list) -> JoinRow:
        row = JoinRow(zip(self.aliases, (deref(events, i) for i in refs)))
        row.names = self.names
        return row

    def schedule_owners(self) -> dict:
        owners = {("join",): self}
        if self.rate is not None:
            owners[("rate",)] = self.rate
        return owners

    def snapshot_state(self, events: EventTable):
        state = {"windows": [None if w is None else w.dump(events) for w in self.windows],
                 "repos": [events.refs(r.values()) for r in self.repos],
                 "rsp": self.rsp.dump(events)}
        if self.rate is not None:
            state["rate"] = self.rate.snapshot_state(events)
        return state

    def restore_state(self, state, events: list) -> None:
        for w, d in zip(self.windows, state["windows"]):
            if w is not None:
                w.load(d, events)
        self.repos = [{id(e): e for e in (deref(events, i) for i in refs)}
                      for refs in state["repos"]]
        self.rsp.load(state["rsp"], events)
        if self.rate is not None:
            self.rate.restore_state(state["rate"], events)
        self._due = {}
        for obj in self._timed:
            if getattr(obj, "scheduled", None) is not None:
                self._due.setdefault(obj.scheduled, []).append(obj)
