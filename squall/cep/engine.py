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
import time
from typing import Callable, Iterable

from squall.cep.compile import compile_statement
from squall.cep.errors import EPLCompileError
from squall.cep.parser import parse_with_spans
from squall.cep.runtime import make_operator

__all__ = ["EPLEngine", "Statement", "WallClock", "ExternalClock"]

Listener = Callable[[list, list], None]


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
        self._operator = make_operator(self, plan, engine)

    @property
    def columns(self) -> tuple[str, ...]:
        """Output row keys, in select-list order (empty for ``select *`` on undeclared types)."""
        return self.plan.columns

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(new_rows, old_rows)`` on each output; rows are dicts keyed by column.

        Only the insert stream is produced, so ``old_rows`` is always ``[]``. Listeners run
        on the thread that sent the event or advanced time; exceptions propagate to it.
        """
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        self._listeners.remove(fn)

    def _emit(self, rows: list, window: tuple[int, int] | None) -> None:
        if not rows:
            return
        self.rows_out += len(rows)
        self.last_output_window = window
        for fn in self._listeners:
            fn(rows, [])

    def __repr__(self) -> str:
        return f"<Statement {self.name!r}: {self.text!r}>"


class EPLEngine:
    """Compiles EPL statements and runs them over dict events.

    Args:
        clock: ``WallClock()`` (default) or ``ExternalClock(start_ms)``.

    Semantics: Esper 8 reference, 5 "EPL Reference: Clauses" and 14 "Data Windows",
    for the supported subset (see ``squall.cep`` package docs).
    """

    def __init__(self, clock: WallClock | ExternalClock | None = None) -> None:
        self.clock = clock if clock is not None else WallClock()
        self._external = self.clock.external
        self._now = self.clock.now_ms()
        self._heap: list = []
        self._seq = itertools.count()
        self._types: dict[str, dict[str, type]] = {}
        self._statements: dict[str, Statement] = {}
        self._routes: dict[str, list] = {}
        self._auto = itertools.count()

    # -- types and statements

    def define_event_type(self, name: str, properties: dict[str, type]) -> None:
        """Declare an event type; statements against it are checked for unknown properties."""
        self._types[name] = dict(properties)

    def compile(self, text: str, name: str | None = None) -> list[Statement]:
        """Compile and start the ';'-separated statements in ``text``.

        Names: ``name`` for a single statement, ``name#0``, ``name#1``... for several,
        ``stmt-<n>`` (engine-wide counter) when ``name`` is None.

        Raises:
            EPLSyntaxError: the text does not parse (``.line``, ``.column``).
            EPLCompileError: a statement is invalid; nothing from ``text`` is started.
        """
        parsed = parse_with_spans(text)
        plans = [(compile_statement(ast, self._types), src) for ast, src in parsed]
        if name is None:
            names = [f"stmt-{next(self._auto)}" for _ in plans]
        elif len(plans) == 1:
            names = [name]
        else:
            names = [f"{name}#{i}" for i in range(len(plans))]
        for n in names:
            if n in self._statements:
                raise EPLCompileError(f"A statement named '{n}' already exists")
        out = []
        for n, (plan, src) in zip(names, plans):
            st = Statement(n, src, plan, self)
            self._statements[n] = st
            self._routes.setdefault(plan.event_type, []).append(st)
            out.append(st)
        return out

    @property
    def statements(self) -> list[Statement]:
        return list(self._statements.values())

    def remove(self, statement: Statement) -> None:
        """Stop a statement: it receives no more events and cancels its schedules."""
        if self._statements.get(statement.name) is not statement:
            raise KeyError(f"statement {statement.name!r} is not in this engine")
        del self._statements[statement.name]
        self._routes[statement.plan.event_type].remove(statement)
        statement._operator.stop()

    # -- events

    def send(self, type_name: str, event: dict) -> None:
        """Process one event of type ``type_name`` at the current engine time."""
        if not self._external:
            self._sync_wall_clock()
        for st in self._routes.get(type_name, ()):
            st._operator.on_events((event,))

    def send_many(self, type_name: str, events: Iterable[dict]) -> None:
        """Process events in order, all at the current engine time; cheaper per event."""
        if not self._external:
            self._sync_wall_clock()
        if not isinstance(events, (list, tuple)):
            events = list(events)
        if not events:
            return
        for st in self._routes.get(type_name, ()):
            st._operator.on_events(events)

    # -- time

    @property
    def current_time_ms(self) -> int:
        return self._now

    def advance_time(self, ms: int) -> None:
        """Set engine time to ``ms`` (absolute epoch msec), firing due schedules in order.

        Raises:
            TypeError: the engine runs on a ``WallClock``.
            ValueError: ``ms`` is before the current engine time.
        """
        if not self._external:
            raise TypeError("advance_time needs an ExternalClock; this engine uses WallClock")
        ms = int(ms)
        if ms < self._now:
            raise ValueError(f"engine time cannot go backwards: {ms} < {self._now}")
        self._advance(ms)
        self.clock.start_ms = ms

    def poll(self) -> None:
        """WallClock: fire schedules due by now (call it when no events arrive, e.g. on a
        tick tuple). ExternalClock: no effect."""
        if not self._external:
            self._sync_wall_clock()

    def _sync_wall_clock(self) -> None:
        t = self.clock.now_ms()
        if t > self._now:
            self._advance(t)

    def _advance(self, target: int) -> None:
        heap = self._heap
        while heap and heap[0][0] <= target:
            due, _, fn = heapq.heappop(heap)
            self._now = due
            fn(due)
        self._now = target

    def _schedule(self, due_ms: int, fn: Callable[[int], None]) -> None:
        heapq.heappush(self._heap, (due_ms, next(self._seq), fn))
