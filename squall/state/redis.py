"""The Redis state backend (redis-py): state in an external Redis server.

Layout per namespace ``(component, task)``, under ``key_prefix`` (default
``squall:state``), with a hash tag so a namespace's keys share one Cluster slot and
fit in one MULTI:

* ``{prefix}:{<component>/<task>}:c`` - hash, key bytes -> value bytes: committed state;
* ``{prefix}:{<component>/<task>}:s`` - hash, key bytes -> ``b"v" + value`` or ``b"d"``:
  the prepared transaction;
* ``{prefix}:{<component>/<task>}:m`` - hash with ``committed_txid`` / ``prepared_txid``.

``prepare_commit`` and ``commit`` are each one MULTI/EXEC transaction: Redis runs it
without interleaving another client's command, so a reader sees the whole commit or
none of it, and a client dying mid-call leaves nothing half-applied (a transaction
the server never received EXEC for is discarded). Durability is the server's
(AOF/RDB settings).

The client is the Redis connector's (:class:`squall.connectors.redis.RedisConfig`:
one server, Sentinel, Cluster, password, TLS). That client decodes replies to str
for the connector's sets; state reads ask for raw bytes per command (redis-py's
``NEVER_DECODE`` option), so one client serves both.

Whatever other programs write under the prefix is data to this backend: values are
decoded by :mod:`squall.state.codec`, never unpickled (unless ``serializer="pickle"``).

Semantics: Storm 2 ``RedisKeyValueState`` (committed hash + prepare hash + txid).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from squall.extras import require
from squall.state.base import KeyValueState, StateBackend, StateStore
from squall.state.errors import StateBackendError

redis = require("redis", "redis")

from redis.client import NEVER_DECODE

from squall.connectors.redis.config import RedisConfig, build_client, from_url

_RAW = {NEVER_DECODE: True}


def _glob_escape(text: str) -> str:
    """``text`` with Redis glob metacharacters escaped, for SCAN MATCH."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)

__all__ = ["RedisStateBackend", "RedisStateStore"]

_HSCAN_COUNT = 500


class _RedisState(KeyValueState):
    def __init__(self, component: str, task: int, client: redis.Redis, prefix: str) -> None:
        base = f"{prefix}:{{{component}/{task}}}"
        self._r = client
        self._kc, self._ks, self._km = f"{base}:c", f"{base}:s", f"{base}:m"
        ctx, ptx = self._call(lambda: client.execute_command("HMGET", self._km, "committed_txid",
                                                             "prepared_txid", **_RAW), component, task)
        super().__init__(component, task, None if ctx is None else int(ctx),
                         None if ptx is None else int(ptx))

    def _call(self, fn, component=None, task=None):
        try:
            return fn()
        except redis.RedisError as exc:
            ns = (component, task) if component is not None else self.namespace
            raise StateBackendError(f"Redis call failed for state {ns[0]!r}[task {ns[1]}]: {exc}",
                                    ns) from exc

    def _get_committed(self, kb: bytes) -> bytes | None:
        return self._call(lambda: self._r.execute_command("HGET", self._kc, kb, **_RAW))

    def _scan_committed(self) -> Iterator[tuple[bytes, bytes]]:
        # HSCAN may return a field twice if the hash is rehashed mid-scan: de-duplicate.
        seen: set[bytes] = set()
        cursor = 0
        while True:
            cursor, batch = self._call(lambda at=cursor: self._r.execute_command(
                "HSCAN", self._kc, at, "COUNT", _HSCAN_COUNT, **_RAW))
            for kb, vb in batch.items():
                if kb not in seen:
                    seen.add(kb)
                    yield kb, vb
            if cursor == 0:
                return

    def _stage(self, txid: int, changes: Mapping[bytes, bytes | None]) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self._ks)
        if changes:
            pipe.hset(self._ks, mapping={kb: (b"d" if vb is None else b"v" + vb)
                                         for kb, vb in changes.items()})
        pipe.hset(self._km, "prepared_txid", txid)
        self._call(pipe.execute)

    def _load_staged(self) -> dict[bytes, bytes | None]:
        raw = self._call(lambda: self._r.execute_command("HGETALL", self._ks, **_RAW))
        return {kb: (None if v[:1] == b"d" else v[1:]) for kb, v in raw.items()}

    def _apply_staged(self, txid: int, changes: Mapping[bytes, bytes | None]) -> None:
        puts = {kb: vb for kb, vb in changes.items() if vb is not None}
        dels = [kb for kb, vb in changes.items() if vb is None]
        pipe = self._r.pipeline(transaction=True)
        if puts:
            pipe.hset(self._kc, mapping=puts)
        if dels:
            pipe.hdel(self._kc, *dels)
        pipe.delete(self._ks)
        pipe.hset(self._km, "committed_txid", txid)
        pipe.hdel(self._km, "prepared_txid")
        self._call(pipe.execute)

    def _drop_staged(self) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self._ks)
        pipe.hdel(self._km, "prepared_txid")
        self._call(pipe.execute)


