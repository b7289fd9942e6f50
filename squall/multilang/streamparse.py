"""streamparse projects on Squall: a ``streamparse.Topology`` subclass becomes a topology
whose components run unchanged as shell components.

streamparse describes a topology as class attributes holding component specs
(``WordSpout.spec()``, ``CountBolt.spec(inputs={spout: Grouping.fields("word")},
par=2)``); its metaclass names each spec after its attribute, resolves the inputs to
``GlobalStreamId -> Grouping`` and lists the specs in ``specs``. Storm then starts each
Python task as ``streamparse_run module.ClassName``. Here each spec becomes a
:class:`~squall.multilang.ShellBolt` or :class:`~squall.multilang.ShellSpout` that runs
``python -m streamparse.run [-s SERIALIZER] module.ClassName`` (the same entry point,
with this interpreter rather than whatever ``streamparse_run`` is on ``PATH``), with the
spec's outputs, parallelism, groupings and component config. Shell specs of other
languages (``ShellBolt.spec(command="node", script="split.js")``) run their command.

The specs are read by their attributes only, so this module does not import
streamparse; the user's topology module does.

Semantics: streamparse 5 ``streamparse.dsl`` (``Topology``, ``ComponentSpec``,
``Grouping``, ``Stream``), ``streamparse.run`` and ``streamparse.util.
get_topology_from_file``; Storm ``ShellBolt(ShellComponent)`` for the command line.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..component import OutputFieldsDeclarer
from ..topology import BoltDeclarer, Topology, TopologyBuilder
from .bolt import ShellBolt
from .errors import ShellError
from .spout import ShellSpout

__all__ = ["StreamparseTopologyError", "builder_from_streamparse", "topology_from_streamparse",
           "load_streamparse_topology"]

_RUN_COMMAND = "streamparse_run"   # what streamparse's Bolt.spec/Spout.spec put in the spec
_SERIALIZER_FLAGS = ("-s", "--serializer")


class StreamparseTopologyError(ShellError, ValueError):
    """A streamparse topology definition that Squall cannot run: a JVM component, a
    custom Java grouping, a per-environment parallelism without the environment, or a
    module without a ``Topology`` subclass. The message names the topology and component."""


class _StreamparseShell:
    """What the streamparse shell bolt and spout add to Storm's: the spec's streams
    (direct ones too) and its component config."""

    def _set_spec(self, outputs: Mapping[str, tuple[list[str], bool]], config: Mapping[str, Any]) -> None:
        self.sp_outputs = dict(outputs)
        self.sp_config = dict(config)

    def declare_output_fields(self, declarer: OutputFieldsDeclarer) -> None:
        for stream, (fields, direct) in self.sp_outputs.items():
            declarer.declare_stream(stream, fields, direct=direct)

    def component_configuration(self) -> Mapping[str, Any]:
        return self.sp_config


class StreamparseShellBolt(_StreamparseShell, ShellBolt):
    """A :class:`ShellBolt` built from a streamparse bolt spec."""


class StreamparseShellSpout(_StreamparseShell, ShellSpout):
    """A :class:`ShellSpout` built from a streamparse spout spec."""


def _import_root(cls: type) -> str | None:
    """The directory from which ``cls``'s module imports by its dotted name: what
    ``streamparse.run`` needs as its working directory (it puts the cwd on sys.path)."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if path is None or cls.__module__ == "__main__":
        return None
    root = Path(path).resolve().parent
    if Path(path).name == "__init__.py":
        root = root.parent
    for _ in range(cls.__module__.count(".")):
        root = root.parent
    return str(root)


def _grouping(declarer: BoltDeclarer, topology: str, bolt: str, source: str, stream: str, grouping: Any) -> None:
    """Subscribe ``bolt`` to ``source``'s ``stream`` with a streamparse (Storm thrift) grouping:
    the one field of the union that is set says which."""
    where = f"topology {topology}: bolt {bolt!r} input {source}:{stream}"
    fields = getattr(grouping, "fields", None)
    if fields is not None:
        # Storm's thrift has no global grouping: it is a fields grouping on no fields.
        if fields:
            declarer.fields_grouping(source, list(fields), stream)
        else:
            declarer.global_grouping(source, stream)
        return
    simple = {"shuffle": declarer.shuffle_grouping, "all": declarer.all_grouping,
              "none": declarer.none_grouping, "direct": declarer.direct_grouping,
              "local_or_shuffle": declarer.local_or_shuffle_grouping}
    for kind, subscribe in simple.items():
        if getattr(grouping, kind, None) is not None:
            subscribe(source, stream)
            return
    for kind in ("custom_object", "custom_serialized"):
        if getattr(grouping, kind, None) is not None:
            raise StreamparseTopologyError(f"{where}: grouping {kind} names a Java class, which Squall cannot "
                                           f"run; use a squall CustomStreamGrouping in a native topology")
    raise StreamparseTopologyError(f"{where}: unknown grouping {grouping!r}")


def _parallelism(topology: str, spec: Any, environment: str | None) -> int:
    par = spec.par
    if isinstance(par, Mapping):
        if environment not in par:
            raise StreamparseTopologyError(
                f"topology {topology}: component {spec.name!r} gives its parallelism per environment "
                f"({', '.join(sorted(par))}); pass environment= one of them (got {environment!r})")
        par = par[environment]
    return int(par)


