"""Errors of shell components (Storm's multilang protocol)."""

from __future__ import annotations

from ..errors import SquallError

__all__ = ["ShellError", "ShellProtocolError", "ShellProcessError", "ShellComponentError"]


class ShellError(SquallError):
    """Root of the errors raised or reported by :mod:`squall.multilang`."""


class ShellProtocolError(ShellError, ValueError):
    """A child process wrote something that is not a multilang message.

    Attributes:
        component: the shell component (``name[task]``) whose child wrote it.
        line: the offending text as written (truncated to 200 characters).
        reason: what was wrong with it.
    """

    def __init__(self, component: str, line: str, reason: str) -> None:
        self.component = component
        self.line = line
        self.reason = reason
        super().__init__(f"shell component {component}: {reason}: {line!r}")


class ShellProcessError(ShellError, RuntimeError):
    """A child process could not start, exited, or stopped answering (heartbeat timeout).

    The message names the component, the command, and the last lines the child wrote
    on stderr, which usually say why (a missing script, a traceback).
    """


class ShellComponentError(ShellError):
    """An error the child reported itself (the ``error`` command), e.g. its traceback."""
