"""Commands from other packages: the ``squall.commands`` entry-point group.

A distribution adds a command to ``squall`` by naming a click command (or group) in
its packaging metadata; the entry point's name is the command's name::

    [project.entry-points."squall.commands"]
    smartcar = "squall_smartcar.cli:smartcar"

That is how Squall's own CEP commands (``epl``, ``rules``) and the smart-car example
(``smartcar``) join ``squall``: the core names none of them.

A plug-in is imported only when its command runs, so ``squall table ...`` never loads
the CEP engine or the example. ``squall --help`` lists each plug-in with the first
sentence of its function's docstring, read from the module's source without importing
it (a plug-in whose docstring cannot be read that way is imported for its line). A
plug-in that cannot be imported, or whose object is not a click command, stays listed;
running it prints one ``squall: error:`` line naming the command, the entry point and
the error (``-vv`` logs the traceback), exit code 2. Other commands are unaffected.

A built-in command takes precedence over a plug-in of the same name; between plug-ins
of one name, the distribution found first on ``sys.path`` wins.

Semantics: PyPA "Entry points specification" (the mechanism of ``console_scripts``,
used for plug-in commands as pytest's ``pytest11`` group is for plug-ins).
"""

from __future__ import annotations

import ast
import importlib.util
import logging
from importlib.machinery import PathFinder
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import click

from ..extras import MissingExtraError
from .common import CliError, SquallGroup

__all__ = ["ENTRY_POINT_GROUP", "PluginGroup", "command_help", "load_command"]

ENTRY_POINT_GROUP = "squall.commands"
"""The entry-point group whose entries are ``squall`` subcommands."""

log = logging.getLogger(__name__)


class PluginGroup(SquallGroup):
    """A :class:`SquallGroup` whose subcommands are its own plus the entry points of
    :data:`ENTRY_POINT_GROUP`, each imported when it is run (see the module docs)."""

    def _plugins(self) -> dict[str, EntryPoint]:
        """Installed plug-in commands by name, minus those a built-in command shadows."""
        found: dict[str, EntryPoint] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name not in self.commands:
                found.setdefault(ep.name, ep)
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self.commands.get(cmd_name)
        if cmd is not None:
            return cmd
        ep = self._plugins().get(cmd_name)
        return None if ep is None else load_command(ep)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own version calls get_command for every name, which would import every
        # plug-in (the CEP engine, the example) to print one line each.
        plugins = self._plugins()
        rows: list[tuple[str, click.Command]] = []
        for name in sorted({*self.commands, *plugins}):
            cmd = self.commands.get(name)
            if cmd is None:
                text = command_help(plugins[name])
                cmd = click.Command(name, help=text) if text is not None else load_command(plugins[name])
            if not cmd.hidden:
                rows.append((name, cmd))
        if rows:
            # The width click allows for the help column, as in click.Group.format_commands.
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])


def command_help(ep: EntryPoint) -> str | None:
    """Return the docstring of the function or class ``ep`` names, read from source.

    Nothing is imported: the module's file is located through its top-level package's
    spec (a top-level ``find_spec`` runs no package code) and parsed.

    Returns:
        The cleaned docstring (as click shows it), or None when the module's source
        cannot be found or read, or the attribute is not a top-level ``def``/``class``
        with a docstring in it.
    """
    if "." in ep.attr:
        return None
    path = _source_path(ep.module)
    if path is None:
        return None
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == ep.attr:
            return ast.get_docstring(node)
    return None


def _source_path(module: str) -> Path | None:
    """The ``.py`` file of ``module`` without executing it or its parent packages; None if unknown."""
    top, *parts = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
        for part in parts:
            if spec is None or not spec.submodule_search_locations:
                return None
            spec = PathFinder.find_spec(f"{spec.name}.{part}", list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def load_command(ep: EntryPoint) -> click.Command:
    """Import the command ``ep`` names.

    Returns:
        The click command; or, when the import fails or the object is not a click
        command, a stand-in that fails when run with one :class:`CliError` line naming
        the command, the entry point and the error. Never raises for the plug-in's
        sake: one broken plug-in must not take ``squall`` down.
    """
    try:
        cmd = ep.load()
    except MissingExtraError as exc:
        return _needs_extra(ep, exc)
    except Exception as exc:  # a third party's import can raise anything; reported when run
        return _unloadable(ep, exc)
    if not isinstance(cmd, click.Command):
        return _unloadable(ep, TypeError(f"{ep.value} is not a click command (type {type(cmd).__name__})"))
    return cmd


def _needs_extra(ep: EntryPoint, exc: MissingExtraError) -> click.Command:
    """A command whose extra is not installed: its help says which, and running it fails
    with the extra's one-line message."""

    def fail() -> None:
        raise CliError(str(exc))

    summary = (command_help(ep) or "").split("\n\n")[0]
    return click.Command(ep.name, callback=fail,
                         help=f"{summary}\n\nNot available here: {exc}".strip(),
                         short_help=f"(needs pip install 'squall[{exc.extra}]')",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


def _unloadable(ep: EntryPoint, exc: Exception) -> click.Command:
    """A command that fails with one line saying why plug-in ``ep`` could not be loaded."""
    dist = getattr(ep, "dist", None)
    origin = f", distribution {dist.name} {dist.version}" if dist is not None else ""
    reason = " ".join(str(exc).split())
    message = (f"command {ep.name!r} cannot be loaded: {type(exc).__name__}: {reason} "
               f"(entry point '{ep.name} = {ep.value}' in group {ep.group}{origin})")

    def fail() -> None:
        log.debug("plug-in command %r failed to load", ep.name, exc_info=exc)
        raise CliError(message)

    # No --help of its own, and any arguments accepted: whatever the user typed, the
    # answer is the one line above.
    return click.Command(ep.name, callback=fail, help=f"(cannot be loaded: {type(exc).__name__})",
                         add_help_option=False,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
