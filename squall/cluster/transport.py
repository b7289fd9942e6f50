"""Tuples, acks and fails between worker processes: batches, bounded in flight per link.

The :class:`~squall.runtime.worker.Worker` hands its transport one message per remote
task per pass (a list of tuples) and one per forwarded ack; :class:`RayTransport`
buffers them per destination worker and, once per pass (``flush``), sends each
destination's messages as one Ray actor call, so serialization is one call per batch.
At most ``max_in_flight`` calls per link are unanswered: past that, ``flush`` waits
for the oldest, which stalls the sending worker's loop, so its spouts stop emitting:
backpressure reaches the spouts, and ``topology.max.spout.pending`` still bounds trees.

Each batch carries its link's sequence number: the receiver (:class:`LinkOrder`)
applies a link's batches in the order they were sent, whatever order the actor's
threads run them in, and drops a batch Ray delivered twice (a retried call), since
the order of a stream between two tasks is part of Storm's contract.

Serialization is Ray's (pickle) inside the trusted Ray cluster; nothing from outside
it is unpickled. A message to a worker that died is lost with it; the trees it held
time out at their spout's worker and replay (at-least-once).

Semantics: Storm's worker transfer (batched ``transfer`` queue, ``topology.transfer.
batch.size``) and backpressure; Flink's bounded network buffers per channel.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["RayTransport", "LinkOrder"]


class RayTransport:
    """Send messages to other workers' ``deliver`` method, batched per destination.

    Args:
        peer: worker index -> that worker's actor handle (looked up on first use).
        max_in_flight: unanswered batch calls allowed per destination.
        epoch: the sender's current epoch (after a rollback the receivers drop batches
            of older epochs still in transit).
    """

    def __init__(self, peer: Callable[[int], Any], sender: int, max_in_flight: int = 8,
                 epoch: Callable[[], int] = int) -> None:
        import ray

        self._ray = ray
        # (worker index, incarnation): a restarted sender starts a new sequence.
        self.sender = (sender, uuid.uuid4().hex)
        self._seq: dict[int, int] = {}
        self._epoch = epoch
        self._peer = peer
        self._handles: dict[int, Any] = {}
        self._max = max_in_flight
        self._buffers: dict[int, list[tuple]] = {}
        self._acks: dict[int, dict[int, int]] = {}
        self._in_flight: dict[int, deque[tuple[int, Any]]] = {}
        self.sent = 0
        self.batches = 0
        self.waits = 0

    def __call__(self, worker: int, message: tuple) -> None:
        if message[0] == "ack":
            # Acks of one tree in one pass fold into one value (XOR is associative): a
            # tree of ten tuples crosses the link once, not ten times.
            acks = self._acks.get(worker)
            if acks is None:
                acks = self._acks[worker] = {}
            root = message[1]
            acks[root] = acks.get(root, 0) ^ message[2]
            return
        box = self._buffers.get(worker)
        if box is None:
            box = self._buffers[worker] = []
        box.append(message)

    def unanswered(self) -> int:
        """Batch calls sent and not yet answered (taken by the receiver), on every link.
        Safe from another thread: it reads copies."""
        refs = [ref for q in list(self._in_flight.values()) for _, ref in list(q)]
        if not refs:
            return 0
        _, pending = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        return len(pending)

    def flush(self) -> None:
        wait = self._ray.wait
        for worker, acks in self._acks.items():
            if acks:
                self(worker, ("acks", 0, list(acks.items())))   # buffered like any message
                acks.clear()
        for worker, box in self._buffers.items():
            if not box:
                continue
            refs = self._in_flight.get(worker)
            if refs is None:
                refs = self._in_flight[worker] = deque()
            # Answered calls leave the front; past the bound, wait for the oldest.
            while refs:
                if not wait([refs[0][1]], timeout=0)[0]:
                    if len(refs) < self._max:
                        break
                    self.waits += 1
                    wait([refs[0][1]])
                refs.popleft()
            handle = self._handles.get(worker)
            if handle is None:
                handle = self._handles[worker] = self._peer(worker)
            seq = self._seq.get(worker, 0)
            self._seq[worker] = seq + 1
            low = refs[0][0] if refs else seq
            refs.append((seq, handle.deliver.remote(self.sender, seq, low, (self._epoch(), box))))
            self.sent += len(box)
            self.batches += 1
            self._buffers[worker] = []


class LinkOrder:
    """The receiving end: hands each sender's batches on in sequence order, once.

    A batch that arrives early waits for the ones before it; one already applied (a
    retry) is dropped. Each batch also carries ``low``, the oldest sequence number its
    sender has not seen answered: the first batch from a sender starts the sequence
    there, so a receiver that restarted waits only for the batches that may still come
    (the unanswered ones, which Ray retries on it), not for those its predecessor took.
    """

    def __init__(self, apply: Callable[[Any], None]) -> None:
        self._apply = apply
        self._lock = threading.Lock()
        self._next: dict[tuple[int, str], int] = {}
        self._held: dict[tuple[int, str], dict[int, list[tuple]]] = {}

    def held(self) -> int:
        """Batches that arrived early and wait for one sent before them."""
        with self._lock:
            return sum(len(h) for h in self._held.values())

    def receive(self, sender: tuple[int, str], seq: int, low: int, messages: Any) -> None:
        with self._lock:
            expected = self._next.setdefault(sender, low)
            if seq < expected:
                return
            held = self._held.setdefault(sender, {})
            held[seq] = messages
            while expected in held:
                self._apply(held.pop(expected))
                expected += 1
            self._next[sender] = expected
