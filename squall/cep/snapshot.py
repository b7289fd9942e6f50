"""Plain-data encoding helpers for :meth:`squall.cep.engine.EPLEngine.snapshot`.

A statement's state refers to its events through an *event table*: every distinct event
object (by identity) is stored once, and windows, batches and accumulators hold its
index (``-1`` for None). The snapshot therefore keeps which structures share an event
even after it went through JSON, and an event held by a window and by a group's
accumulator is restored as one object again.

Operators take part in snapshots through ``snapshot_state``, ``restore_state`` and
``schedule_owners`` of the operator protocol, :class:`squall.cep.protocol.Operator`.
"""

from __future__ import annotations

__all__ = ["EventTable", "SNAPSHOT_VERSION"]

SNAPSHOT_VERSION = 1


class EventTable:
    """Interns events by identity: ``ref(ev) -> int``; ``events`` is the table."""

    __slots__ = ("events", "_index")

    def __init__(self) -> None:
        self.events: list = []
        self._index: dict[int, int] = {}

    def ref(self, ev) -> int:
        if ev is None:
            return -1
        k = id(ev)
        i = self._index.get(k)
        if i is None:
            i = self._index[k] = len(self.events)
            self.events.append(dict(ev) if isinstance(ev, dict) else ev)
        return i

    def refs(self, evs) -> list[int]:
        ref = self.ref
        return [ref(e) for e in evs]


def deref(events: list, i: int):
    return None if i < 0 else events[i]
