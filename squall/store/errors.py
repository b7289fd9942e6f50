"""Errors raised by Squall's stores (``squall.store``).

Every error derives from :class:`StoreError`, itself a :class:`~squall.errors.SquallError`.
Where the meaning matches a built-in the error inherits it too, so callers written
against dict-like or HBase/Redis-client code may catch either.
"""

from __future__ import annotations

from collections.abc import Sequence

from squall.errors import SquallError

__all__ = [
    "StoreError",
    "InvalidArgumentError",
    "UnknownTableError",
    "TableExistsError",
    "UnknownColumnFamilyError",
    "StoreLockedError",
    "ReadOnlyStoreError",
    "StoreClosedError",
    "WrongTypeError",
]


class StoreError(SquallError):
    """Root of all errors raised by ``squall.store``."""


class InvalidArgumentError(StoreError, ValueError):
    """A call's arguments are malformed (a bad table/family name, a value of an unsupported type).

    The message names the argument, what came and what is accepted.
    """


class UnknownTableError(StoreError, KeyError):
    """The named table does not exist (HBase: ``TableNotFoundException``).

    Attributes:
        table: the table asked for.
        tables: the tables that exist, sorted.
    """

    def __init__(self, table: str, tables: Sequence[str] = ()) -> None:
        super().__init__(table)
        self.table = table
        self.tables = sorted(tables)

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the single argument; say something useful instead.
        have = ", ".join(self.tables) if self.tables else "none"
        return (f"table {self.table!r} does not exist (tables: {have}); "
                f"create it with create_table({self.table!r}, families=[...])")


class TableExistsError(StoreError):
    """``create_table`` named a table that already exists (HBase: ``TableExistsException``).

    Attributes:
        table: the table name.
    """

    def __init__(self, table: str) -> None:
        super().__init__(f"table {table!r} already exists; delete_table({table!r}) first "
                         f"or open it with open_table({table!r})")
        self.table = table


class UnknownColumnFamilyError(StoreError, KeyError):
    """A column names a family the table was not created with (HBase: ``NoSuchColumnFamilyException``).

    Attributes:
        table: the table written or read.
        family: the unknown family.
        families: the families the table has, in creation order.
    """

    def __init__(self, table: str, family: str, families: Sequence[str]) -> None:
        super().__init__(family)
        self.table = table
        self.family = family
        self.families = list(families)

    def __str__(self) -> str:
        return (f"column family {self.family!r} does not exist in table {self.table!r} "
                f"(families: {', '.join(self.families)}); columns are named 'family:qualifier'")


class StoreLockedError(StoreError):
    """The store's directory is held by another process (RocksDB allows one writer per path).

    Within one process, connections opened on one directory share a single handle, so
    this only happens across processes.

    Attributes:
        path: the locked database directory.
    """

    def __init__(self, path: str) -> None:
        super().__init__(f"store at {path} is locked by another process; RocksDB allows one "
                         f"writing process per data directory - stop that process, give this one "
                         f"its own data_dir, or open the store with read_only=True to read it")
        self.path = path


class ReadOnlyStoreError(StoreError):
    """A write was asked of a store opened with ``read_only=True``.

    Attributes:
        path: the database directory.
        operation: the refused operation (``"put"``, ``"SADD"``, ...).
    """

    def __init__(self, path: str, operation: str) -> None:
        super().__init__(f"{operation} refused: the store at {path} is open read-only; "
                         f"open it without read_only=True to write")
        self.path = path
        self.operation = operation


class StoreClosedError(StoreError):
    """A store connection (or a table opened through it) was used after ``close()``.

    Attributes:
        store: the store configuration the connection was opened from (its repr names it).
        operation: the refused operation.
    """

    def __init__(self, store: object, operation: str) -> None:
        super().__init__(f"{operation} refused: the connection to {store!r} is closed; "
                         f"call open() on the store configuration for a new one")
        self.store = store
        self.operation = operation


class WrongTypeError(StoreError, TypeError):
    """A command ran against a key holding another type (Redis: ``WRONGTYPE``).

    Attributes:
        key: the key.
        actual: the type the key holds (``"string"`` or ``"set"``).
        expected: the type the command needs.
    """

    def __init__(self, key: str, actual: str, expected: str) -> None:
        super().__init__(f"WRONGTYPE Operation against a key holding the wrong kind of value: "
                         f"key {key!r} holds a {actual}, the command needs a {expected}")
        self.key = key
        self.actual = actual
        self.expected = expected
