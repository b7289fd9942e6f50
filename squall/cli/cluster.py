"""Storm's topology commands: ``squall local``, ``submit``, ``list``, ``kill``,
``activate``, ``deactivate``, ``rebalance``.

A topology is named as ``MODULE:ATTR``: ``MODULE`` is a dotted module name (imported
with the current directory on ``sys.path``, as ``python -m`` does) or a path to a
``.py`` file (its directory, and a streamparse project's ``../src``, go on
``sys.path``); ``ATTR`` is a :class:`~squall.topology.Topology`, a
:class:`~squall.topology.TopologyBuilder`, a function returning either, or a
``streamparse.Topology`` subclass, whose components then run unchanged as shell
components (:mod:`squall.multilang.streamparse`; its ``config`` is the base of the
topology config). A ``.py`` path without ``:ATTR`` is a streamparse topology file
(``topologies/wordcount.py``).

The topology config is, later layers winning: the ``--config`` YAML file (a mapping
of Storm keys, as ``storm.yaml``), a streamparse topology's ``config``, then each
``--conf KEY=VALUE`` (``-c``, as ``storm jar -c``), whose value is read as a YAML
scalar (``30`` an int, ``0.5`` a float, ``true`` a bool, anything else a string).

``local`` and ``submit`` without a cluster address run the topology from this process
until it ends (a bounded topology, once its spouts are exhausted) or until Ctrl-C /
SIGTERM: the first signal stops it gracefully (spouts stop, tuple trees in flight get
up to ``topology.message.timeout.secs`` to finish), a second one exits at once. Then
one line per component gives its emitted / acked / failed counts; the exit code is 0
when the run ended by itself and 128 + the signal number when a signal stopped it.

``submit --address`` and the other commands talk to a Ray cluster (extra
``squall[ray]``) started with ``ray start --head``: ``--address HOST:PORT``, else
``$RAY_ADDRESS``; ``list``, ``kill``, ``activate``, ``deactivate`` and ``rebalance``
fall back to ``auto`` (the cluster ``ray start`` started on this machine). The module
that defines the topology travels with the submission (pickled by value, as ``storm
jar`` ships the jar); the modules it imports must be importable on the cluster.

Errors are one ``squall: error: ...`` line and exit code 2 (:class:`CliError`).

Semantics: Storm "Command line client" (``storm local``, ``storm jar``, ``storm list``,
``storm kill -w``, ``storm activate``, ``storm deactivate``, ``storm rebalance -n -e``).
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from squall.config import MESSAGE_TIMEOUT_SECS, ConfigError, ConfigWarning, resolve
from squall.errors import SquallError
from squall.extras import MissingExtraError, require
from squall.topology import Topology, TopologyBuilder

from .common import CliError

__all__ = ["local", "submit", "list_topologies", "kill", "activate", "deactivate", "rebalance",
           "LoadedTopology", "load_topology", "topology_conf"]

ADDRESS_ENV = "RAY_ADDRESS"
"""Environment variable naming the Ray cluster, as Ray's own tools read it."""

_RAY_LOG_LEVEL_ENV = "RAY_LOGGER_LEVEL"

# Storm refuses these in topology names (Utils.validateTopologyName); here they would
# also break the worker actors' names.
_NAME_FORBIDDEN = "/.:\\"

log = logging.getLogger(__name__)


@dataclass
class LoadedTopology:
    """What ``MODULE:ATTR`` named: the topology, its base config, a default name."""

    topology: Topology
    conf: dict[str, Any] = field(default_factory=dict)
    name: str = "topology"
    module: ModuleType | None = None


def _is_streamparse_topology(value: Any) -> bool:
    # streamparse's metaclass resolves `specs` and `thrift_spouts` on each subclass;
    # checked by shape so that native topologies never import streamparse.
    return isinstance(value, type) and hasattr(value, "thrift_spouts") and hasattr(value, "specs")


def _import_path(path: Path) -> ModuleType:
    """Import a ``.py`` file by its stem, its directory (and a streamparse project's
    ``../src``) first on ``sys.path``, so worker processes import it by the same name."""
    for extra in (path.parent.parent / "src", path.parent):
        if extra.is_dir() and str(extra) not in sys.path:
            sys.path.insert(0, str(extra))
    module = _import_module(path.stem, str(path))
    where = getattr(module, "__file__", None)
    if where is None or Path(where).resolve() != path:
        raise CliError(f"{path}: the module name {path.stem!r} is taken by {where or 'a built-in module'}; "
                       f"rename the file or give its module name")
    return module


