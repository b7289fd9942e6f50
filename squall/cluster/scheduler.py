"""Storm's even scheduler: executors dealt round-robin over a topology's workers.

An executor is a contiguous run of one component's tasks, as the local worker forms
them. Executors are sorted (component, first task) and dealt to workers in turn, as
Storm's ``EvenScheduler`` deals them to slots. One constraint comes first: every task
of components naming the same single-writer resource (an embedded RocksDB store,
:meth:`~squall.component.Component.single_writer_keys`) lands in one worker, the
process that owns that store; such a group goes to the least loaded worker.

>>> from squall.testing import ListSpout, ListSink
>>> from squall.topology import TopologyBuilder
>>> b = TopologyBuilder()
>>> b.set_spout("src", ListSpout([[1]], ["n"]), 2)
>>> _ = b.set_bolt("out", ListSink("sched-doc"), 2).shuffle_grouping("src")
>>> a = even_schedule(b.build(), 2)
>>> a.placement, a.workers
({1: 0, 2: 1, 3: 0, 4: 1}, 2)

Semantics: Storm "Understanding the Parallelism of a Storm Topology" (executors,
tasks, workers) and ``org.apache.storm.scheduler.EvenScheduler``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import SquallError
from ..topology import FrozenMap, Topology

__all__ = ["Assignment", "even_schedule", "executors_of", "with_parallelism", "SchedulingError"]


class SchedulingError(SquallError):
    """The topology cannot be placed on the workers asked for."""


@dataclass(frozen=True)
class Assignment:
    """Where each task runs: ``placement`` maps task id -> worker index (0-based).

    ``executors`` maps each executor, as (component, its task ids), to its worker.
    """

    workers: int
    placement: dict[int, int]
    executors: dict[tuple[str, tuple[int, ...]], int]

    def tasks_of(self, worker: int) -> list[int]:
        return sorted(t for t, w in self.placement.items() if w == worker)


def executors_of(topology: Topology) -> list[tuple[str, tuple[int, ...]]]:
    """Every executor as (component, task ids): a component's tasks dealt in contiguous
    runs to its ``parallelism`` executors, as the worker does."""
    out = []
    for name in sorted(topology.components):
        spec = topology.components[name]
        tasks = topology.task_ids(name)
        n = min(spec.parallelism, len(tasks))
        for i in range(n):
            out.append((name, tuple(tasks[i * len(tasks) // n:(i + 1) * len(tasks) // n])))
    return out


def even_schedule(topology: Topology, workers: int) -> Assignment:
    """Assign every executor of ``topology`` to one of ``workers`` workers.

    Raises:
        SchedulingError: ``workers`` < 1.
    """
    if workers < 1:
        raise SchedulingError(f"a topology needs at least one worker, got {workers}")
    executors = executors_of(topology)
    groups = _single_writer_groups(topology)
    load = [0] * workers
    where: dict[tuple[str, tuple[int, ...]], int] = {}
    for group in groups:
        members = [e for e in executors if e[0] in group]
        w = min(range(workers), key=lambda i: (load[i], i))
        for e in members:
            where[e] = w
            load[w] += 1
    nxt = 0
    for e in executors:
        if e in where:
            continue
        # Round robin, skipping ahead past workers already above the lightest one, so a
        # pinned group does not also receive its turn of the free executors.
        while load[nxt % workers] > min(load):
            nxt += 1
        where[e] = nxt % workers
        load[nxt % workers] += 1
        nxt += 1
    placement = {t: w for (_, tasks), w in sorted(where.items()) for t in tasks}
    return Assignment(workers, placement, where)


def _single_writer_groups(topology: Topology) -> list[set[str]]:
    """Components linked by a shared single-writer key, merged (union-find by key)."""
    groups: list[tuple[set[str], set[str]]] = []      # (components, keys)
    for name in sorted(topology.components):
        keys = set(topology.components[name].single_writer_keys)
        if not keys:
            continue
        merged = ({name}, keys)
        rest = []
        for comps, ks in groups:
            if ks & merged[1]:
                merged = (merged[0] | comps, merged[1] | ks)
            else:
                rest.append((comps, ks))
        groups = [*rest, merged]
    return [comps for comps, _ in groups]


def with_parallelism(topology: Topology, executors: dict[str, int]) -> Topology:
    """``topology`` with new executor counts (Storm's ``rebalance -e COMP=N``).

    Raises:
        SchedulingError: an unknown component, or a count outside 1..its task count.
    """
    specs = dict(topology.components)
    for name, n in executors.items():
        spec = specs.get(name)
        if spec is None:
            raise SchedulingError(f"no component {name!r} (components: {', '.join(sorted(specs))})")
        if not isinstance(n, int) or not 1 <= n <= spec.num_tasks:
            raise SchedulingError(f"{name!r}: executors must be 1..{spec.num_tasks} (its task count, fixed "
                                  f"for the topology's life), got {n!r}")
        specs[name] = replace(spec, parallelism=n)
    return Topology(FrozenMap(specs), topology.task_ranges)
