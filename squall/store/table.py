"""The wide-column table interface (the HBase role), backend-neutral.

A :class:`TableStore` is the configuration of a set of named tables; its ``open()``
returns the live :class:`TableConnection`; a :class:`Table` holds rows keyed by a str
row key, each row a sparse map of columns named ``"family:qualifier"`` to bytes. The
embedded RocksDB backend (:mod:`squall.store.rocks_table`) and the HBase backend
(:mod:`squall.connectors.hbase`) implement these classes, so bolts do not care which is behind.

Semantics: Apache HBase Reference Guide, "Data Model" (rows, column families,
qualifiers, cells) and happybase's ``Table`` API (put/get/scan/delete signatures).
Cell versions and timestamps are not modelled: a read returns the latest value.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import ClassVar

from squall.store.errors import InvalidArgumentError

__all__ = [
    "ColumnValue",
    "Columns",
    "Table",
    "TableStore",
    "TableConnection",
    "encode_value",
    "validate_table_name",
    "validate_family_name",
]

ColumnValue = bytes | str | int | float
"""A value accepted by :meth:`Table.put`; stored as bytes (see :func:`encode_value`)."""

Columns = Mapping[str, ColumnValue]
"""Columns of one row for :meth:`Table.put`: ``{"family:qualifier": value}``."""

# HBase table qualifiers: "[a-zA-Z_0-9-.]", not starting with "." (Reference Guide, "Table").
_TABLE_NAME = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*")


def encode_value(value: ColumnValue) -> bytes:
    """Return the bytes stored for one cell value, as the HBase shell would store it.

    Args:
        value: bytes (stored as is; bytearray/memoryview are copied to bytes), str
            (UTF-8), int or float (their ``str()`` form, e.g. ``81.5 -> b"81.5"``).

    Returns:
        The cell bytes.

    Raises:
        InvalidArgumentError: for any other type (including bool and None, which have
            no HBase shell form).

    Semantics: HBase shell ``put`` stores the typed text of the value as bytes.

    >>> encode_value("km/h"), encode_value(81.5), encode_value(3), encode_value(b"\\x00")
    (b'km/h', b'81.5', b'3', b'\\x00')
    """
    t = type(value)
    if t is bytes:
        return value  # type: ignore[return-value]
    if t is str:
        return value.encode()  # type: ignore[union-attr]
    if t is int or t is float:
        return str(value).encode()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, bool) or value is None:
        raise InvalidArgumentError(f"cell value {value!r} has no byte form; pass bytes, str, int or float")
    if isinstance(value, (str, int, float)):  # subclasses (IntEnum, numpy scalars are not)
        return str(value).encode()
    raise InvalidArgumentError(
        f"cell value {value!r} of type {type(value).__name__} is not storable; pass bytes, str, int or float")


def check_column_lengths(table: str, rows: int, names: Sequence[str], values: Sequence[Sequence]) -> None:
    """Raise :class:`InvalidArgumentError` unless every column has one value per row."""
    for name, col in zip(names, values):
        if len(col) != rows:
            raise InvalidArgumentError(f"put to table {table!r}: column {name!r} has {len(col)} values for "
                                       f"{rows} rows; give one value per row")


def validate_table_name(name: object) -> str:
    """Return ``name`` if it is a valid table name, else raise.

    Raises:
        InvalidArgumentError: not a str made of ``[A-Za-z0-9_.-]`` not starting with ``.``.

    Semantics: HBase Reference Guide, table naming rules (without namespaces).
    """
    if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"table name {name!r} is invalid; use letters, digits, '_', '-' and '.' (not first)")
    return name


def validate_family_name(name: object) -> str:
    """Return ``name`` if it is a valid column family name, else raise.

    Raises:
        InvalidArgumentError: not a non-empty str, or contains ``:`` or a control character.

    Semantics: HBase Reference Guide, "Column Family": printable characters, no ``:``.
    """
    if (not isinstance(name, str) or not name or ":" in name
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)):
        raise InvalidArgumentError(
            f"column family name {name!r} is invalid; use a non-empty printable name without ':'")
    return name


class Table(abc.ABC):
    """One table: rows of sparse ``"family:qualifier" -> bytes`` columns, sorted by row key.

    Row keys are str at the API and ordered by their UTF-8 bytes, which is code point
    order, i.e. Python's ``sorted()`` order for str.

    A column named without a qualifier (``"cf"``) is the empty qualifier ``"cf:"`` when
    written, as in the HBase shell; in a ``columns`` filter, ``"cf"`` selects the whole
    family and ``"cf:q"`` one column. A row exists while it has at least one column.

    Thread-safety: every method may be called from several threads; ``put_many`` is
    atomic with respect to other writers and readers of the same table.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """The table name."""

    @abc.abstractmethod
    def families(self) -> list[str]:
        """Return the table's column families, in creation order.

        Raises:
            UnknownTableError: the table was deleted.
        """

    @abc.abstractmethod
    def put(self, row: str, columns: Columns) -> None:
        """Write the given columns of one row, keeping its other columns.

        Args:
            row: the row key.
            columns: ``{"family:qualifier": value}``; values as in :func:`encode_value`.
                An empty mapping writes nothing.

        Raises:
            UnknownColumnFamilyError: a column's family is not one of the table's.
            InvalidArgumentError: a value has an unsupported type, or ``row`` is not a str.
            UnknownTableError: the table was deleted.

        Semantics: HBase ``Put`` (Reference Guide, "Data Model Operations"): adds or
        overwrites cells; cells not named are untouched.
        """

    @abc.abstractmethod
    def put_many(self, rows: Iterable[tuple[str, Columns]]) -> None:
        """Write many rows as one atomic batch: either every row is written or none.

        Args:
            rows: ``(row, columns)`` pairs, each as in :meth:`put`. A row may appear
                more than once; later columns win, as if put one after another.

        Raises:
            UnknownColumnFamilyError, InvalidArgumentError: as :meth:`put`; raised
                before anything is written.
            UnknownTableError: the table was deleted.

        Semantics: happybase ``Table.batch(transaction=True)`` / HBase ``Table.put(List<Put>)``,
        but atomic across rows (HBase is atomic per row only; callers relying on
        cross-row atomicity will not get it from HBase).
        """

    def put_columns(self, rows: Sequence[str], columns: Mapping[str, Sequence[ColumnValue]]) -> None:
        """Write many rows given column by column, as one atomic batch (:meth:`put_many`'s bulk form).

        Row ``rows[i]`` gets ``columns[c][i]`` for each column ``c``: the same writes as
        ``put_many((rows[i], {c: columns[c][i] for c in columns}) for i ...)``, with the
        column names checked once per batch rather than once per row. A backend may
        store the batch faster this way (the embedded table encodes it in bulk); this
        default calls :meth:`put_many`.

        Args:
            rows: the row keys (a key may appear more than once: later values win).
            columns: ``{"family:qualifier": values}``, each sequence as long as ``rows``;
                values as in :func:`encode_value`.

        Raises:
            InvalidArgumentError: a sequence of another length than ``rows``, or as
                :meth:`put_many`; raised before anything is written.
            UnknownColumnFamilyError, UnknownTableError: as :meth:`put_many`.

        Semantics: as :meth:`put_many` (HBase ``Table.put(List<Put>)``).
        """
        names = list(columns)
        values = [columns[c] for c in names]
        check_column_lengths(self.name, len(rows), names, values)
        self.put_many((row, dict(zip(names, cells))) for row, *cells in zip(rows, *values))

    @abc.abstractmethod
    def get(self, row: str, columns: Sequence[str] | None = None) -> dict[str, bytes]:
        """Return one row's columns.

        Args:
            row: the row key.
            columns: restrict to these ``"cf:q"`` columns and/or whole ``"cf"`` families;
                ``None`` returns all columns.

        Returns:
            ``{"family:qualifier": bytes}``; an empty dict when the row (or every
            selected column) is absent.

        Raises:
            UnknownColumnFamilyError: ``columns`` names a family the table lacks.
            UnknownTableError: the table was deleted.

        Semantics: HBase ``Get`` with ``addColumn``/``addFamily``; happybase ``Table.row``.
        """

    @abc.abstractmethod
    def scan(self, row_prefix: str | None = None, row_start: str | None = None,
             row_stop: str | None = None, columns: Sequence[str] | None = None,
             limit: int | None = None) -> Iterator[tuple[str, dict[str, bytes]]]:
        """Iterate rows in row-key order.

        Args:
            row_prefix: only rows whose key starts with this; excludes row_start/row_stop.
            row_start: first row key, inclusive.
            row_stop: last row key, exclusive.
            columns: as in :meth:`get`; rows with none of the selected columns are skipped.
            limit: at most this many rows (>= 1).

        Returns:
            An iterator of ``(row, {"family:qualifier": bytes})``. It reads a consistent
            snapshot taken when iteration starts.

        Raises:
            InvalidArgumentError: ``row_prefix`` together with row_start/row_stop, or limit < 1
                (raised at the call, not at first ``next``).
            UnknownColumnFamilyError: ``columns`` names a family the table lacks.
            UnknownTableError: the table was deleted.

        Semantics: HBase ``Scan`` (start row inclusive, stop row exclusive) and happybase
        ``Table.scan`` argument rules.
        """

    @abc.abstractmethod
    def delete(self, row: str, columns: Sequence[str] | None = None) -> None:
        """Delete a whole row, or some of its columns / families.

        Args:
            row: the row key; deleting an absent row is not an error.
            columns: as in :meth:`get`; ``None`` deletes the row. A row left without
                columns ceases to exist.

        Raises:
            UnknownColumnFamilyError: ``columns`` names a family the table lacks.
            UnknownTableError: the table was deleted.

        Semantics: HBase ``Delete`` with ``addColumns``/``addFamily``; happybase ``Table.delete``.
        """

    @abc.abstractmethod
    def count(self) -> int:
        """Return the number of rows.

        Raises:
            UnknownTableError: the table was deleted.

        Semantics: the HBase shell ``count`` (rows with at least one cell).
        """


