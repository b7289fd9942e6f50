"""The ``squall`` command: the store shell, log collection, and commands from plug-ins.

Built-in commands:

* ``squall table ...`` - the wide-column table store (``list``, ``create``, ``scan``,
  ``get``, ``put``, ``delete``, ``count``), as the HBase shell (:mod:`squall.cli.store`).
* ``squall kv ...`` - the key-value store (``get``, ``set``, ``sadd``, ``smembers``,
  ``expire``, ``ttl``, ``keys``), as redis-cli (:mod:`squall.cli.store`).
* ``squall collect`` - log lines from a file or a spooling directory into Kafka, as
  a Flume agent (:mod:`squall.cli.collect`).
* ``squall local``, ``submit``, ``list``, ``kill``, ``activate``, ``deactivate``,
  ``rebalance`` - Storm's topology commands: run ``MODULE:ATTR`` (or a streamparse
  project's topology file) here or on a Ray cluster, and manage the cluster's
  topologies (:mod:`squall.cli.cluster`).

Other commands come from the ``squall.commands`` entry-point group
(:mod:`squall.cli.plugins`): in Squall's own metadata ``epl`` and ``rules``
(:mod:`squall.cep.cli`) and ``smartcar`` (the reference pipeline's package
``squall_smartcar``). Each is imported only when it runs.

Every store command takes ``--data-dir``; its default is ``$SQUALL_DATA_DIR`` when set,
else ``./squall-data`` (:func:`default_data_dir`). Command modules, here or in a
plug-in, reuse the option and the errors with ``from squall.cli import data_dir_option,
CliError``.

Exit codes: 0 success; 1 the row or key asked for does not exist (as ``grep``: "not
found" is an answer, not a failure); 2 an error - a usage error (click's convention),
a store error (unknown table or family, store locked by another process, wrong type),
a feature used without its extra, or a plug-in that cannot be loaded - reported as one
``squall: error: ...`` line on stderr, never a traceback.
"""

from __future__ import annotations

import logging
import sys

import click

import squall

from .cluster import activate, deactivate, kill, list_topologies, local, rebalance, submit
from .collect import collect
from .common import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    CliError,
    NotFoundError,
    data_dir_option,
    default_data_dir,
)
from .plugins import PluginGroup
from .store import kv, table

__all__ = ["main", "default_data_dir", "data_dir_option", "CliError", "NotFoundError",
           "DATA_DIR_ENV", "DEFAULT_DATA_DIR"]


@click.group(cls=PluginGroup)
@click.version_option(squall.__version__, prog_name="squall")
@click.option("-v", "--verbose", count=True,
              help="Log more: -v for INFO, -vv for DEBUG (default: warnings only).")
def main(verbose: int) -> None:
    """Squall: real-time stream processing. Inspect and modify stored data."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)


main.add_command(table)
main.add_command(kv)
main.add_command(collect)
for _command in (local, submit, list_topologies, kill, activate, deactivate, rebalance):
    main.add_command(_command)
