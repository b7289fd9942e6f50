"""Checkpointed state on the cluster: one backend per task, so a task's state follows it.

Each task's keyed state lives in a backend of its own (``partition("task-7")``) and each
worker's checkpoint record in another (``partition("worker-0")``): a task that moves to
another worker process (after a rebalance, or when a worker is restarted elsewhere)
finds its state wherever it runs, and an embedded RocksDB directory (one writer per
directory) is only ever opened by the process that runs its task.

>>> from squall.state import MemoryStateBackend
>>> store = PartitionedStateStore(lambda name: MemoryStateBackend())
>>> st = store.state("count", 7); st.put("k", 1); st.prepare_commit(1); st.commit(1)
>>> sorted(store.open_partitions())
['task-7']
>>> store.close()
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..runtime.checkpoint import COORDINATOR_COMPONENT

__all__ = ["PartitionedStateStore", "RocksDBPartitions", "partition_name"]


def partition_name(component: str, task: int) -> str:
    """The partition of a namespace: a task's own, or the worker's checkpoint record."""
    return f"worker-{task}" if component == COORDINATOR_COMPONENT else f"task-{task}"


class PartitionedStateStore:
    """A live state store that opens ``partition(name).open()`` per task (and per worker
    record) on first use, in this process, and closes them all on :meth:`close`.

    Args:
        partition: partition name -> a :class:`~squall.state.StateBackend` (configuration);
            it must give the same backend for the same name in every process.
    """

    def __init__(self, partition: Callable[[str], Any]) -> None:
        self._partition = partition
        self._stores: dict[str, Any] = {}

    def state(self, component: str, task: int):
        name = partition_name(component, task)
        store = self._stores.get(name)
        if store is None:
            store = self._stores[name] = self._partition(name).open()
        return store.state(component, task)

    def open_partitions(self) -> list[str]:
        return list(self._stores)

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()


class RocksDBPartitions:
    """``partition name -> RocksDBStateBackend(base/name)``: the state backend of a
    topology on the cluster (``state_backend=RocksDBPartitions(dir)``); picklable. On
    several machines ``base`` must be a directory they share."""

    def __init__(self, base: str | os.PathLike[str]) -> None:
        self.base = os.path.abspath(base)

    def __call__(self, partition: str):
        from ..state import RocksDBStateBackend
        return RocksDBStateBackend(os.path.join(self.base, partition))

    def __repr__(self) -> str:
        return f"RocksDBPartitions({self.base!r})"
