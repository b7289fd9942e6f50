"""Errors the runtime raises at a component's call (``emit``, ``emit_direct``) or at a
cluster's (an unknown topology name), all under :class:`~squall.errors.SquallError`.

Semantics: Storm rejects an emit on an undeclared stream, a direct emit to a task that
does not subscribe directly, and a tuple whose size differs from its declared fields
(``IllegalArgumentException`` in ``Task``/``TupleImpl``); ``NotAliveException`` for an
unknown topology.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import RecordError, SquallError

__all__ = ["UndeclaredStreamError", "InvalidDirectTaskError", "FieldCountError", "NotRunningError"]


class UndeclaredStreamError(SquallError, KeyError):
    """A component emitted on a stream it did not declare."""

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidDirectTaskError(SquallError, ValueError):
    """``emit_direct`` named a task that does not subscribe directly to the stream."""


class FieldCountError(RecordError):
    """A component emitted a number of values different from its stream's declared fields.

    Raised by ``emit`` (Storm rejects such a tuple too), so the error names the emitter
    instead of surfacing later as an ``IndexError`` in a subscriber's grouping.
    ``record`` holds the values, ``expected``/``got`` the two counts.
    """

    def __init__(self, component: str, stream: str, fields: Sequence[str], values: Sequence[Any]) -> None:
        self.expected = len(fields)
        self.got = len(values)
        super().__init__(
            f"{component!r} emitted {self.got} value(s) on stream {stream!r}, which declares "
            f"{self.expected} field(s) {list(fields)}; emit one value per declared field",
            list(values), component=component, stream=stream)

    def __str__(self) -> str:
        return f"{self.reason}: {self.record!r}"


class NotRunningError(SquallError, KeyError):
    """No topology of that name runs on this cluster."""
