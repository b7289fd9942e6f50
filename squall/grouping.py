"""Stream groupings: how a stream is split among the tasks of a subscribing bolt.

Each grouping is a small picklable class. The runtime gives every source task its own
copy, calls ``prepare(context, stream, target_tasks)`` once, then
``choose_tasks(values) -> list[int]`` per tuple. ``choose_tasks`` may return a list it
keeps and reuses, so callers must not mutate it.

Semantics: Storm "Concepts", section Stream groupings; ``org.apache.storm.grouping``.
Key hashing is deterministic across processes (CRC-32 of the key's repr, not Python's
salted ``hash``), so a key lands on the same task whichever worker emits it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .hashing import stable_hash
from .tuple import Fields

if TYPE_CHECKING:
    from .component import TopologyContext

__all__ = [
    "StreamId", "Grouping", "CustomStreamGrouping", "ShuffleGrouping", "FieldsGrouping",
    "PartialKeyGrouping", "AllGrouping", "GlobalGrouping", "NoneGrouping", "DirectGrouping",
    "LocalOrShuffleGrouping", "stable_hash",
]

# Memo of key -> hash; bounded so an unbounded key space cannot grow it without limit.
_HASH_MEMO_MAX = 65536


@dataclass(frozen=True)
class StreamId:
    """A stream named globally: (source component, stream id)."""

    component: str
    stream: str


class Grouping:
    """Base of all groupings.

    Subclasses override ``prepare`` (build routing state) and ``choose_tasks``.
    ``fields`` names the grouping fields (only for fields-based groupings); the builder
    checks them against the source stream's declared fields.
    """

    fields: tuple[str, ...] = ()
    direct = False

    def prepare(self, context: TopologyContext, stream: StreamId, target_tasks: Sequence[int]) -> None:
        self.targets = list(target_tasks)

    def choose_tasks(self, values: Sequence[Any]) -> list[int]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__ + (f"({list(self.fields)})" if self.fields else "()")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.fields == getattr(other, "fields", ())

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.fields))


class CustomStreamGrouping(Grouping):
    """Base for user groupings; same contract as Storm's ``CustomStreamGrouping``."""


class ShuffleGrouping(Grouping):
    """Round-robin over the target tasks from a random start: even load, no key affinity."""

    def prepare(self, context, stream, target_tasks):
        self._choices = [[t] for t in target_tasks]
        self._n = len(self._choices)
        self._i = random.randrange(self._n) if self._n else 0

    def choose_tasks(self, values):
        i = self._i + 1
        if i >= self._n:
            i = 0
        self._i = i
        return self._choices[i]


class NoneGrouping(ShuffleGrouping):
    """Storm's "none" grouping: the runtime may route as it likes; today a shuffle."""


class LocalOrShuffleGrouping(ShuffleGrouping):
    """Shuffle among the target tasks in the emitting worker; all of them if none is."""

    def prepare(self, context, stream, target_tasks):
        local = [t for t in target_tasks if t in context.worker_tasks]
        super().prepare(context, stream, local or target_tasks)


class FieldsGrouping(Grouping):
    """Tuples with equal values of ``fields`` go to the same task.

    The key is the value of the one grouping field, or the tuple of the values of
    several, in the grouping's order. A key's task is ``stable_hash(key) % n``, the
    same in every process. Unhashable values (lists, dicts) are hashed through their
    ``repr`` on every tuple: equal lists meet on one task, but two equal dicts whose
    keys were inserted in a different order may not (their reprs differ).
    """

    def __init__(self, fields: Sequence[str] | Fields) -> None:
        self.fields = tuple(fields)
        if not self.fields:
            raise ValueError("fields grouping needs at least one field")

    def prepare(self, context, stream, target_tasks):
        src = context.component_output_fields(stream.component, stream.stream)
        idx = [src.index(f) for f in self.fields]
        choices = [[t] for t in target_tasks]
        n = len(choices)
        memo: dict[Any, list[int]] = {}
        if len(idx) == 1:
            i0 = idx[0]
            self._key = key = lambda values: values[i0]
        else:
            self._key = key = lambda values: tuple([values[i] for i in idx])
        self._choices, self._n = choices, n

        def miss(k):
            chosen = choices[stable_hash(k) % n]
            if len(memo) >= _HASH_MEMO_MAX:
                memo.clear()
            memo[k] = chosen
            return chosen

        # A closure on the instance: the per-tuple call skips attribute lookups.
        if len(idx) == 1:
            def choose_tasks(values):
                k = values[i0]
                try:
                    return memo[k]
                except KeyError:
                    return miss(k)
                except TypeError:  # unhashable value (a list): hash its repr every time
                    return choices[stable_hash(k) % n]
        else:
            def choose_tasks(values):
                k = key(values)
                try:
                    return memo[k]
                except KeyError:
                    return miss(k)
                except TypeError:
                    return choices[stable_hash(k) % n]
        self.choose_tasks = choose_tasks

    def choose_tasks(self, values):
        raise RuntimeError("FieldsGrouping.choose_tasks called before prepare")

    def __getstate__(self):
        # The prepared closure is per task and not picklable; specs travel unprepared.
        return {"fields": self.fields}


class PartialKeyGrouping(FieldsGrouping):
    """Key grouping with two candidate tasks per key; the less loaded one is chosen.

    Semantics: Storm ``PartialKeyGrouping`` ("The Power of Both Choices", Nasir et al.):
    a key goes to at most two tasks, so a downstream merge is needed for exact
    per-key results, but a hot key no longer overloads one task. Load is what this
    source task has sent so far.
    """

    def prepare(self, context, stream, target_tasks):
        super().prepare(context, stream, target_tasks)
        self._load = [0] * self._n
        del self.choose_tasks  # the two-choices method below, not the memoised closure

    def choose_tasks(self, values):
        key = self._key(values)
        a = stable_hash(key) % self._n
        b = stable_hash(key, 0x9E3779B9) % self._n
        load = self._load
        c = a if load[a] <= load[b] else b
        load[c] += 1
        return self._choices[c]


class AllGrouping(Grouping):
    """Every tuple goes to every target task (replication)."""

    def prepare(self, context, stream, target_tasks):
        self._all = list(target_tasks)

    def choose_tasks(self, values):
        return self._all


class GlobalGrouping(Grouping):
    """The whole stream goes to the target task with the lowest id."""

    def prepare(self, context, stream, target_tasks):
        self._one = [min(target_tasks)]

    def choose_tasks(self, values):
        return self._one


class DirectGrouping(Grouping):
    """The emitter picks the task (``emit_direct``); the stream must be declared direct."""

    direct = True

    def choose_tasks(self, values):
        raise TypeError("a direct grouping is routed by emit_direct's task, not by choose_tasks")
