"""Which single-writer resources a component's stores name (for the cluster scheduler).

An embedded RocksDB store may be opened for writing by one OS process only; its
configuration names that resource in ``single_writer_key``. A bolt that writes stores
reports their keys from ``single_writer_keys()``, and the scheduler places executors
sharing a key in the same worker process, where their connections share one handle.
"""

from __future__ import annotations

from squall.store.kv import KeyValueStore
from squall.store.table import TableStore

__all__ = ["single_writer_keys"]


def single_writer_keys(*stores: TableStore | KeyValueStore) -> frozenset[str]:
    """Return the ``single_writer_key`` of each store that has one.

    >>> import tempfile
    >>> from squall.store import EmbeddedKeyValueStore
    >>> d = tempfile.mkdtemp()
    >>> [k.rsplit("/", 1)[-1] for k in single_writer_keys(EmbeddedKeyValueStore(d))]
    ['kv']
    >>> single_writer_keys(EmbeddedKeyValueStore(d, read_only=True))
    frozenset()
    """
    return frozenset(key for key in (s.single_writer_key for s in stores) if key is not None)
