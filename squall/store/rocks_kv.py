"""The embedded key-value store with Redis semantics on RocksDB (the Redis role's default).

The only module that imports rocksdict for the key-value store (read-only views go through
:mod:`squall.store._secondary`).

On-disk layout: one RocksDB at ``data_dir/kv/`` with two column families, as
RocksDB-backed Redis servers (Kvrocks, Pika) do:

* ``default`` (metadata): key bytes -> msgpack ``[type, expire_at_ms | None, payload]``
  where a string's payload is its value and a set's payload is its cardinality.
* ``members``: ``len(key) as 4 bytes big-endian + key + member`` -> empty. The length
  prefix keeps one key's members contiguous and apart from every other key's, so
  SMEMBERS is one prefix scan, SADD/SISMEMBER are point lookups (no rewrite of the
  whole set per SADD), and deleting a set is one range delete.

Expiry: lazy, as Redis - every command checks the key's deadline and treats an expired
key as absent (deleting it). Expired keys are also purged when the store opens and,
at most once per ``purge_interval_s``, by the next write (Redis's active expiry cycle
in spirit). Deadlines are epoch milliseconds from the injected ``clock``; a key expires
when ``now_ms > expire_at_ms``, as Redis's ``keyIsExpired``.

Read-only connections (``read_only=True``) follow the writer as a RocksDB secondary
instance (:mod:`squall.store._secondary`), so they work while another process holds
the directory. An expired key is invisible to them as to the writer; only the
writer deletes it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import msgpack
from rocksdict import Options, Rdict, WriteBatch

from squall.store._handles import Lease, SharedHandles
from squall.store._secondary import Secondary
from squall.store.errors import InvalidArgumentError, ReadOnlyStoreError, StoreLockedError, WrongTypeError
from squall.store.kv import KeyValueConnection, KeyValueStore, Value, encode_value, expire_seconds, glob_to_regex

__all__ = ["EmbeddedKeyValueStore", "EmbeddedKeyValueConnection"]

_STRING, _SET = 0, 1
_TYPE_NAMES = {_STRING: "string", _SET: "set"}
_MEMBERS_CF = "members"

_pack = msgpack.Packer(use_bin_type=True).pack
_unpack = msgpack.unpackb


def _options() -> Options:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    return opts


def _successor(prefix: bytes) -> bytes:
    """Return the smallest key greater than every key starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    # The 4-byte length prefix is never all 0xff for a real key, so stripped is non-empty.
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def _member_prefix(key: bytes) -> bytes:
    return len(key).to_bytes(4, "big") + key


