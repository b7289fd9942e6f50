"""The real deployment's stores: rows to HBase, speeding sets to Redis.

The topology is the same as with the embedded defaults; only the source and the
stores change, each chosen separately (``--kafka`` in :mod:`.kafka_feed`, ``--hbase``,
``--redis``). Each connector is imported only when its option is given.
"""

from __future__ import annotations

from pathlib import Path

from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore

from .topology import Stores

__all__ = ["stores_for"]


def stores_for(data_dir: str | Path, redis_url: str | None, hbase: str | None) -> Stores:
    """Embedded stores unless a real service is named (HBase as ``HOST:PORT`` of its Thrift server)."""
    if hbase:
        from squall.connectors.hbase import HBaseTableStore
        host, _, port = hbase.rpartition(":")
        table = HBaseTableStore(host or "127.0.0.1", int(port))
    else:
        table = EmbeddedTableStore(data_dir)
    if redis_url:
        from squall.connectors.redis import RedisKeyValueStore
        kv = RedisKeyValueStore(redis_url)
    else:
        kv = EmbeddedKeyValueStore(data_dir)
    return Stores(table, kv)
