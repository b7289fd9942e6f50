"""The wide-column table interface on a real HBase, through its Thrift (thrift1) server.

:class:`HBaseTableStore`, :class:`HBaseTableConnection` and :class:`HBaseTable`
implement :class:`~squall.store.table.TableStore` / ``TableConnection`` /
:class:`~squall.store.table.Table` with
happybase, so :class:`~squall.store.bolts.TableWriterBolt` and the smart-car pipeline
run unchanged against HBase. This package is the only place that imports happybase.

How the contract maps onto HBase (and where HBase differs from the embedded table):

* Row keys and column names are str at the API, UTF-8 bytes on the wire; values are
  encoded as :func:`~squall.store.table.encode_value` does.
* Tables are created with ``VERSIONS => 1`` per family: a read returns the latest
  cell, as the contract says; older versions are not kept.
* ``families()`` returns the families in name order: HBase keeps a table's families
  sorted and does not remember the order they were created in.
* Column families are checked on the client against the table's families (cached per
  store, refreshed when a family is not found), so an unknown family raises
  :class:`~squall.store.errors.UnknownColumnFamilyError` before anything is sent.
* ``put_many`` merges repeated rows on the client and sends one happybase ``Batch``:
  one ``mutateRows`` call. HBase applies it atomically *per row* only: if the call
  fails, some rows may have been written (they are rewritten by a retry: puts are
  idempotent).
* ``scan`` opens its server-side scanner when called (so the table is checked and the
  scan's read point is taken then) and fetches rows in chunks; a scanner that is never
  iterated to its end or closed is released by the server after its lease (60 s).
* ``count`` scans with ``FirstKeyOnlyFilter() AND KeyOnlyFilter()``: one key per row
  travels, no values; it is O(rows), unlike the embedded O(1) counter.
* Thrift transport failures raise :class:`HBaseConnectionError`; the pooled connection
  is replaced and the next call reconnects.
* :class:`HBaseTableStore` is the frozen configuration (it travels to workers);
  ``open()`` returns the live :class:`HBaseTableConnection` holding the pool.

Semantics: Apache HBase Reference Guide, "Data Model" and "Thrift API and Filter
Language"; happybase 1.x ``Connection``/``Table``/``Batch``/``ConnectionPool``.
"""

from __future__ import annotations

import queue
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import happybase
from happybase.util import bytes_increment
from Hbase_thrift import AlreadyExists, IllegalArgument, TIncrement, TScan  # loaded by happybase
from Hbase_thrift import IOError as ThriftIOError
from thriftpy2.thrift import TException
from thriftpy2.transport import TTransportException

from squall.connectors.hbase.errors import HBaseConnectionError, HBaseError, HBaseServerError
from squall.store.errors import (
    InvalidArgumentError,
    StoreClosedError,
    StoreError,
    TableExistsError,
    UnknownColumnFamilyError,
    UnknownTableError,
)
from squall.store.table import (
    Columns,
    Table,
    TableConnection,
    TableStore,
    encode_value,
    validate_family_name,
    validate_table_name,
)

__all__ = ["HBaseTableStore", "HBaseTableConnection", "HBaseTable", "decode_counter"]

T = TypeVar("T")

_COUNT_FILTER = b"FirstKeyOnlyFilter() AND KeyOnlyFilter()"
_NO_FAMILY = re.compile(r"[Cc]olumn family (\S+) does not exist")
_COLUMN_CACHE_MAX = 4096


def decode_counter(value: bytes | None) -> int:
    """Return the int held by an HBase counter cell (8 bytes, big-endian, signed); 0 if absent.

    >>> decode_counter(b"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x2a"), decode_counter(None)
    (42, 0)
    """
    return 0 if value is None else int.from_bytes(value, "big", signed=True)


def _text(message: str | bytes | None) -> str:
    """A Thrift exception message as str (thriftpy2 leaves Thrift ``string`` as bytes)."""
    if isinstance(message, bytes):
        return message.decode(errors="replace")
    return message or ""