class _Database:
    """The one live RocksDB of a ``data_dir/kv`` directory, shared in the process."""

    def __init__(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        try:
            self.db = Rdict(path, _options(), column_families={_MEMBERS_CF: _options()})
        except Exception as exc:  # rocksdict raises bare Exception for RocksDB statuses
            if "lock" in str(exc).lower():
                raise StoreLockedError(path) from exc
            raise
        self.members = self.db.get_column_family(_MEMBERS_CF)
        self.members_handle = self.db.get_column_family_handle(_MEMBERS_CF)
        self.meta_handle = self.db.get_column_family_handle("default")
        # Commands are read-modify-write on meta and members; one lock makes each atomic.
        self.lock = threading.RLock()
        self.last_purge_ms = -1

    def close(self) -> None:
        self.members = self.members_handle = self.meta_handle = None
        self.db.close()


_HANDLES: SharedHandles[_Database] = SharedHandles(_Database, _Database.close)

_NO_DATABASE = MappingProxyType({})
"""What a read-only view reads before the writer created the database: no keys."""


class _ReadOnlyDatabase:
    """A read-only view of a ``data_dir/kv`` directory, shared in the process.

    It has the attributes the read paths of :class:`EmbeddedKeyValueStore` use
    (``db``, ``members``, ``lock``); ``refresh()`` catches up with the writer.
    """

    def __init__(self, path: str) -> None:
        self.secondary = Secondary(path)
        self.db = _NO_DATABASE
        self.members = None  # only read once a key's metadata was found, so never while empty
        self.lock = threading.RLock()

    def refresh(self) -> None:
        with self.lock:
            if self.secondary.follow():
                self.db = self.secondary.db
                self.members = self.db.get_column_family(_MEMBERS_CF)

    def close(self) -> None:
        with self.lock:
            self.db, self.members = _NO_DATABASE, None
            self.secondary.close()


_READER_HANDLES: SharedHandles[_ReadOnlyDatabase] = SharedHandles(_ReadOnlyDatabase,
                                                                  _ReadOnlyDatabase.close)


@dataclass(frozen=True)
class EmbeddedKeyValueStore(KeyValueStore):
    """Redis-like strings and sets with TTLs, persisted in RocksDB under ``data_dir/kv/``.

    A frozen configuration: it pickles and copies as its fields, so bolts carry it to
    workers; :meth:`open` opens the database in the process that calls it.

    Args:
        data_dir: the Squall data directory (str or Path; kept as an absolute Path);
            created when a writer opens it.
        clock: returns the current time in epoch seconds (float); inject a test clock
            so TTL tests do not sleep. A module-level function (or another picklable
            callable) if the store travels to another process.
        purge_interval_s: minimum seconds between sweeps that delete expired keys
            (besides the sweep at open and lazy expiry on every read).
        read_only: open only to read, through a RocksDB secondary instance that follows
            the directory's writer (this process or another, e.g. a running pipeline);
            each command first catches up with it. Expired keys are invisible, as to the
            writer, but stay on disk until the writer deletes them. Creates nothing;
            a directory without a database reads as empty. Write commands raise
            :class:`~squall.store.errors.ReadOnlyStoreError`.

    Sharing: as :class:`~squall.store.rocks_table.EmbeddedTableStore` - one
    reference-counted RocksDB handle per directory per process (one for writers, one
    for read-only views), :class:`~squall.store.errors.StoreLockedError` when another
    process holds the directory (unless ``read_only``), hence :attr:`single_writer_key`.

    Semantics: see :class:`~squall.store.kv.KeyValueStore` (Redis command reference).

    >>> import tempfile
    >>> now = [1_700_000_000.0]
    >>> with EmbeddedKeyValueStore(tempfile.mkdtemp(), clock=lambda: now[0]).open() as kv:
    ...     kv.sadd("speeding:2024-05-01", "car7", "car9", "car7")
    ...     kv.expire("speeding:2024-05-01", 7 * 24 * 3600)
    ...     kv.sadd("speeding:2024-05-01", "car3"), kv.ttl("speeding:2024-05-01")
    ...     now[0] += 7 * 24 * 3600 + 1
    ...     kv.smembers("speeding:2024-05-01"), kv.ttl("speeding:2024-05-01")
    2
    True
    (1, 604800)
    (set(), -2)
    """

    data_dir: Path
    clock: Callable[[], float] = time.time
    purge_interval_s: float = 60.0
    read_only: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(os.path.abspath(self.data_dir)))

    @property
    def path(self) -> Path:
        """The RocksDB directory: ``data_dir/kv``."""
        return self.data_dir / "kv"

    @property
    def single_writer_key(self) -> str | None:
        """``"rocksdb:<real path of data_dir/kv>"``; None when ``read_only``."""
        return None if self.read_only else "rocksdb:" + os.path.realpath(self.path)

    def open(self) -> EmbeddedKeyValueConnection:
        """Open the keys (a writer creates the directory and purges expired keys)."""
        return EmbeddedKeyValueConnection(self)


