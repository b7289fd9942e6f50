"""The root of Squall's exception hierarchy.

Every package raises subclasses of :class:`SquallError` from its own ``errors.py``;
where the meaning matches a built-in, the subclass inherits it too, so callers may
catch either.
"""

from __future__ import annotations

__all__ = ["SquallError", "TopologyValidationError", "RecordError"]


class SquallError(Exception):
    """Root of all errors raised by Squall."""


class TopologyValidationError(SquallError, ValueError):
    """A topology spec is inconsistent; raised by ``TopologyBuilder.build()``.

    The message names the component, the stream or field at fault and how to fix it.
    """


class RecordError(SquallError, ValueError):
    """A single record could not be processed.

    Attributes:
        record: the offending input as received (a raw line, dict or tuple values).
        reason: why it was rejected, a short human sentence.
        component: the component that rejected it, when known.
        stream: the stream it arrived on, when known.
    """

    def __init__(self, reason: str, record: object = None, *, component: str | None = None,
                 stream: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record = record
        self.component = component
        self.stream = stream

    def __str__(self) -> str:
        where = f" in {self.component}" if self.component else ""
        return f"{self.reason}{where}: {self.record!r}"
