"""One Storm worker as a Ray actor: an OS process running the local Worker loop.

The actor builds its share of the topology in ``__init__`` (the tasks its assignment
gives it, from the spec's factories, then ``open``/``prepare``) and runs the
:class:`~squall.runtime.worker.Worker` loop on a thread of its own, so Ray calls
(``deliver``, ``status``, ``stats``, control) run beside it. Ray restarts the actor
when its process dies (``max_restarts=-1``): the restarted process runs ``__init__``
again with the same arguments, so it rebuilds the same tasks, resumes stateful ones
from its last checkpoint, and its spouts replay what was not acked.

Semantics: Storm "Understanding the Parallelism of a Storm Topology" (a worker process
runs executors), "Fault tolerance" (a dead worker is restarted by its supervisor).
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from typing import Any

from ..errors import SquallError
from ..runtime.worker import Worker
from .records import count_restart, load_debug, load_record
from .state import PartitionedStateStore
from .transport import LinkOrder, RayTransport

__all__ = ["WorkerActor", "worker_actor_name"]

_STEP_TIMEOUT_S = 120.0     # a checkpoint step the loop never ran: the loop is stuck or gone
_PROBE_TIMEOUT_S = 5.0      # a probe waits for the pass in progress (one bolt batch)


class StaleIncarnationError(SquallError):
    """A checkpoint step meant for a worker process that died reached its restarted
    successor (Ray retries an actor's calls on the new process): the successor has no
    part in that checkpoint; it is restored from the decided one instead."""


def worker_actor_name(topology: str, index: int, generation: int = 0) -> str:
    """Worker ``index`` of ``topology``; each rebalance starts a new generation of them."""
    return f"squall-{topology}-worker-{index}" if not generation else f"squall-{topology}-g{generation}-worker-{index}"


class WorkerActor:
    """Hosts worker ``index`` of topology ``topology_id`` (made a Ray actor by Nimbus).

    Args:
        topology_id: the submitted name: the worker reads the spec, config, assignment
            and state backend from its record (:mod:`squall.cluster.records`).
        index: this worker's index, 0-based.
        namespace: the Ray namespace of the peers' actors.

    With a state backend (``partition name -> StateBackend``), each task's state is in
    its own partition (:class:`~squall.cluster.state.PartitionedStateStore`), so it
    follows the task to whichever worker runs it.
    """

    def __init__(self, topology_id: str, index: int, namespace: str = "squall", generation: int = 0) -> None:
        import ray
        from ray import cloudpickle

        record = load_record(topology_id)
        if record is None:
            raise SquallError(f"topology {topology_id!r} has no record in the cluster (killed?)")
        self.index = index
        self.started = time.time()
        context = ray.get_runtime_context()
        self.restarted = context.was_current_actor_reconstructed
        if self.restarted:
            count_restart(topology_id, index)
        self.node_id = context.get_node_id()

        def peer(i: int):
            return ray.get_actor(worker_actor_name(topology_id, i, generation), namespace=namespace)

        # A rebalance starts the next generation held: its tasks are built while the old
        # generation still runs, and opened (stores, state) once the old one has let go.
        self._go = threading.Event()
        if record.get("holding") != generation:
            self._go.set()

        self.transport = RayTransport(peer, index, epoch=lambda: self.worker.epoch)
        self.incarnation = self.transport.sender[1]
        placement = record["placement"]
        tasks = [t for t, w in placement.items() if w == index]
        partition = cloudpickle.loads(record["state_backend"]) if record["state_backend"] else None
        self._state = PartitionedStateStore(partition) if partition is not None else None
        self.worker = Worker(cloudpickle.loads(record["topology"]), record["conf"], tasks, worker_index=index,
                             placement=dict(placement), transport=self.transport, state_backend=self._state,
                             coordinated=True)
        self.error: str | None = None
        self._links = LinkOrder(self._apply)
        # Event sampling and log levels set from the UI outlive a worker process: they
        # are kept beside the record and applied here, before the loop runs, by the code
        # that set them (named in the settings: a worker hook), which every node has when
        # a UI set them; the cluster layer does not depend on the UI.
        debug = load_debug(topology_id)
        if debug["apply"] and (debug["sampling"] or debug["log_levels"]):
            module, _, function = debug["apply"].partition(":")
            getattr(importlib.import_module(module), function)(self, debug)
        self._thread = threading.Thread(target=self._run, name=f"squall-worker-{index}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._go.wait()
        try:
            self.worker.run(until_complete=False)
        except BaseException as exc:  # kept for status(): the coordinator reports it
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if self._state is not None:
                self._state.close()

    # -- transport ----------------------------------------------------------------
    def deliver(self, sender: tuple[int, str], seq: int, low: int, batch: tuple[int, list[tuple]]) -> None:
        self._links.receive(sender, seq, low, batch)

    def _apply(self, batch: tuple[int, list[tuple]]) -> None:
        epoch, messages = batch
        if epoch < self.worker.epoch:
            return                  # sent before a rollback: its trees were dropped with it
        deliver = self.worker.deliver
        for m in messages:
            deliver(m)

    # -- heartbeat and figures -------------------------------------------------------
    def status(self) -> dict[str, Any]:
        st = self.worker.status()
        st["on_hold"] = not self._go.is_set()
        st.update(index=self.index, pid=os.getpid(), incarnation=self.incarnation, node_id=self.node_id, sent=self.transport.sent,
                  batches=self.transport.batches, backpressure_waits=self.transport.waits,
                  unanswered=self.transport.unanswered(), held=self._links.held(),
                  error=self.error, restarted=self.restarted, started=self.started,
                  running=self._thread.is_alive() and st["running"])
        return st

    def stats(self) -> dict[str, Any]:
        return self.worker.stats()

    def checkpoint_stats(self):
        return self.worker.checkpoint_stats

    def stop_report(self):
        return self.worker.stop_report

    def completed(self) -> bool:
        return self.worker.completed

    def probe(self) -> dict[str, Any]:
        """Whether this worker is settled, read on its loop thread between two passes:
        ``settled`` (nothing queued, executing, unsent, unanswered or held here), and the
        counters a coordinator compares over two rounds, since a message that moved
        between them changes one: ``sent``, ``received``, ``incarnation``; and
        ``restored`` (False: a restarted process waiting for the coordinator's restore,
        which holds what reaches it and never settles before).

        Raises:
            TimeoutError: the loop did not finish its pass within 5 s.
        """
        worker = self.worker

        def read() -> dict[str, Any]:
            return {"settled": worker.settled() and self.transport.unanswered() == 0 and self._links.held() == 0,
                    "sent": self.transport.sent, "received": worker.messages_received,
                    "incarnation": self.incarnation, "restored": worker.restored}
        looping = self._go.is_set() and self._thread.is_alive() and worker.started_at is not None \
            and worker.finished_at is None
        return worker.call(read).result(timeout=_PROBE_TIMEOUT_S) if looping else read()

    # -- checkpoints across workers (squall.runtime.checkpoint.CheckpointParticipant) ---
    def checkpoint(self, step: str, *args: Any, incarnation: str | None = None) -> Any:
        """Run one step of the cluster's checkpoint protocol on the worker's loop thread:
        ``restore``, ``pause``, ``resume``, ``prepare_bolts``, ``prepare_spouts``,
        ``decide``, ``decided``, ``commit``, ``rollback``.

        Raises:
            StaleIncarnationError: ``incarnation`` names an earlier process of this
                worker (the step belongs to a checkpoint this process had no part in).
        """
        if incarnation is not None and incarnation != self.incarnation:
            raise StaleIncarnationError(
                f"worker {self.index}: checkpoint step {step!r} was meant for incarnation {incarnation}, "
                f"this process is {self.incarnation} (restarted)")
        participant = self.worker.participant
        if participant is None:
            return None
        return self.worker.call(lambda: getattr(participant, step)(*args)).result(timeout=_STEP_TIMEOUT_S)

    # -- control ------------------------------------------------------------------------
    def end_of_input(self, component: str) -> None:
        self.worker.end_of_input(component)

    def activate(self) -> None:
        self.worker.activate()

    def deactivate(self) -> None:
        self.worker.deactivate()

    def drain_and_stop(self, timeout_s: float | None = None) -> None:
        self.worker.drain_and_stop(timeout_s)

    def stop(self) -> None:
        self.worker.stop()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the loop to end; True if it has."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def pid(self) -> int:
        return os.getpid()

    def go(self) -> None:
        """Open the tasks and start the loop (a held generation, after a rebalance)."""
        self._go.set()
