"""Errors raised by Squall's keyed state (``squall.state``).

Every error derives from :class:`StateError`, itself a :class:`~squall.errors.SquallError`.
"""

from __future__ import annotations

from squall.errors import SquallError

__all__ = ["StateError", "TransactionStateError", "StateKeyError", "StateBackendError",
           "StateClosedError", "StateValueError", "StateDecodeError", "LegacyPickleStateError"]


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


class StateValueError(StateError, TypeError):
    """A value put in state holds an object state cannot store (see :mod:`squall.state.codec`).

    Raised by ``put``, so at ``pre_prepare`` time, never later at read.

    Attributes:
        key: the state key the value was put under (``None`` if not known yet).
        namespace: the ``(component, task)``, or ``None``.
        path: where in the value the object sits, e.g. ``['engine'][3]`` (``""``: the value).
        type_name: the object's type, with its module.
        reason: why it cannot be stored, beyond "unregistered type", or ``""``.
    """

    def __init__(self, path: str, type_name: str, reason: str = "", key=None,
                 namespace: tuple[str, int] | None = None) -> None:
        self.path, self.type_name, self.reason = path, type_name, reason
        self.key, self.namespace = key, namespace
        where = f"state {namespace[0]!r}[task {namespace[1]}] " if namespace else "state "
        at = f" at {path}" if path else ""
        why = reason or (f"it is not a type state stores; register it: StateType({type_name.rsplit('.', 1)[-1]}, "
                         f"'a.stable.name', encode, decode) on the backend (types=[...]) or "
                         f"state.register_type(...) in init_state")
        super().__init__(f"{where}key {key!r}: the value{at} is a {type_name}, which cannot be "
                         f"stored: {why}")

    def at(self, key, namespace: tuple[str, int]) -> StateValueError:
        """This error with the key and namespace it concerns."""
        return StateValueError(self.path, self.type_name, self.reason, key, namespace)


class StateDecodeError(StateError, ValueError):
    """A stored value (or key) is not one Squall's state format can read; nothing was executed.

    Attributes:
        key: the state key (or, for an undecodable key, its raw bytes).
        namespace: the ``(component, task)``, or ``None``.
        reason: what is wrong with the stored bytes.
    """

    def __init__(self, reason: str, key=None, namespace: tuple[str, int] | None = None) -> None:
        self.reason, self.key, self.namespace = reason, key, namespace
        where = f"state {namespace[0]!r}[task {namespace[1]}] " if namespace else "state "
        super().__init__(f"{where}key {key!r} cannot be read: {reason}")

    def at(self, key, namespace: tuple[str, int]) -> StateDecodeError:
        """This error with the key and namespace it concerns."""
        return type(self)(self.reason, key, namespace)


class LegacyPickleStateError(StateDecodeError):
    """A stored value is a pickle: written by a Squall before the data-only format, or
    planted. It is never unpickled (that would run code the bytes name).

    To go on: delete the state (the RocksDB state directory, or the Redis keys under
    the backend's ``key_prefix``) or run without state (``--state-backend none``) to
    start from scratch; or, only if no one else can have written the store, convert
    it once with :func:`squall.state.migrate_pickled_state` (on a backend opened with
    ``serializer="pickle"``), or keep that backend (it reads and writes pickle).
    """

    _REASON = ("it is a pickle (the format before Squall stored state as data, or a planted payload), "
               "and pickles are never loaded because loading one runs code. Start fresh: delete the "
               "state directory or the Redis keys under the backend's key_prefix, or run with "
               "--state-backend none; or, only if no one else can have written this store, convert it once "
               "with squall.state.migrate_pickled_state(backend opened with serializer='pickle')")

    def __init__(self, reason: str = "", key=None, namespace: tuple[str, int] | None = None) -> None:
        super().__init__(reason or self._REASON, key, namespace)