class TableStore(abc.ABC):
    """Where tables live, as configuration: a frozen, picklable spec with an ``open()``.

    A store object holds only plain settings (a directory, a host and port, timeouts),
    so it travels inside a topology spec to worker processes by ordinary pickling;
    :meth:`open` builds the live :class:`TableConnection` in the process that uses it
    (a bolt calls it in ``prepare`` and closes the connection in ``cleanup``).

    Semantics: Heron's component specs (nothing live is shipped; the worker builds it).
    """

    # True when calls wait on another process (a server): writers then run off the
    # worker loop. In-process stores leave it False.
    blocking_io: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def single_writer_key(self) -> str | None:
        """The resource only one OS process may open for writing, or None.

        Executors whose stores share a key must run in the same worker process (the
        cluster scheduler places them so). An embedded RocksDB store names its
        absolute directory (``"rocksdb:/abs/dir/tables"``); a read-only view and
        network stores (HBase) have None.
        """

    @abc.abstractmethod
    def open(self) -> TableConnection:
        """Return a live connection to the tables; close it when done (or use ``with``).

        Raises:
            StoreLockedError: an embedded store's directory is held by another process.
            StoreError: the store cannot be opened (backend-specific subclasses).
        """


class TableConnection(abc.ABC):
    """A live connection to a set of named tables (an HBase connection's view of one namespace).

    Get one from :meth:`TableStore.open`. It is not picklable: ship the store instead.

    Lifecycle: usable from ``open()`` until ``close()``; afterwards every call (also on
    tables opened through it) raises :class:`~squall.store.errors.StoreClosedError`.
    Use as a context manager to close on exit.
    """

    @property
    @abc.abstractmethod
    def store(self) -> TableStore:
        """The configuration this connection was opened from."""

    @abc.abstractmethod
    def create_table(self, name: str, families: Sequence[str]) -> None:
        """Create an empty table.

        Args:
            name: table name (see :func:`validate_table_name`).
            families: its column families, at least one (see :func:`validate_family_name`).

        Raises:
            TableExistsError: a table of that name exists.
            InvalidArgumentError: a bad name, duplicate families, or no families.

        Semantics: HBase ``Admin.createTable`` / happybase ``Connection.create_table``.
        """

    @abc.abstractmethod
    def open_table(self, name: str) -> Table:
        """Return a handle on an existing table (cheap; no I/O per call beyond a check).

        Raises:
            UnknownTableError: no such table.

        Semantics: happybase ``Connection.table``, but the table's existence is checked.
        """

    @abc.abstractmethod
    def tables(self) -> list[str]:
        """Return the table names, sorted.

        Semantics: happybase ``Connection.tables``.
        """

    @abc.abstractmethod
    def delete_table(self, name: str) -> None:
        """Delete a table and all its rows.

        Raises:
            UnknownTableError: no such table.

        Semantics: HBase ``disable`` + ``drop``; happybase ``delete_table(name, disable=True)``.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release this connection's resources; idempotent."""

    def __enter__(self) -> TableConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