def _row_key(row: object) -> bytes:
    if type(row) is not str:
        raise InvalidArgumentError(f"row key {row!r} is not a str")
    return row.encode()  # type: ignore[union-attr]


@dataclass(frozen=True)
class HBaseTableStore(TableStore):
    """The tables of an HBase cluster, reached through one HBase Thrift server: the configuration.

    A frozen spec of plain settings, so it pickles and copies by default and travels
    inside bolt specs; :meth:`open` returns an :class:`HBaseTableConnection` in the
    process that uses it.

    Args:
        host: the Thrift server's host.
        port: its port (thrift1, buffered transport, binary protocol: HBase's defaults).
        pool_size: connections kept open (one per thread that uses the store at a time).
        timeout_ms: socket timeout of every Thrift call, and the longest wait for a free
            pooled connection.
        scan_batch_size: rows fetched per scanner round trip.

    Raises:
        InvalidArgumentError: ``pool_size`` or ``scan_batch_size`` is not an int >= 1.

    Semantics: see :class:`~squall.store.table.TableStore` and this module's notes.
    """

    host: str = "127.0.0.1"
    port: int = 9090
    pool_size: int = 4
    timeout_ms: int = 10_000
    scan_batch_size: int = 1000

    blocking_io: ClassVar[bool] = True   # every call is a Thrift round trip

    def __post_init__(self) -> None:
        if not isinstance(self.pool_size, int) or self.pool_size < 1:
            raise InvalidArgumentError(f"pool_size must be an int >= 1, got {self.pool_size!r}")
        if not isinstance(self.scan_batch_size, int) or self.scan_batch_size < 1:
            raise InvalidArgumentError(f"scan_batch_size must be an int >= 1, got {self.scan_batch_size!r}")
        object.__setattr__(self, "port", int(self.port))
        object.__setattr__(self, "timeout_ms", int(self.timeout_ms))

    def __repr__(self) -> str:
        return f"HBaseTableStore({self.host!r}, {self.port})"

    @property
    def single_writer_key(self) -> None:
        """None: any number of processes may write to HBase."""
        return None

    def open(self) -> HBaseTableConnection:
        """Return a connection; it connects at its first call (a dead server is not an error yet)."""
        return HBaseTableConnection(self)


