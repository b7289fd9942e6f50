"""What every ``squall`` command shares: the data directory option, the error classes
and exit codes, and the group that turns library errors into one stderr line.

Command modules, in Squall or in a plug-in, import these from :mod:`squall.cli`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from squall.extras import MissingExtraError
from squall.store import StoreError

__all__ = ["DATA_DIR_ENV", "DEFAULT_DATA_DIR", "default_data_dir", "data_dir_option", "CliError",
           "NotFoundError", "SquallGroup"]

DATA_DIR_ENV = "SQUALL_DATA_DIR"
"""Environment variable naming the default data directory."""

DEFAULT_DATA_DIR = "squall-data"
"""The data directory used when neither ``--data-dir`` nor ``$SQUALL_DATA_DIR`` is given."""

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """Return the data directory to use when ``--data-dir`` is not given.

    Returns:
        ``$SQUALL_DATA_DIR`` when set and non-empty, else ``./squall-data`` (relative
        to the current directory). Read at each call, so it follows the environment.
    """
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def data_dir_option(func: F) -> F:
    """Add ``--data-dir DIR`` to a click command; the function receives ``data_dir: Path``.

    The default is resolved at invocation time by :func:`default_data_dir`. The option
    does not require the directory to exist: each command decides (read-only commands
    refuse a missing one, writes create it).

    >>> @click.command()
    ... @data_dir_option
    ... def where(data_dir):
    ...     click.echo(data_dir)
    """
    return click.option(
        "--data-dir", "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=default_data_dir,
        show_default=f"${DATA_DIR_ENV} or ./{DEFAULT_DATA_DIR}",
        help="Squall data directory holding the stores.",
    )(func)


class CliError(click.ClickException):
    """An error reported as one ``squall: error: ...`` line on stderr, exit code 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"squall: error: {self.format_message()}", file=file or sys.stderr)


class NotFoundError(click.ClickException):
    """The row or key asked for does not exist: ``squall: ...`` on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"squall: {self.format_message()}", file=file or sys.stderr)


class SquallGroup(click.Group):
    """The top-level group: turns store errors from any subcommand into :class:`CliError`.

    Commands may map errors to better messages themselves; whatever ``StoreError`` or
    :class:`~squall.extras.MissingExtraError` (a feature used without its extra)
    escapes still becomes one stderr line and exit code 2, so every command, built in
    or from a plug-in, gets the same treatment without doing anything.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreError as exc:
            log.debug("store error", exc_info=True)
            raise CliError(str(exc)) from exc
        except MissingExtraError as exc:
            raise CliError(str(exc)) from exc
        except BrokenPipeError:
            # `squall table scan t | head`: the reader left; stop quietly, as cat does.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(1)
