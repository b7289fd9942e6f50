"""Errors raised by windowed bolts (``squall.windowing``).

Semantics: Storm docs: Windowing Support in Core Storm (``withTimestampField`` raises
when a tuple lacks the field; window durations must fit in the message timeout).
"""

from __future__ import annotations

from squall.errors import RecordError, SquallError

__all__ = ["WindowError", "WindowConfigError", "TimestampError"]


class WindowError(SquallError):
    """Root of the errors raised by ``squall.windowing``."""


class WindowConfigError(WindowError, ValueError):
    """A window spec is inconsistent (raised when the spec is built or the bolt prepared).

    The message says which argument is wrong and how to fix it.
    """


class TimestampError(WindowError, RecordError):
    """An input tuple has no usable event timestamp (missing field, not an int of epoch ms).

    Carries ``.record`` (the tuple's values), ``.component``, ``.stream``, ``.reason``.
    The runtime reports it and fails the tuple.
    """
