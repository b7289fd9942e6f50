"""Errors raised by the EPL engine (``squall.cep``).

Everything derives from :class:`EPLError`, itself a :class:`squall.errors.SquallError`.
"""

from __future__ import annotations

from squall.errors import SquallError

__all__ = ["EPLError", "EPLSyntaxError", "EPLCompileError"]


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
