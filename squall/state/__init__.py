"""Keyed state for bolts: key-value state per ``(component, task)`` with a
prepare/commit/rollback lifecycle, behind pluggable backends.

* :class:`KeyValueState` - get/put/delete/items; ``prepare_commit(txid)``,
  ``commit(txid)``, ``rollback()``; ``committed_txid``; ``status`` (:class:`TxStatus`).
* Backends: :class:`MemoryStateBackend`, :class:`RocksDBStateBackend` (local, survives
  the process), :class:`RedisStateBackend` (external). A backend is a frozen,
  picklable configuration; its ``open()`` returns the live :class:`StateStore`
  (``state(component, task)``, ``namespaces()``, ``close()``) in the worker.
* :func:`redistribute` moves state by key when parallelism changes.
* Values are stored as data (msgpack, :mod:`squall.state.codec`), never pickled:
  user types are registered by name (:class:`StateType`, ``types=`` on a backend or
  :meth:`KeyValueState.register_type`). State an older Squall pickled is refused;
  :func:`migrate_pickled_state` converts a trusted store once.

The RocksDB and Redis backends import their client libraries only when first named.

Semantics: Storm 2 State Checkpointing; Flink keyed state redistribution.
"""

from __future__ import annotations

from squall.state.base import KeyValueState, StateBackend, StateStore, TxStatus
from squall.state.codec import StateCodec, StateType
from squall.state.errors import (LegacyPickleStateError, StateBackendError, StateClosedError,
                                 StateDecodeError, StateError, StateKeyError, StateValueError,
                                 TransactionStateError)
from squall.state.memory import MemoryStateBackend, MemoryStateStore
from squall.state.migrate import migrate_pickled_state
from squall.state.redistribute import fields_key_to_task, load_redistributed, redistribute

__all__ = [
    "KeyValueState", "StateBackend", "StateStore", "TxStatus", "StateType", "StateCodec",
    "MemoryStateBackend", "MemoryStateStore", "RocksDBStateBackend", "RocksDBStateStore",
    "RedisStateBackend", "RedisStateStore",
    "redistribute", "fields_key_to_task", "load_redistributed", "migrate_pickled_state",
    "StateError", "TransactionStateError", "StateKeyError", "StateBackendError", "StateClosedError",
    "StateValueError", "StateDecodeError", "LegacyPickleStateError",
]


def __getattr__(name: str):
    if name in ("RocksDBStateBackend", "RocksDBStateStore"):
        from squall.state import rocksdb
        return getattr(rocksdb, name)
    if name in ("RedisStateBackend", "RedisStateStore"):
        from squall.state import redis
        return getattr(redis, name)
    raise AttributeError(f"module 'squall.state' has no attribute {name!r}")