def _command(topology: str, spec: Any, python: str, serializer: str | None) -> tuple[list[str], str]:
    """The child's command line and the serializer both ends use."""
    shell = getattr(spec.component_object, "shell", None)
    if shell is None:
        raise StreamparseTopologyError(
            f"topology {topology}: component {spec.name!r} ({spec.component_cls.__name__}) runs on the JVM "
            f"(JavaBolt/JavaSpout); Squall runs shell and Python components only")
    # Storm passes the script as one argument; streamparse.run splits it on spaces.
    args = shell.script.split()
    chosen = "json"
    for flag in _SERIALIZER_FLAGS:
        if flag in args:  # set by streamparse's set_topology_serializer (config.json "serializer")
            i = args.index(flag)
            chosen = args[i + 1]
            del args[i:i + 2]
    if serializer is not None:
        chosen = serializer
    if shell.execution_command == _RUN_COMMAND:
        return [python, "-m", "streamparse.run", "-s", chosen, *args], chosen
    return [shell.execution_command, *([shell.script] if shell.script else [])], chosen


def builder_from_streamparse(topology_cls: type, *, serializer: str | None = None, environment: str | None = None,
                             python: str | None = None, cwd: str | None = None,
                             env: Mapping[str, str] | None = None) -> TopologyBuilder:
    """A :class:`~squall.topology.TopologyBuilder` holding a streamparse topology's
    components, ready for more components (a sink) or :meth:`build`.

    Each spec becomes a shell component named as in streamparse (the class attribute
    or ``name=``) with the spec's output streams (direct ones too), parallelism
    (``par``), input groupings and component ``config``. The topology-wide
    ``topology_cls.config`` is the conf to run it with (``run_topology(topo,
    topology_cls.config)``); streamparse's ``config.json`` is not read.

    Args:
        topology_cls: a ``streamparse.Topology`` subclass (its metaclass has resolved
            ``specs``, ``thrift_spouts``, ``thrift_bolts``).
        serializer: ``"json"`` or ``"msgpack"`` for every Python component (passed to
            ``streamparse.run -s`` and to the shell component); default: a ``-s`` already
            in the spec's script (streamparse's ``set_topology_serializer``), else json.
        environment: the key into per-environment parallelism dicts (``par={"prod": 8}``).
        python: the interpreter that runs ``streamparse.run``; default this one.
        cwd: the children's working directory, from which ``streamparse.run`` imports
            ``module.ClassName``; default, per component, the directory its class's
            module imports from (a project's ``src/``).
        env: variables added to the children's environment.

    Raises:
        StreamparseTopologyError: a JVM component, a Java custom grouping, or a
            per-environment ``par`` without a matching ``environment``.
        squall.errors.TopologyValidationError: on :meth:`build`, as for any topology
            (e.g. a subscription to an undeclared stream).
    """
    name = getattr(topology_cls, "__name__", repr(topology_cls))
    specs = getattr(topology_cls, "specs", None)
    if specs is None or not hasattr(topology_cls, "thrift_spouts"):
        raise StreamparseTopologyError(f"{name} is not a streamparse Topology subclass (it has no specs)")
    python = python or sys.executable
    b = TopologyBuilder()
    for spec in specs:
        command, chosen = _command(name, spec, python, serializer)
        outputs = {s: (list(info.output_fields), bool(info.direct)) for s, info in spec.outputs.items()}
        config = json.loads(spec.config) if isinstance(spec.config, str) else dict(spec.config or {})
        child_cwd = cwd or _import_root(spec.component_cls)
        par = _parallelism(name, spec, environment)
        if spec.name in topology_cls.thrift_spouts:
            spout = StreamparseShellSpout(command, serializer=chosen, cwd=child_cwd, env=env)
            spout._set_spec(outputs, config)
            b.set_spout(spec.name, spout, par)
            continue
        bolt = StreamparseShellBolt(command, serializer=chosen, cwd=child_cwd, env=env)
        bolt._set_spec(outputs, config)
        declarer = b.set_bolt(spec.name, bolt, par)
        for stream_id, grouping in spec.inputs.items():
            _grouping(declarer, name, spec.name, stream_id.componentId, stream_id.streamId, grouping)
    return b


def topology_from_streamparse(topology_cls: type, **options: Any) -> Topology:
    """The built :class:`~squall.topology.Topology` of a streamparse topology; the
    options are :func:`builder_from_streamparse`'s. Run it with its conf:

        topo = topology_from_streamparse(WordCount)
        LocalCluster().submit_topology("wordcount", WordCount.config, topo)

    Raises:
        StreamparseTopologyError, squall.errors.TopologyValidationError: as
            :func:`builder_from_streamparse` and ``build``.
    """
    return builder_from_streamparse(topology_cls, **options).build()


def load_streamparse_topology(path: str | os.PathLike) -> type:
    """The ``Topology`` subclass defined in a streamparse project's topology file
    (``topologies/wordcount.py``), imported as ``sparse run`` does: the file's
    directory and the project's ``src/`` (``../src`` from it) go on ``sys.path``.

    Raises:
        StreamparseTopologyError: the file defines no ``Topology`` subclass.
        FileNotFoundError: no such file.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"streamparse topology file {path} does not exist")
    for extra in (str(path.parent.parent / "src"), str(path.parent)):
        if extra not in sys.path:
            sys.path.append(extra)
    module = importlib.import_module(path.stem)
    for value in vars(module).values():
        # streamparse's own check is isinstance(value, TopologyType); by shape here.
        if isinstance(value, type) and value.__name__ != "Topology" and hasattr(value, "thrift_spouts") \
                and value.__module__ == module.__name__:
            return value
    raise StreamparseTopologyError(f"{path} defines no streamparse Topology subclass")
