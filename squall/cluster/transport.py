"""Tuples, acks and fails between worker processes: batches, bounded in flight per link.

The :class:`~squall.runtime.worker.Worker` hands its transport one message per remote
task per pass (a list of tuples) and one per forwarded ack; :class:`RayTransport`
buffers them per destination worker and, once per pass (``flush``), sends each
destination's messages as one Ray actor call, so serialization is one call per batch.
At most ``max_in_flight`` calls per link are unanswered: past that, ``flush`` waits
for the oldest, which stalls the sending worker's loop, so its spouts stop emitting:
backpressure reaches the spouts, and ``topology.max.spout.pending`` still bounds trees.

Serialization is Ray's (pickle) inside the trusted Ray cluster; nothing from outside
it is unpickled. A message to a worker that died is lost with it; the trees it held
time out at their spout's worker and replay (at-least-once).

Semantics: Storm's worker transfer (batched ``transfer`` queue, ``topology.transfer.
batch.size``) and backpressure; Flink's bounded network buffers per channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["RayTransport"]


class RayTransport:
    """Send messages to other workers' ``deliver`` method, batched per destination.

    Args:
        peer: worker index -> that worker's actor handle (looked up on first use).
        max_in_flight: unanswered batch calls allowed per destination.
    """

    def __init__(self, peer: Callable[[int], Any], max_in_flight: int = 8) -> None:
        import ray

        self._ray = ray
        self._peer = peer
        self._handles: dict[int, Any] = {}
        self._max = max_in_flight
        self._buffers: dict[int, list[tuple]] = {}
        self._in_flight: dict[int, list[Any]] = {}
        self.sent = 0
        self.batches = 0
        self.waits = 0

    def __call__(self, worker: int, message: tuple) -> None:
        box = self._buffers.get(worker)
        if box is None:
            box = self._buffers[worker] = []
        box.append(message)

    def flush(self) -> None:
        for worker, box in self._buffers.items():
            if not box:
                continue
            refs = self._in_flight.setdefault(worker, [])
            if len(refs) >= self._max:
                # Drop what was answered; if the link is still full, wait for the oldest.
                _, pending = self._ray.wait(refs, num_returns=len(refs), timeout=0)
                if len(pending) >= self._max:
                    self.waits += 1
                    _, pending = self._ray.wait(pending, num_returns=len(pending) - self._max + 1)
                refs[:] = pending
            handle = self._handles.get(worker)
            if handle is None:
                handle = self._handles[worker] = self._peer(worker)
            refs.append(handle.deliver.remote(box))
            self.sent += len(box)
            self.batches += 1
            self._buffers[worker] = []

    def forget(self, worker: int) -> None:
        """Look the worker's actor up again on the next send (after it was restarted)."""
        self._handles.pop(worker, None)
