"""The key-value interface with Redis semantics (the Redis role), backend-neutral.

Only the subset the pipeline needs: strings (GET/SET with EX), sets (SADD, SREM,
SMEMBERS, SISMEMBER, SCARD) and the keyspace (DEL, EXISTS, EXPIRE, TTL, KEYS). Names,
arguments and return values follow the Redis commands as redis-py exposes them with
``decode_responses=True`` (members and values come back as str).

A :class:`KeyValueStore` is the configuration (frozen, picklable); its ``open()``
returns the live :class:`KeyValueConnection` that runs the commands. The embedded
backend is :mod:`squall.store.rocks_kv`; the Redis one is :mod:`squall.connectors.redis`.
"""

from __future__ import annotations

import abc
import re
from datetime import timedelta
from typing import ClassVar

from squall.store.errors import InvalidArgumentError

__all__ = ["KeyValueStore", "KeyValueConnection", "Value", "glob_to_regex", "encode_value", "expire_seconds"]

Value = str | bytes | int | float
"""A key, member or value as redis-py accepts it; stored as bytes (see :func:`encode_value`)."""


def encode_value(value: Value) -> bytes:
    """Return the bytes Redis would store for ``value``, as redis-py encodes it.

    Args:
        value: str (UTF-8), bytes (as is), int or float (``repr()``; redis-py's rule).

    Raises:
        InvalidArgumentError: any other type (bool and None included, which redis-py rejects).

    >>> encode_value("car7"), encode_value(7), encode_value(81.5)
    (b'car7', b'7', b'81.5')
    """
    t = type(value)
    if t is str:
        return value.encode()  # type: ignore[union-attr]
    if t is bytes:
        return value  # type: ignore[return-value]
    if t is int or t is float:
        return repr(value).encode()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise InvalidArgumentError(
        f"invalid input of type {type(value).__name__}: {value!r}; pass str, bytes, int or float")


