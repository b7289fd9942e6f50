"""Build a topology: components, parallelism, stream subscriptions; validated once.

``TopologyBuilder`` collects spouts and bolts; ``build()`` checks the whole graph and
returns an immutable :class:`Topology` that any runtime can execute.

Semantics: Storm ``TopologyBuilder`` and "Understanding the Parallelism of a Storm
Topology" (parallelism hint = executors; ``num_tasks`` fixed for the topology's life).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .component import Bolt, Component, OutputFieldsDeclarer, Spout, StreamSpec
from .config import check_keys
from .errors import TopologyValidationError
from .factory import ComponentFactory, InstanceFactory, as_factory
from .grouping import (AllGrouping, CustomStreamGrouping, DirectGrouping, FieldsGrouping,
                       GlobalGrouping, Grouping, LocalOrShuffleGrouping, NoneGrouping,
                       PartialKeyGrouping, ShuffleGrouping, StreamId)
from .tuple import DEFAULT_STREAM

__all__ = ["TopologyBuilder", "Topology", "ComponentSpec", "Subscription", "BoltDeclarer"]


class FrozenMap(Mapping):
    """A read-only, picklable mapping (``MappingProxyType`` does not pickle)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __reduce__(self):
        return (FrozenMap, (self._data,))


@dataclass(frozen=True)
class Subscription:
    """A bolt's input: a source stream and the grouping that splits it."""

    source: StreamId
    grouping: Grouping


@dataclass(frozen=True)
class ComponentSpec:
    """One spout or bolt as declared: the factory that builds each task, and its wiring.

    ``single_writer_keys`` names the resources only one process may write (embedded
    stores), read from the component at build; the cluster places executors sharing
    one in the same worker.
    """

    name: str
    factory: ComponentFactory | InstanceFactory
    parallelism: int
    num_tasks: int
    is_spout: bool
    streams: Mapping[str, StreamSpec]
    inputs: tuple[Subscription, ...] = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    single_writer_keys: frozenset[str] = frozenset()

    @property
    def obj(self) -> Component:
        """The declared component (a new one for a class factory): for reading its settings."""
        return self.factory.prototype()

    def build(self) -> Component:
        """A new component for one task (called on the worker that runs it)."""
        return self.factory.build()


