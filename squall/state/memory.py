"""The in-memory state backend: state lives as long as the opened store object.

Useful for tests and for topologies that need no recovery across processes: a task
that reopens its namespace on the same store sees the last committed state, exactly
as with the durable backends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from squall.state.base import KeyValueState, StateBackend, StateStore

__all__ = ["MemoryStateBackend", "MemoryStateStore"]


class _Namespace:
    __slots__ = ("committed", "committed_txid", "staged", "staged_txid")

    def __init__(self) -> None:
        self.committed: dict[bytes, bytes] = {}
        self.committed_txid: int | None = None
        self.staged: dict[bytes, bytes | None] = {}
        self.staged_txid: int | None = None


class _MemoryState(KeyValueState):
    def __init__(self, component: str, task: int, ns: _Namespace, lock: threading.Lock) -> None:
        super().__init__(component, task, ns.committed_txid, ns.staged_txid)
        self._data = ns
        self._lock = lock

    def _get_committed(self, kb: bytes) -> bytes | None:
        return self._data.committed.get(kb)

    def _scan_committed(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self._data.committed.items()))

    def _stage(self, txid: int, changes: Mapping[bytes, bytes | None]) -> None:
        with self._lock:
            self._data.staged = dict(changes)
            self._data.staged_txid = txid

    def _load_staged(self) -> dict[bytes, bytes | None]:
        return dict(self._data.staged)

    def _apply_staged(self, txid: int, changes: Mapping[bytes, bytes | None]) -> None:
        # Build the new dict aside and swap it in: readers see all of it or none.
        new = dict(self._data.committed)
        for kb, vb in changes.items():
            if vb is None:
                new.pop(kb, None)
            else:
                new[kb] = vb
        with self._lock:
            self._data.committed = new
            self._data.committed_txid = txid
            self._data.staged = {}
            self._data.staged_txid = None

    def _drop_staged(self) -> None:
        with self._lock:
            self._data.staged = {}
            self._data.staged_txid = None


@dataclass(frozen=True)
class MemoryStateBackend(StateBackend):
    """Keyed state held in the memory of the process that opens it, per ``(component, task)``.

    Each :meth:`open` starts an empty :class:`MemoryStateStore`; its state lives as long
    as that store object (closing the store closes the states it handed out but keeps
    their data, so a task reopening its namespace on the same store sees its last
    commit). Nothing survives the process, and workers do not share it.

    >>> store = MemoryStateBackend().open()
    >>> st = store.state("counter", 1)
    >>> st.put("car-7", 3); st.prepare_commit(1); st.commit(1)
    >>> st.close(); store.state("counter", 1).get("car-7")
    3

    Args:
        types, serializer: see :class:`~squall.state.StateBackend`. Values are stored
            encoded, as in the durable backends, so a test on this backend catches a
            value the others could not store.
    """

    @property
    def single_writer_key(self) -> None:
        """None: the state is private to the store object that holds it."""
        return None

    def open(self) -> MemoryStateStore:
        return MemoryStateStore(self)


class MemoryStateStore(StateStore):
    """The live in-memory store of a :class:`MemoryStateBackend`."""

    def __init__(self, backend: MemoryStateBackend) -> None:
        super().__init__(backend)
        self._namespaces: dict[tuple[str, int], _Namespace] = {}
        self._lock = threading.Lock()

    def namespaces(self) -> list[tuple[str, int]]:
        with self._lock:
            return sorted(ns for ns, data in self._namespaces.items()
                          if data.committed_txid is not None or data.staged_txid is not None)

    def _open_state(self, component: str, task: int) -> KeyValueState:
        with self._lock:
            ns = self._namespaces.setdefault((component, task), _Namespace())
        return _MemoryState(component, task, ns, self._lock)
