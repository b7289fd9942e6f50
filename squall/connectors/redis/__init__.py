"""Redis connector: a key-value store and storm-redis style bolts over redis-py.

* :class:`RedisKeyValueStore` - the :class:`~squall.store.kv.KeyValueStore` contract
  on a real Redis (single server, Sentinel or Cluster): a frozen configuration whose
  ``open()`` returns a :class:`RedisKeyValueConnection`, so store-based bolts such as
  the smart-car ``SpeedingBolt`` run unchanged against it;
* :class:`RedisStoreBolt`, :class:`RedisLookupBolt`, :class:`RedisFilterBolt` with
  :class:`RedisStoreMapper`, :class:`RedisLookupMapper`, :class:`RedisFilterMapper` -
  one pipelined round trip per drained batch, ack after the write, fail + backoff when
  Redis is down;
* :class:`RedisConfig` / :func:`from_url` - where Redis is, timeouts, retries.

Only this package imports redis-py (``pip install squall[redis]``).

Semantics: storm-redis (``org.apache.storm.redis``); redis.io command reference.
"""

from squall.extras import require

require("redis", "redis")  # one sentence naming the extra instead of a traceback

from .bolts import RedisBolt, RedisFilterBolt, RedisLookupBolt, RedisStoreBolt
from .config import RedisConfig, build_client, from_url
from .errors import RedisCommandError, RedisConfigError, RedisConnectionError, RedisConnectorError
from .mappers import RedisDataType, RedisFilterMapper, RedisLookupMapper, RedisStoreMapper
from .store import RedisKeyValueConnection, RedisKeyValueStore

__all__ = [
    "RedisConfig",
    "from_url",
    "build_client",
    "RedisKeyValueStore",
    "RedisKeyValueConnection",
    "RedisDataType",
    "RedisStoreMapper",
    "RedisLookupMapper",
    "RedisFilterMapper",
    "RedisBolt",
    "RedisStoreBolt",
    "RedisLookupBolt",
    "RedisFilterBolt",
    "RedisConnectorError",
    "RedisConnectionError",
    "RedisCommandError",
    "RedisConfigError",
]
