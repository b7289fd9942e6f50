"""Squall's stores: a wide-column table (HBase role) and a key-value store (Redis role).

Each is an abstract base class with an embedded RocksDB default: a store is a frozen,
picklable configuration (:class:`TableStore` -> :class:`EmbeddedTableStore`,
:class:`KeyValueStore` -> :class:`EmbeddedKeyValueStore`) whose ``open()`` returns the
live connection (:class:`TableConnection` with its :class:`Table` objects,
:class:`KeyValueConnection`) in the process that calls it. The HBase and Redis backends
implement the same classes. A store's ``single_writer_key`` names the resource only
one process may write (an embedded store's directory), or None.

>>> import pickle, tempfile
>>> store = EmbeddedTableStore(tempfile.mkdtemp())
>>> pickle.loads(pickle.dumps(store)) == store
True
>>> with store.open() as tables:
...     tables.create_table("t", ["cf"])
...     tables.tables()
['t']
"""

from squall.store.errors import (
    InvalidArgumentError,
    ReadOnlyStoreError,
    StoreClosedError,
    StoreError,
    StoreLockedError,
    TableExistsError,
    UnknownColumnFamilyError,
    UnknownTableError,
    WrongTypeError,
)
from squall.store.kv import KeyValueConnection, KeyValueStore
from squall.store.rocks_kv import EmbeddedKeyValueConnection, EmbeddedKeyValueStore
from squall.store.rocks_table import EmbeddedTable, EmbeddedTableConnection, EmbeddedTableStore
from squall.store.table import Table, TableConnection, TableStore
from squall.store.writers import single_writer_keys

__all__ = [
    "TableStore",
    "TableConnection",
    "Table",
    "EmbeddedTableStore",
    "EmbeddedTableConnection",
    "EmbeddedTable",
    "KeyValueStore",
    "KeyValueConnection",
    "EmbeddedKeyValueStore",
    "EmbeddedKeyValueConnection",
    "single_writer_keys",
    "StoreError",
    "InvalidArgumentError",
    "UnknownTableError",
    "TableExistsError",
    "UnknownColumnFamilyError",
    "StoreLockedError",
    "ReadOnlyStoreError",
    "StoreClosedError",
    "WrongTypeError",
]