class HBaseTableConnection(TableConnection):
    """A live connection to the HBase of an :class:`HBaseTableStore`; get one from its ``open()``.

    The happybase ``ConnectionPool`` is created at the first call; ``close()`` closes
    its connections, and any call after it raises
    :class:`~squall.store.errors.StoreClosedError`.

    Thread-safety: all methods may be called from several threads (each call borrows
    a pooled connection for its duration).

    Raises (from every method, besides those of :class:`~squall.store.table.TableConnection`):
        HBaseConnectionError: the Thrift server is unreachable or the connection broke.
        HBaseServerError: the server failed the call for another reason.

    Semantics: see :class:`~squall.store.table.TableConnection` and this module's notes.
    """

    def __init__(self, store: HBaseTableStore) -> None:
        self._store = store
        self._host = store.host
        self._port = store.port
        self._pool_size = store.pool_size
        self._timeout_ms = store.timeout_ms
        self._scan_batch_size = store.scan_batch_size
        self._lock = threading.Lock()
        self._pool: happybase.ConnectionPool | None = None
        self._closed = False
        self._families: dict[str, tuple[list[str], frozenset[str]]] = {}

    @property
    def store(self) -> HBaseTableStore:
        return self._store

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<HBaseTableConnection {state} to {self._host}:{self._port}>"

    # -- connections and error mapping ---------------------------------------------

    def _connection_pool(self, operation: str) -> happybase.ConnectionPool:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._closed:
                    raise StoreClosedError(self._store, operation)
                pool = self._pool
                if pool is None:
                    # The pool connects one connection at once (so a wrong host fails
                    # here); the others connect when first borrowed.
                    pool = self._pool = happybase.ConnectionPool(
                        self._pool_size, host=self._host, port=self._port, timeout=self._timeout_ms)
        return pool

    def _call(self, operation: str, table: str | None, fn: Callable[[happybase.Connection], T],
              idempotent: bool = True) -> T:
        """Run ``fn(connection)`` on a pooled connection, mapping Thrift errors to ours.

        A pooled connection goes stale when the Thrift server restarts; the pool then
        replaces it, and an idempotent call (all but increments) is tried once more on
        the fresh connection before the error is reported.
        """
        tries = 2 if idempotent else 1
        for attempt in range(tries):
            try:
                pool = self._connection_pool(operation)
                with pool.connection(timeout=self._timeout_ms / 1000) as conn:
                    return fn(conn)
            except StoreError:
                raise
            except (TTransportException, OSError) as exc:
                if attempt + 1 < tries:
                    continue
                raise self._translate(exc, operation, table) from exc
            except Exception as exc:
                raise self._translate(exc, operation, table) from exc
        raise AssertionError("unreachable")

    def _translate(self, exc: BaseException, operation: str, table: str | None) -> Exception:
        if isinstance(exc, AlreadyExists):
            return TableExistsError(table or "?")
        if isinstance(exc, IllegalArgument):
            return InvalidArgumentError(f"{operation}: HBase rejected an argument: {_text(exc.message)}")
        if isinstance(exc, ThriftIOError):
            message = _text(exc.message)
            if table is not None and ("TableNotFoundException" in message
                                      or "TableNotEnabledException" in message):
                self._families.pop(table, None)
                return UnknownTableError(table, self._tables_or_empty())
            if "TableExistsException" in message:
                return TableExistsError(table or "?")
            found = _NO_FAMILY.search(message)
            if table is not None and found:
                self._families.pop(table, None)
                return UnknownColumnFamilyError(table, found.group(1), self._families_or_empty(table))
            if table is not None:
                # A batch to a dropped table fails as "RetriesExhaustedWithDetailsException:
                # Failed n actions" without naming the cause: ask whether the table exists.
                try:
                    tables = self.tables()
                except StoreError:
                    tables = None
                if tables is not None and table not in tables:
                    self._families.pop(table, None)
                    return UnknownTableError(table, tables)
            return HBaseServerError(message.splitlines()[0] if message else repr(exc),
                                    self._host, self._port, operation)
        if isinstance(exc, (TException, OSError, EOFError, happybase.NoConnectionsAvailable,
                            queue.Empty, socket.timeout)):
            return HBaseConnectionError(f"{type(exc).__name__}: {exc}", self._host, self._port, operation)
        return HBaseError(f"{type(exc).__name__}: {exc}", self._host, self._port, operation)

    def _tables_or_empty(self) -> list[str]:
        try:
            return self.tables()
        except StoreError:
            return []

    def _families_or_empty(self, table: str) -> list[str]:
        try:
            return self._schema(table)[0]
        except StoreError:
            return []

    def _schema(self, table: str, refresh: bool = False) -> tuple[list[str], frozenset[str]]:
        """Return (families in name order, family set) of ``table``; cached."""
        schema = None if refresh else self._families.get(table)
        if schema is None:
            descriptors = self._call(f"families {table}", table,
                                     lambda c: c.client.getColumnDescriptors(table.encode()))
            families = sorted(name.decode().rstrip(":") for name in descriptors)
            schema = self._families[table] = (families, frozenset(families))
        return schema

    # -- TableStore ------------------------------------------------------------------

    def create_table(self, name: str, families: Sequence[str]) -> None:
        validate_table_name(name)
        if isinstance(families, str):
            raise InvalidArgumentError(f"families must be a list of names, not the str {families!r}")
        fams = [validate_family_name(f) for f in families]
        if not fams:
            raise InvalidArgumentError(f"table {name!r} needs at least one column family")
        if len(set(fams)) != len(fams):
            raise InvalidArgumentError(f"table {name!r}: duplicate column families in {fams}")
        spec = {f: {"max_versions": 1} for f in fams}
        self._call(f"create_table {name}", name, lambda c: c.create_table(name, spec))
        self._families[name] = (sorted(fams), frozenset(fams))

    def open_table(self, name: str) -> HBaseTable:
        if not isinstance(name, str):
            raise InvalidArgumentError(f"table name {name!r} is not a str")
        self._schema(name, refresh=True)
        return HBaseTable(self, name)

    def tables(self) -> list[str]:
        names = self._call("tables", None, lambda c: c.client.getTableNames())
        return sorted(n.decode() for n in names)

    def delete_table(self, name: str) -> None:
        self._families.pop(name, None)
        try:
            self._call(f"delete_table {name}", name, lambda c: c.delete_table(name, disable=True))
        finally:
            self._families.pop(name, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is None:
            return
        # happybase's pool has no close(); its idle connections wait in its queue.
        while True:
            try:
                conn = pool._queue.get_nowait()
            except queue.Empty:
                break
            try:
                conn.close()
            except Exception:  # closing a broken socket: nothing left to release
                pass


class HBaseTable(Table):
    """A table of an :class:`HBaseTableConnection`; get one from ``open_table``.

    A name bound to its connection. Besides the
    :class:`~squall.store.table.Table` contract it offers what the HBase bolts need:
    :meth:`get_many` (one round trip for many rows), :meth:`increment` and
    :meth:`increment_many` (HBase counters), and :meth:`mutate` (puts then increments).

    Semantics: see :class:`~squall.store.table.Table` and the module notes.
    """

    __slots__ = ("_conn", "_name", "_bname", "_columns")

    def __init__(self, conn: HBaseTableConnection, name: str) -> None:
        self._conn = conn
        self._name = name
        self._bname = name.encode()
        self._columns: dict[Any, bytes] = {}  # accepted column name -> b"cf:q"

    def __repr__(self) -> str:
        return f"HBaseTable({self._conn!r}, {self._name!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def connection(self) -> HBaseTableConnection:
        """The connection this table was opened through."""
        return self._conn

    # -- column validation -----------------------------------------------------------

    def _column(self, column: object) -> bytes:
        """Return the wire name of a column being written, validating its family."""
        known = self._columns.get(column)
        if known is not None:
            return known
        if not isinstance(column, str):
            raise InvalidArgumentError(f"column name {column!r} is not a str 'family:qualifier'")
        family, sep, _ = column.partition(":")
        self._check_family(family)
        wire = (column if sep else column + ":").encode()
        if len(self._columns) < _COLUMN_CACHE_MAX:
            self._columns[column] = wire
        return wire

    def _check_family(self, family: str) -> None:
        families, family_set = self._conn._schema(self._name)
        if family not in family_set:
            # The table may have been re-created (by another store object) since we cached it.
            families, family_set = self._conn._schema(self._name, refresh=True)
            if family not in family_set:
                raise UnknownColumnFamilyError(self._name, family, families)

    def _selector(self, columns: Sequence[str] | str | None) -> list[bytes] | None:
        """Compile a ``columns`` filter into Thrift column specs (b"cf" or b"cf:q")."""
        if columns is None:
            return None
        if isinstance(columns, str):
            columns = (columns,)
        out = []
        for c in columns:
            if not isinstance(c, str):
                raise InvalidArgumentError(f"column filter item {c!r} is not a str 'cf' or 'cf:q'")
            self._check_family(c.partition(":")[0])
            out.append(c.encode())
        return out

    def _call(self, operation: str, fn: Callable[[happybase.Connection], T], idempotent: bool = True) -> T:
        return self._conn._call(f"{operation} {self._name}", self._name, fn, idempotent)

    # -- Table -----------------------------------------------------------------------

    def families(self) -> list[str]:
        return list(self._conn._schema(self._name, refresh=True)[0])

    def put(self, row: str, columns: Columns) -> None:
        self.put_many(((row, columns),))

    def _stage(self, rows: Iterable[tuple[str, Columns]]) -> dict[bytes, dict[bytes, bytes]]:
        staged: dict[bytes, dict[bytes, bytes]] = {}
        column = self._column
        row: Any = None
        columns: Any = None
        try:
            for row, columns in rows:
                key = _row_key(row)
                cells = staged.get(key)
                if cells is None:
                    cells = staged[key] = {}
                for name, value in columns.items():
                    t = type(value)
                    cells[column(name)] = value if t is bytes else (
                        value.encode() if t is str else
                        str(value).encode() if t is float or t is int else encode_value(value))
        except AttributeError as exc:
            raise InvalidArgumentError(
                f"put to table {self._name!r}: rows must be (str row key, mapping of columns) "
                f"pairs; got row {row!r} with columns of type {type(columns).__name__}") from exc
        return staged

    def put_many(self, rows: Iterable[tuple[str, Columns]]) -> None:
        self.mutate(rows, ())

    def mutate(self, rows: Iterable[tuple[str, Columns]],
               increments: Iterable[tuple[str, str, int]]) -> None:
        """Write rows (one ``mutateRows`` call), then apply counter increments (one
        ``incrementRows`` call).

        Args:
            rows: as in :meth:`put_many`.
            increments: ``(row, "cf:q", amount)`` triples; amount an int.

        Raises:
            as :meth:`put_many`; everything is validated before anything is sent.

        Semantics: storm-hbase ``HBaseClient.batchMutate`` (Puts and Increments of a
        batch); not atomic: on a failure some rows or counters may have been applied.
        """
        staged = self._stage(rows)
        incs = self._stage_increments(increments)

        def send(conn: happybase.Connection) -> None:
            if staged:
                batch = conn.table(self._bname).batch()
                put = batch.put
                for key, cells in staged.items():
                    if cells:
                        put(key, cells)
                batch.send()
            if incs:
                conn.client.incrementRows(incs)

        if staged or incs:
            # Counters would count twice if a lost reply were retried: only puts retry.
            self._call("put_many", send, idempotent=not incs)

    def _stage_increments(self, increments: Iterable[tuple[str, str, int]]) -> list[Any]:
        out = []
        for row, column, amount in increments:
            if type(amount) is not int:
                if isinstance(amount, bool) or not isinstance(amount, int):
                    raise InvalidArgumentError(
                        f"increment of {column!r} in row {row!r}: amount {amount!r} is not an int")
                amount = int(amount)
            out.append(TIncrement(table=self._bname, row=_row_key(row), column=self._column(column),
                                  ammount=amount))
        return out

    def increment(self, row: str, column: str, amount: int = 1) -> int:
        """Add ``amount`` to an HBase counter cell and return its new value.

        Semantics: HBase ``Increment`` / happybase ``Table.counter_inc``; the cell
        holds an 8-byte big-endian long (read it back with :func:`decode_counter`).
        """
        key, wire = _row_key(row), self._column(column)
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidArgumentError(f"increment amount {amount!r} is not an int")
        return self._call("increment", lambda c: c.client.atomicIncrement(self._bname, key, wire, amount),
                          idempotent=False)

    def increment_many(self, increments: Iterable[tuple[str, str, int]]) -> None:
        """Apply ``(row, "cf:q", amount)`` counter increments in one ``incrementRows`` call."""
        self.mutate((), increments)

    def get(self, row: str, columns: Sequence[str] | None = None) -> dict[str, bytes]:
        key = _row_key(row)
        cols = self._selector(columns)
        found = self._call("get", lambda c: c.table(self._bname).row(key, cols))
        return {name.decode(): value for name, value in found.items()}

    def get_many(self, rows: Sequence[str], columns: Sequence[str] | None = None) -> list[dict[str, bytes]]:
        """Return the columns of each row of ``rows`` (aligned; ``{}`` where absent), in one call.

        Semantics: HBase ``Table.get(List<Get>)`` / happybase ``Table.rows``.
        """
        keys = [_row_key(r) for r in rows]
        if not keys:
            return []
        cols = self._selector(columns)
        found = self._call("get_many", lambda c: c.table(self._bname).rows(list(dict.fromkeys(keys)), cols))
        by_key = {k: {name.decode(): v for name, v in data.items()} for k, data in found}
        return [dict(by_key[k]) if k in by_key else {} for k in keys]

    def scan(self, row_prefix: str | None = None, row_start: str | None = None,
             row_stop: str | None = None, columns: Sequence[str] | None = None,
             limit: int | None = None) -> Iterator[tuple[str, dict[str, bytes]]]:
        if row_prefix is not None and (row_start is not None or row_stop is not None):
            raise InvalidArgumentError("scan: row_prefix cannot be combined with row_start/row_stop")
        if limit is not None and (type(limit) is not int or limit < 1):
            raise InvalidArgumentError(f"scan: limit must be an int >= 1, got {limit!r}")
        cols = self._selector(columns)
        if row_prefix is not None:
            start = _row_key(row_prefix)
            stop = bytes_increment(start) if start else None
        else:
            start = None if row_start is None else _row_key(row_start)
            stop = None if row_stop is None else _row_key(row_stop)
        return self._scan(start, stop, cols, None, limit, self._decode_row)

    @staticmethod
    def _decode_row(key: bytes, columns: dict) -> tuple[str, dict[str, bytes]]:
        return key.decode(), {name.decode(): cell.value for name, cell in columns.items()}

    def _scan(self, start: bytes | None, stop: bytes | None, cols: list[bytes] | None,
              filter_string: bytes | None, limit: int | None,
              make: Callable[[bytes, dict], T]) -> Iterator[T]:
        batch = self._conn._scan_batch_size
        if limit is not None:
            batch = min(batch, limit)
        scan = TScan(startRow=start, stopRow=stop, columns=cols, caching=batch,
                     filterString=filter_string)
        # Opened now: the table is checked and the read point taken at the call.
        scan_id = self._call("scan", lambda c: c.client.scannerOpenWithScan(self._bname, scan, {}))
        return self._scan_rows(scan_id, batch, limit, make)

    def _scan_rows(self, scan_id: int, batch: int, limit: int | None,
                   make: Callable[[bytes, dict], T]) -> Iterator[T]:
        left = limit
        try:
            while True:
                how_many = batch if left is None else min(batch, left)
                # Each chunk borrows a pooled connection for its call only: scanners live
                # in the Thrift server, not in a connection, so a slow consumer holds none.
                items = self._call("scan", lambda c: c.client.scannerGetList(scan_id, how_many))
                if not items:
                    return
                for item in items:
                    yield make(item.row, item.columns)
                if left is not None:
                    left -= len(items)
                    if left <= 0:
                        return
        finally:
            try:
                self._call("scan close", lambda c: c.client.scannerClose(scan_id))
            except StoreError:  # server gone or scanner expired: it is released either way
                pass

    def delete(self, row: str, columns: Sequence[str] | None = None) -> None:
        key = _row_key(row)
        cols = self._selector(columns)
        if cols is None:
            self._conn._schema(self._name)  # an unknown table raises, as for the other calls
            self._call("delete", lambda c: c.client.deleteAllRow(self._bname, key, {}))
        elif cols:
            self._call("delete", lambda c: c.table(self._bname).delete(key, cols))

    def count(self) -> int:
        n = 0
        for _ in self._scan(None, None, None, _COUNT_FILTER, None, _one):
            n += 1
        return n


def _one(key: bytes, columns: dict) -> int:
    return 1
