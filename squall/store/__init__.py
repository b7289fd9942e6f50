"""Squall's stores: a wide-column table (HBase role) and a key-value store (Redis role).

Each is an abstract base class (:class:`TableStore`/:class:`Table`,
:class:`KeyValueStore`) with an embedded RocksDB default (:class:`EmbeddedTableStore`,
:class:`EmbeddedKeyValueStore`); the HBase and Redis backends implement the same
classes. Store objects are cheap, picklable specs that open on first use.
"""

from squall.store.errors import (
    InvalidArgumentError,
    ReadOnlyStoreError,
    StoreError,
    StoreLockedError,
    TableExistsError,
    UnknownColumnFamilyError,
    UnknownTableError,
    WrongTypeError,
)
from squall.store.kv import KeyValueStore
from squall.store.rocks_kv import EmbeddedKeyValueStore
from squall.store.rocks_table import EmbeddedTable, EmbeddedTableStore
from squall.store.table import Table, TableStore

__all__ = [
    "TableStore",
    "Table",
    "EmbeddedTableStore",
    "EmbeddedTable",
    "KeyValueStore",
    "EmbeddedKeyValueStore",
    "StoreError",
    "InvalidArgumentError",
    "UnknownTableError",
    "TableExistsError",
    "UnknownColumnFamilyError",
    "StoreLockedError",
    "ReadOnlyStoreError",
    "WrongTypeError",
]
