"""The RocksDB state backend (rocksdict): local, survives the process.

The only module of ``squall.state`` that imports rocksdict.

On-disk layout: one RocksDB at ``data_dir`` (raw bytes keys), every namespace
``(component, task)`` encoded as ``ns = len(component) (2 bytes BE) + component UTF-8 +
task (4 bytes BE)`` - prefix-free, so one namespace's keys never run into another's:

* ``b"c" + ns + key`` -> value: the committed state;
* ``b"s" + ns + key`` -> ``b"v" + value`` or ``b"d"`` (delete): the prepared transaction;
* ``b"m" + ns + b"c"`` / ``b"m" + ns + b"s"`` -> committed / prepared txid (8 bytes BE).

``prepare_commit`` and ``commit`` are each one ``WriteBatch``: RocksDB applies a batch
atomically and its write-ahead log makes it survive a process crash (``sync=True``
also survives an OS crash, at a cost per checkpoint). A process reopening the
directory sees the last committed transaction; a prepared one is reported as
``prepared_txid`` (status RECOVERING) and is invisible until committed.

The live handle is leased from ``squall.store._handles``, so several stores opened on
one directory in one process share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from squall.state.base import KeyValueState, StateBackend, StateStore
from squall.state.errors import StateBackendError
from squall.store._handles import Lease, SharedHandles
from squall.store.errors import StoreLockedError

__all__ = ["RocksDBStateBackend", "RocksDBStateStore"]

_COMMITTED, _STAGED, _META = b"c", b"s", b"m"


def _open_db(path: str) -> Rdict:
    os.makedirs(path, exist_ok=True)
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    try:
        return Rdict(path, opts)
    except Exception as exc:  # rocksdict raises bare Exception for RocksDB statuses
        if "lock" in str(exc).lower():
            raise StoreLockedError(path) from exc
        raise StateBackendError(f"cannot open RocksDB state at {path}: {exc}") from exc


_HANDLES: SharedHandles[Rdict] = SharedHandles(_open_db, lambda db: db.close())


def _ns_bytes(component: str, task: int) -> bytes:
    comp = component.encode("utf-8")
    if len(comp) > 0xFFFF or task > 0xFFFFFFFF:
        raise ValueError(f"component name or task id too large: {component!r}, {task}")
    return len(comp).to_bytes(2, "big") + comp + task.to_bytes(4, "big")


def _txid_bytes(txid: int) -> bytes:
    return txid.to_bytes(8, "big", signed=True)


def _txid(data: bytes | None) -> int | None:
    return None if data is None else int.from_bytes(data, "big", signed=True)


def _scan(db: Rdict, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    it = db.iter()
    it.seek(prefix)
    while it.valid():
        k = it.key()
        if not k.startswith(prefix):
            break
        yield k, it.value()
        it.next()


class _RocksState(KeyValueState):
    def __init__(self, component: str, task: int, db: Rdict, write_opt: WriteOptions) -> None:
        ns = _ns_bytes(component, task)
        self._db = db
        self._wopt = write_opt
        self._c = _COMMITTED + ns
        self._s = _STAGED + ns
        self._mc = _META + ns + b"c"
        self._ms = _META + ns + b"s"
        super().__init__(component, task, _txid(db.get(self._mc)), _txid(db.get(self._ms)))

    def _get_committed(self, kb: bytes) -> bytes | None:
        return self._db.get(self._c + kb)

    def _scan_committed(self) -> Iterator[tuple[bytes, bytes]]:
        n = len(self._c)
        for k, v in _scan(self._db, self._c):
            yield k[n:], v

    def _clear_staged_into(self, wb: WriteBatch) -> None:
        for k, _ in _scan(self._db, self._s):
            wb.delete(k)
        wb.delete(self._ms)

    def _write(self, wb: WriteBatch) -> None:
        try:
            self._db.write(wb, self._wopt)
        except Exception as exc:
            raise StateBackendError(f"RocksDB write failed: {exc}", self.namespace) from exc

    def _stage(self, txid: int, changes: Mapping[bytes, bytes | None]) -> None:
        wb = WriteBatch(raw_mode=True)
        self._clear_staged_into(wb)
        for kb, vb in changes.items():
            wb.put(self._s + kb, b"d" if vb is None else b"v" + vb)
        wb.put(self._ms, _txid_bytes(txid))
        self._write(wb)

    def _load_staged(self) -> dict[bytes, bytes | None]:
        n = len(self._s)
        return {k[n:]: (None if v[:1] == b"d" else v[1:]) for k, v in _scan(self._db, self._s)}

    def _apply_staged(self, txid: int, changes: Mapping[bytes, bytes | None]) -> None:
        wb = WriteBatch(raw_mode=True)
        for kb, vb in changes.items():
            if vb is None:
                wb.delete(self._c + kb)
            else:
                wb.put(self._c + kb, vb)
        self._clear_staged_into(wb)
        wb.put(self._mc, _txid_bytes(txid))
        self._write(wb)

    def _drop_staged(self) -> None:
        wb = WriteBatch(raw_mode=True)
        self._clear_staged_into(wb)
        self._write(wb)


@dataclass(frozen=True)
class RocksDBStateBackend(StateBackend):
    """Keyed state in a local RocksDB directory; committed state survives the process.

    A frozen configuration (it pickles as its fields); :meth:`open` opens the directory
    in the process that calls it.

    Args:
        data_dir: the database directory (kept as an absolute path; created at open).
            One process at a time may hold it (RocksDB's LOCK), hence
            :attr:`single_writer_key`; stores opened in one process share one handle.
        sync: fsync the WAL on every prepare/commit (survives an OS crash too).
        types: the user types states may hold (:class:`~squall.state.StateType`).
        serializer: ``"msgpack"`` (default, data only) or ``"pickle"``. **Pickle runs the
            code a stored value names when it is read**: use it only for a directory no
            one else can write, e.g. to keep reading state an older Squall pickled.

    Raises (from ``open``):
        StoreLockedError: another process holds ``data_dir``.
    """

    data_dir: str
    sync: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", os.path.abspath(os.fspath(self.data_dir)))
        super().__post_init__()

    @property
    def single_writer_key(self) -> str:
        """``"rocksdb:<real path of data_dir>"``."""
        return "rocksdb:" + os.path.realpath(self.data_dir)

    def open(self) -> RocksDBStateStore:
        return RocksDBStateStore(self)


class RocksDBStateStore(StateStore):
    """The live store of a :class:`RocksDBStateBackend`: a lease on the directory's handle."""

    def __init__(self, backend: RocksDBStateBackend) -> None:
        super().__init__(backend)
        self._sync = backend.sync
        self._lease: Lease = Lease(_HANDLES, backend.data_dir, backend)

    def _open_state(self, component: str, task: int) -> KeyValueState:
        wopt = WriteOptions()
        wopt.sync = self._sync
        return _RocksState(component, task, self._lease.get("state"), wopt)

    def namespaces(self) -> list[tuple[str, int]]:
        found = set()
        for k, _ in _scan(self._lease.get("namespaces"), _META):
            n = int.from_bytes(k[1:3], "big")
            found.add((k[3:3 + n].decode("utf-8"), int.from_bytes(k[3 + n:7 + n], "big")))
        return sorted(found)

    def close(self) -> None:
        """Close every state handed out, then give the RocksDB handle back."""
        super().close()
        self._lease.release()
