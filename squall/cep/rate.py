"""Output rate limiting: ``output [after (period | N events)] [all | first | last |
snapshot] (every (N events | period) | when expr [then set v = e, ...])`` (Esper 8
reference, 5.7 "Stabilizing and Controlling Output: the Output Clause"; verified against
Esper 8.9 in tests/cep/esper/test_esper_rate.py).

A :class:`RateLimiter` sits between an operator's result-set processor and the
statement's listeners: it sees every post (the events that passed WHERE, or a join's
combinations, and the rows the processor made of them) and decides what reaches the
listeners, and when. It serves :class:`squall.cep.resultset.Pipeline`, joins
(:mod:`squall.cep.join`: combinations are counted, ``snapshot`` outputs the windows'
current combinations) and, through :class:`RatedPlan`, patterns (one un-aggregated row
per match; no data window holds them, so ``snapshot`` outputs nothing).

The condition:

* ``every N events``: the events of the posts (after WHERE) are counted, new and old
  data separately; the interval ends with the post that brings either count to N (both
  counts restart at 0).
* ``every <period>``: on the engine schedule; the first post schedules the interval's
  end ``period`` later, and from then on intervals follow each other without a gap
  (whether or not events come).
* ``when expr``: evaluated after each post, with Esper's built-in properties
  ``count_insert`` / ``count_remove`` (events since the last output), ``count_insert_total``
  / ``count_remove_total`` and ``last_output_timestamp`` (the statement's start before the
  first output), and variables; when true, the ``then set`` assignments run in order (a
  later one sees the earlier ones), then the interval ends. Esper also evaluates it when a
  variable it reads changes; Squall does not (a documented difference).
* ``after N events`` / ``after <period>`` (from the statement's start): until then,
  an un-aggregated statement drops its posts and the others keep them for the next
  output without counting them toward the condition; the post that passes N events is the first
  one counted. ``after`` alone outputs every post's rows from then on, as without a clause.

What is output at the end of an interval, per kind and output model:

==========  ==================================  ====================  =====================
kind        un-aggregated / aggregated / fully  fully aggregated,     aggregated, grouped
            aggregated (no group by)            grouped               (row per event)
==========  ==================================  ====================  =====================
(none)      every row of the interval's posts   every row of the      every row of the
                                                interval's posts      interval's posts
``all``     every row of the interval's posts   one row per group     the posts' rows, a row
                                                ever seen, current    of the group's last
                                                aggregates (also      event per group that
                                                after intervals       lost events in a post,
                                                without posts)        a row per group the
                                                                      interval did not touch
``last``    the interval's last row             one row per group     per group, its last
                                                the posts touched,    row, made at its post
                                                current aggregates    (with ``having``: its
                                                                      first row of one post)
``first``   the rows of the interval's first    per group, its own    as fully aggregated,
            post, at once; nothing more until   condition: a row at   grouped, with the row
            the interval ends                   once when the         of the event that met
                                                group's first event   the condition
                                                comes, then when its
                                                own count or period
                                                ends
``snapshot`` one row per event in the data      one row per group of  one row per event in
            windows (fully aggregated: one      the events in the     the data windows, its
            row, current aggregates, even over  data windows, current group's current
            no events)                          aggregates            aggregates
==========  ==================================  ====================  =====================

A batch window holds its last batch for ``snapshot``. A stream without a data window
holds no events, so ``snapshot`` on it outputs no event rows (un-aggregated, aggregated):
only the fully aggregated row, or one row per group (as Esper 8.9 does).

The remove stream (``irstream``; ``rstream`` delivers it as the insert stream): the rows
of the posts (no keyword, ``all`` un-grouped), the last one (``last``; fully aggregated:
the row from before the interval's first post), each touched group's row from before the
interval (fully aggregated grouped ``last``; ``all``: every group's), each group's last
(aggregated grouped ``last``); ``snapshot`` outputs nothing to ``rstream``, and ``first``
on an aggregated grouped statement nothing to it either.

A fully aggregated statement without group by outputs its current row (``having``
permitting) at the end of an interval in which nothing was posted (possible with a
period only), for every kind but ``first``: with a period this goes on after the last
event, one row per period.

``first`` counts (or times) from the first output: posts before it that give no row
(``having``) do not count; per group, only events whose group row passes ``having``
update the group's condition. ``having`` otherwise filters rows as without the clause;
``order by`` / ``limit`` apply to each output batch. Not supported (compile errors, see
:func:`squall.cep.select._check_output` and :func:`compile_output`): ``output first`` with
``irstream``/``rstream`` on a grouped fully aggregated statement, ``output first`` on an
aggregated grouped statement over a batch window, ``output after ... first`` on an
aggregated statement.

``when terminated`` (alone, or ``and when terminated`` next to another condition; with
``and expr`` and ``then set``) outputs what the interval holds when the statement's
context partition ends (a start/end or initiated/terminated context), as an interval's
end would; in a statement whose partitions never end it never fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from squall.cep import ast as A
from squall.cep.errors import EPLCompileError, EPLVariableError
from squall.cep.expressions import Scope, compile_row_expr
from squall.cep.matching import EvalContext
from squall.cep.protocol import EngineHost, Operator, StatementHost
from squall.cep.snapshot import EventTable, deref
from squall.cep.typecheck import check_expr
from squall.cep.variables import assign, assignable, check_value

__all__ = ["RateLimiter", "RatedPlan", "RatedOperator", "OutputSpec", "compile_output", "BUILTINS"]


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, (list, tuple)) else v


#: Esper's built-in properties of an ``output when`` expression
BUILTINS = {"count_insert": "Integer", "count_remove": "Integer", "count_insert_total": "Integer",
            "count_remove_total": "Integer", "last_output_timestamp": "Long"}


@dataclass(frozen=True)
class OutputSpec:
    """A compiled output clause (:func:`compile_output`); ``when`` and the ``then``
    assignments read the built-in properties (:data:`BUILTINS`) and variables."""

    kind: str
    events: int | None
    period: Any                     # ast.TimePeriod | None
    after_events: int | None
    after_ms: int | None
    when: Callable | None           # f(builtins dict) -> value
    then: tuple                     # (variable cell, f(builtins dict), java type), in order
    terminated: bool = False        # 'when terminated' (alone) or 'and when terminated'
    terminated_when: Callable | None = None     # 'when terminated and expr'
    terminated_then: tuple = ()                 # its 'then set'


def compile_output(out: A.OutputRate, ctx: EvalContext) -> OutputSpec:
    """Check and compile an output clause (after ``resolve_variables``).

    Raises:
        EPLCompileError: a property in ``when`` / ``then`` other than the built-in ones, a
            ``then set`` of an unknown or constant variable or of a value that does not fit.
    """
    scope = Scope(None, "", "output-when", None, ctx)
    when = None
    if out.when is not None:
        when = _compile_builtin_expr(out.when, scope)
    terminated_when = None
    if out.terminated_when is not None:
        terminated_when = _compile_builtin_expr(out.terminated_when, scope)
    return OutputSpec(out.kind, out.events, out.period, out.after_events,
                      None if out.after_period is None else int(out.after_period.msec),
                      when, _compile_assignments(out.then, scope, ctx),
                      out.terminated or out.and_terminated, terminated_when,
                      _compile_assignments(out.terminated_then, scope, ctx))


def _compile_assignments(assignments, scope: Scope, ctx: EvalContext) -> tuple:
    then = []
    for a in assignments:
        text = f"{a.name}={A.expr_text(a.expr)}"
        decl = ctx.variables.get(a.name)
        if decl is None or decl.constant:
            why = "has not been created or configured" if decl is None else \
                "is declared constant and may not be set"
            raise EPLCompileError(f"Failed to validate the output clause's assignment '{text}': "
                                  f"variable '{a.name}' {why}", line=a.line, column=a.column)
        vt = check_expr(a.expr, lambda p: BUILTINS.get(p.name), "output-when", (a.line, a.column))
        if not assignable(decl.java_type, vt):
            raise EPLCompileError(f"Failed to validate the output clause's assignment '{text}': "
                                  f"variable '{a.name}' of declared type {decl.java_type} cannot be "
                                  f"assigned a value of type {vt}", line=a.line, column=a.column)
        then.append((decl.cell, _compile_builtin_expr(a.expr, scope), decl.java_type))
    return tuple(then)


def _compile_builtin_expr(e: A.Expr, scope: Scope) -> Callable:
    for p in A.nodes_of([e], A.Property):
        if p.name not in BUILTINS:
            raise EPLCompileError(
                f"Output when: '{p.name}' is not a variable nor a built-in property of the output "
                f"condition ({', '.join(BUILTINS)})", line=p.line, column=p.column)
    for agg in A.nodes_of([e], A.Aggregate):
        raise EPLCompileError("Output when: aggregates are not allowed in the output condition",
                              line=agg.line, column=agg.column)
    return compile_row_expr(e, scope)


def kind_wants_old(kind: str, selector: str) -> bool:
    return kind in ("last", "all") and selector != "istream"


class RateLimiter:
    """The output clause of one statement (see the module docstring).

    ``owner``: the operator whose posts it limits; it has ``stmt``, ``engine``,
    ``stopped`` and ``rsp`` (its result-set processor, read at each use: a
    unidirectional join makes a new one per execution; None for pattern rows).
    ``contents``: for ``snapshot`` on a join, a function giving the combinations the
    windows hold now (a single stream's events are tracked from its posts)."""

    def __init__(self, owner, plan, contents=None) -> None:
        out = plan.output
        self.pipeline = owner
        self.stmt = owner.stmt
        self.engine = owner.engine
        self.kind = out.kind
        self.grouped = plan.model == "fully_grouped"
        self.agg_grouped = plan.model == "aggregated_grouped"
        self.model = plan.model
        self.key = plan.group_key
        self.rstream = plan.selector == "rstream"
        self.every_n = out.events
        self.period_ms = None if out.period is None else int(out.period.msec)
        self.when = out.when
        self.then = out.then
        self.terminated = out.terminated
        self.terminated_when = out.terminated_when
        self.terminated_then = out.terminated_then
        self.counts_builtins = out.when is not None or out.terminated_when is not None
        self.conditioned = out.events is not None or out.period is not None or out.when is not None \
            or out.terminated
        # output after: suppressed until so many events (or rows, without a condition)
        # or until the period from the statement's start has passed
        start = self.engine.current_time_ms
        self.after_events = out.after_events
        self.after_due = None if out.after_ms is None else start + out.after_ms
        self.after_seen = 0
        self.after_done = out.after_events is None and out.after_ms is None
        # output when: built-in properties
        self.total_new = 0
        self.total_old = 0
        self.last_output_ms = start
        # interval state
        self.n_new = 0
        self.n_old = 0
        self.due: int | None = None
        self.deferred = False           # on_due put behind the other schedules due now
        self.phase: int | None = None   # an interval end, once the timer has stopped
        self.posted = False             # a post in the current interval
        self.witnessed = False          # first: the interval's first rows went out
        self.buf_new: list = []
        self.buf_old: list = []
        self.last_new = None
        self.last_old = None
        self.touched: dict = {}         # group key -> an event of the group (last, grouped)
        self.touched_old: dict = {}     # group key -> its remove-stream row (grouped, irstream)
        self.last_rows: dict = {}       # group key -> its last row (last, aggregated grouped)
        self.last_old_rows: dict = {}   # group key -> its last remove-stream row (same)
        self.seen: dict = {}            # group keys the interval touched (all, aggregated grouped)
        self.reps: dict = {}            # group key -> the group's last new event (same)
        self.conds: dict = {}           # group key -> its own condition (first, grouped)
        self.contents: dict = {}        # id(event) -> event in the windows (snapshot)
        self.join_contents = contents
        # Without a data window the stream holds no events: a snapshot has no event rows,
        # and a grouped one covers every group ever seen (Esper's unbound row-per-group).
        view = getattr(plan, "view", None)
        self.unbound = view is None or view.unbound
        self.wants_before = self.grouped and kind_wants_old(out.kind, plan.selector)

    @property
    def rsp(self):
        return self.pipeline.rsp

    # -- posts

    def on_post(self, new: list, old: list, new_rows: list, old_rows: list) -> None:
        counted = True
        if not self.after_done and not self._after(len(new) if self.conditioned else len(new_rows)):
            # Before 'after' is met (Esper 8.9): an un-aggregated statement drops the
            # post; the others keep it for the next output, uncounted.
            if self.model == "unaggregated" or not self.conditioned:
                return
            counted = False
        if not self.conditioned:
            self.stmt.emit_streams(new_rows, old_rows, None)
            return
        kind = self.kind
        self.posted = True
        if kind == "snapshot":
            if not self.unbound and self.join_contents is None:
                self._hold(new, old)
        elif kind == "first":
            if self.grouped or self.agg_grouped:
                self._first_per_group(new, old)
                return
            if not self.witnessed:
                if not (new_rows or old_rows):
                    return   # the interval starts with the first output
                self.witnessed = True
                self.stmt.emit_streams(new_rows, old_rows, None)
        elif kind == "last":
            if self.grouped:
                self._touch(new, old)
            elif self.agg_grouped:
                self._last_per_group(new, old)
            elif self.model == "fully_aggregated":
                # the remove stream's row is the one before the interval's first post
                if new_rows and (self.last_new is None or not self.rstream):
                    self.last_new = new_rows[-1]
                if old_rows and self.last_old is None:
                    self.last_old = old_rows[0]
            else:
                if new_rows:
                    self.last_new = new_rows[-1]
                if old_rows:
                    self.last_old = old_rows[-1]
        elif kind == "all" and self.grouped:
            pass   # every group's row at the interval's end (before_post keeps the old rows)
        elif kind == "all" and self.agg_grouped and not self.rstream:
            self._all_per_event(new, old, new_rows, old_rows)
        else:
            self.buf_new.extend(new_rows)
            self.buf_old.extend(old_rows)
        if counted:
            self._count(new, old)

    def _after(self, n: int) -> bool:
        """Whether ``output after`` lets this post through (Esper 8.9: the post that
        passes the count is the first one output)."""
        if self.after_due is not None:
            if self.engine.current_time_ms < self.after_due:
                return False
        else:
            self.after_seen += n
            if self.after_seen <= self.after_events:
                return False
        self.after_done = True
        return True

    def _count(self, new, old) -> None:
        if self.counts_builtins:
            self.n_new += len(new)
            self.n_old += len(old)
            self.total_new += len(new)
            self.total_old += len(old)
        if self.when is not None:
            props = self._builtins()
            if self.when(props) is True:
                self._assign(props, self.then)
                self.n_new = self.n_old = 0
                self.last_output_ms = self.engine.current_time_ms
                self._output()
            return
        if self.every_n is not None:
            if not self.counts_builtins:
                self.n_new += len(new)
                self.n_old += len(old)
            if self.n_new >= self.every_n or self.n_old >= self.every_n:
                self.n_new = self.n_old = 0
                self._output()
        elif self.period_ms is not None and self.due is None:
            now, phase, p = self.engine.current_time_ms, self.phase, self.period_ms
            # the first post starts the intervals; after idle intervals (see on_due) the
            # next interval end keeps the original phase. A timer post (a window expiry)
            # at an interval end still belongs to that interval, whose end fires after the
            # windows' timers; an event at that time belongs to the next one.
            if phase is None:
                due = now + p
            elif (now - phase) % p == 0 and self.engine.firing:
                due = now
            else:
                due = phase + ((now - phase) // p + 1) * p
            self._schedule(due)

    def _builtins(self) -> dict:
        return {"count_insert": self.n_new, "count_remove": self.n_old,
                "count_insert_total": self.total_new, "count_remove_total": self.total_old,
                "last_output_timestamp": self.last_output_ms}

    def on_terminate(self) -> None:
        """The context partition ends: ``when terminated`` (``and expr`` permitting)
        outputs what the interval holds, as at an interval's end, then runs its ``then
        set``.

        Semantics: Esper 8 reference 5.7.1.1, "Output When Terminated"."""
        if not self.terminated or self.pipeline.stopped:
            return
        props = self._builtins()
        if self.terminated_when is not None and self.terminated_when(props) is not True:
            return
        self.n_new = self.n_old = 0
        self.last_output_ms = self.engine.current_time_ms
        self._output()
        # after the output here (Esper 8.9: a fully aggregated row made at the end still
        # reads the variable's old value), where 'output when ... then set' assigns first
        self._assign(props, self.terminated_then)

    def _assign(self, props: dict, assignments: tuple) -> None:
        """``then set``: the assignments in order (a later one sees the earlier ones)."""
        for cell, f, java_type in assignments:
            try:
                v = check_value(cell.name, java_type, f(props))
            except EPLVariableError as exc:
                self.stmt.report_error(props, f"{exc}; the assignment was skipped")
                continue
            assign(cell, v)

    def _hold(self, new, old) -> None:
        c = self.contents
        for ev in new:
            c[id(ev)] = ev
        for ev in old:
            c.pop(id(ev), None)

    def before_post(self, new: list, old: list) -> None:
        """Called before the result-set processor takes a post (when ``wants_before``):
        grouped fully aggregated ``last``/``all`` with the remove stream keep each group's
        row from before the interval first touched it."""
        key, told, rows = self.key, self.touched_old, self.rsp._group_rows
        for events in (new, old):
            for ev in events:
                k = key(ev)
                if k not in told:
                    told[k] = rows({k: ev})

    def _touch(self, new, old) -> None:
        """Grouped fully aggregated ``last``/``all``: the groups the post touched."""
        key, touched = self.key, self.touched
        for ev in new:
            touched.setdefault(key(ev), ev)
        for ev in old:
            touched.setdefault(key(ev), ev)

    def _last_per_group(self, new, old) -> None:
        """Aggregated grouped ``last``: per group, its last row of each stream, made
        at the post (the group's aggregates then)."""
        # With 'having', Esper 8.9 keeps a group's first row of one post (its last
        # otherwise); a later post replaces it either way.
        keep_first = self.rsp.having is not None
        if not self.rstream:
            self._last_rows(new, self.last_rows, keep_first)
        if self.rstream or self.rsp.want_old:
            self._last_rows(old, self.last_rows if self.rstream else self.last_old_rows, keep_first)

    def _last_rows(self, events, target: dict, keep_first: bool) -> None:
        rows, key, done = self.rsp._event_rows, self.key, set()
        for ev in events:
            r = rows([ev])
            if r:
                k = key(ev)
                if keep_first:
                    if k in done:
                        continue
                    done.add(k)
                target[k] = r[0]

    def _all_per_event(self, new, old, new_rows, old_rows) -> None:
        """Aggregated grouped ``all``: the post's rows, a row of its group's last new
        event for each event that left (the aggregates after the post); the groups the
        interval does not touch get their row at its end (see _output_rows)."""
        key, reps, touched = self.key, self.reps, self.seen
        for ev in new:
            k = key(ev)
            reps[k] = ev
            touched[k] = True
        extra, left = [], {}
        for ev in old:
            k = key(ev)
            touched[k] = True
            left[k] = True
        for k in left:   # one row per group, whatever number of its events left
            rep = reps.get(k)
            if rep is not None:
                extra.extend(self.rsp._event_rows([rep]))
        self.buf_new.extend(new_rows)
        self.buf_new.extend(extra)
        self.buf_old.extend(old_rows)

    def _first_per_group(self, new, old) -> None:
        """Each group has its own condition, updated only by events whose group row
        passes ``having``; a group whose condition holds outputs its row now (aggregated
        grouped: the row of the event that met the condition)."""
        key, out, done = self.key, [], set()
        if self.grouped:
            group_rows = self.rsp._group_rows
            rows_of = lambda k, ev: group_rows({k: ev})  # noqa: E731
        else:
            event_rows = self.rsp._event_rows
            rows_of = lambda k, ev: event_rows([ev])  # noqa: E731
        for events, dn, do in ((new, 1, 0), (old, 0, 1)):
            for ev in events:
                k = key(ev)
                rows = rows_of(k, ev)
                if rows and self._group_condition(k, dn, do) and k not in done:
                    done.add(k)
                    out.extend(rows)
        if out and not self.rstream:
            self.stmt.emit_streams(out, [], None)

    def _group_condition(self, k, dn: int, do: int) -> bool:
        """A group's own condition for ``output first`` (true: output the group now)."""
        conds = self.conds
        if self.every_n is None:
            now = self.engine.current_time_ms
            last = conds.get(k)
            if last is None or now >= last + self.period_ms:
                conds[k] = now
                return True
            return False
        c = conds.get(k)
        if c is None:
            conds[k] = [0, 0]
            return True
        c[0] += dn
        c[1] += do
        if c[0] >= self.every_n or c[1] >= self.every_n:
            c[0] = c[1] = 0
            return True
        return False

    # -- interval ends

    def _schedule(self, due: int) -> None:
        self.due = due
        self.engine.schedule(due, self.on_due)

    def on_due(self, now: int) -> None:
        if self.pipeline.stopped or self.due != now:
            return
        if not self.deferred:
            # After the statement's data windows' timers due now (Esper fires a
            # statement's view schedules before its output condition's).
            self.deferred = True
            self.engine.schedule(now, self.on_due)
            return
        self.deferred = False
        posted = self.posted
        if self._output() or posted:
            self._schedule(now + self.period_ms)
        else:
            # Nothing posted and nothing to output: the state cannot change until the
            # next post, so every further interval would output nothing either. Stop the
            # timer; the next post resumes it in phase.
            self.due, self.phase = None, now

    def _output(self) -> bool:
        """End the interval; true when it had rows to output."""
        kind, rsp = self.kind, self.rsp
        rows_seen = []

        def emit(new, old, window):
            if new or old:
                rows_seen.append(True)
            self.stmt.emit_streams(new, old, window)
        self._output_rows(kind, rsp, emit)
        return bool(rows_seen)

    def _output_rows(self, kind, rsp, emit) -> None:
        posted, self.posted = self.posted, False
        if not posted and kind != "first" and self.model == "fully_aggregated":
            emit(rsp._row(), [], None)   # an interval without posts: the current row
            return
        if kind == "first":
            self.witnessed = False
        elif kind == "last":
            if self.grouped:
                touched, self.touched = self.touched, {}
                old = self._old_group_rows()
                if self.rstream:
                    emit(old, [], None)
                else:
                    emit(rsp._group_rows(touched) if touched else [], old, None)
            elif self.agg_grouped:
                new, old = self.last_rows, self.last_old_rows
                self.last_rows, self.last_old_rows = {}, {}
                emit(list(new.values()), list(old.values()), None)
            else:
                new, old = self.last_new, self.last_old
                self.last_new = self.last_old = None
                emit([] if new is None else [new], [] if old is None else [old], None)
        elif kind == "snapshot":
            if not self.rstream:   # Esper 8.9 outputs no snapshot to 'select rstream'
                emit(self._snapshot_rows(), [], None)
        elif kind == "all" and self.grouped:
            # the remove stream: every group's row as the interval began
            told, self.touched_old = self.touched_old, {}
            old = []
            if self.wants_before:
                for k, acc in rsp.groups.items():
                    rows = told.get(k)
                    old.extend(rsp._group_rows({k: acc[0]}) if rows is None else rows)
            if self.rstream:
                emit(old, [], None)
            else:
                emit(rsp._group_rows({k: acc[0] for k, acc in rsp.groups.items()}) if rsp.groups else [],
                     old, None)
        elif kind == "all" and self.agg_grouped and not self.rstream:
            new, old, seen = self.buf_new, self.buf_old, self.seen
            self.buf_new, self.buf_old, self.seen = [], [], {}
            rows = rsp._event_rows
            for k, ev in self.reps.items():
                if k not in seen:
                    new.extend(rows([ev]))
            emit(new, old, None)
        else:
            new, old = self.buf_new, self.buf_old
            self.buf_new, self.buf_old = [], []
            emit(new, old, None)

    def _old_group_rows(self) -> list:
        told, self.touched_old = self.touched_old, {}
        return [r for rows in told.values() for r in rows]

    def _snapshot_rows(self) -> list:
        rsp, model = self.rsp, self.model
        events = self.join_contents() if self.join_contents is not None else list(self.contents.values())
        if rsp is None:
            return events   # pattern rows: no data window holds them
        if model == "unaggregated":
            return rsp._rows(events, None)
        if model == "aggregated":
            return rsp._rows(events, rsp.aggs.values(rsp.acc))
        if model == "fully_aggregated":
            return rsp._row()
        if model == "aggregated_grouped":
            return rsp._event_rows(events)
        if self.unbound:
            return rsp._group_rows({k: acc[0] for k, acc in rsp.groups.items()})
        key, keys = self.key, {}
        for ev in events:
            keys.setdefault(key(ev), ev)
        return rsp._group_rows(keys)

    # -- snapshot protocol (squall.cep.snapshot)

    def snapshot_state(self, tab: EventTable):
        # a join's "events" are combinations: its operator refers to their events
        ref = tab.ref if not hasattr(self.pipeline, "combo_ref") else \
            (lambda row: self.pipeline.combo_ref(row, tab))
        return {"n_new": self.n_new, "n_old": self.n_old, "due": self.due, "phase": self.phase,
                "after": [self.after_seen, self.after_done],
                "totals": [self.total_new, self.total_old, self.last_output_ms],
                "posted": self.posted,
                "witnessed": self.witnessed, "buf_new": [dict(r) for r in self.buf_new],
                "buf_old": [dict(r) for r in self.buf_old],
                "last_new": None if self.last_new is None else dict(self.last_new),
                "last_old": None if self.last_old is None else dict(self.last_old),
                "touched": [[k, ref(ev)] for k, ev in self.touched.items()],
                "touched_old": [[k, [dict(r) for r in rows]] for k, rows in self.touched_old.items()],
                "last_rows": [[k, dict(r)] for k, r in self.last_rows.items()],
                "last_old_rows": [[k, dict(r)] for k, r in self.last_old_rows.items()],
                "seen": list(self.seen),
                "reps": [[k, ref(ev)] for k, ev in self.reps.items()],
                "conds": [[k, c] for k, c in self.conds.items()],
                "contents": tab.refs(self.contents.values())}

    def restore_state(self, state, events: list) -> None:
        ev_of = getattr(self.pipeline, "combo_deref", deref)
        self.n_new, self.n_old = state["n_new"], state["n_old"]
        self.after_seen, self.after_done = state["after"]
        self.total_new, self.total_old, self.last_output_ms = state["totals"]
        self.due, self.posted, self.witnessed = state["due"], state["posted"], state["witnessed"]
        self.phase = state["phase"]
        self.buf_new = [dict(r) for r in state["buf_new"]]
        self.buf_old = [dict(r) for r in state["buf_old"]]
        self.last_new = None if state["last_new"] is None else dict(state["last_new"])
        self.last_old = None if state["last_old"] is None else dict(state["last_old"])
        self.touched = {_tuplify(k): ev_of(events, i) for k, i in state["touched"]}
        self.touched_old = {_tuplify(k): [dict(r) for r in rows] for k, rows in state["touched_old"]}
        self.last_rows = {_tuplify(k): dict(r) for k, r in state["last_rows"]}
        self.last_old_rows = {_tuplify(k): dict(r) for k, r in state["last_old_rows"]}
        self.seen = {_tuplify(k): True for k in state["seen"]}
        self.reps = {_tuplify(k): ev_of(events, i) for k, i in state["reps"]}
        self.conds = {_tuplify(k): (list(c) if isinstance(c, (list, tuple)) else c)
                      for k, c in state["conds"]}
        contents = [deref(events, i) for i in state["contents"]]
        self.contents = {id(ev): ev for ev in contents}


@dataclass(frozen=True)
class RatedPlan:
    """A statement whose operator makes rows without a result-set processor (a pattern)
    under an output clause: its rows are un-aggregated, one per match, and no data window
    holds them (``output snapshot`` outputs none)."""

    inner: Any
    output: Any                     # ast.OutputRate
    model: str = "unaggregated"
    group_key: Any = None
    selector: str = "istream"
    view: Any = None

    def __getattr__(self, name):
        # what the engine reads of the inner plan (columns, event types, wildcard, ...)
        return getattr(self.inner, name)

    def make_operator(self, stmt: StatementHost, engine: EngineHost) -> "RatedOperator":
        return RatedOperator(stmt, self, engine)


class _RatedHost:
    """The statement host the inner operator sees: its rows go to the rate limiter."""

    def __init__(self, stmt: StatementHost, op: "RatedOperator") -> None:
        self._stmt = stmt
        self._op = op

    @property
    def events_in(self) -> int:
        return self._stmt.events_in

    @events_in.setter
    def events_in(self, n: int) -> None:
        self._stmt.events_in = n

    def emit(self, rows: list, window) -> None:
        if not self._op.stopped:
            self._op.rate.on_post(rows, [], rows, [])

    def emit_streams(self, new_rows: list, old_rows: list, window) -> None:
        if not self._op.stopped:
            self._op.rate.on_post(new_rows, old_rows, new_rows, old_rows)

    def __getattr__(self, name):
        return getattr(self._stmt, name)


class RatedOperator(Operator):
    """Runs a :class:`RatedPlan`: the inner operator's rows pass the output clause."""

    rsp = None

    def __init__(self, stmt: StatementHost, plan: RatedPlan, engine: EngineHost) -> None:
        self.stmt = stmt
        self.engine = engine
        self.stopped = False
        self.rate = RateLimiter(self, plan)
        self.inner = plan.inner.make_operator(_RatedHost(stmt, self), engine)

    def on_events(self, events) -> None:
        self.inner.on_events(events)

    def inlets(self):
        return self.inner.inlets()

    def stop(self) -> None:
        self.stopped = True
        self.inner.stop()

    def terminate(self) -> None:
        self.rate.on_terminate()

    def schedule_owners(self) -> dict:
        owners = {("inner",) + k: v for k, v in self.inner.schedule_owners().items()}
        owners[("rate",)] = self.rate
        return owners

    def snapshot_state(self, events: EventTable):
        return {"inner": self.inner.snapshot_state(events), "rate": self.rate.snapshot_state(events)}

    def restore_state(self, state, events: list) -> None:
        self.inner.restore_state(state["inner"], events)
        self.rate.restore_state(state["rate"], events)
