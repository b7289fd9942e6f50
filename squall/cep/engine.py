"""The EPL engine: compiles statements, routes events to them, keeps engine time.

Time is epoch milliseconds. With :class:`ExternalClock` time moves only through
:meth:`EPLEngine.advance_time`; with :class:`WallClock` the engine reads the clock on
every ``send``/``send_many``/``poll``. Either way, when time moves the engine fires
every schedule due up to the new time in order, each at its own due time (as Esper's
``CurrentTimeSpanEvent`` does), and only then processes events at the new time.

Threading: an engine is not thread-safe; call it from one thread (a bolt's executor).

>>> engine = EPLEngine(clock=ExternalClock(start_ms=0))
>>> st = engine.compile(
...     "select carNumber, avg(speed) from DriverCarInfo#time_batch(30 sec) "
...     "group by carNumber having avg(speed) > 80", name="speeding")[0]
>>> seen = []
>>> st.add_listener(lambda new, old: seen.append((st.last_output_window, new)))
>>> engine.send_many("DriverCarInfo", [{"carNumber": "A", "speed": 90.0},
...                                    {"carNumber": "B", "speed": 50.0},
...                                    {"carNumber": "A", "speed": 100.0}])
>>> engine.advance_time(30_000)
>>> seen
[((0, 30000), [{'carNumber': 'A', 'avg(speed)': 95.0}])]
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from typing import Any, Callable, Iterable

from squall.cep.compile import compile_statement, splits_streams
from squall.cep.errors import EPLCompileError, EPLError, EPLEvaluationError
from squall.cep.matching import MATCH_TIMEOUT_S, PATTERN_CACHE_SIZE, EvalContext
from squall.cep.output import HIDDEN, compile_shaper
from squall.cep.parser import parse_statements
from squall.cep.operators import make_operator
from squall.cep.protocol import Operator
from squall.cep.snapshot import SNAPSHOT_VERSION, EventTable
from squall.cep.plugins import check_plugin_name
from squall.cep.ast import SelectStatement
from squall.cep.errors import EPLVariableError
from squall.cep.variables import (OnSetPlan, Variable, VariableDecl, assign, check_value,
                                  resolve_variables)
from squall.cep.on_action import OnActionPlan
from squall.cep.query import execute_query as _run_query

__all__ = ["EPLEngine", "Statement", "WallClock", "ExternalClock", "ErrorThrottle"]

Listener = Callable[[list, list], None]
ErrorHandler = Callable[[EPLEvaluationError], None]

log = logging.getLogger(__name__)

#: Default of ``EPLEngine(max_pattern_instances=...)``: a bound against runaway patterns,
#: far above what a pattern that completes its matches keeps active.
MAX_PATTERN_INSTANCES = 100_000


class ErrorThrottle:
    """Passes at most ``max_per_interval`` error reports per ``interval_s`` seconds and
    counts the others; the next report passed says how many were held back.

    Args:
        interval_s: the throttle interval, seconds (Storm's
            ``topology.error.throttle.interval.secs``, default 10).
        max_per_interval: reports passed per interval (Storm's
            ``topology.max.error.report.per.interval``, default 5).
        clock: seconds, monotonic; wall-clock pacing of diagnostics only, never event time.

    Semantics: Storm, ``Executor.reportError`` throttling.
    """

    __slots__ = ("interval_s", "max_per_interval", "_clock", "_window_start", "_passed", "_held")

    def __init__(self, interval_s: float = 10.0, max_per_interval: int = 5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = float(interval_s)
        self.max_per_interval = int(max_per_interval)
        self._clock = clock
        self._window_start: float | None = None
        self._passed = 0
        self._held = 0

    def admit(self) -> int | None:
        """None when this report is held back; else how many were held back before it."""
        now = self._clock()
        if self._window_start is None or now - self._window_start >= self.interval_s:
            self._window_start, self._passed = now, 0
        if self._passed >= self.max_per_interval:
            self._held += 1
            return None
        self._passed += 1
        held, self._held = self._held, 0
        return held


def _log_error(err: EPLEvaluationError) -> None:
    log.warning("%s", err)


class WallClock:
    """Engine time from the system clock: ``int(time.time() * 1000)``."""

    external = False

    def now_ms(self) -> int:
        return int(time.time() * 1000)


class ExternalClock:
    """Engine time set by the caller only (``EPLEngine.advance_time``), epoch milliseconds."""

    external = True

    def __init__(self, start_ms: int = 0) -> None:
        self.start_ms = int(start_ms)

    def now_ms(self) -> int:
        return self.start_ms


class Statement:
    """A compiled, running EPL statement.

    Attributes:
        name: statement name (see :meth:`EPLEngine.compile`).
        text: the statement's EPL text.
        events_in: events delivered to the statement's data window.
        rows_out: output rows delivered to listeners.
        last_output_window: ``(start_ms, end_ms)`` of the time batch whose rows are being
            (or were last) delivered, end exclusive; None for other windows or before
            any output. Read it inside a listener to log a detection's window.
        plan: the compiled plan (output model, view, closures).
    """

    def __init__(self, name: str, text: str, plan, engine: "EPLEngine") -> None:
        self.name = name
        self.text = text
        self.plan = plan
        self.events_in = 0
        self.rows_out = 0
        self.last_output_window: tuple[int, int] | None = None
        self._listeners: list[Listener] = []
        self._ctx: EvalContext | None = None
        #: order by / limit on each output batch (squall.cep.output), None without them.
        self._shape = None
        #: ``insert into Name``: the insert-stream rows go to the engine as events of Name.
        self._insert_into: str | None = None
        #: (insert selector, select's stream selector) when ``insert into`` receives other
        #: streams than the listeners (squall.cep.compile.splits_streams), else None.
        self._split: tuple[str, str] | None = None
        self._engine = engine
        self._operator: Operator = make_operator(self, plan, engine)

    @property
    def errors(self) -> int:
        """Events this statement could not evaluate as written (a ``like``/``regexp``
        match that timed out, a bad pattern from an event), throttled reports included."""
        return 0 if self._ctx is None else self._ctx.errors

    @property
    def cached_patterns(self) -> int:
        """Compiled ``like``/``regexp`` patterns from event data the statement holds now
        (at most the engine's ``pattern_cache_size``)."""
        return 0 if self._ctx is None else len(self._ctx.patterns)

    @property
    def columns(self) -> tuple[str, ...]:
        """Output row keys, in select-list order (empty for ``select *`` on undeclared types)."""
        columns = self.plan.columns
        if any(c.startswith(HIDDEN) for c in columns):
            return tuple(c for c in columns if not c.startswith(HIDDEN))   # order-by keys
        return columns

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(new_rows, old_rows)`` on each output; rows are dicts keyed by column.

        ``new_rows`` is the insert stream; ``old_rows`` the remove stream, non-empty only
        for ``select irstream`` (``select rstream`` delivers the remove stream as
        ``new_rows``). Listeners run on the thread that sent the event or advanced time;
        exceptions propagate to it.
        """
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        self._listeners.remove(fn)

    @property
    def listening(self) -> bool:
        """Whether any listener is registered (an operator may skip building rows)."""
        return bool(self._listeners)

    def report_error(self, record: Any, reason: str) -> None:
        """The statement could not evaluate ``record`` as written: counted in
        :attr:`errors` and passed (throttled) to the engine's ``on_error``."""
        if self._ctx is not None:
            self._ctx.report(record, reason)

    def emit_streams(self, new_rows: list, old_rows: list,
                     window: tuple[int, int] | None) -> None:
        """Deliver insert-stream and remove-stream rows (either may be empty) through
        order by / limit, ``insert into`` and the listeners. Called by the statement's
        operator (:class:`squall.cep.protocol.StatementHost`)."""
        shape = self._shape
        if shape is not None:
            new_rows, old_rows = shape(new_rows), shape(old_rows)
        if not new_rows and not old_rows:
            return
        self.last_output_window = window
        split = self._split
        if split is not None:
            # the operator computed both streams (squall.cep.compile.splits_streams)
            inserted = new_rows if split[0] == "istream" else \
                old_rows if split[0] == "rstream" else new_rows + old_rows
            if inserted:
                self._engine._insert(self._insert_into, [dict(r) for r in inserted])
            if split[1] == "istream":
                old_rows = []
            elif split[1] == "rstream":
                new_rows, old_rows = old_rows, []
            if not new_rows and not old_rows:
                return
        elif self._insert_into is not None and new_rows:
            self._engine._insert(self._insert_into, [dict(r) for r in new_rows])
        self.rows_out += len(new_rows) + len(old_rows)
        for fn in self._listeners:
            fn(new_rows, old_rows)

    def emit(self, rows: list, window: tuple[int, int] | None) -> None:
        """Deliver insert-stream rows only; ``window`` is the ``(start_ms, end_ms)`` of
        the batch they come from, or None (see :meth:`emit_streams`)."""
        shape = self._shape
        if shape is not None:
            rows = shape(rows)
        if not rows:
            return
        self.rows_out += len(rows)
        self.last_output_window = window
        if self._insert_into is not None:
            self._engine._insert(self._insert_into, [dict(r) for r in rows])
        for fn in self._listeners:
            fn(rows, [])

    def __repr__(self) -> str:
        return f"<Statement {self.name!r}: {self.text!r}>"


class EPLEngine:
    """Compiles EPL statements and runs them over dict events.

    Args:
        clock: ``WallClock()`` (default) or ``ExternalClock(start_ms)``.
        on_error: called with an :class:`EPLEvaluationError` when a statement cannot
            evaluate an event as written (the engine goes on with the next expression
            and event); default: a warning on the ``squall.cep.engine`` logger. Called
            on the sending thread; an exception it raises propagates to ``send``.
        error_throttle: paces ``on_error`` (default: 5 reports per 10 s, as Storm;
            held-back reports are counted in the next one's ``suppressed``).
        match_timeout_s: bound on one ``like``/``regexp`` match, seconds (see
            :mod:`squall.cep.matching`).
        pattern_cache_size: compiled patterns from event data each statement keeps (LRU).
        max_pattern_instances: per pattern statement, the active pattern instances
            (filters waiting for an event, timers waiting for their time) beyond which a
            new instance is not started while the one that triggered it stays active
            (``every`` over a sub-pattern that keeps running, a followed-by after an
            ``every``); the first refusal is reported to ``on_error``. Bounds memory and
            time per event for patterns such as ``every (every a=A)``, whose instances
            double with each event. Esper has no limit by default (its runtime
            limit on pattern sub-expressions counts followed-by sub-expressions).

    Checkpoints: :meth:`snapshot` returns the whole engine state as plain data (engine
    time, pending schedules, every statement's windows, aggregation and output state,
    counters) that the state codec stores without pickle; :meth:`restore` loads it into
    a fresh engine that compiled the same statements (same names and texts; others stay
    fresh). Feeding the rest of the events then gives exactly the outputs of an
    uninterrupted run::

        codec = StateCodec()                       # squall.state.codec
        snap = codec.encode(engine.snapshot())
        engine2 = EPLEngine(ExternalClock(0)); engine2.compile(rules, name="rule")
        engine2.restore(codec.decode(snap))

    Semantics: Esper 8 reference, 5 "EPL Reference: Clauses" and 14 "Data Windows",
    for the supported subset (see ``squall.cep`` package docs).
    """

    def __init__(self, clock: WallClock | ExternalClock | None = None, *,
                 on_error: ErrorHandler | None = None, error_throttle: ErrorThrottle | None = None,
                 match_timeout_s: float = MATCH_TIMEOUT_S,
                 pattern_cache_size: int = PATTERN_CACHE_SIZE,
                 max_pattern_instances: int = MAX_PATTERN_INSTANCES) -> None:
        self.clock = clock if clock is not None else WallClock()
        self._on_error = on_error if on_error is not None else _log_error
        self._throttle = error_throttle if error_throttle is not None else ErrorThrottle()
        if not match_timeout_s > 0:
            raise ValueError(f"match_timeout_s must be positive, got {match_timeout_s!r}")
        if pattern_cache_size < 1:
            raise ValueError(f"pattern_cache_size must be at least 1, got {pattern_cache_size!r}")
        if max_pattern_instances < 1:
            raise ValueError(f"max_pattern_instances must be at least 1, got "
                             f"{max_pattern_instances!r}")
        #: per pattern statement, filters and timers active at once (see __init__ docs)
        self.max_pattern_instances = int(max_pattern_instances)
        self._match_timeout_s = float(match_timeout_s)
        self._pattern_cache_size = int(pattern_cache_size)
        self._external = self.clock.external
        #: engine time, epoch milliseconds (read it; it moves by advance_time/send/poll)
        self.current_time_ms = self.clock.now_ms()
        self._heap: list = []
        self._seq = itertools.count()
        self._types: dict[str, dict[str, type]] = {}
        self._statements: dict[str, Statement] = {}
        self._routes: dict[str, list] = {}
        self._auto = itertools.count()
        #: insert-into events waiting to be processed: (event type, event), FIFO
        self._inserted: list = []
        #: true while a schedule callback runs (not while an event is processed)
        self.firing = False
        #: variable cells by name, kept for the engine's life (squall.cep.variables)
        self._cells: dict[str, Variable] = {}
        #: named windows and tables by name (squall.cep.named_window, squall.cep.table)
        self._catalog: dict = {}
        #: plug-in single-row and aggregation functions (squall.cep.plugins)
        self._functions: dict[str, Callable] = {}
        self._aggregations: dict[str, Callable] = {}

    # -- types and statements

    def define_event_type(self, name: str, properties: dict[str, type]) -> None:
        """Declare an event type; statements against it are checked, when they compile, for
        unknown properties and type mismatches (:mod:`squall.cep.typecheck`)."""
        self._types[name] = dict(properties)

    def register_function(self, name: str, fn: Callable[..., Any]) -> None:
        """Make ``name(args...)`` a single-row function in statements compiled from now on:
        ``fn(*values)`` is called with the arguments' values (null as None) each time the
        expression is evaluated; an exception makes the expression null for that event
        and is reported to ``on_error`` (see :mod:`squall.cep.plugins`).

        Raises:
            ValueError: ``name`` is not an identifier or is a built-in aggregation.
            TypeError: ``fn`` is not callable.

        Semantics: Esper 8 reference, 19.3 "Single-Row Function".
        """
        check_plugin_name(name, "function", fn)
        self._functions[name] = fn

    def register_aggregation(self, name: str, factory: Callable[[], Any]) -> None:
        """Make ``name(expr)`` an aggregation function in statements compiled from now on:
        ``factory()`` gives a fresh aggregator (per group, batch, window...) with
        ``enter(value)``, ``leave(value)`` and ``value()``, and optionally ``snapshot()``
        / ``restore(state)`` for checkpoints (see :mod:`squall.cep.plugins`).

        Raises:
            ValueError: ``name`` is not an identifier or is a built-in aggregation.
            TypeError: ``factory`` is not callable.

        Semantics: Esper 8 reference, 19.5 "Aggregation Function".
        """
        check_plugin_name(name, "aggregation function", factory)
        self._aggregations[name] = factory

    @property
    def functions(self) -> dict[str, Callable[..., Any]]:
        """The registered plug-in single-row functions: name -> callable (a copy)."""
        return dict(self._functions)

    @property
    def aggregations(self) -> dict[str, Callable[[], Any]]:
        """The registered plug-in aggregation functions: name -> factory (a copy)."""
        return dict(self._aggregations)

    @property
    def event_types(self) -> dict[str, dict[str, type]]:
        """The declared event types: name -> {property: type} (a copy)."""
        return {n: dict(p) for n, p in self._types.items()}

    def compile(self, text: str, name: str | None = None) -> list[Statement]:
        """Compile and start the ';'-separated statements in ``text``.

        Names: a statement's ``@Name('x')`` annotation wins (Esper 8 reference, 5.2.7
        "Annotation"); otherwise ``name`` for a single statement, ``name#0``, ``name#1``...
        for several, ``stmt-<n>`` (engine-wide counter) when ``name`` is None.

        Raises:
            EPLSyntaxError: the text does not parse (``.line``, ``.column``).
            EPLCompileError: a statement is invalid; nothing from ``text`` is started.
        """
        parsed = parse_statements(text)
        contexts = [EvalContext(self._report_error, match_timeout_s=self._match_timeout_s,
                                pattern_cache_size=self._pattern_cache_size) for _ in parsed]
        # One table for the whole text: a variable created by a statement is visible to the
        # statements after it (squall.cep.variables); the engine's own changes only when
        # the statements start.
        variables = {n: VariableDecl(c, c.java_type, c.constant, c.value)
                     for n, c in self._cells.items() if c.statement is not None}
        for ctx in contexts:
            ctx.variables, ctx.cells = variables, self._cells
            ctx.functions, ctx.aggregations = self._functions, self._aggregations
        # create schema declares types for the statements after it; the engine's only
        # once the whole text compiled
        types = dict(self._types)
        # Windows and tables created by this text join the catalog only once it starts.
        catalog = {n: s for n, s in self._catalog.items() if s.owner is not None}
        plans, shapers = [], []
        for p, ctx in zip(parsed, contexts):
            plan = compile_statement(p.ast, types, ctx, catalog)
            plans.append((plan, p.text))
            # order by / limit see the variables declared before the statement, as it does
            shapers.append(compile_shaper(resolve_variables(p.ast, ctx.variables, types),
                                          plan.columns, ctx)
                           if isinstance(p.ast, SelectStatement) else None)
        if name is None:
            names = [f"stmt-{next(self._auto)}" for _ in plans]
        elif len(plans) == 1:
            names = [name]
        else:
            names = [f"{name}#{i}" for i in range(len(plans))]
        names = [p.name or n for p, n in zip(parsed, names)]
        for i, (n, p) in enumerate(zip(names, parsed)):
            if n in names[:i]:
                raise EPLCompileError(f"Two statements are named '{n}'", line=p.line, column=p.column)
        for n, p in zip(names, parsed):
            if n in self._statements:
                raise EPLCompileError(f"A statement named '{n}' already exists", line=p.line,
                                      column=p.column)
        out = []
        for n, (plan, src), shape, p, ctx in zip(names, plans, shapers, parsed, contexts):
            st = Statement(n, src, plan, self)
            target = catalog.get(p.ast.insert_into) if p.ast.insert_into else None
            if getattr(target, "kind", None) == "window" and target.columns:
                # Esper: a statement inserting into a named window outputs rows of the
                # window's type (every column, null where the select list has none).
                shape = _project(shape, target.columns)
            st._shape = shape
            ctx.statement = n
            st._ctx = ctx
            if p.ast.insert_into is not None:
                st._insert_into = p.ast.insert_into
                if splits_streams(p.ast):
                    st._split = (p.ast.insert_selector, p.ast.stream_selector)
            self._statements[n] = st
            # Kept, so remove() takes out these very entries (inlets() builds new ones).
            st._route_entries = _route_targets(st)
            for t, target in st._route_entries:
                self._routes.setdefault(t, []).append(target)
            out.append(st)
        self._catalog = {n: s for n, s in catalog.items() if s.owner is not None}
        self._types.update((n, t) for n, t in types.items() if n not in self._types)
        return out

    # -- named windows and tables (squall.cep.named_window, squall.cep.table)

    def execute_query(self, text: str) -> list[dict]:
        """Run a fire-and-forget query over the named windows and tables now: ``select
        ... from W ...``, ``delete from W ...`` or ``update W set ...`` (see
        :mod:`squall.cep.query`).

        Returns:
            the result rows (select), the deleted rows (delete) or the updated rows' new
            values (update), as dicts keyed by column.

        Raises:
            EPLSyntaxError: the text does not parse.
            EPLCompileError: not one such query over a named window or table of this
                engine, an unknown column, ...

        Semantics: Esper 8 ``EPFireAndForgetService.executeQuery`` (reference, 17
        "EPL Reference: Fire-and-Forget Queries").
        """
        parsed = parse_statements(text)
        if len(parsed) != 1:
            raise EPLCompileError(f"A fire-and-forget query is one statement, got {len(parsed)}",
                                  line=1, column=1)
        ctx = EvalContext(self._report_error, match_timeout_s=self._match_timeout_s,
                          pattern_cache_size=self._pattern_cache_size)
        ctx.variables = {n: VariableDecl(c, c.java_type, c.constant, c.value)
                         for n, c in self._cells.items() if c.statement is not None}
        ctx.cells = self._cells
        ctx.functions, ctx.aggregations = self._functions, self._aggregations
        ctx.statement = "(fire-and-forget query)"
        st = resolve_variables(parsed[0].ast, ctx.variables, self._types)
        return _run_query(st, self._catalog, self._types, ctx)

    @property
    def named_windows(self) -> dict[str, list[dict]]:
        """The running named windows' rows now: name -> rows (copies), in entry order."""
        return {n: [dict(r) for r in s.contents()] for n, s in self._catalog.items()
                if s.kind == "window" and s.owner is not None}

    @property
    def tables(self) -> dict[str, list[dict]]:
        """The running tables' rows now: name -> rows (dicts of their columns)."""
        return {n: [dict(r) for r in s.contents()] for n, s in self._catalog.items()
                if s.kind == "table" and s.owner is not None}

    @property
    def statements(self) -> list[Statement]:
        return list(self._statements.values())

    # -- variables (squall.cep.variables)

    @property
    def variables(self) -> dict[str, Any]:
        """The declared variables' current values: name -> value (a copy)."""
        return {n: c.value for n, c in self._cells.items() if c.statement is not None}

    def variable_type(self, name: str) -> str:
        """The Java type name of variable ``name`` (``Integer``, ``Double``, ``String``...).

        Raises:
            EPLVariableError: no statement declares ``name``.
        """
        return self._declared_cell(name).java_type

    def set_variable(self, name: str, value: Any) -> None:
        """Set variable ``name`` from outside, between events: statements read the new
        value at their next evaluation (windows and aggregates are kept); the declaring
        ``create variable`` statement outputs the change.

        Args:
            name: a variable a running ``create variable`` statement declares.
            value: None, or a value of the variable's type or one that widens to it
                (an int into a double variable becomes a float).

        Raises:
            EPLVariableError: unknown variable, a constant, or a value of another type
                (an int variable refuses 1.5; a string variable refuses 5).

        Semantics: Esper 8 ``EPVariableService.setVariableValue`` (runtime API).
        """
        cell = self._declared_cell(name)
        if cell.constant:
            raise EPLVariableError(f"Variable by name '{name}' is declared constant and may not be set",
                                   variable=name)
        assign(cell, check_value(name, cell.java_type, value))

    def _declared_cell(self, name: str) -> Variable:
        cell = self._cells.get(name)
        if cell is None or cell.statement is None:
            known = ", ".join(sorted(self.variables)) or "none"
            raise EPLVariableError(f"Variable by name '{name}' has not been created or configured "
                                   f"(variables: {known})", variable=name)
        return cell

    def _report_error(self, statement: str, record: Any, reason: str) -> None:
        """The error path: a statement could not evaluate ``record`` as written."""
        held = self._throttle.admit()
        if held is not None:
            self._on_error(EPLEvaluationError(reason, record, statement=statement, suppressed=held))

    def remove(self, statement: Statement) -> None:
        """Stop a statement: it receives no more events and cancels its schedules."""
        if self._statements.get(statement.name) is not statement:
            raise KeyError(f"statement {statement.name!r} is not in this engine")
        del self._statements[statement.name]
        for t, target in statement._route_entries:
            self._routes[t].remove(target)
        statement._operator.stop()

    # -- snapshot / restore

    def snapshot(self) -> dict:
        """The engine's state as plain data (dicts, lists, tuples, str, int, float, bool,
        None; no functions), for a checkpoint: picklable, and JSON-able apart from tuple
        group keys (restored either way).

        Covers engine time, pending schedules (due time and order), and per statement
        (keyed by name, with its text) its data windows and batches, aggregation state,
        output state and counters (``events_in``, ``rows_out``, ``last_output_window``).
        Events are copied shallowly into the snapshot; the engine never mutates them.

        Returns:
            ``{"version", "time_ms", "statements": {name: {"text", "events_in",
            "rows_out", "last_output_window", "events", "operator"}}, "schedules":
            [[due_ms, statement name, owner path, method name], ...]}`` (schedules in
            firing order).

        Raises:
            EPLError: a statement's operator does not support snapshots (see
                :mod:`squall.cep.snapshot` for the operator protocol).
        """
        for st in self._statements.values():
            if not isinstance(st._operator, Operator):
                raise EPLError(f"statement {st.name!r} cannot be snapshotted: its operator "
                               f"{type(st._operator).__name__} does not implement the operator "
                               "protocol (squall.cep.protocol.Operator)")
        owners = self._schedule_owner_index()
        statements = {}
        for st in self._statements.values():
            table = EventTable()
            state = st._operator.snapshot_state(table)
            statements[st.name] = {
                "text": st.text, "events_in": st.events_in, "rows_out": st.rows_out,
                "last_output_window": st.last_output_window, "events": table.events,
                "operator": state}
        schedules = []
        for due, _seq, fn in sorted(self._heap, key=lambda e: (e[0], e[1])):
            owner = getattr(fn, "__self__", None)
            where = owners.get(id(owner)) if owner is not None else None
            if where is None:
                if owner is not None and getattr(owner, "stopped", False):
                    continue  # a removed statement's leftover callback: a no-op
                raise EPLError(f"cannot snapshot the pending schedule {fn!r} at {due}: it is "
                               "not a bound method of a statement's schedule owner")
            schedules.append([due, where[0], list(where[1]), fn.__name__])
        return {"version": SNAPSHOT_VERSION, "time_ms": self.current_time_ms,
                "statements": statements, "schedules": schedules}

    def restore(self, snapshot: dict) -> list[str]:
        """Load a :meth:`snapshot` into this engine, which must be fresh: no event sent
        and time not advanced since its statements were compiled.

        Engine time becomes the snapshot's (an ``ExternalClock`` is set to it). Each
        statement of this engine whose name and text equal a snapshotted statement's
        gets that statement's state and pending schedules; other statements stay fresh,
        and snapshotted statements missing here are ignored.

        Returns:
            the names of the restored statements.

        Raises:
            ValueError: an unknown snapshot version.
        """
        if not isinstance(snapshot, dict) or snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"not an EPL engine snapshot of version {SNAPSHOT_VERSION}")
        restored = []
        for st in self._statements.values():
            saved = snapshot["statements"].get(st.name)
            if saved is None or saved["text"] != st.text:
                continue
            st._operator.restore_state(saved["operator"], saved["events"])
            st.events_in = saved["events_in"]
            st.rows_out = saved["rows_out"]
            w = saved["last_output_window"]
            st.last_output_window = None if w is None else tuple(w)
            restored.append(st.name)
        done = set(restored)
        owners = self._schedule_owner_index()
        kept = []
        for entry in self._heap:  # schedules made at compile time by statements left fresh
            owner = getattr(entry[2], "__self__", None)
            where = owners.get(id(owner)) if owner is not None else None
            if where is None or where[0] not in done:
                kept.append(entry)
        by_path = {}
        for st in self._statements.values():
            if st.name in done:
                for path, obj in st._operator.schedule_owners().items():
                    by_path[(st.name, tuple(_tuplify(path)))] = obj
        for due, name, path, method in snapshot["schedules"]:
            obj = by_path.get((name, tuple(_tuplify(path))))
            if obj is not None:
                kept.append((due, next(self._seq), getattr(obj, method)))
        heapq.heapify(kept)
        self._heap = kept
        self.current_time_ms = int(snapshot["time_ms"])
        if self._external:
            self.clock.start_ms = self.current_time_ms
        return restored

    def _schedule_owner_index(self) -> dict[int, tuple[str, tuple]]:
        index = {}
        for st in self._statements.values():
            for path, obj in st._operator.schedule_owners().items():
                index[id(obj)] = (st.name, path)
        return index

    # -- events

    def send(self, type_name: str, event: dict) -> None:
        """Process one event of type ``type_name`` at the current engine time."""
        if not self._external:
            self._sync_wall_clock()
        for st in self._routes.get(type_name, ()):
            st._operator.on_events((event,))
        if self._inserted:
            self._drain_inserted()

    def send_many(self, type_name: str, events: Iterable[dict]) -> None:
        """Process events in order, all at the current engine time; cheaper per event."""
        if not self._external:
            self._sync_wall_clock()
        if not isinstance(events, (list, tuple)):
            events = list(events)
        if not events:
            return
        if self._inserted or any(getattr(e, "kind", None) != "context" for e in self._catalog.values()) or any(
                getattr(s, "_insert_into", None) or isinstance(s.plan, (OnSetPlan, OnActionPlan))
                for s in self._statements.values()):
            # insert into: each event with the events it inserts before the next one; on
            # ... set: the statements after it see each event's assignment; named windows
            # and tables: each event's changes before the next event is read. A context
            # holds no rows another statement reads: its operators take the batch.
            for ev in events:
                self._send_now(type_name, ev)
            return
        for st in self._routes.get(type_name, ()):
            st._operator.on_events(events)

    def _send_now(self, type_name: str, event: dict) -> None:
        for st in self._routes.get(type_name, ()):
            st._operator.on_events((event,))
        if self._inserted:
            self._drain_inserted()

    def _insert(self, type_name: str, rows: list) -> None:
        """``insert into``: queue a statement's insert-stream rows as events of
        ``type_name``; they are processed after the event (or timer) being processed,
        in order, at the same engine time (Esper 8 reference, 5.10)."""
        self._inserted.extend((type_name, row) for row in rows)

    def _drain_inserted(self) -> None:
        queue = self._inserted
        while queue:
            type_name, event = queue.pop(0)
            for st in self._routes.get(type_name, ()):
                st._operator.on_events((event,))

    # -- time

    def advance_time(self, ms: int) -> None:
        """Set engine time to ``ms`` (absolute epoch msec), firing due schedules in order.

        Raises:
            TypeError: the engine runs on a ``WallClock``.
            ValueError: ``ms`` is before the current engine time.
        """
        if not self._external:
            raise TypeError("advance_time needs an ExternalClock; this engine uses WallClock")
        ms = int(ms)
        if ms < self.current_time_ms:
            raise ValueError(f"engine time cannot go backwards: {ms} < {self.current_time_ms}")
        self._advance(ms)
        self.clock.start_ms = ms

    def poll(self) -> None:
        """WallClock: fire schedules due by now (call it when no events arrive, e.g. on a
        tick tuple). ExternalClock: no effect."""
        if not self._external:
            self._sync_wall_clock()

    def _sync_wall_clock(self) -> None:
        t = self.clock.now_ms()
        if t > self.current_time_ms:
            self._advance(t)

    def _advance(self, target: int) -> None:
        heap = self._heap
        while heap and heap[0][0] <= target:
            due, _, fn = heapq.heappop(heap)
            self.current_time_ms = due
            self.firing = True
            try:
                fn(due)
                if self._inserted:
                    self._drain_inserted()
            finally:
                self.firing = False
        self.current_time_ms = target

    def schedule(self, due_ms: int, fn: Callable[[int], None]) -> None:
        """Call ``fn(due_ms)`` when engine time reaches ``due_ms``, before the events of
        that time; schedules due at the same time run in the order they were made (see
        :class:`squall.cep.protocol.EngineHost` for what ``fn`` must be)."""
        heapq.heappush(self._heap, (due_ms, next(self._seq), fn))


def _route_targets(st: Statement) -> tuple:
    """(event type, route entry) pairs for a statement. A route entry has
    ``_operator.on_events(events)``: the statement itself, or for operators that take
    several event types (patterns, joins) the per-type inlets their ``inlets()`` give."""
    inlets = st._operator.inlets()
    if inlets is None:
        return ((st.plan.event_type, st),)
    return inlets


def _project(shape, columns: tuple[str, ...]):
    """``shape`` (or no shaping), then each row projected onto ``columns``."""
    def project(rows: list) -> list:
        if shape is not None:
            rows = shape(rows)
        return [{c: r.get(c) for c in columns} for r in rows]
    return project


def _tuplify(v):
    """Lists back to tuples (a snapshot that went through JSON), recursively."""
    if isinstance(v, (list, tuple)):
        return tuple(_tuplify(x) for x in v)
    return v
