"""The operator protocol: what the engine calls on the object that runs a statement.

Every statement runs as one operator, built from its plan by
:func:`squall.cep.operators.make_operator`: the fused batch operators
(:mod:`squall.cep.operators`), :class:`squall.cep.resultset.Pipeline`,
:class:`squall.cep.join.JoinOperator`, :class:`squall.cep.pattern_operator.PatternOperator`, and
the ``create variable`` / ``on ... set`` operators of :mod:`squall.cep.variables`. Each
class declares that it implements :class:`Operator` by subclassing it, so a missing
method fails when the class is instantiated, not when the engine first calls it.

An operator sees its engine and statement only through :class:`EngineHost` (time,
schedules) and :class:`StatementHost` (counters, output, error path), so no operator
module imports :mod:`squall.cep.engine` (tests/cep/test_layers.py checks it);
:class:`~squall.cep.engine.EPLEngine` and :class:`~squall.cep.engine.Statement` implement
them.

Timers: an operator schedules its callbacks with ``engine.schedule(due_ms, fn)``, where
``fn`` is a bound method of one of its :meth:`Operator.schedule_owners` (so a snapshot can
name it); the engine calls ``fn(now_ms)`` at engine time ``due_ms``, before the events
of that time.

Semantics: Esper 8 statements run as in squall.cep.engine; snapshots as in
:mod:`squall.cep.snapshot`.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:
    from squall.cep.snapshot import EventTable

__all__ = ["Operator", "Inlet", "TypedInlet", "EngineHost", "StatementHost"]


class EngineHost(Protocol):
    """What an operator uses of the engine that runs it.

    ``current_time_ms``: engine time, epoch milliseconds (read only; during a schedule
    callback it is that callback's due time). ``firing``: true while a schedule callback
    runs, false while events are processed. ``max_pattern_instances``: the cap on a
    pattern statement's active instances (see :class:`squall.cep.engine.EPLEngine`).
    """

    current_time_ms: int
    firing: bool
    max_pattern_instances: int

    @abstractmethod
    def schedule(self, due_ms: int, fn: Callable[[int], None]) -> None:
        """Call ``fn(due_ms)`` at engine time ``due_ms``, before the events of that time,
        in the order the schedules were made; ``fn`` is a bound method of a schedule
        owner (see :meth:`Operator.schedule_owners`)."""


class StatementHost(Protocol):
    """What an operator uses of the statement it runs: counters, output, error path."""

    name: str
    events_in: int

    @property
    @abstractmethod
    def listening(self) -> bool:
        """Whether any listener is registered."""

    @abstractmethod
    def emit(self, rows: list, window: tuple[int, int] | None) -> None:
        """Output insert-stream ``rows`` (dicts); ``window`` is the ``(start_ms, end_ms)``
        of the batch they come from, or None."""

    @abstractmethod
    def emit_streams(self, new_rows: list, old_rows: list,
                     window: tuple[int, int] | None) -> None:
        """Output insert-stream and remove-stream rows (either may be empty)."""

    @abstractmethod
    def report_error(self, record: Any, reason: str) -> None:
        """``record`` could not be processed as written: counted on the statement and
        passed (throttled) to the engine's ``on_error`` as an EPLEvaluationError."""


@runtime_checkable
class Inlet(Protocol):
    """A route entry for one event type: the engine calls ``entry._operator.on_events``
    (a statement, or the per-type inlet of an operator that takes several types)."""

    @abstractmethod
    def on_events(self, events: Sequence[dict]) -> None:
        """Process ``events`` (engine time already set), in order."""


class TypedInlet(Inlet):
    """The inlet of one event type into an operator that takes several (a join, a
    pattern): hands the events on to ``target.on_typed_events(type_name, events)``."""

    __slots__ = ("_operator", "_target", "_type")

    def __init__(self, target: Any, type_name: str) -> None:
        self._operator = self
        self._target = target
        self._type = type_name

    def on_events(self, events: Sequence[dict]) -> None:
        self._target.on_typed_events(self._type, events)


@runtime_checkable
class Operator(Protocol):
    """Runs one compiled statement.

    Contract the engine relies on: ``on_events`` is called with the events of the
    statement's event type (or through :meth:`inlets`), never re-entrantly for one
    operator; after :meth:`stop` no callback of the operator outputs rows.
    """

    @abstractmethod
    def on_events(self, events: Sequence[dict]) -> None:
        """Process events of the statement's event type, in order (a tuple or list; do
        not keep a reference to the sequence itself)."""

    def inlets(self) -> tuple[tuple[str, Inlet], ...] | None:
        """``(event type, inlet)`` pairs for an operator that takes several event types
        (joins, patterns) or none (``()``); None, the default: the statement's single
        event type goes to :meth:`on_events`."""
        return None

    @abstractmethod
    def stop(self) -> None:
        """The statement is removed: pending timers become no-ops, nothing more is
        output."""

    def terminate(self) -> None:
        """The statement's context partition ends (called just before :meth:`stop`): an
        output clause ``when terminated`` / ``and when terminated`` outputs now. Default:
        nothing (Esper: "Output When Terminated", Esper 8 reference 5.7.1)."""

    @abstractmethod
    def schedule_owners(self) -> dict[tuple, Any]:
        """Every object whose bound methods the operator passes to
        ``engine.schedule``, keyed by a plain-data path that is stable across a restore
        (the engine stores ``(path, method name)`` for pending schedules and calls
        ``getattr(owners[path], method name)`` again after :meth:`restore_state`)."""

    @abstractmethod
    def snapshot_state(self, events: EventTable) -> Any:
        """The operator's state as plain data (JSON-able), its events interned in
        ``events`` (see :mod:`squall.cep.snapshot`)."""

    @abstractmethod
    def restore_state(self, state: Any, events: list) -> None:
        """Load a :meth:`snapshot_state` into this operator of a freshly compiled
        statement with the same name and text; ``events`` is the decoded event table."""
