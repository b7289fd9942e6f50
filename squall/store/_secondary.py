"""Read-only views of an embedded store another process may be writing: RocksDB secondaries.

RocksDB lets one process open a directory for writing (it holds the ``LOCK`` file);
any number of others may follow it as *secondary instances*: they open the same files
without the lock, keep their own info log in a scratch directory, and
``try_catch_up_with_primary`` replays what the writer has done since (its MANIFEST
and its write-ahead log, so writes not yet flushed to table files are seen too). The
embedded stores opened with ``read_only=True`` read through one of these, which is how
``squall table``/``squall kv`` look at a running pipeline's data.

A secondary cannot follow everything: a column family the writer creates after the
secondary opened makes catching up fail, and the writer may delete files while a
catch-up reads them. Both are cured by opening again, which :meth:`Secondary.follow`
does.

Semantics: RocksDB wiki, "Read-only and Secondary instances".
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import weakref

from rocksdict import AccessType, Options, Rdict

from squall.store.errors import StoreError

__all__ = ["Secondary"]

log = logging.getLogger(__name__)

_OPEN_ATTEMPTS = 3
_RETRY_PAUSE_S = 0.05  # the writer's file deletions that made an open fail are over by then


def _options() -> Options:
    opts = Options(raw_mode=True)
    # RocksDB requires it of secondaries: every table file stays open, so one the writer
    # deletes after a compaction stays readable until the next catch-up drops it.
    opts.set_max_open_files(-1)
    return opts


class Secondary:
    """A RocksDB secondary instance following the database at ``path``.

    Nothing is opened or created before the first :meth:`follow`. The scratch
    directory (the secondary's own info log) is a fresh temporary directory, removed
    by :meth:`close`, or at the latest when this object is collected or the
    interpreter exits.

    Args:
        path: the writer's database directory.

    Attributes:
        db: the live raw-mode ``Rdict`` with every column family open, or None while
            no database exists at ``path``.
        column_families: the names of the column families ``db`` opened.

    Thread-safety: none; the owner serialises :meth:`follow` and :meth:`close`.
    Handles taken from an old ``db`` keep reading what they saw after a reopen.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.db: Rdict | None = None
        self.column_families: list[str] = []
        self._scratch: str | None = None
        self._remove_scratch: weakref.finalize | None = None

    def follow(self) -> bool:
        """Catch up with the writer, opening (again) when needed.

        Returns:
            True when ``db`` is a new handle since the last call (take column family
            handles again), False when the same handle caught up or no database exists.

        Raises:
            StoreError: the database exists but could not be opened in
                ``_OPEN_ATTEMPTS`` attempts; the message names the path and RocksDB's reason.
        """
        if self.db is not None:
            try:
                self.db.try_catch_up_with_primary()
                return False
            except Exception as exc:  # rocksdict raises bare Exception for RocksDB statuses
                log.debug("reopening the secondary of %s: %s", self.path, exc)
                self._close_db()
        if not os.path.exists(os.path.join(self.path, "CURRENT")):
            return False  # nothing written yet: reads as empty, and nothing is created
        self._open()
        return True

    def _open(self) -> None:
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="squall-secondary-")
            self._remove_scratch = weakref.finalize(self, shutil.rmtree, self._scratch, True)
        for attempt in range(_OPEN_ATTEMPTS):
            try:
                names = Rdict.list_cf(self.path, Options(raw_mode=True))
                self.db = Rdict(self.path, _options(),
                                column_families={n: Options(raw_mode=True) for n in names if n != "default"},
                                access_type=AccessType.secondary(self._scratch))
                self.column_families = names
                return
            except Exception as exc:
                if attempt == _OPEN_ATTEMPTS - 1:
                    raise StoreError(f"cannot open the store at {self.path} for reading: {exc}") from exc
                time.sleep(_RETRY_PAUSE_S)

    def _close_db(self) -> None:
        db, self.db, self.column_families = self.db, None, []
        if db is not None:
            db.close()

    def close(self) -> None:
        """Close the instance and remove its scratch directory; :meth:`follow` opens again."""
        self._close_db()
        if self._remove_scratch is not None:
            self._remove_scratch()
            self._scratch = self._remove_scratch = None