def expire_seconds(value: int | timedelta, command: str) -> int:
    """Return a timeout in whole seconds from an int or a timedelta (redis-py accepts both).

    Raises:
        InvalidArgumentError: not an int/timedelta, or a timedelta with a fraction of a second.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise InvalidArgumentError(f"{command}: timeout {value!r} is not a whole number of seconds")
        return int(seconds)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{command}: timeout {value!r} is not an integer number of seconds")
    return value


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Redis glob-style pattern to an anchored regular expression.

    Supports ``*``, ``?``, ``[abc]``, ``[^a]``, ``[a-z]`` and ``\\`` escapes (``[!a]`` is
    not a negation in Redis: it matches ``!`` or ``a``).

    Semantics: Redis ``KEYS`` pattern rules (redis.io/commands/keys, and ``stringmatchlen``
    in util.c); unlike :mod:`fnmatch`, ``\\`` escapes and ``[^...]`` negates.

    >>> bool(glob_to_regex("speeding:2024-0[1-3]-*").match("speeding:2024-02-17"))
    True
    >>> bool(glob_to_regex(r"a\\*").match("ab")), bool(glob_to_regex("h[^e]llo").match("hallo"))
    (False, True)
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            j = i + 1
            negate = j < n and pattern[j] == "^"
            if negate:
                j += 1
            parts: list[str] = []
            while j < n and pattern[j] != "]":
                if pattern[j] == "\\" and j + 1 < n:
                    j += 1
                    parts.append(re.escape(pattern[j]))
                elif j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    lo, hi = sorted((pattern[j], pattern[j + 2]))  # Redis swaps reversed ranges
                    parts.append(f"{re.escape(lo)}-{re.escape(hi)}")
                    j += 2
                else:
                    parts.append(re.escape(pattern[j]))
                j += 1
            # Redis treats an unterminated "[" as running to the end of the pattern.
            out.append(f"[{'^' if negate else ''}{''.join(parts)}]" if parts else ("." if negate else "(?!)"))
            i = j
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


class KeyValueStore(abc.ABC):
    """Where the keys live, as configuration: a frozen, picklable spec with an ``open()``.

    A store object holds only plain settings (a directory, a server's address, a
    clock function), so it travels inside a topology spec to worker processes by
    ordinary pickling; :meth:`open` builds the live :class:`KeyValueConnection` in the
    process that uses it (a bolt calls it in ``prepare`` and closes it in ``cleanup``).

    Semantics: Heron's component specs (nothing live is shipped; the worker builds it).
    """

    # True when commands wait on another process (a server). In-process stores leave it False.
    blocking_io: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def single_writer_key(self) -> str | None:
        """The resource only one OS process may open for writing, or None.

        Executors whose stores share a key must run in the same worker process. An
        embedded RocksDB store names its absolute directory (``"rocksdb:/abs/dir/kv"``);
        a read-only view and network stores (Redis) have None.
        """

    @abc.abstractmethod
    def open(self) -> KeyValueConnection:
        """Return a live connection; close it when done (or use ``with``).

        Raises:
            StoreLockedError: an embedded store's directory is held by another process.
            StoreError: the store cannot be opened (backend-specific subclasses).
        """


class KeyValueConnection(abc.ABC):
    """A live connection to Redis-like keys holding strings or sets, with per-key expiry.

    Keys, members and values are given as str (or bytes/int/float, encoded as
    :func:`encode_value`) and returned as str. An expired key is absent to every
    command, exactly as in Redis.

    Thread-safety: every method may be called from several threads; each command is
    atomic, as a Redis command is.

    Lifecycle: get one from :meth:`KeyValueStore.open`; usable until ``close()``, after
    which commands raise :class:`~squall.store.errors.StoreClosedError`. Use as a
    context manager to close on exit. Not picklable: ship the store instead.
    """

    @property
    @abc.abstractmethod
    def store(self) -> KeyValueStore:
        """The configuration this connection was opened from."""

    # -- strings -----------------------------------------------------------------------

    @abc.abstractmethod
    def get(self, key: Value) -> str | None:
        """Return a string key's value, or None when the key is absent or expired.

        Raises:
            WrongTypeError: the key holds a set.

        Semantics: Redis ``GET``.
        """

    @abc.abstractmethod
    def set(self, key: Value, value: Value, ex: int | timedelta | None = None) -> bool:
        """Set a string value, replacing whatever the key held (of any type) and its TTL.

        Args:
            key: the key.
            value: the value.
            ex: expire after this many seconds (int >= 1 or timedelta); None: no expiry.

        Returns:
            True.

        Raises:
            InvalidArgumentError: ``ex`` is not a positive whole number of seconds.

        Semantics: Redis ``SET key value [EX seconds]`` (without KEEPTTL: the TTL is reset).
        """

    # -- sets --------------------------------------------------------------------------

    @abc.abstractmethod
    def sadd(self, key: Value, *members: Value) -> int:
        """Add members to a set, creating it when absent; an existing TTL is kept.

        Returns:
            How many members were newly added.

        Raises:
            WrongTypeError: the key holds a string.
            InvalidArgumentError: no members given.

        Semantics: Redis ``SADD``; TTL kept per redis.io/commands/expire ("The timeout
        will only be cleared by commands that delete or overwrite the contents of the
        key ... operations that conceptually alter the value ... leave the timeout untouched").
        """

    @abc.abstractmethod
    def srem(self, key: Value, *members: Value) -> int:
        """Remove members from a set; a set left empty is deleted.

        Returns:
            How many members were removed.

        Raises:
            WrongTypeError: the key holds a string.
            InvalidArgumentError: no members given.

        Semantics: Redis ``SREM``.
        """

    @abc.abstractmethod
    def smembers(self, key: Value) -> set[str]:
        """Return a set's members (an empty set when the key is absent).

        Raises:
            WrongTypeError: the key holds a string.

        Semantics: Redis ``SMEMBERS``.
        """

    @abc.abstractmethod
    def sismember(self, key: Value, member: Value) -> bool:
        """Return whether ``member`` is in the set at ``key`` (False when absent).

        Raises:
            WrongTypeError: the key holds a string.

        Semantics: Redis ``SISMEMBER``.
        """

    @abc.abstractmethod
    def scard(self, key: Value) -> int:
        """Return a set's size (0 when absent).

        Raises:
            WrongTypeError: the key holds a string.

        Semantics: Redis ``SCARD``.
        """

    # -- keyspace ----------------------------------------------------------------------

    @abc.abstractmethod
    def delete(self, *keys: Value) -> int:
        """Delete keys of any type.

        Returns:
            How many of them existed.

        Semantics: Redis ``DEL`` (redis-py ``delete``).
        """

    @abc.abstractmethod
    def exists(self, *keys: Value) -> int:
        """Return how many of ``keys`` exist; a key named twice counts twice.

        Semantics: Redis ``EXISTS``.
        """

    @abc.abstractmethod
    def expire(self, key: Value, seconds: int | timedelta) -> bool:
        """Set a key's time to live, replacing any previous one.

        Args:
            key: the key.
            seconds: time to live in whole seconds (int or timedelta); <= 0 deletes the key.

        Returns:
            True if the key exists (and the timeout was set or the key deleted), False if absent.

        Semantics: Redis ``EXPIRE`` (a non-positive timeout deletes the key, per redis.io/commands/expire).
        """

    @abc.abstractmethod
    def ttl(self, key: Value) -> int:
        """Return a key's remaining time to live in seconds.

        Returns:
            -2 if the key does not exist, -1 if it has no expiry, else the remaining
            milliseconds rounded to the nearest second (``(ms + 500) // 1000``).

        Semantics: Redis ``TTL`` (redis.io/commands/ttl; rounding as ``ttlGenericCommand`` in expire.c).
        """

    @abc.abstractmethod
    def keys(self, pattern: str = "*") -> list[str]:
        """Return the live keys matching a glob pattern (see :func:`glob_to_regex`).

        Semantics: Redis ``KEYS`` (order unspecified in Redis; backends may sort).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release this connection's resources; idempotent."""

    def __enter__(self) -> KeyValueConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
