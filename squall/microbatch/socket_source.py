"""A socket text source: lines read from a TCP server (``nc -l 9000``) as micro-batches.

The source is a client: it connects to ``host:port`` and reads text, as Flink's
``socketTextStream`` and Spark's ``socketTextStream`` do. A micro-batch is the lines
received during one batch interval (processing time), or fewer when ``max_batch_lines``
complete lines came first; an interval with no line gives an empty batch, as Spark's
batches are generated whether data came or not. The bytes of a batch are decoded once
and split into lines by polars, with no Python object per line. A line ends at the
delimiter (``"\\n"``: a trailing ``"\\r"`` is dropped too); an empty line is a record
(an empty string); a last line without delimiter is a record when the server closes.

When the server closes the connection the stream ends, unless ``max_retries`` allows
reconnecting (Flink's ``maxNumRetries``: 0 never, -1 forever), after
``backoff_initial_s`` (Flink's ``delayBetweenRetries``). Every reconnection attempt
counts, over the source's life as in Flink. While the server is unreachable the outage
is reported once (one WARNING line, and ``on_error`` once), the attempts back off,
doubling from ``backoff_initial_s`` up to ``backoff_max_s``, and the recovery is logged
once (:class:`squall.connectors.outage.Outage`). When no retry is left and the server is
unreachable, :meth:`SocketSource.batches` raises :class:`SocketSourceError`; so does a
first connection that fails with ``max_retries=0`` (nothing listens: start ``nc -l``
first).

Semantics: Flink ``StreamExecutionEnvironment.socketTextStream(hostname, port,
delimiter, maxRetry)`` (``SocketTextStreamFunction``), Spark Streaming
``socketTextStream`` and its batch interval; where they differ, Flink's retry rule.

>>> import socket, threading
>>> server = socket.create_server(("127.0.0.1", 0))
>>> def feed():
...     conn, _ = server.accept()
...     conn.sendall(b"to be or\\nnot to be\\r\\n"); conn.close()
>>> threading.Thread(target=feed).start()
>>> src = SocketSource("127.0.0.1", server.getsockname()[1], batch_interval_s=60)
>>> [b["line"].to_list() for b in src.batches()]
[['to be or', 'not to be']]
>>> server.close()
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..connectors.outage import RETRYING, Outage, check_backoff
from ..extras import require
from .errors import MicroBatchError
from .sources import Source

pl = require("polars", "microbatch")

__all__ = ["SocketSource", "SocketSourceError"]

log = logging.getLogger(__name__)

_RECV_BYTES = 1 << 16


class SocketSourceError(MicroBatchError, ConnectionError):
    """The socket source cannot reach its server (and may not retry any more), or was misconfigured.

    Attributes:
        address: ``"host:port"``.
        reason: what happened.
    """

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"socket source {address}: {reason}")
        self.address = address
        self.reason = reason


class SocketSource(Source):
    """Lines from a TCP server as batches with one String column.

    Args:
        host: the server's host name or address.
        port: its TCP port.
        delimiter: the line delimiter (a non-empty string).
        column: the name of the batch's column.
        batch_interval_s: processing-time seconds per micro-batch (Spark's batch interval).
        max_batch_lines: a batch ends early once it holds this many complete lines (it
            may hold up to one more read's worth: at most 64 KiB more).
        max_retries: reconnections allowed after the server closes or refuses (0: the
            stream ends when the server closes; -1: without limit).
        backoff_initial_s: wait before the first retry of an outage; each further failure
            doubles it up to ``backoff_max_s``.
        connect_timeout_s: the longest a connection attempt may take.
        encoding: how the bytes are decoded (undecodable bytes are replaced).
        on_error: called once per outage with a :class:`SocketSourceError` (besides the
            WARNING line), e.g. to count it in metrics.

    Attributes:
        connections: successful connections made so far.
        outage: the :class:`~squall.connectors.outage.Outage` tracking the server.

    Raises:
        SocketSourceError: a bad argument (at construction), or the server unreachable
            with no retry left (from :meth:`batches`).

    Threading: :meth:`batches` blocks its caller's thread at most ``batch_interval_s``
    (or a backoff wait) between two batches.
    """

    def __init__(self, host: str, port: int, *, delimiter: str = "\n", column: str = "line",
                 batch_interval_s: float = 1.0, max_batch_lines: int = 65_536, max_retries: int = 0,
                 backoff_initial_s: float = 0.5, backoff_max_s: float = 5.0, connect_timeout_s: float = 5.0,
                 encoding: str = "utf-8", on_error: Callable[[SocketSourceError], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.address = f"{host}:{port}"
        problems = []
        if not delimiter:
            problems.append("delimiter must not be empty")
        if not batch_interval_s > 0:
            problems.append(f"batch_interval_s must be > 0, got {batch_interval_s!r}")
        if max_batch_lines <= 0:
            problems.append(f"max_batch_lines must be > 0, got {max_batch_lines!r}")
        if max_retries < -1:
            problems.append(f"max_retries must be -1 (forever), 0 or more, got {max_retries!r}")
        backoff = check_backoff(backoff_initial_s, backoff_max_s)
        if backoff is not None:
            problems.append(backoff)
        if problems:
            raise SocketSourceError(self.address, "; ".join(problems))
        self.host, self.port = host, port
        self.delimiter, self.column, self.encoding = delimiter, column, encoding
        self.batch_interval_s, self.max_batch_lines, self.max_retries = batch_interval_s, max_batch_lines, max_retries
        self.connect_timeout_s = connect_timeout_s
        self.on_error = on_error
        self.clock = clock
        self.connections = 0
        self.outage = Outage(f"SocketSource({self.address})", f"the server at {self.address}",
                             initial_s=backoff_initial_s, max_s=backoff_max_s, clock=clock, log=log)

    def _frame(self, data: bytes) -> Any:
        """A batch from complete lines (``data`` ends with the delimiter, or is the stream's tail)."""
        if not data:
            return pl.DataFrame({self.column: []}, schema={self.column: pl.String})
        text = data.decode(self.encoding, errors="replace")
        lines = pl.Series(self.column, [text]).str.split(self.delimiter).explode()
        if text.endswith(self.delimiter):
            lines = lines.head(-1)              # the empty piece after the last delimiter
        if self.delimiter == "\n":
            lines = lines.str.strip_suffix("\r")
        return lines.to_frame()

    def _connect(self, retries_left: int) -> tuple[socket.socket | None, int]:
        """Connect, retrying with backoff; returns the socket and the retries left.

        Raises:
            SocketSourceError: no retry left and the server unreachable.
        """
        while True:
            try:
                conn = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
            except OSError as exc:
                if retries_left == 0:
                    raise SocketSourceError(self.address, f"cannot connect: {exc}; no retry left "
                                                          f"(max_retries={self.max_retries})") from exc
                if self.outage.failed():
                    error = SocketSourceError(self.address, f"cannot connect: {exc}; {RETRYING}")
                    log.warning("%s", error)
                    if self.on_error is not None:
                        self.on_error(error)
                retries_left -= 1 if retries_left > 0 else 0
                time.sleep(max(0.0, self.outage.retry_at - self.clock()))
                continue
            self.outage.succeeded()
            self.connections += 1
            return conn, retries_left

    def batches(self) -> Iterator[Any]:
        delim = self.delimiter.encode(self.encoding)
        conn, retries_left = self._connect(self.max_retries)
        while True:
            try:
                yield from self._read(conn, delim)
            finally:
                conn.close()
            if retries_left == 0:
                return
            retries_left -= 1 if retries_left > 0 else 0
            time.sleep(self.outage.initial_s)
            conn, retries_left = self._connect(retries_left)

    def _read(self, conn: socket.socket, delim: bytes) -> Iterator[Any]:
        """Batches from one connection until the server closes it."""
        pending = bytearray()            # bytes after the last complete line
        done = bytearray()               # complete lines of the current batch
        lines = 0
        deadline = self.clock() + self.batch_interval_s
        while True:
            conn.settimeout(max(deadline - self.clock(), 0.001))
            try:
                chunk = conn.recv(_RECV_BYTES)
            except TimeoutError:
                chunk = None
            except OSError as exc:
                # A reset connection ends like a close; the retry rule decides what follows.
                log.warning("socket source %s: connection lost: %s", self.address, exc)
                chunk = b""
            if chunk == b"":
                yield self._frame(bytes(done + pending))
                return
            if chunk:
                pending += chunk
                cut = pending.rfind(delim)
                if cut >= 0:
                    cut += len(delim)
                    lines += pending.count(delim, 0, cut)
                    done += pending[:cut]
                    del pending[:cut]
            if chunk is None or lines >= self.max_batch_lines or self.clock() >= deadline:
                yield self._frame(bytes(done))
                done.clear()
                lines = 0
                deadline = self.clock() + self.batch_interval_s
