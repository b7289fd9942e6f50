"""The key-value store on a real Redis: :class:`RedisKeyValueStore`.

It implements :class:`~squall.store.kv.KeyValueStore` (the contract the embedded
RocksDB store implements) over redis-py, so a topology moves from the embedded store
to Redis by passing another store object - ``SpeedingBolt(RedisKeyValueStore(url))``;
the bolt opens it on the worker.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import redis
from redis import exceptions as rex

from squall.store.errors import InvalidArgumentError, StoreClosedError, WrongTypeError
from squall.store.kv import KeyValueConnection, KeyValueStore, Value, expire_seconds

from .config import RedisConfig, build_client, from_url
from .errors import RedisCommandError, RedisConfigError, RedisConnectionError

__all__ = ["RedisKeyValueStore", "RedisKeyValueConnection", "translate_error", "CONNECTION_ERRORS"]

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    rex.ConnectionError, rex.TimeoutError, rex.ClusterDownError, rex.TryAgainError,
    rex.RedisClusterException, TimeoutError, ConnectionError)
"""redis-py exceptions that mean "the server is not reachable now" (retry later); Sentinel's
``MasterNotFoundError`` is a ``ConnectionError``, Cluster's slot/failover errors are listed."""


def _close(client) -> None:
    try:
        client.close()
    except Exception:  # a pool of dead connections may fail to say goodbye
        pass


def translate_error(exc: BaseException, config: RedisConfig, command: str, key: Any = None,
                    expected: str = "", client: Any = None) -> Exception:
    """Map a redis-py exception onto Squall's store/connector errors (to be raised ``from exc``).

    ``WRONGTYPE`` -> :class:`WrongTypeError` (the key's actual type looked up with
    ``TYPE`` when a client is given), argument errors -> :class:`InvalidArgumentError`,
    unreachable server -> :class:`RedisConnectionError`, any other error reply ->
    :class:`RedisCommandError`.
    """
    server = config.describe()
    if isinstance(exc, CONNECTION_ERRORS):
        return RedisConnectionError(server, command, str(exc) or type(exc).__name__)
    if isinstance(exc, rex.DataError):
        return InvalidArgumentError(f"{command}: {exc}")
    text = str(exc)
    if isinstance(exc, rex.ResponseError) and text.startswith("WRONGTYPE"):
        actual = "other type"
        if client is not None and key is not None:
            try:
                actual = client.type(key)
            except Exception:  # only for the message
                pass
        return WrongTypeError(_show(key), actual, expected or "other type")
    if isinstance(exc, rex.ResponseError) and ("wrong number of arguments" in text or "invalid expire" in text
                                                or "not an integer" in text or "syntax error" in text):
        return InvalidArgumentError(f"{command} on {server}: {text}")
    return RedisCommandError(server, command, text)


def _show(key: Any) -> str:
    if isinstance(key, bytes):
        return key.decode(errors="replace")
    return str(key)


@dataclass(frozen=True)
class RedisKeyValueStore(KeyValueStore):
    """The key-value contract on a Redis server, Sentinel master or Cluster: the configuration.

    A frozen spec holding only its :class:`RedisConfig`, so it pickles and copies by
    default and travels inside bolt specs; :meth:`open` returns a
    :class:`RedisKeyValueConnection` in the process that uses it.

    Args:
        config: a :class:`RedisConfig`, or a URL string for :func:`from_url`.

    Raises:
        RedisConfigError: ``config`` is an invalid URL or neither a config nor a URL.

    Semantics: see :class:`~squall.store.kv.KeyValueStore` and :class:`RedisKeyValueConnection`.
    """

    config: RedisConfig = RedisConfig()

    blocking_io: ClassVar[bool] = True   # every command is a round trip to the server

    def __post_init__(self) -> None:
        if isinstance(self.config, str):
            object.__setattr__(self, "config", from_url(self.config))
        elif not isinstance(self.config, RedisConfig):
            raise RedisConfigError(f"config must be a RedisConfig or a redis:// URL, got {self.config!r}")

    def __repr__(self) -> str:
        return f"RedisKeyValueStore({self.config.describe()!r})"

    @property
    def single_writer_key(self) -> None:
        """None: any number of processes may write to a Redis server."""
        return None

    def open(self) -> RedisKeyValueConnection:
        """Return a connection; no I/O until its first command (a dead server is not an error yet)."""
        return RedisKeyValueConnection(self)


