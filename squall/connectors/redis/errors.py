"""Errors raised by the Redis connector (``squall.connectors.redis``).

Every error derives from :class:`RedisConnectorError`, itself a
:class:`~squall.store.errors.StoreError`, so code written against the embedded
key-value store catches Redis failures with the same ``except StoreError``. Command
errors that have a store meaning map onto the store's classes instead
(``WRONGTYPE`` -> :class:`~squall.store.errors.WrongTypeError`, a bad argument ->
:class:`~squall.store.errors.InvalidArgumentError`). Every error names the server it
concerns and chains the redis-py exception as its cause.
"""

from __future__ import annotations

from squall.store.errors import StoreError

__all__ = ["RedisConnectorError", "RedisConnectionError", "RedisCommandError", "RedisConfigError"]


class RedisConnectorError(StoreError):
    """Root of the Redis connector's errors.

    Attributes:
        server: the server (or Sentinel service, or cluster) concerned, as
            :meth:`RedisConfig.describe` renders it; "" when none.
    """

    def __init__(self, message: str, server: str = "") -> None:
        super().__init__(message)
        self.server = server


class RedisConnectionError(RedisConnectorError, ConnectionError):
    """The server could not be reached, or did not answer in time (after the client's retries).

    Raised for redis-py's ``ConnectionError``/``TimeoutError`` and cluster/sentinel
    failover errors (``MasterNotFoundError``, ``ClusterDownError``). The command did
    not run, or ran without its reply being seen: retry it only if it is idempotent.

    Attributes:
        server: the server concerned.
        command: the command that failed (``"SADD"``, ``"pipeline of 200"``).
    """

    def __init__(self, server: str, command: str, reason: str) -> None:
        super().__init__(f"Redis at {server} is unreachable ({command}): {reason}", server)
        self.command = command
        self.reason = reason


class RedisCommandError(RedisConnectorError):
    """The server rejected a command for a reason the store classes have no name for.

    Attributes:
        server: the server concerned.
        command: the command name.
        reason: the server's error reply.
    """

    def __init__(self, server: str, command: str, reason: str) -> None:
        super().__init__(f"Redis at {server} rejected {command}: {reason}", server)
        self.command = command
        self.reason = reason


class RedisConfigError(RedisConnectorError, ValueError):
    """A :class:`RedisConfig` is inconsistent (e.g. Sentinel nodes without a service name).

    The message says which settings conflict and how to fix them.
    """
