"""One live RocksDB handle per directory and process, shared by the connections opened on it.

RocksDB lets only one handle per directory exist in a process (a second open fails on
its ``LOCK`` file even in the same process), yet several connections may be opened on
one directory in one worker process: the executors of a table writer and a dead-letter
writer, which the cluster scheduler places together precisely because they share the
directory (their stores' ``single_writer_key``), or a CLI command and a test. Each
connection therefore takes a :class:`Lease` on a :class:`SharedHandles` entry: the
first lease opens the handle, the last release closes it. Nothing here imports
RocksDB; the opener is passed in.

This is a resource pool of the process that opened it, never shipped: store
configurations carry only their directory, and a connection (which holds a lease) is
not picklable.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from squall.store.errors import StoreClosedError

H = TypeVar("H")

__all__ = ["SharedHandles", "Lease"]


class SharedHandles(Generic[H]):
    """Open-once, close-on-last-release handles keyed by real path.

    Args:
        opener: builds the live handle for a directory path (str); may raise.
        closer: closes a live handle when its last borrower releases it.

    Thread-safety: all methods may be called from any thread.
    """

    def __init__(self, opener: Callable[[str], H], closer: Callable[[H], None]) -> None:
        self._opener = opener
        self._closer = closer
        self._lock = threading.Lock()
        self._entries: dict[str, list] = {}  # path -> [handle, refcount]

    @staticmethod
    def key(path: str | os.PathLike[str]) -> str:
        """Return the registry key for ``path``: its absolute, symlink-resolved form."""
        return os.path.realpath(os.fspath(path))

    def acquire(self, path: str | os.PathLike[str]) -> H:
        """Return the live handle for ``path``, opening it on first use; add one reference."""
        key = self.key(path)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = [self._opener(key), 0]
            entry[1] += 1
            return entry[0]

    def release(self, path: str | os.PathLike[str]) -> None:
        """Drop one reference to ``path``'s handle; close it when none remain."""
        key = self.key(path)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del self._entries[key]
        self._closer(entry[0])

    def refcount(self, path: str | os.PathLike[str]) -> int:
        """Return how many leases currently share ``path``'s handle (0 when closed)."""
        with self._lock:
            entry = self._entries.get(self.key(path))
            return entry[1] if entry else 0


class Lease(Generic[H]):
    """One connection's share of a directory's handle: taken at construction, given back once.

    Args:
        handles: the pool to borrow from.
        path: the database directory.
        store: the store configuration the connection was opened from (named in errors).

    Raises (from the constructor): whatever the pool's opener raises (e.g.
    :class:`~squall.store.errors.StoreLockedError`).
    """

    __slots__ = ("_handles", "path", "store", "_handle", "_lock")

    def __init__(self, handles: SharedHandles[H], path: str, store: object) -> None:
        self._handles = handles
        self.path = path
        self.store = store
        self._lock = threading.Lock()
        self._handle: H | None = handles.acquire(path)

    def get(self, operation: str) -> H:
        """Return the live handle.

        Raises:
            StoreClosedError: :meth:`release` was called; names ``operation``.
        """
        handle = self._handle
        if handle is None:
            raise StoreClosedError(self.store, operation)
        return handle

    @property
    def released(self) -> bool:
        """True once :meth:`release` ran."""
        return self._handle is None

    def release(self) -> None:
        """Give the handle back (the last lease on a directory closes it); idempotent."""
        with self._lock:
            if self._handle is None:
                return
            self._handle = None
        self._handles.release(self.path)