@dataclass(frozen=True)
class Topology:
    """An immutable, validated topology spec.

    Attributes:
        components: name -> :class:`ComponentSpec`, in declaration order.
        task_ranges: name -> task ids (dense, from 1, in component-name order, as Storm).
    """

    components: Mapping[str, ComponentSpec]
    task_ranges: Mapping[str, tuple[int, ...]]

    def task_ids(self, component: str) -> tuple[int, ...]:
        return self.task_ranges[component]

    def component_of_task(self) -> dict[int, str]:
        return {t: name for name, ts in self.task_ranges.items() for t in ts}

    def subscribers(self, component: str, stream: str) -> list[tuple[str, Grouping]]:
        """Bolts reading ``component``'s ``stream``, with their groupings."""
        out = []
        for spec in self.components.values():
            for sub in spec.inputs:
                if sub.source.component == component and sub.source.stream == stream:
                    out.append((spec.name, sub.grouping))
        return out

    def topological_order(self) -> list[str]:
        """Components so that sources come before their subscribers (cycles broken by name)."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str, path: set[str]) -> None:
            if name in seen or name in path:
                return
            path.add(name)
            for sub in self.components[name].inputs:
                visit(sub.source.component, path)
            path.discard(name)
            seen.add(name)
            order.append(name)

        for name in sorted(self.components):
            visit(name, set())
        return order

    @property
    def spouts(self) -> list[str]:
        return [n for n, c in self.components.items() if c.is_spout]

    @property
    def bolts(self) -> list[str]:
        return [n for n, c in self.components.items() if not c.is_spout]


class BoltDeclarer:
    """Returned by ``set_bolt``: subscribe the bolt to streams, one call per input.

    Every method returns the declarer, so calls chain:
    ``builder.set_bolt("count", Count(), 4).fields_grouping("split", ["word"])``.
    """

    def __init__(self, builder: TopologyBuilder, name: str) -> None:
        self._builder = builder
        self._name = name

    def grouping(self, component: str, grouping: Grouping, stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        self._builder._inputs[self._name].append(Subscription(StreamId(component, stream), grouping))
        return self

    def shuffle_grouping(self, component: str, stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        return self.grouping(component, ShuffleGrouping(), stream)

    def fields_grouping(self, component: str, fields: Sequence[str], stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        return self.grouping(component, FieldsGrouping(fields), stream)

    def partial_key_grouping(self, component: str, fields: Sequence[str],
                             stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        return self.grouping(component, PartialKeyGrouping(fields), stream)

    def all_grouping(self, component: str, stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        return self.grouping(component, AllGrouping(), stream)

    def global_grouping(self, component: str, stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        return self.grouping(component, GlobalGrouping(), stream)

    def none_grouping(self, component: str, stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        return self.grouping(component, NoneGrouping(), stream)

    def direct_grouping(self, component: str, stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        return self.grouping(component, DirectGrouping(), stream)

    def local_or_shuffle_grouping(self, component: str, stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        return self.grouping(component, LocalOrShuffleGrouping(), stream)

    def custom_grouping(self, component: str, grouping: CustomStreamGrouping,
                        stream: str = DEFAULT_STREAM) -> BoltDeclarer:
        return self.grouping(component, grouping, stream)

    def add_configuration(self, key: str, value: Any) -> BoltDeclarer:
        """Set a config key for this component only (e.g. ``topology.tick.tuple.freq.secs``)."""
        self._builder._configs[self._name][key] = value
        return self


class TopologyBuilder:
    """Declare spouts and bolts, then ``build()`` a validated :class:`Topology`.

    >>> from squall.testing import ListSpout, ListSink
    >>> b = TopologyBuilder()
    >>> b.set_spout("words", ListSpout([["a"], ["b"]], ["word"]))
    >>> _ = b.set_bolt("sink", ListSink("doc"), 2).fields_grouping("words", ["word"])
    >>> topo = b.build()
    >>> topo.task_ids("sink"), topo.task_ids("words")
    ((1, 2), (3,))
    """

    def __init__(self) -> None:
        self._components: dict[str, tuple[ComponentFactory | InstanceFactory, Component, int, int | None,
                                          bool]] = {}
        self._inputs: dict[str, list[Subscription]] = {}
        self._configs: dict[str, dict[str, Any]] = {}

    def _add(self, name: str, component: Any, parallelism: int, num_tasks: int | None, is_spout: bool) -> None:
        if not isinstance(name, str) or not name:
            raise TopologyValidationError(f"component name must be a non-empty string, got {name!r}")
        if name.startswith("__"):
            raise TopologyValidationError(f"component names starting with '__' are reserved: {name!r}")
        if name in self._components:
            raise TopologyValidationError(f"duplicate component name {name!r}: each spout and bolt needs its own")
        kind = Spout if is_spout else Bolt
        factory = as_factory(component)
        obj = factory.prototype()
        if not isinstance(obj, kind):
            raise TopologyValidationError(
                f"{name!r}: expected a {kind.__name__} instance or factory, got {type(obj).__name__}")
        self._components[name] = (factory, obj, parallelism, num_tasks, is_spout)
        self._inputs[name] = []
        self._configs[name] = dict(obj.component_configuration() or {})

    def set_spout(self, name: str, spout: Spout | ComponentFactory, parallelism: int = 1,
                  num_tasks: int | None = None) -> None:
        """Add a spout with ``parallelism`` executors and ``num_tasks`` tasks (default = parallelism).

        ``spout`` is a :class:`~squall.factory.ComponentFactory` (built on the worker, once
        per task) or an instance (each task gets a copy; see :mod:`squall.factory`).
        """
        self._add(name, spout, parallelism, num_tasks, True)

    def set_bolt(self, name: str, bolt: Bolt | ComponentFactory, parallelism: int = 1,
                 num_tasks: int | None = None) -> BoltDeclarer:
        """Add a bolt (an instance or a factory, as ``set_spout``); subscribe it to
        streams through the returned declarer."""
        self._add(name, bolt, parallelism, num_tasks, False)
        return BoltDeclarer(self, name)

    def build(self) -> Topology:
        """Validate the graph and freeze it.

        Raises:
            TopologyValidationError: unknown source component or stream, grouping fields
                the source stream does not declare, a direct grouping on a stream not
                declared direct (or the reverse), parallelism or task counts below 1,
                parallelism above the task count, no spout.
            ConfigError: a component config key that is a typo of a known key or an
                unknown ``squall.`` key (see :func:`squall.config.check_keys`; Storm
                settings Squall lacks only warn).
        """
        specs: dict[str, ComponentSpec] = {}
        for name, (factory, obj, par, ntasks, is_spout) in self._components.items():
            if not isinstance(par, int) or par < 1:
                raise TopologyValidationError(f"{name!r}: parallelism must be an int >= 1, got {par!r}")
            tasks = par if ntasks is None else ntasks
            if not isinstance(tasks, int) or tasks < 1:
                raise TopologyValidationError(f"{name!r}: num_tasks must be an int >= 1, got {ntasks!r}")
            if par > tasks:
                raise TopologyValidationError(
                    f"{name!r}: parallelism {par} is above its task count {tasks}; an executor "
                    f"runs at least one task, so raise num_tasks or lower the parallelism")
            check_keys(self._configs[name], f"component {name!r} config")
            declarer = OutputFieldsDeclarer()
            try:
                obj.declare_output_fields(declarer)
            except ValueError as exc:
                raise TopologyValidationError(f"{name!r}: {exc}") from exc
            specs[name] = ComponentSpec(
                name=name, factory=factory, parallelism=par, num_tasks=tasks, is_spout=is_spout,
                streams=FrozenMap(dict(declarer.streams)),
                inputs=tuple(self._inputs[name]),
                config=FrozenMap(dict(self._configs[name])),
                single_writer_keys=frozenset(obj.single_writer_keys()))
        if specs and not any(s.is_spout for s in specs.values()):
            raise TopologyValidationError("a topology needs at least one spout")
        for spec in specs.values():
            if spec.is_spout and spec.inputs:
                raise TopologyValidationError(f"spout {spec.name!r} cannot subscribe to streams")
            for sub in spec.inputs:
                self._check_subscription(spec.name, sub, specs)
        task_ranges: dict[str, tuple[int, ...]] = {}
        next_id = 1
        for name in sorted(specs):
            n = specs[name].num_tasks
            task_ranges[name] = tuple(range(next_id, next_id + n))
            next_id += n
        return Topology(FrozenMap(specs), FrozenMap(task_ranges))

    @staticmethod
    def _check_subscription(name: str, sub: Subscription, specs: Mapping[str, ComponentSpec]) -> None:
        src = specs.get(sub.source.component)
        if src is None:
            known = ", ".join(sorted(specs)) or "none"
            raise TopologyValidationError(
                f"bolt {name!r} subscribes to unknown component {sub.source.component!r} (components: {known})")
        stream = src.streams.get(sub.source.stream)
        if stream is None:
            declared = ", ".join(sorted(src.streams)) or "none"
            raise TopologyValidationError(
                f"bolt {name!r} subscribes to stream {sub.source.stream!r} that {src.name!r} does not "
                f"declare (declared streams: {declared}); declare it in declare_output_fields")
        missing = [f for f in sub.grouping.fields if f not in stream.fields]
        if missing:
            raise TopologyValidationError(
                f"bolt {name!r} groups {src.name!r}/{sub.source.stream} by {missing}, which the stream "
                f"does not declare (its fields: {list(stream.fields)})")
        if sub.grouping.direct != stream.direct:
            what = "a direct grouping on" if sub.grouping.direct else "a non-direct grouping on"
            raise TopologyValidationError(
                f"bolt {name!r} uses {what} {src.name!r}/{sub.source.stream}, which is "
                f"{'declared direct' if stream.direct else 'not declared direct'}; "
                f"direct streams need direct_grouping and vice versa")

