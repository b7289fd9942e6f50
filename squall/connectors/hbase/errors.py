"""Errors raised by the HBase connector (``squall.connectors.hbase``).

Data-model errors are the store's own (:mod:`squall.store.errors`: unknown table,
unknown column family, table exists, invalid argument), so code written against the
embedded table catches the same classes. What only a remote HBase can do - be
unreachable, or fail a call on the server side - gets a class here.
"""

from __future__ import annotations

from squall.store.errors import StoreError

__all__ = ["HBaseError", "HBaseConnectionError", "HBaseServerError"]


class HBaseError(StoreError):
    """Root of the errors that only the HBase backend raises.

    Attributes:
        host, port: the Thrift server the call went to.
        operation: what was being done (``"put_many DriverCarInfo"``).
        reason: what went wrong, without the operation and server.
    """

    def __init__(self, message: str, host: str, port: int, operation: str) -> None:
        super().__init__(f"{operation} on HBase Thrift {host}:{port}: {message}")
        self.reason = message
        self.host = host
        self.port = port
        self.operation = operation


class HBaseConnectionError(HBaseError, ConnectionError):
    """The Thrift server could not be reached, or the connection broke mid-call.

    Whether a write that failed this way was applied is unknown: puts are idempotent
    and may simply be repeated; counter increments may then count twice.
    """


class HBaseServerError(HBaseError):
    """The server answered with an error that has no store-level meaning (an HBase
    ``IOError`` such as a region that is not online, or a ``RetriesExhaustedException``
    of the Thrift server's own client)."""