@dataclass(frozen=True)
class RedisStateBackend(StateBackend):
    """Keyed state in Redis (one server, Sentinel or Cluster), per ``(component, task)``.

    A frozen configuration (it pickles as its fields); :meth:`open` returns a
    :class:`RedisStateStore` whose client is built at its first ``state()``.

    Args:
        config: where Redis is and how to reach it (password, TLS, timeouts, retries):
            the Redis connector's :class:`~squall.connectors.redis.RedisConfig`. A URL
            string is accepted as a shorthand for ``from_url(url)``.
        key_prefix: prefix of every key this backend writes.
        types, serializer: see :class:`~squall.state.StateBackend`. Other programs can
            write to a Redis server: never use ``serializer="pickle"`` with a shared one.

    >>> RedisStateBackend.from_url("redis://127.0.0.1:6379/0").config.describe()
    'redis://127.0.0.1:6379/0'

    Raises:
        RedisConfigError: ``config`` is an invalid URL.
        TypeError: ``config`` is neither a RedisConfig nor a str.
    """

    config: RedisConfig
    key_prefix: str = "squall:state"

    def __post_init__(self) -> None:
        if isinstance(self.config, str):
            object.__setattr__(self, "config", from_url(self.config))
        if not isinstance(self.config, RedisConfig):
            raise TypeError(f"config must be a RedisConfig or a redis:// URL, got {self.config!r}")
        super().__post_init__()

    @classmethod
    def from_url(cls, url: str, key_prefix: str = "squall:state", *, types=(),
                 serializer: str = "msgpack", **settings) -> RedisStateBackend:
        """``RedisStateBackend(from_url(url, **settings), key_prefix, ...)``: ``settings``
        are :class:`~squall.connectors.redis.RedisConfig` fields (``socket_timeout_s``, ...)."""
        return cls(from_url(url, **settings), key_prefix, types=types, serializer=serializer)

    @property
    def single_writer_key(self) -> None:
        """None: any number of processes may write to Redis."""
        return None

    def open(self) -> RedisStateStore:
        return RedisStateStore(self)


class RedisStateStore(StateStore):
    """The live store of a :class:`RedisStateBackend`: one redis-py client, built at first use."""

    def __init__(self, backend: RedisStateBackend) -> None:
        super().__init__(backend)
        self.config = backend.config
        self.key_prefix = backend.key_prefix
        self._client = None

    def namespaces(self) -> list[tuple[str, int]]:
        client = self._live()
        pattern = _glob_escape(self.key_prefix) + ":{*}:m"
        start = len(self.key_prefix) + 2
        found = set()
        try:
            for key in client.scan_iter(match=pattern, count=_HSCAN_COUNT):
                component, _, task = key[start:-3].rpartition("/")
                if component and task.isdigit():
                    found.add((component, int(task)))
        except (redis.RedisError, UnicodeDecodeError) as exc:
            raise StateBackendError(f"Redis SCAN failed under {self.key_prefix!r}: {exc}") from exc
        return sorted(found)

    def _live(self):
        if self._client is None:
            try:
                self._client = build_client(self.config)
            except redis.RedisError as exc:
                raise StateBackendError(f"cannot reach Redis at {self.config.describe()} for "
                                        f"state: {exc}") from exc
        return self._client

    def _open_state(self, component: str, task: int) -> KeyValueState:
        return _RedisState(component, task, self._live(), self.key_prefix)

    def close(self) -> None:
        """Close every state handed out, then the client's connections."""
        super().close()
        if self._client is not None:
            self._client.close()
            self._client = None
