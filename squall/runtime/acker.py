"""The acker: tracks each spout tuple's tree with Storm's XOR algorithm.

Every tracked tuple has a random 64-bit edge id. The ledger of a root (a spout tuple)
holds the XOR of the edge ids created and acked under it: an emit anchored to a tuple
XORs the new edge in, an ack XORs it out again, so the value returns to zero exactly
when every tuple of the tree has been acked. Memory is one small entry per pending
spout tuple, whatever the size of its tree.

Semantics: Storm "Guaranteeing Message Processing" (How does Storm implement reliability
in an efficient way?), ``org.apache.storm.daemon.Acker``.
"""

from __future__ import annotations

from collections.abc import Callable
from random import getrandbits
from typing import Any, Protocol

__all__ = ["Acker", "CompletionSink"]


class CompletionSink(Protocol):
    """The spout task that owns a root; told of its outcome on its own turn."""

    completed: list[tuple[Any, bool, float]]


class Acker:
    """The XOR ledger for the spout tuples of one worker.

    Entries are ``[xor, spout_task, msg_id, start_s, t0]``; ``start_s`` is the coarse
    scheduler clock (for timeouts), ``t0`` a ``perf_counter`` stamp on sampled roots
    (for complete latency) or 0.0.

    Outcomes are appended to the owning spout task's ``completed`` list as
    ``(msg_id, ok, t0)`` and delivered by the spout's executor, so ``Spout.ack``/``fail``
    run on the spout's turn, never inside a bolt's ``process``.
    """

    __slots__ = ("pending", "timeout_s", "worker_index", "forward")

    def __init__(self, timeout_s: float, worker_index: int = 0,
                 forward: Callable[[int, int | None], None] | None = None) -> None:
        self.pending: dict[int, list] = {}
        self.timeout_s = timeout_s
        # Roots carry their worker's index in the low byte (see new_root); an ack or
        # fail for another worker's root is handed to ``forward(root, value)``
        # (value None = fail), which sends it to the owner.
        self.worker_index = worker_index
        self.forward = forward

    def new_root(self) -> int:
        """A fresh random root id owned by this worker."""
        return getrandbits(56) << 8 | self.worker_index

    def owns(self, root: int) -> bool:
        return root & 0xFF == self.worker_index

    def init(self, root: int, xor: int, spout_task: CompletionSink, msg_id: Any, now_s: float,
             t0: float = 0.0) -> None:
        """Start tracking ``root`` whose first edges XOR to ``xor``."""
        self.pending[root] = [xor, spout_task, msg_id, now_s, t0]

    def ack(self, root: int, value: int) -> None:
        """XOR ``value`` into ``root``'s ledger; complete the tree when it reaches zero.

        This is the only place a tree completes: bolts' acks (``value`` = the acked
        tuple's edge XOR the edges anchored to it) and acks forwarded from other
        workers all come here. Completion tells the root's spout task.
        """
        entry = self.pending.get(root)
        if entry is None:
            # Another worker's tree: send it on. Ours: already failed or timed out,
            # and a late ack changes nothing.
            if self.forward is not None and not self.owns(root):
                self.forward(root, value)
            return
        value ^= entry[0]
        if value:
            entry[0] = value
        else:
            del self.pending[root]
            entry[1].completed.append((entry[2], True, entry[4]))

    def fail(self, root: int) -> None:
        """Fail ``root``'s tree now (an explicit ``fail`` anywhere in the tree)."""
        entry = self.pending.pop(root, None)
        if entry is not None:
            entry[1].completed.append((entry[2], False, 0.0))
        elif self.forward is not None and not self.owns(root):
            self.forward(root, None)

    def expire(self, now_s: float) -> int:
        """Fail every tree started more than ``timeout_s`` before ``now_s``; returns how many.

        Entries sit in start order (dicts keep insertion order and starts never go
        backwards), so the scan stops at the first entry still in time.
        """
        cutoff = now_s - self.timeout_s
        expired = []
        for root, entry in self.pending.items():
            if entry[3] > cutoff:
                break
            expired.append(root)
        for root in expired:
            self.fail(root)
        return len(expired)

    def __len__(self) -> int:
        return len(self.pending)

