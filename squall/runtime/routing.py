"""Routing tables: where each (task, stream) sends its tuples, built once per task.

A task's emit looks its stream up in a dict, then either takes the fixed target list
(when the targets cannot depend on the values: one target task, all or global
groupings) or calls the prepared groupings' ``choose_tasks``. Groupings are copied per
source task, so their state (round-robin position, key memo) is never shared.

Semantics: Storm ``GrouperFactory``/``Task.getOutgoingTasks`` (stream groupings, direct
groupings only reachable through ``emit_direct``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from ..component import TopologyContext
from ..grouping import (AllGrouping, FieldsGrouping, GlobalGrouping, LocalOrShuffleGrouping,
                        NoneGrouping, PartialKeyGrouping, ShuffleGrouping, StreamId)
from ..tuple import TupleSource

__all__ = ["Route", "build_routes"]


class Route:
    """Where one (task, stream) sends its tuples.

    ``choose(values)`` returns the target task ids; ``direct_targets`` is the set of
    tasks that may be named by ``emit_direct`` (subscribers with a direct grouping).
    """

    __slots__ = ("source", "choose", "direct_targets", "fanout", "emitted", "direct_sent", "counted",
                 "fixed", "arity")

    def __init__(self, source: TupleSource, choose: Callable[[Sequence[Any]], list[int]],
                 direct_targets: frozenset[int], fanout: int | None) -> None:
        self.source = source
        # Values per emit, checked on every emit: one len() beats a wrong tuple that
        # fails later in a subscriber's grouping (IndexError) or silently with one task.
        self.arity = len(source.fields)
        self.choose = choose
        self.direct_targets = direct_targets
        # Tasks per non-direct emit when every grouping picks a fixed number (all but
        # custom ones): transferred is then emitted x fanout, not counted per tuple.
        self.fanout = fanout
        self.emitted = 0
        self.direct_sent = 0
        self.counted = 0
        # The target tasks when they cannot depend on the values; emit skips choose.
        self.fixed: list[int] | None = None

    def transferred(self) -> int:
        if self.fanout is None:
            return self.counted + self.direct_sent
        return (self.emitted - self.direct_sent) * self.fanout + self.direct_sent

    def count_transfers(self) -> None:
        """Wrap ``choose`` to count its tasks: for variable fan-out (custom groupings)."""
        inner = self.choose

        def choose(values):
            tasks = inner(values)
            self.counted += len(tasks)
            return tasks
        self.choose = choose


_NO_TASKS: list[int] = []
_ONE = lambda n: 1  # noqa: E731
_FIXED_FANOUT = {ShuffleGrouping: _ONE, NoneGrouping: _ONE, LocalOrShuffleGrouping: _ONE,
                 FieldsGrouping: _ONE, PartialKeyGrouping: _ONE, GlobalGrouping: _ONE,
                 AllGrouping: lambda n: n}


def build_routes(context: TopologyContext, component: str, task_id: int) -> dict[str, Route]:
    """Routing tables of one task: per declared stream, its groupings, prepared."""
    topo = context.topology
    spec = topo.components[component]
    routes: dict[str, Route] = {}
    for stream, sspec in spec.streams.items():
        source = TupleSource(component, task_id, stream, sspec.fields)
        choosers = []
        fanout: int | None = 0
        fixed: list[int] | None = []
        direct: set[int] = set()
        for target, grouping in topo.subscribers(component, stream):
            targets = topo.task_ids(target)
            if grouping.direct:
                direct.update(targets)
                continue
            g = _copy_grouping(grouping)
            g.prepare(context, StreamId(component, stream), targets)
            choosers.append(g.choose_tasks)
            size = _FIXED_FANOUT.get(type(g), lambda n: None)(len(targets))
            fanout = None if fanout is None or size is None else fanout + size
            if fixed is not None and size is not None and len(targets) == 1:
                fixed.extend(targets)
            elif fixed is not None and type(g) is AllGrouping:
                fixed.extend(targets)
            elif fixed is not None and type(g) is GlobalGrouping:
                fixed.append(min(targets))
            else:
                fixed = None
        if not choosers:
            choose = _no_targets
        elif len(choosers) == 1:
            choose = choosers[0]
        else:
            def choose(values, _cs=tuple(choosers)):
                out: list[int] = []
                for c in _cs:
                    out.extend(c(values))
                return out
        route = routes[stream] = Route(source, choose, frozenset(direct), fanout)
        if fixed and fanout is not None:
            # The tasks cannot depend on the values (one target, or all/global).
            route.fixed = fixed
        if fanout is None:
            route.count_transfers()
    return routes


def _no_targets(values):
    return _NO_TASKS


def _copy_grouping(grouping):
    # Each source task keeps its own routing state (round-robin position, key memo).
    return copy.copy(grouping)
