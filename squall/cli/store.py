"""``squall table`` and ``squall kv``: the store shell, as the HBase shell and redis-cli.

* ``squall table ...`` - the wide-column table store (``list``, ``create``, ``scan``,
  ``get``, ``put``, ``delete``, ``count``).
* ``squall kv ...`` - the key-value store (``get``, ``set``, ``sadd``, ``smembers``,
  ``expire``, ``ttl``, ``keys``).

Exit code 1 means the row or key asked for does not exist (as ``grep``: "not found" is
an answer, not a failure); a store error (unknown table or family, store locked by
another process, wrong type) is one ``squall: error: ...`` line, exit code 2.

Read-only commands (``scan``, ``get``, ``count``, ``list``, ``smembers``, ``ttl``,
``keys``, ``kv get``) never create the data directory, a store directory or a table:
a missing data directory is an error, and a store directory not created yet reads as
empty. They open the stores read-only (a RocksDB secondary instance that catches up
with the writer), so they work while a running pipeline holds the stores and show
what it has written so far, as the HBase shell and redis-cli do. Writes create what
they need, except that ``put``/``delete`` need an existing table (``squall table
create`` makes one); a write to a store another process holds fails with one line
saying so and naming the commands that read meanwhile.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from squall.store import (
    EmbeddedKeyValueStore,
    EmbeddedTableStore,
    KeyValueConnection,
    StoreError,
    StoreLockedError,
    TableConnection,
    UnknownTableError,
)

from .common import DATA_DIR_ENV, F, CliError, NotFoundError, data_dir_option

__all__ = ["table", "kv"]


# -- helpers ---------------------------------------------------------------------------

def _show(text: str) -> str:
    """Return ``text`` as printed: itself when printable, else its repr (keeps one line per item)."""
    return text if text and text.isprintable() else repr(text)


def _show_value(value: bytes) -> str:
    """Return a cell value as printed: UTF-8 text, or the bytes repr when not printable text."""
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return repr(value)
    return text if text.isprintable() else repr(value)


def _column_key(column: str) -> tuple[str, str]:
    family, _, qualifier = column.partition(":")
    return family, qualifier


def _format_cells(cells: dict[str, bytes]) -> list[str]:
    """Return ``cf:q=value`` items sorted by (family, qualifier), as HBase orders cells."""
    return [f"{_show(c)}={_show_value(cells[c])}" for c in sorted(cells, key=_column_key)]


def _parse_columns(columns: str | None) -> list[str] | None:
    """Split ``--columns cf:q,cf2`` into a filter list; None when not given."""
    if columns is None:
        return None
    parsed = [c.strip() for c in columns.split(",") if c.strip()]
    if not parsed:
        raise click.BadParameter("give at least one 'cf' or 'cf:q'", param_hint="'--columns'")
    return parsed


def _require_data_dir(data_dir: Path) -> None:
    """Raise :class:`CliError` unless ``data_dir`` exists, saying where the path came from."""
    if data_dir.is_dir():
        return
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("data_dir") if ctx is not None else None
    if source is not None and source is not click.core.ParameterSource.DEFAULT:
        origin = ""
    elif os.environ.get(DATA_DIR_ENV):
        origin = f" (from ${DATA_DIR_ENV})"
    else:
        origin = f" (the default; give --data-dir or set ${DATA_DIR_ENV})"
    raise CliError(f"data directory {str(data_dir)!r} does not exist{origin}")


def _locked(exc: StoreLockedError, readers: str) -> CliError:
    """The error of a write command on a store another process holds, naming what works meanwhile."""
    ctx = click.get_current_context(silent=True)
    command = " ".join(c.info_name for c in (ctx.parent, ctx) if c is not None and c.info_name) \
        if ctx is not None else "this command"
    return CliError(f"store at {exc.path} is locked by another process (a running pipeline?): "
                    f"stop it before `squall {command}`; reading works while it runs: {readers}")


def _columns_option(func: F) -> F:
    return click.option(
        "--columns", "columns", metavar="CF[:Q],...",
        help="Only these columns ('cf:q') and/or whole families ('cf'), comma-separated.",
    )(func)


# -- squall table ----------------------------------------------------------------------

_TABLE_READERS = "squall table list|scan|get|count"


@contextlib.contextmanager
def _table_store(data_dir: Path, access: str = "read") -> Iterator[TableConnection]:
    """Yield a connection to the table store under ``data_dir``, mapping store errors to :class:`CliError`.

    ``access`` is ``"read"`` (a read-only store: works while another process writes,
    creates nothing), ``"write"`` (the data directory must exist) or ``"create"``
    (creates what is missing). Closes the connection.
    """
    if access != "create":
        _require_data_dir(data_dir)
    try:
        with EmbeddedTableStore(data_dir, read_only=access == "read").open() as store:
            yield store
    except UnknownTableError as exc:
        have = ", ".join(exc.tables) if exc.tables else "none"
        raise CliError(f"table {exc.table!r} does not exist in {str(data_dir)!r} (tables: {have}); "
                       f"create it with: squall table create {exc.table} FAMILY...") from exc
    except StoreLockedError as exc:
        raise _locked(exc, _TABLE_READERS) from exc
    except StoreError as exc:
        raise CliError(str(exc)) from exc


@contextlib.contextmanager
def _open_table(data_dir: Path, name: str, access: str = "read") -> Iterator[Any]:
    """Yield an existing table (``access`` "read" or "write"); never creates the data dir or the table."""
    if access == "write" and not (data_dir / "tables").is_dir():
        # No table store yet, so no table: look it up read-only, which says so and
        # creates nothing.
        access = "read"
    with _table_store(data_dir, access) as store:
        yield store.open_table(name)


@click.group("table")
def table() -> None:
    """Wide-column tables (the HBase shell's role)."""


@table.command("list")
@data_dir_option
def table_list(data_dir: Path) -> None:
    """List the tables, one per line, sorted."""
    with _table_store(data_dir) as store:
        names = store.tables()
    for name in names:
        click.echo(name)


@table.command("create")
@click.argument("name")
@click.argument("families", nargs=-1, required=True)
@data_dir_option
def table_create(name: str, families: Sequence[str], data_dir: Path) -> None:
    """Create table NAME with column FAMILIES (creates the data directory if needed)."""
    with _table_store(data_dir, "create") as store:
        store.create_table(name, list(families))


@table.command("scan")
@click.argument("name")
@click.option("--prefix", help="Only rows whose key starts with this.")
@click.option("--start", help="First row key, inclusive.")
@click.option("--stop", help="Last row key, exclusive.")
@_columns_option
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows.")
@data_dir_option
def table_scan(name: str, prefix: str | None, start: str | None, stop: str | None,
               columns: str | None, limit: int | None, data_dir: Path) -> None:
    """Print rows in key order, 'ROW  cf:q=value ...', then 'N row(s)'."""
    selected = _parse_columns(columns)
    n = 0
    with _open_table(data_dir, name) as t:
        for row, cells in t.scan(row_prefix=prefix, row_start=start, row_stop=stop,
                                 columns=selected, limit=limit):
            click.echo(f"{_show(row)}  {' '.join(_format_cells(cells))}")
            n += 1
    click.echo(f"{n} row(s)")


@table.command("get")
@click.argument("name")
@click.argument("row")
@_columns_option
@data_dir_option
def table_get(name: str, row: str, columns: str | None, data_dir: Path) -> None:
    """Print one row's cells, 'cf:q=value' per line; exit 1 when the row does not exist."""
    selected = _parse_columns(columns)
    with _open_table(data_dir, name) as t:
        cells = t.get(row, columns=selected)
        if not cells:
            if selected is not None and t.get(row):
                raise NotFoundError(f"row {row!r} in table {name!r} has none of the columns {columns}")
            raise NotFoundError(f"row {row!r} not found in table {name!r}")
    for item in _format_cells(cells):
        click.echo(item)


def _parse_cell(ctx: click.Context, param: click.Parameter, values: Sequence[str]) -> dict[str, str]:
    cells: dict[str, str] = {}
    for item in values:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise click.BadParameter(f"{item!r} is not 'family:qualifier=value'", ctx, param)
        cells[column] = value
    return cells


@table.command("put")
@click.argument("name")
@click.argument("row")
@click.argument("cells", nargs=-1, required=True, callback=_parse_cell,
                metavar="CF:Q=VALUE...")
@data_dir_option
def table_put(name: str, row: str, cells: dict[str, str], data_dir: Path) -> None:
    """Write cells of ROW (UTF-8 values; other columns of the row are kept)."""
    with _open_table(data_dir, name, "write") as t:
        t.put(row, cells)


@table.command("delete")
@click.argument("name")
@click.argument("row")
@_columns_option
@data_dir_option
def table_delete(name: str, row: str, columns: str | None, data_dir: Path) -> None:
    """Delete ROW, or only the given --columns of it (an absent row is not an error)."""
    selected = _parse_columns(columns)
    with _open_table(data_dir, name, "write") as t:
        t.delete(row, columns=selected)


@table.command("count")
@click.argument("name")
@data_dir_option
def table_count(name: str, data_dir: Path) -> None:
    """Print the number of rows (only the number, on the last line)."""
    with _open_table(data_dir, name) as t:
        n = t.count()
    click.echo(n)


# -- squall kv -------------------------------------------------------------------------

_KV_READERS = "squall kv get|smembers|ttl|keys"


@contextlib.contextmanager
def _kv_store(data_dir: Path, *, create: bool = False) -> Iterator[KeyValueConnection]:
    """Yield a connection to the key-value store under ``data_dir``, mapping store errors to :class:`CliError`.

    With ``create`` False the data directory must exist and the store is read-only
    (works while another process writes; a store never created has no keys); with
    ``create`` True it is writable and created when missing. Closes the connection.
    """
    if not create:
        _require_data_dir(data_dir)
    try:
        with EmbeddedKeyValueStore(data_dir, read_only=not create).open() as store:
            yield store
    except StoreLockedError as exc:
        raise _locked(exc, _KV_READERS) from exc
    except StoreError as exc:
        raise CliError(str(exc)) from exc


@click.group("kv")
def kv() -> None:
    """Keys holding strings or sets with TTLs (redis-cli's role)."""


@kv.command("get")
@click.argument("key")
@data_dir_option
def kv_get(key: str, data_dir: Path) -> None:
    """Print a string key's value; exit 1 when the key does not exist."""
    with _kv_store(data_dir) as store:
        value = store.get(key)
    if value is None:
        raise NotFoundError(f"key {key!r} does not exist")
    click.echo(value)


@kv.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--ex", type=click.IntRange(min=1), metavar="SECONDS", help="Expire after SECONDS.")
@data_dir_option
def kv_set(key: str, value: str, ex: int | None, data_dir: Path) -> None:
    """Set a string key (replacing any value and TTL); prints OK."""
    with _kv_store(data_dir, create=True) as store:
        store.set(key, value, ex=ex)
    click.echo("OK")


@kv.command("sadd")
@click.argument("key")
@click.argument("members", nargs=-1, required=True)
@data_dir_option
def kv_sadd(key: str, members: Sequence[str], data_dir: Path) -> None:
    """Add MEMBERS to the set at KEY; prints how many were new."""
    with _kv_store(data_dir, create=True) as store:
        added = store.sadd(key, *members)
    click.echo(added)


@kv.command("smembers")
@click.argument("key")
@data_dir_option
def kv_smembers(key: str, data_dir: Path) -> None:
    """Print the members of the set at KEY, one per line, sorted (nothing when absent)."""
    with _kv_store(data_dir) as store:
        members = store.smembers(key)
    for member in sorted(members):
        click.echo(_show(member))


@kv.command("expire")
@click.argument("key")
@click.argument("seconds", type=int)
@data_dir_option
def kv_expire(key: str, seconds: int, data_dir: Path) -> None:
    """Set KEY's time to live; prints 1 if the key exists, 0 if not (<= 0 deletes it)."""
    with _kv_store(data_dir, create=True) as store:
        ok = store.expire(key, seconds)
    click.echo(int(ok))


@kv.command("ttl")
@click.argument("key")
@data_dir_option
def kv_ttl(key: str, data_dir: Path) -> None:
    """Print KEY's time to live in seconds: -1 no expiry, -2 no such key (as redis-cli)."""
    with _kv_store(data_dir) as store:
        seconds = store.ttl(key)
    click.echo(seconds)


@kv.command("keys")
@click.argument("pattern", default="*")
@data_dir_option
def kv_keys(pattern: str, data_dir: Path) -> None:
    """Print the keys matching a Redis glob PATTERN (default '*'), one per line, sorted."""
    with _kv_store(data_dir) as store:
        keys = store.keys(pattern)
    for key in sorted(keys):
        click.echo(_show(key))