class RedisKeyValueConnection(KeyValueConnection):
    """A live connection to the Redis of a :class:`RedisKeyValueStore`; get one from its ``open()``.

    The redis-py client (and its connection pool) is built at the first command, so a
    server that is down when a bolt prepares is an outage of its first batch, not a
    crash; ``close()`` closes the pool. Each connection has its own pool.

    Errors: ``WRONGTYPE`` raises :class:`~squall.store.errors.WrongTypeError`, bad
    arguments :class:`~squall.store.errors.InvalidArgumentError` (as the embedded
    store), an unreachable server :class:`RedisConnectionError` naming the server,
    after the config's ``retries``; any command after ``close()``
    :class:`~squall.store.errors.StoreClosedError`.

    Thread-safety: all methods may be called from several threads (the pool hands each
    call its own connection); each method is one Redis command, atomic on the server.

    Semantics: see :class:`~squall.store.kv.KeyValueStore`; each method is the Redis
    command of the same name (redis.io/commands), except the whole-collection reads:
    ``keys`` runs ``SCAN MATCH`` (on every master in Cluster mode) and returns the keys
    sorted, ``smembers`` runs ``SSCAN``; both page by page, ``scan_count`` a page.
    :meth:`scan_iter` and :meth:`sscan_iter` stream them unsorted.
    """

    def __init__(self, store: RedisKeyValueStore) -> None:
        self._store = store
        self.config = store.config
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._closed = False

    @property
    def store(self) -> RedisKeyValueStore:
        return self._store

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<RedisKeyValueConnection {state} to {self.config.describe()!r}>"

    def _live(self, command: str = "client"):
        client = self._client
        if client is None:
            with self._lock:
                if self._closed:
                    raise StoreClosedError(self._store, command)
                if self._client is None:
                    self._client = build_client(self.config)
                client = self._client
        return client

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            _close(client)

    @property
    def client(self) -> redis.Redis:
        """The live redis-py client (``decode_responses=True``), opened on first use."""
        return self._live()

    def _run(self, command: str, key: Any, expected: str, call, *args):
        try:
            client = self._live(command)
        except StoreClosedError:
            raise
        except Exception as exc:  # cluster mode connects when the client is built
            raise translate_error(exc, self.config, command) from exc
        try:
            return call(client, *args)
        except (rex.RedisError, rex.RedisClusterException) as exc:
            raise translate_error(exc, self.config, command, key, expected, client) from exc
        except (OSError, TimeoutError) as exc:
            raise translate_error(exc, self.config, command) from exc

    # -- strings -----------------------------------------------------------------------

    def get(self, key: Value) -> str | None:
        return self._run("GET", key, "string", _get, key)

    def set(self, key: Value, value: Value, ex: int | timedelta | None = None) -> bool:
        if ex is not None:
            ex = expire_seconds(ex, "SET")
            if ex <= 0:
                raise InvalidArgumentError(f"invalid expire time in 'set' command: {ex} (must be >= 1)")
        return bool(self._run("SET", key, "", _set, key, value, ex))

    # -- sets --------------------------------------------------------------------------

    def sadd(self, key: Value, *members: Value) -> int:
        if not members:
            raise InvalidArgumentError("SADD needs at least one member (wrong number of arguments)")
        return self._run("SADD", key, "set", _sadd, key, members)

    def srem(self, key: Value, *members: Value) -> int:
        if not members:
            raise InvalidArgumentError("SREM needs at least one member (wrong number of arguments)")
        return self._run("SREM", key, "set", _srem, key, members)

    def smembers(self, key: Value) -> set[str]:
        """Return a set's members, read page by page with ``SSCAN`` (``scan_count`` a page).

        The result holds the whole set in memory (the contract returns a ``set``); to
        walk a huge set without that, iterate :meth:`sscan_iter`. Unlike one
        ``SMEMBERS``, no single reply carries the whole set, so neither the server nor
        the connection buffers it at once, and other clients are served between pages.
        Members added or removed during the read may or may not be seen (``SSCAN``'s
        guarantee: those present for the whole read are returned).

        Semantics: Redis ``SMEMBERS`` result, ``SSCAN`` reads.
        """
        return set(self._run("SSCAN", key, "set", _sscan, key, self.config.scan_count))

    def sscan_iter(self, key: Value) -> Iterator[str]:
        """Yield a set's members page by page (``SSCAN``, ``scan_count`` a page), unsorted.

        Memory stays at one page. A member may be yielded more than once if the set is
        rehashed during the walk (Redis's ``SSCAN`` guarantee); de-duplicate if that
        matters. Errors are raised as by the other methods, from the page that failed.

        Semantics: Redis ``SSCAN``.
        """
        return self._pages("SSCAN", key, "set", lambda c: c.sscan_iter(key, count=self.config.scan_count))

    def sismember(self, key: Value, member: Value) -> bool:
        return bool(self._run("SISMEMBER", key, "set", _sismember, key, member))

    def scard(self, key: Value) -> int:
        return self._run("SCARD", key, "set", _scard, key)

    # -- keyspace ----------------------------------------------------------------------

    def delete(self, *keys: Value) -> int:
        if not keys:
            return 0
        return self._run("DEL", None, "", _delete, keys)

    def exists(self, *keys: Value) -> int:
        if not keys:
            return 0
        return self._run("EXISTS", None, "", _exists, keys)

    def expire(self, key: Value, seconds: int | timedelta) -> bool:
        seconds = expire_seconds(seconds, "EXPIRE")
        return bool(self._run("EXPIRE", key, "", _expire, key, seconds))

    def ttl(self, key: Value) -> int:
        return self._run("TTL", key, "", _ttl, key)

    def keys(self, pattern: str = "*") -> list[str]:
        """Return the keys matching ``pattern``, sorted, read with ``SCAN`` (never ``KEYS``).

        Sorting needs every matching key in memory at once; to walk a huge keyspace,
        iterate :meth:`scan_iter` (unsorted, one page in memory).

        Semantics: Redis ``KEYS`` result (glob ``pattern``), ``SCAN MATCH`` reads.
        """
        return sorted(set(self._run("SCAN", None, "", _scan, pattern, self.config.scan_count)))

    def scan_iter(self, pattern: str = "*") -> Iterator[str]:
        """Yield the keys matching ``pattern`` page by page (``SCAN MATCH``), unsorted.

        Memory stays at one page (``scan_count`` keys asked for per round trip); in
        Cluster mode every master is scanned. A key may be yielded more than once
        (Redis's ``SCAN`` guarantee).

        Semantics: Redis ``SCAN``.
        """
        return self._pages("SCAN", None, "", lambda c: c.scan_iter(match=pattern, count=self.config.scan_count))

    def _pages(self, command: str, key: Any, expected: str, start) -> Iterator[str]:
        # A generator's errors surface while it is iterated: translate them there too.
        try:
            client = self._live(command)
            pages = start(client)
        except StoreClosedError:
            raise
        except Exception as exc:
            raise translate_error(exc, self.config, command, key, expected) from exc
        while True:
            try:
                item = next(pages)
            except StopIteration:
                return
            except (rex.RedisError, rex.RedisClusterException, OSError, TimeoutError) as exc:
                raise translate_error(exc, self.config, command, key, expected, client) from exc
            yield item

    def flushdb(self) -> None:
        """Delete every key of this database (every master's in Cluster mode). For tests and tools.

        Semantics: Redis ``FLUSHDB``.
        """
        self._run("FLUSHDB", None, "", lambda c: c.flushdb())


# Module-level callables: no closure is built per command.
def _get(c, key):
    return c.get(key)


def _set(c, key, value, ex):
    return c.set(key, value, ex=ex)


def _sadd(c, key, members):
    return c.sadd(key, *members)


def _srem(c, key, members):
    return c.srem(key, *members)


def _sscan(c, key, count):
    return list(c.sscan_iter(key, count=count))


def _sismember(c, key, member):
    return c.sismember(key, member)


def _scard(c, key):
    return c.scard(key)


def _delete(c, keys):
    return c.delete(*keys)


def _exists(c, keys):
    return c.exists(*keys)


def _expire(c, key, seconds):
    return c.expire(key, seconds)


def _ttl(c, key):
    return c.ttl(key)


def _scan(c, pattern, count):
    return list(c.scan_iter(match=pattern, count=count))


