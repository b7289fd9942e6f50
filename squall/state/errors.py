"""Errors raised by Squall's keyed state (``squall.state``).

Every error derives from :class:`StateError`, itself a :class:`~squall.errors.SquallError`.
"""

from __future__ import annotations

from squall.errors import SquallError

__all__ = ["StateError", "TransactionStateError", "StateKeyError", "StateBackendError",
           "StateClosedError"]


class StateError(SquallError):
    """Root of all errors raised by ``squall.state``."""


class TransactionStateError(StateError, RuntimeError):
    """A lifecycle call came in a state that does not allow it.

    For example ``commit(7)`` when transaction 7 was never prepared, or ``put`` while a
    transaction left prepared by an earlier incarnation awaits ``commit``/``rollback``.

    Attributes:
        namespace: the ``(component, task)`` the state belongs to.
        status: the :class:`~squall.state.TxStatus` at the time of the call.
    """

    def __init__(self, message: str, namespace: tuple[str, int], status) -> None:
        super().__init__(f"state {namespace[0]!r}[task {namespace[1]}] is {status.value}: {message}")
        self.namespace = namespace
        self.status = status


class StateKeyError(StateError, TypeError):
    """A state key is not of a supported type (str, bytes, int, float, bool, None, tuples of them)."""


class StateBackendError(StateError):
    """The backend's storage failed (RocksDB I/O, Redis connection); the cause is chained.

    Attributes:
        namespace: the ``(component, task)`` concerned, or ``None`` for backend-wide calls.
    """

    def __init__(self, message: str, namespace: tuple[str, int] | None = None) -> None:
        super().__init__(message)
        self.namespace = namespace


class StateClosedError(TransactionStateError):
    """The state (or its backend) was closed; open a new one with ``backend.state(...)``."""
