"""Components as factories: what a topology spec carries to the process that runs a task.

A spec never holds a live component: it holds a *factory* that the worker calls once per
task, on the worker, before ``open``/``prepare``. Two kinds:

* :class:`ComponentFactory` - a class and its constructor arguments (Heron's model). The
  spec ships the class by reference and the arguments by value, so what travels is small
  and nothing built in the driver (a connection, a thread) can leak into a worker.
* :class:`InstanceFactory` - the sugar behind ``set_bolt("x", MyBolt(...))``: the
  instance is the prototype. In this process each task gets a deep copy; shipped to
  another process it is pickled once with the spec, and copied there per task.

>>> from squall.testing import ListSink
>>> f = ComponentFactory(ListSink, "factory-doc", ack=False)
>>> sink = f.build(); (type(sink).__name__, sink.name, sink.ack)
('ListSink', 'factory-doc', False)
>>> f.build() is f.build()
False

Semantics: Heron "Topology component factories" (components built in the container);
Storm serializes component instances at submit, which :class:`InstanceFactory` keeps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .component import Component
from .errors import TopologyValidationError

__all__ = ["ComponentFactory", "InstanceFactory", "as_factory"]


@dataclass(frozen=True)
class ComponentFactory:
    """Build a component as ``cls(*args, **kwargs)`` on the worker, once per task.

    The arguments must be picklable when the topology runs in other processes (the Ray
    runtime); they are plain configuration (paths, names, store configs), never open
    handles.

    Raises (on :meth:`build`): whatever the constructor raises; :class:`TopologyValidationError`
    when ``cls`` does not build a :class:`~squall.component.Component`.
    """

    cls: type
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __init__(self, cls: type, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "cls", cls)
        object.__setattr__(self, "args", tuple(args))
        object.__setattr__(self, "kwargs", dict(kwargs))

    def __reduce__(self):
        return (_rebuild_factory, (self.cls, self.args, self.kwargs))

    def build(self) -> Component:
        obj = self.cls(*self.args, **self.kwargs)
        if not isinstance(obj, Component):
            raise TopologyValidationError(
                f"factory {self.cls.__qualname__} built a {type(obj).__name__}, not a spout or bolt")
        return obj

    def prototype(self) -> Component:
        """An instance to read declarations from (output fields, config) in the driver."""
        return self.build()


def _rebuild_factory(cls: type, args: tuple, kwargs: dict[str, Any]) -> ComponentFactory:
    return ComponentFactory(cls, *args, **kwargs)


@dataclass(frozen=True)
class InstanceFactory:
    """A component instance given to the builder: each task gets a deep copy of it."""

    instance: Component

    def build(self) -> Component:
        return copy.deepcopy(self.instance)

    def prototype(self) -> Component:
        return self.instance


def as_factory(component: Any) -> ComponentFactory | InstanceFactory:
    """The factory for what ``set_spout``/``set_bolt`` were given (a factory or an instance)."""
    if isinstance(component, (ComponentFactory, InstanceFactory)):
        return component
    return InstanceFactory(component)
