"""Errors raised by the EPL engine (``squall.cep``).

Everything derives from :class:`EPLError`, itself a :class:`squall.errors.SquallError`.
"""

from __future__ import annotations

from squall.errors import RecordError, SquallError

__all__ = ["EPLError", "EPLSyntaxError", "EPLCompileError", "EPLEvaluationError", "EPLVariableError"]


class EPLError(SquallError):
    """Root of the errors raised by the EPL engine."""


class EPLSyntaxError(EPLError, ValueError):
    """EPL text does not parse.

    Attributes:
        line: 1-based line of the offending token (None at end of input).
        column: 1-based column of the offending token.
        token: the offending text ('' at end of input).
        expected: names of the tokens the parser would have accepted there.
    """

    def __init__(self, message: str, *, line: int | None, column: int | None,
                 token: str = "", expected: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.token = token
        self.expected = expected


class EPLCompileError(EPLError, ValueError):
    """EPL text parses but is not a valid statement (unknown property, bad view
    parameter, aggregate where none is allowed, ...).

    Attributes:
        line, column: 1-based position of the offending element, when known.
    """

    def __init__(self, message: str, *, line: int | None = None,
                 column: int | None = None) -> None:
        if line is not None:
            message = f"{message} (line {line}, column {column})"
        super().__init__(message)
        self.line = line
        self.column = column


class EPLVariableError(EPLError, ValueError):
    """A variable cannot take a value: it does not exist, it is a constant, or the value's
    type does not fit its declared type (Esper's ``VariableNotFoundException``,
    ``VariableConstantValueException``, ``VariableValueException``).

    Attributes:
        variable: the variable's name.
    """

    def __init__(self, message: str, *, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


class EPLEvaluationError(EPLError, RecordError):
    """A statement could not evaluate one event as written; the engine went on.

    Passed to the engine's ``on_error`` (never raised by ``send``): a ``like``/``regexp``
    match that exceeded its time bound, or a pattern from the event that is invalid or
    too large. The expression was null for that event.

    Attributes:
        statement: the statement's name.
        reason: what went wrong and what the engine did.
        record: the event (for a join, the combination of events; for a pattern, the
            matched events by tag).
        suppressed: reports the engine's throttle held back since the previous one.
    """

    def __init__(self, reason: str, record: object = None, *, statement: str,
                 suppressed: int = 0) -> None:
        super().__init__(reason, record, component=f"statement '{statement}'")
        self.statement = statement
        self.suppressed = suppressed

    def __str__(self) -> str:
        record = repr(self.record)
        if len(record) > 200:
            record = record[:197] + "..."
        held = f" ({self.suppressed} similar reports held back)" if self.suppressed else ""
        return f"statement '{self.statement}': {self.reason}; event {record}{held}"