def _import_module(name: str, shown: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name or name.startswith(f"{exc.name}."):
            raise CliError(f"no module named {name!r} (looked in the current directory and on sys.path)") from exc
        raise CliError(f"importing {shown}: {exc}") from exc
    except Exception as exc:
        log.debug("importing %s failed", shown, exc_info=True)
        raise CliError(f"importing {shown} failed: {type(exc).__name__}: {exc}") from exc


def _topology_names(module: ModuleType) -> list[str]:
    return sorted(k for k, v in vars(module).items() if not k.startswith("_") and (
        isinstance(v, (Topology, TopologyBuilder)) or _is_streamparse_topology(v)
        and getattr(v, "__module__", None) == module.__name__))


def load_topology(target: str) -> LoadedTopology:
    """Import ``MODULE:ATTR`` (or a streamparse ``FILE.py``) and build its topology.

    Args:
        target: ``pkg.module:attr``, ``path/to/file.py:attr`` or ``path/to/file.py``
            (a streamparse topology file). ``attr`` may be dotted (``module:obj.attr``).

    Returns:
        The built topology; its base config (a streamparse topology's ``config``,
        else empty); a default name (the attribute's, a streamparse file's stem); the
        module it came from.

    Raises:
        CliError: the module cannot be imported, has no such attribute, or the
            attribute is not a topology; the topology does not validate; a streamparse
            topology Squall cannot run (a JVM component).
    """
    module_part, _, attr = target.rpartition(":") if ":" in target else (target, "", "")
    is_path = module_part.endswith(".py") or "/" in module_part or os.sep in module_part
    if is_path:
        path = Path(module_part).resolve()
        if not path.is_file():
            raise CliError(f"{module_part}: no such file")
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        path = None
    if not attr:
        if path is None:
            raise CliError(f"{target}: name the topology as MODULE:ATTR (a Topology, a TopologyBuilder, "
                           f"a function returning one, or a streamparse Topology subclass)")
        from squall.multilang.streamparse import StreamparseTopologyError, load_streamparse_topology
        module = _import_path(path)
        try:
            value = load_streamparse_topology(path)
        except StreamparseTopologyError as exc:
            raise CliError(f"{exc}; name a topology as {module_part}:ATTR") from exc
        return _build(target, value, path.stem, module)
    module = _import_path(path) if path is not None else _import_module(module_part, module_part)
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            found = _topology_names(module)
            raise CliError(f"{target}: module {module.__name__} has no attribute {attr!r}"
                           + (f" (topologies there: {', '.join(found)})" if found else "")) from None
    return _build(target, value, attr.rsplit(".", 1)[-1], module)


def _build(target: str, value: Any, name: str, module: ModuleType) -> LoadedTopology:
    conf: dict[str, Any] = {}
    try:
        if _is_streamparse_topology(value):
            from squall.multilang.streamparse import topology_from_streamparse
            conf = dict(getattr(value, "config", None) or {})
            value = topology_from_streamparse(value)
        elif callable(value) and not isinstance(value, (Topology, TopologyBuilder)):
            made = value()
            if not isinstance(made, (Topology, TopologyBuilder)):
                raise CliError(f"{target} returned {type(made).__name__}, not a Topology or TopologyBuilder")
            value = made
        if isinstance(value, TopologyBuilder):
            value = value.build()
    except CliError:
        raise
    except SquallError as exc:      # TopologyValidationError, StreamparseTopologyError, ConfigError
        raise CliError(f"{target}: {exc}") from exc
    except Exception as exc:
        log.debug("building %s failed", target, exc_info=True)
        raise CliError(f"{target}: building the topology failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(value, Topology):
        raise CliError(f"{target} is {type(value).__name__}, not a Topology, a TopologyBuilder, a function "
                       f"returning one, or a streamparse Topology subclass")
    return LoadedTopology(value, conf, name, module)


def _yaml() -> ModuleType:
    return require("yaml", "ray", "--conf and --config (YAML)")


def topology_conf(base: Mapping[str, Any], config_file: str | None, pairs: Sequence[str]) -> dict[str, Any]:
    """The topology config: ``config_file`` (YAML mapping), then ``base``, then ``pairs``.

    Args:
        base: the config the topology's definition carries (a streamparse ``config``).
        config_file: a YAML file holding a mapping of config keys (``storm.yaml``'s form).
        pairs: ``KEY=VALUE`` strings; each value is read as YAML (``60`` an int,
            ``0.5`` a float, ``true`` a bool; text that is not YAML stays text).

    Returns:
        The merged config, validated (known keys' types; a typo of a known key fails);
        Storm keys Squall does not support are reported as ``squall: warning:`` lines.

    Raises:
        CliError: an unreadable or non-mapping file, a pair without ``=``, a bad value.
    """
    conf: dict[str, Any] = {}
    if config_file is not None:
        yaml = _yaml()
        try:
            text = Path(config_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"--config {config_file}: {exc.strerror or exc}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CliError(f"--config {config_file}: not YAML: {exc}".replace("\n", " ")) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
            raise CliError(f"--config {config_file}: expected a mapping of config keys (as in storm.yaml), "
                           f"got {type(loaded).__name__}")
        conf.update(loaded)
    conf.update(base)
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        if not eq or not key.strip():
            raise CliError(f"--conf {pair!r}: expected KEY=VALUE, e.g. topology.message.timeout.secs=60")
        yaml = _yaml()
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw                 # not a YAML scalar: the text as given
        conf[key.strip()] = value
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        try:
            resolve(conf)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
    for w in caught:
        click.echo(f"squall: warning: {w.message}", err=True)
    return conf


def _load(target: str, config_file: str | None, conf_pairs: Sequence[str]) -> tuple[LoadedTopology, dict[str, Any]]:
    """The topology and its config, for a command that runs it."""
    loaded = load_topology(target)
    conf = topology_conf(loaded.conf, config_file, conf_pairs)
    # Said once by topology_conf; the runtime checks the same keys again in this process.
    warnings.filterwarnings("ignore", category=ConfigWarning)
    return loaded, conf


def _check_name(name: str) -> str:
    if not name or any(c in name for c in _NAME_FORBIDDEN):
        raise CliError(f"topology name {name!r}: must be non-empty without any of {_NAME_FORBIDDEN!r} "
                       f"(Storm's rule)")
    return name


def _parse_executors(pairs: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pair in pairs:
        comp, eq, raw = pair.partition("=")
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if not eq or not comp or n < 1:
            raise CliError(f"--executors {pair!r}: expected COMPONENT=N with N >= 1")
        out[comp] = n
    return out


@dataclass(frozen=True)
class _UI:
    """Where ``--ui`` serves the run's UI, and the token for its actions."""

    host: str
    port: int
    token: str | None


def _ui_address(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, int] | None:
    """``--ui [HOST:]PORT`` as ``(host, port)``; ``--ui`` alone: 127.0.0.1:8744."""
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    host = host.strip("[]")     # [::1]:8744
    if not port.isdigit() or not 0 <= int(port) <= 65535 or (sep and not host):
        raise click.BadParameter(f"{value!r}: expected [HOST:]PORT, e.g. 8744 or 127.0.0.1:8744")
    return host, int(port)


@contextmanager
def _serving_ui(cluster: Any, ui: _UI | None) -> Iterator[None]:
    """The UI for ``cluster`` (LocalCluster or RayCluster) while the block runs (``--ui``)."""
    if ui is None:
        yield
        return
    from squall.ui.cli import start_ui

    server = start_ui(cluster, ui.host, ui.port, ui.token)
    try:
        yield
    finally:
        server.stop()


# -- running from this process ---------------------------------------------------------------


class _StopSignals:
    """Ctrl-C / SIGTERM: the first asks for a graceful stop, a second exits at once.

    ``on_first`` must return at once (it runs in the signal handler); without it the
    caller's loop polls :attr:`received`. A context manager: the handlers are installed
    for the ``with`` block and the previous ones restored after it.
    """

    def __init__(self, command: str, drain_s: float, on_first: Callable[[], None] | None = None) -> None:
        self.received: list[int] = []
        self._command = command
        self._drain_s = drain_s
        self._on_first = on_first
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        # A command run in-process (a test's CliRunner, a notebook) gives its caller
        # Ctrl-C back.
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received.append(signum)
        name = signal.Signals(signum).name
        if len(self.received) == 1:
            click.echo(f"squall {self._command}: {name}: stopping (spouts stopped, up to {self._drain_s:g} s "
                       f"for tuples in flight); again to exit at once", err=True)
            if self._on_first is not None:
                self._on_first()
        else:
            click.echo(f"squall {self._command}: {name}: exiting now", err=True)
            os._exit(128 + signum)


def _progress(stats: Mapping[str, Any], t0: float) -> None:
    spouts = [s for s in stats.values() if s.kind == "spout"]
    bolts = [s for s in stats.values() if s.kind != "spout"]
    click.echo(f"  {time.monotonic() - t0:7.1f}s  spouts: emitted {sum(s.emitted for s in spouts):,} "
               f"acked {sum(s.acked for s in spouts):,} failed {sum(s.failed for s in spouts):,}"
               f"  bolts: executed {sum(s.executed for s in bolts):,} failed {sum(s.failed for s in bolts):,}",
               err=True)


def _report(name: str, stats: Mapping[str, Any], elapsed_s: float, signals: _StopSignals,
            in_flight: int | None) -> int:
    """Print the run's end and one line per component; return the exit code."""
    if signals.received:
        sig = signal.Signals(signals.received[0]).name
        left = "" if in_flight is None else f", {in_flight:,} tuple trees still in flight"
        click.echo(f"topology {name} stopped by {sig} after {elapsed_s:.2f} s{left}")
    else:
        click.echo(f"topology {name} ended after {elapsed_s:.2f} s")
    width = max((len(c) for c in stats), default=0)
    for comp, st in stats.items():
        line = (f"  {comp:<{width}}  {st.kind:<5}  tasks {st.tasks}  emitted {st.emitted:,}  "
                f"acked {st.acked:,}  failed {st.failed:,}")
        if st.error_count:
            last = st.last_errors[-1].strip().splitlines()[0][:200] if st.last_errors else "?"
            line += f"  errors {st.error_count:,} (last: {last})"
        click.echo(line)
    return 128 + signals.received[0] if signals.received else 0


def _run_here(command: str, name: str, loaded: LoadedTopology, conf: dict[str, Any], until_complete: bool,
              progress_s: float, ui: _UI | None = None, state_dir: str | None = None) -> int:
    from squall.runtime import LocalCluster

    drain_s = resolve(conf, check_unknown=False)[MESSAGE_TIMEOUT_SECS]
    cluster = LocalCluster()   # no `with`: its shutdown would raise a run's error a second time
    backend = None
    if state_dir is not None:
        from squall.state import RocksDBStateBackend
        backend = RocksDBStateBackend(state_dir)
    handle = cluster.submit_topology(name, conf, loaded.topology, until_complete=until_complete,
                                     state_backend=backend)
    with _StopSignals(command, drain_s, on_first=handle.stop) as signals:
        click.echo(f"squall {command}: running {name} in this process; Ctrl-C stops it", err=True)
        t0 = time.monotonic()
        try:
            with _serving_ui(cluster, ui):
                while not handle.wait(progress_s or 1.0):
                    if progress_s:
                        _progress(handle.stats(), t0)
        except (CliError, MissingExtraError):       # --ui: the UI did not start
            raise
        except Exception as exc:
            log.debug("the run ended with an error", exc_info=True)
            raise CliError(f"topology {name} stopped: {type(exc).__name__}: {exc}") from exc
        report = handle.stop_report
        return _report(name, handle.stats(), time.monotonic() - t0, signals,
                       report.in_flight if report is not None else None)


def _run_on_ray(command: str, cluster: Any, name: str, loaded: LoadedTopology, conf: dict[str, Any],
                workers: int | None, until_complete: bool, progress_s: float, state_dir: str | None = None) -> int:
    """Submit to ``cluster``, wait for the end or a signal, drain, print the summary."""
    drain_s = resolve(conf, check_unknown=False)[MESSAGE_TIMEOUT_SECS]
    handle = _submit(cluster, name, loaded, conf, workers, until_complete, state_dir)
    with _StopSignals(command, drain_s) as signals:
        click.echo(f"squall {command}: running {name} on {handle.summary()['workers']} worker processes "
                   f"(Ray, in this process); Ctrl-C stops it", err=True)
        t0 = last = time.monotonic()
        in_flight = None
        try:
            while not signals.received and not handle.wait(0.2):
                if progress_s and time.monotonic() - last >= progress_s:
                    _progress(handle.stats(), t0)
                    last = time.monotonic()
            if signals.received:
                # Storm's kill -w, keeping the figures: deactivate, let the trees finish,
                # read the stats, then kill.
                cluster.deactivate(name)
                deadline = time.monotonic() + drain_s
                while True:
                    pending = [s["pending"] if s is not None else None for s in handle.statuses()]
                    if (None not in pending and sum(pending) == 0) or time.monotonic() >= deadline:
                        break
                    time.sleep(0.1)
                in_flight = sum(p for p in pending if p is not None)
            stats = handle.stats()
        except SquallError as exc:
            log.debug("the run ended with an error", exc_info=True)
            raise CliError(f"topology {name} stopped: {exc}") from exc
        elapsed = time.monotonic() - t0
        from squall.cluster.nimbus import TopologyNotFoundError
        try:
            cluster.kill_topology(name)
        except TopologyNotFoundError:
            click.echo(f"squall {command}: {name} was killed from elsewhere (the UI, or squall kill)", err=True)
        return _report(name, stats, elapsed, signals, in_flight)


def _submit(cluster: Any, name: str, loaded: LoadedTopology, conf: dict[str, Any], workers: int | None,
            until_complete: bool, state_dir: str | None = None):
    import ray

    from squall.cluster.state import RocksDBPartitions

    if loaded.module is not None:
        # The topology's own module travels with it, as storm jar ships the jar.
        ray.cloudpickle.register_pickle_by_value(loaded.module)
    try:
        return cluster.submit_topology(name, conf, loaded.topology, workers=workers,
                                       until_complete=until_complete,
                                       state_backend=RocksDBPartitions(state_dir) if state_dir else None)
    except SquallError as exc:
        raise CliError(_message(exc)) from exc


def _message(exc: BaseException) -> str:
    """The error's own text: Ray wraps an actor's exception (``.cause``), and a
    ``KeyError`` subclass would print its message quoted."""
    cause = getattr(exc, "cause", None) or exc
    return str(cause.args[0]) if cause.args and isinstance(cause.args[0], str) else str(cause)


# -- joining a cluster -----------------------------------------------------------------------------


def _import_ray() -> ModuleType:
    """Ray, its driver's INFO lines ("Connecting to existing Ray cluster...") off unless
    ``-v``: Ray reads its log level from the environment once, when imported.

    Raises:
        MissingExtraError: Ray is not installed.
    """
    quiet = logging.getLogger().getEffectiveLevel() > logging.INFO and _RAY_LOG_LEVEL_ENV not in os.environ
    if quiet:
        os.environ[_RAY_LOG_LEVEL_ENV] = "warning"
    try:
        return require("ray", "ray")
    finally:
        if quiet:   # not for the processes an in-process Ray starts: their logs stay as Ray sets them
            del os.environ[_RAY_LOG_LEVEL_ENV]


def _join(address: str) -> Any:
    """A :class:`~squall.cluster.RayCluster` joined to ``address``.

    Raises:
        MissingExtraError: Ray is not installed.
        CliError: nothing answers there.
    """
    _import_ray()
    from squall.cluster.client import ClusterUnreachableError, join

    try:
        return join(address)
    except ClusterUnreachableError as exc:
        log.debug("joining %s failed", address, exc_info=True)
        raise CliError(str(exc)) from None


def _in_process_ray() -> Any:
    _import_ray()
    from squall.cluster import RayCluster

    # ray.init joins $RAY_ADDRESS when given no address; here Ray must start in process.
    os.environ.pop(ADDRESS_ENV, None)
    return RayCluster()


def _on_cluster(address: str | None, action: Callable[[Any], Any]) -> Any:
    """Run ``action(cluster)`` on the cluster at ``address`` (default ``auto``); an
    unknown topology becomes one error line naming it."""
    from squall.cluster.nimbus import TopologyNotFoundError

    where = address or "auto"
    cluster = _join(where)
    try:
        return action(cluster)
    except TopologyNotFoundError as exc:
        raise CliError(f"{_message(exc)} on the Ray cluster at {where}") from None
    except SquallError as exc:      # what the cluster refused (e.g. a rebalance without checkpoints)
        raise CliError(_message(exc)) from None


# -- the commands ----------------------------------------------------------------------------------

_target_argument = click.argument("target", metavar="MODULE:ATTR")
_conf_options = [
    click.option("-c", "--conf", "conf_pairs", multiple=True, metavar="KEY=VALUE",
                  help="A topology config key (Storm's names), repeatable; VALUE is read as YAML "
                       "(60 an int, 0.5 a float, true a bool)."),
    click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                  help="A YAML file of config keys, as storm.yaml; --conf wins over it."),
]
_run_options = [
    click.option("--until-complete/--forever", default=True, show_default=True,
                 help="--until-complete ends a bounded topology once its spouts are exhausted "
                      "(an unbounded one runs until stopped either way); --forever keeps it running."),
    click.option("--progress", "progress_s", type=click.FloatRange(min=0), default=5.0, show_default=True,
                 help="Print the spouts' and bolts' counts to stderr every this many seconds; 0: never."),
    click.option("--state-dir", type=click.Path(file_okay=False), default=None,
                 help="Checkpoint the topology's state in RocksDB under this directory (its spouts must be "
                      "squall.Stateful): a rerun resumes from it, and on a cluster `squall rebalance` "
                      "can move its tasks; on several machines it must be a shared directory."),
]
_address_option = click.option(
    "--address", envvar=ADDRESS_ENV, default=None, metavar="HOST:PORT",
    help=f"The Ray cluster (started with `ray start --head`) [default: ${ADDRESS_ENV}, else auto: the "
         f"cluster started on this machine].")


def _options(options: list[Callable]) -> Callable:
    def apply(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func
    return apply


def ui_options(what: str) -> Callable:
    """``--ui [HOST:]PORT`` (as ``ui_address``: ``(host, port)`` or None) and ``--ui-token``,
    the options of every command that can serve the UI for its run; ``what`` ends the
    ``--ui`` help's first sentence (what the UI serves)."""
    return _options([
        click.option("--ui", "ui_address", default=None, is_flag=False, flag_value="127.0.0.1:8744",
                     metavar="[HOST:]PORT", callback=_ui_address,
                     help=f"Serve {what} (extra squall[ui]); --ui alone: 127.0.0.1:8744."),
        click.option("--ui-token", default=None, metavar="TOKEN",
                     help="The token the UI's actions need [default: $SQUALL_UI_TOKEN, else generated and "
                          "printed]."),
    ])


@click.command()
@_target_argument
@_options(_conf_options)
@_options(_run_options)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes; above 1 the topology runs on Ray started in this process.")
@click.option("--name", default=None, help="The topology's name [default: ATTR, or the file's stem].")
@ui_options("the web UI and REST API for the run there")
def local(target, conf_pairs, config_file, until_complete, progress_s, state_dir, workers, name, ui_address,
          ui_token):
    """Run topology MODULE:ATTR here until it ends or Ctrl-C (storm local).

    MODULE is a dotted module name or a path to a .py file; ATTR is a Topology, a
    TopologyBuilder, a function returning one, or a streamparse Topology subclass (a
    streamparse topology file needs no :ATTR). The first Ctrl-C stops the topology
    gracefully (tuples in flight get up to topology.message.timeout.secs), a second
    exits at once; at the end one line per component gives emitted, acked, failed.
    """
    loaded, conf = _load(target, config_file, conf_pairs)
    name = _check_name(name or loaded.name)
    ui = _UI(*ui_address, ui_token) if ui_address is not None else None
    if workers == 1:
        code = _run_here("local", name, loaded, conf, until_complete, progress_s, ui, state_dir)
    else:
        with _in_process_ray() as cluster, _serving_ui(cluster, ui):
            code = _run_on_ray("local", cluster, name, loaded, conf, workers, until_complete, progress_s,
                               state_dir)
    sys.exit(code)


@click.command()
@_target_argument
@click.option("--name", required=True, help="The topology's name on the cluster.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes [default: topology.workers of the config, 1].")
@click.option("--address", envvar=ADDRESS_ENV, default=None, metavar="HOST:PORT",
              help=f"Submit to this Ray cluster and return [default: ${ADDRESS_ENV}; neither: start Ray "
                   f"in this process and wait].")
@_options(_conf_options)
@_options(_run_options)
@ui_options("the web UI and REST API for the run there, without --address (on a running cluster, "
            "`squall ui` serves it)")
def submit(target, name, workers, address, conf_pairs, config_file, until_complete, progress_s, state_dir,
           ui_address, ui_token):
    """Submit topology MODULE:ATTR to a cluster as NAME (storm jar).

    With --address (or $RAY_ADDRESS) it submits to that Ray cluster and returns; the
    topology runs until `squall kill NAME` (a bounded one ends by itself, and stays
    listed until killed). Without, it starts Ray in this process, runs the topology on
    --workers processes and waits until it ends or Ctrl-C, as `squall local` does.
    MODULE:ATTR as for `squall local`; config keys use Storm's names.
    """
    loaded, conf = _load(target, config_file, conf_pairs)
    name = _check_name(name)
    if address is not None and ui_address is not None:
        # submit returns at once there; the cluster's UI outlives it: `squall ui --address`.
        raise CliError(f"--ui serves a run started in this process; for the cluster at {address} "
                       f"run `squall ui --address {address}`")
    ui = _UI(*ui_address, ui_token) if ui_address is not None else None
    if address is None:
        with _in_process_ray() as cluster, _serving_ui(cluster, ui):
            code = _run_on_ray("submit", cluster, name, loaded, conf, workers, until_complete, progress_s,
                               state_dir)
        sys.exit(code)
    cluster = _join(address)
    # No cluster.shutdown(): it would kill what was just submitted.
    handle = _submit(cluster, name, loaded, conf, workers, until_complete, state_dir)
    summary = handle.summary()
    click.echo(f"Submitted topology: {name} ({summary['workers']} workers, {summary['tasks']} tasks) "
               f"to the Ray cluster at {address}")


@click.command("list")
@_address_option
def list_topologies(address):
    """List the topologies on the cluster (storm list)."""
    rows = _on_cluster(address, lambda c: c.list_topologies())
    if not rows:
        click.echo("No topologies running.")
        return
    header = f"{'Topology_name':<24} {'Status':<10} {'Num_tasks':>9} {'Num_workers':>11} {'Uptime_secs':>11}  Phase"
    click.echo(header)
    click.echo("-" * len(header))
    for r in sorted(rows, key=lambda r: r["name"]):
        click.echo(f"{r['name']:<24} {r['status']:<10} {r['tasks']:>9} {r['workers']:>11} "
                   f"{int(r['uptime_s']):>11}  {r['phase']}")
        if r.get("error"):
            click.echo(f"  error: {r['error']}")


@click.command()
@click.argument("name")
@click.option("-w", "--wait", "wait_s", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to let tuples in flight finish after deactivating (Storm's default: "
                   "topology.message.timeout.secs); 0 kills at once.")
@_address_option
def kill(name, wait_s, address):
    """Kill topology NAME: deactivate, wait, then stop its workers (storm kill -w)."""
    _on_cluster(address, lambda c: c.kill_topology(name, wait_s))
    click.echo(f"Killed topology: {name}")


@click.command()
@click.argument("name")
@_address_option
def activate(name, address):
    """Resume topology NAME's spouts (storm activate)."""
    _on_cluster(address, lambda c: c.activate(name))
    click.echo(f"Activated topology: {name}")


@click.command()
@click.argument("name")
@_address_option
def deactivate(name, address):
    """Pause topology NAME's spouts; tuples in flight still finish (storm deactivate)."""
    _on_cluster(address, lambda c: c.deactivate(name))
    click.echo(f"Deactivated topology: {name}")


@click.command()
@click.argument("name")
@click.option("-n", "--workers", type=click.IntRange(min=1), default=None, help="The new number of workers.")
@click.option("-e", "--executors", "executor_pairs", multiple=True, metavar="COMPONENT=N",
              help="A component's new number of executors (at most its tasks), repeatable.")
@_address_option
def rebalance(name, workers, executor_pairs, address):
    """Change topology NAME's workers or executors while it runs (storm rebalance)."""

    executors = _parse_executors(executor_pairs)
    if workers is None and not executors:
        raise CliError("rebalance: give --workers N and/or --executors COMPONENT=N")
    _on_cluster(address, lambda c: c.rebalance(name, workers=workers, executors=executors or None))
    click.echo(f"Rebalanced topology: {name}")