class EmbeddedKeyValueConnection(KeyValueConnection):
    """A live connection to an :class:`EmbeddedKeyValueStore`; get one from its ``open()``.

    Thread-safety: all methods may be called from several threads; each is atomic.

    Raises (from the constructor):
        StoreLockedError: another process holds the directory (writers only).
    """

    def __init__(self, store: EmbeddedKeyValueStore) -> None:
        self._store = store
        self._read_only = store.read_only
        self._clock = store.clock
        self._purge_interval_ms = int(store.purge_interval_s * 1000)
        self._lease: Lease = Lease(_READER_HANDLES if store.read_only else _HANDLES, str(store.path), store)
        if not self._read_only:
            db = self._lease.get("open")
            with db.lock:
                self._purge(db, self._now_ms())

    @property
    def store(self) -> EmbeddedKeyValueStore:
        return self._store

    def __repr__(self) -> str:
        state = "closed" if self._lease.released else "open"
        return f"<EmbeddedKeyValueConnection {state} to {self._store!r}>"

    def close(self) -> None:
        self._lease.release()

    # -- plumbing ----------------------------------------------------------------------

    def _view(self, command: str):
        """The live database for a read: a read-only view first catches up with its writer."""
        db = self._lease.get(command)
        if self._read_only:
            db.refresh()
        return db

    def _writable(self, command: str) -> _Database:
        """The live database for a write; raise :class:`ReadOnlyStoreError` on a read-only view."""
        if self._read_only:
            raise ReadOnlyStoreError(self._lease.path, command)
        return self._lease.get(command)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _load(self, db: _Database, key: bytes, now_ms: int) -> list | None:
        """Return the key's live metadata, deleting it first if it has expired."""
        raw = db.db.get(key)
        if raw is None:
            return None
        meta = _unpack(raw)
        if meta[1] is not None and now_ms > meta[1]:
            if not self._read_only:
                wb = WriteBatch(raw_mode=True)
                self._delete_into(db, wb, key, meta)
                db.db.write(wb)
            return None
        return meta

    @staticmethod
    def _delete_into(db: _Database, wb: WriteBatch, key: bytes, meta: list) -> None:
        wb.delete(key, db.meta_handle)
        if meta[0] == _SET:
            prefix = _member_prefix(key)
            wb.delete_range(prefix, _successor(prefix), db.members_handle)

    def _purge(self, db: _Database, now_ms: int) -> int:
        db.last_purge_ms = now_ms
        wb = WriteBatch(raw_mode=True)
        purged = 0
        for key, raw in db.db.items():
            meta = _unpack(raw)
            if meta[1] is not None and now_ms > meta[1]:
                self._delete_into(db, wb, key, meta)
                purged += 1
        if purged:
            db.db.write(wb)
        return purged

    def _write_begin(self, db: _Database) -> int:
        now_ms = self._now_ms()
        if now_ms - db.last_purge_ms >= self._purge_interval_ms:
            self._purge(db, now_ms)
        return now_ms

    @staticmethod
    def _as_set(key: Value, meta: list | None) -> list | None:
        if meta is not None and meta[0] != _SET:
            raise WrongTypeError(_show(key), _TYPE_NAMES[meta[0]], "set")
        return meta

    def purge_expired(self) -> int:
        """Delete every expired key now.

        Returns:
            How many keys were deleted.

        Raises:
            ReadOnlyStoreError: the store is read-only.
        """
        db = self._writable("purge_expired")
        with db.lock:
            return self._purge(db, self._now_ms())

    # -- strings -----------------------------------------------------------------------

    def get(self, key: Value) -> str | None:
        kb = encode_value(key)
        db = self._view("GET")
        with db.lock:
            meta = self._load(db, kb, self._now_ms())
        if meta is None:
            return None
        if meta[0] != _STRING:
            raise WrongTypeError(_show(key), _TYPE_NAMES[meta[0]], "string")
        return meta[2].decode()

    def set(self, key: Value, value: Value, ex: int | timedelta | None = None) -> bool:
        kb, vb = encode_value(key), encode_value(value)
        if ex is not None:
            ex = expire_seconds(ex, "SET")
            if ex <= 0:
                raise InvalidArgumentError(f"invalid expire time in 'set' command: {ex} (must be >= 1)")
        db = self._writable("SET")
        with db.lock:
            now_ms = self._write_begin(db)
            wb = WriteBatch(raw_mode=True)
            old = self._load(db, kb, now_ms)
            if old is not None and old[0] == _SET:
                self._delete_into(db, wb, kb, old)
            wb.put(kb, _pack([_STRING, None if ex is None else now_ms + ex * 1000, vb]), db.meta_handle)
            db.db.write(wb)
        return True

    # -- sets --------------------------------------------------------------------------

    def sadd(self, key: Value, *members: Value) -> int:
        kb, mkeys = _member_keys("SADD", key, members)
        db = self._writable("SADD")
        with db.lock:
            now_ms = self._write_begin(db)
            meta = self._as_set(key, self._load(db, kb, now_ms)) or [_SET, None, 0]
            found = db.members.get(mkeys)
            wb = WriteBatch(raw_mode=True)
            added = 0
            for mk, present in zip(mkeys, found):
                if present is None:
                    wb.put(mk, b"", db.members_handle)
                    added += 1
            if added:
                meta[2] += added  # meta[1] (the deadline) is carried over: SADD keeps the TTL
                wb.put(kb, _pack(meta), db.meta_handle)
                db.db.write(wb)
        return added

    def srem(self, key: Value, *members: Value) -> int:
        kb, mkeys = _member_keys("SREM", key, members)
        db = self._writable("SREM")
        with db.lock:
            now_ms = self._write_begin(db)
            meta = self._as_set(key, self._load(db, kb, now_ms))
            if meta is None:
                return 0
            found = db.members.get(mkeys)
            wb = WriteBatch(raw_mode=True)
            removed = 0
            for mk, present in zip(mkeys, found):
                if present is not None:
                    wb.delete(mk, db.members_handle)
                    removed += 1
            if removed:
                meta[2] -= removed
                if meta[2] <= 0:  # Redis deletes a set when its last member goes
                    wb.delete(kb, db.meta_handle)
                else:
                    wb.put(kb, _pack(meta), db.meta_handle)
                db.db.write(wb)
        return removed

    def smembers(self, key: Value) -> set[str]:
        kb = encode_value(key)
        prefix = _member_prefix(kb)
        db = self._view("SMEMBERS")
        with db.lock:
            meta = self._as_set(key, self._load(db, kb, self._now_ms()))
            if meta is None:
                return set()
            cut = len(prefix)
            out = set()
            for mk in db.members.keys(from_key=prefix):
                if not mk.startswith(prefix):
                    break
                out.add(mk[cut:].decode())
        return out

    def sismember(self, key: Value, member: Value) -> bool:
        kb = encode_value(key)
        mk = _member_prefix(kb) + encode_value(member)
        db = self._view("SISMEMBER")
        with db.lock:
            meta = self._as_set(key, self._load(db, kb, self._now_ms()))
            return meta is not None and db.members.get(mk) is not None

    def scard(self, key: Value) -> int:
        kb = encode_value(key)
        db = self._view("SCARD")
        with db.lock:
            meta = self._as_set(key, self._load(db, kb, self._now_ms()))
        return 0 if meta is None else meta[2]

    # -- keyspace ----------------------------------------------------------------------

    def delete(self, *keys: Value) -> int:
        kbs = [encode_value(k) for k in keys]
        db = self._writable("DEL")
        deleted = 0
        with db.lock:
            now_ms = self._write_begin(db)
            wb = WriteBatch(raw_mode=True)
            for kb in dict.fromkeys(kbs):
                meta = self._load(db, kb, now_ms)
                if meta is not None:
                    self._delete_into(db, wb, kb, meta)
                    deleted += 1
            if deleted:
                db.db.write(wb)
        return deleted

    def exists(self, *keys: Value) -> int:
        kbs = [encode_value(k) for k in keys]
        db = self._view("EXISTS")
        with db.lock:
            now_ms = self._now_ms()
            return sum(1 for kb in kbs if self._load(db, kb, now_ms) is not None)

    def expire(self, key: Value, seconds: int | timedelta) -> bool:
        kb = encode_value(key)
        seconds = expire_seconds(seconds, "EXPIRE")
        db = self._writable("EXPIRE")
        with db.lock:
            now_ms = self._write_begin(db)
            meta = self._load(db, kb, now_ms)
            if meta is None:
                return False
            wb = WriteBatch(raw_mode=True)
            if seconds <= 0:
                self._delete_into(db, wb, kb, meta)
            else:
                meta[1] = now_ms + seconds * 1000
                wb.put(kb, _pack(meta), db.meta_handle)
            db.db.write(wb)
        return True

    def ttl(self, key: Value) -> int:
        kb = encode_value(key)
        db = self._view("TTL")
        with db.lock:
            now_ms = self._now_ms()
            meta = self._load(db, kb, now_ms)
        if meta is None:
            return -2
        if meta[1] is None:
            return -1
        return (max(meta[1] - now_ms, 0) + 500) // 1000

    def keys(self, pattern: str = "*") -> list[str]:
        match = glob_to_regex(pattern).fullmatch
        db = self._view("KEYS")
        with db.lock:
            now_ms = self._now_ms()
            out = []
            for kb, raw in db.db.items():
                deadline = _unpack(raw)[1]
                if deadline is not None and now_ms > deadline:
                    continue
                key = kb.decode()
                if match(key):
                    out.append(key)
        return out



def _member_keys(command: str, key: Value, members: tuple) -> tuple[bytes, list[bytes]]:
    """The key's bytes and its distinct members' storage keys, in argument order."""
    if not members:
        raise InvalidArgumentError(f"{command} needs at least one member (wrong number of arguments)")
    kb = encode_value(key)
    prefix = _member_prefix(kb)
    return kb, list(dict.fromkeys(prefix + encode_value(m) for m in members))


def _show(key: Value) -> str:
    return key if isinstance(key, str) else encode_value(key).decode(errors="replace")
