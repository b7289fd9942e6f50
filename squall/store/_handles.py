"""A process-wide, reference-counted registry of open database handles.

RocksDB lets only one handle per directory exist in a process (a second open fails on
its ``LOCK`` file even in the same process), yet a CLI command, several bolts and a
test may each build their own store object for the same ``data_dir``. Every embedded
store therefore borrows its live handle from here: the first ``acquire`` opens it, the
last ``release`` closes it. Nothing here imports RocksDB; the opener is passed in.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from squall.store.errors import ReadOnlyStoreError

H = TypeVar("H")

__all__ = ["SharedHandles", "HandleBorrower"]


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
        # Re-entrant: a forgotten store's __del__ may run release() from the garbage
        # collector while this thread is inside acquire().
        self._lock = threading.RLock()
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
        """Return how many store objects currently share ``path``'s handle (0 when closed)."""
        with self._lock:
            entry = self._entries.get(self.key(path))
            return entry[1] if entry else 0


class HandleBorrower:
    """Base of store objects that borrow a live handle from a :class:`SharedHandles`.

    Subclasses set the class attributes ``_handles`` (writers' handles) and
    ``_reader_handles`` (read-only views, whose handles have a ``refresh()`` that
    catches up with the writer) and call ``_init_handle(path, read_only)``. ``_live()``
    opens on first use (then runs ``_on_open``); read paths call ``_view()``, which
    also refreshes a read-only view; write paths call ``_writable(operation)`` first.
    ``close()`` gives the handle back. Creating the object does no I/O, so it pickles
    as a spec.
    """

    _handles: SharedHandles
    _reader_handles: SharedHandles

    def _init_handle(self, path: str, read_only: bool = False) -> None:
        self._path = path
        self._db = None
        self._open_lock = threading.RLock()
        self._read_only = read_only
        if read_only:
            self._handles = self._reader_handles

    @property
    def read_only(self) -> bool:
        """True when this store only reads (and follows a writer that may be another process)."""
        return self._read_only

    def _view(self):
        """The live handle for a read: a read-only view first catches up with its writer."""
        db = self._live()
        if self._read_only:
            db.refresh()
        return db

    def _writable(self, operation: str) -> None:
        """Raise :class:`ReadOnlyStoreError` naming ``operation`` if this store only reads."""
        if self._read_only:
            raise ReadOnlyStoreError(self._path, operation)

    def _on_open(self, db) -> None:
        """Called once, under the open lock, when this object first gets its handle."""

    def _live(self):
        db = self._db
        if db is None:
            with self._open_lock:
                if self._db is None:
                    db = self._handles.acquire(self._path)
                    self._on_open(db)
                    self._db = db
                db = self._db
        return db

    def close(self) -> None:
        with self._open_lock:
            if self._db is not None:
                self._db = None
                self._handles.release(self._path)

    def __del__(self) -> None:
        # A forgotten close() must not pin the shared handle for the process's life.
        try:
            self.close()
        except Exception:
            pass
