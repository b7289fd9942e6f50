"""Checkpoints of a worker's stateful tasks: recovery, and the two-phase commit.

A checkpoint ``txid`` covers every stateful task of the worker, spouts (their source
positions) and bolts (their windows, buffers) alike, atomically:

1. every task's state is staged (``prepare_commit(txid)``);
2. the decision is recorded: the coordinator's own state, namespace
   ``("__checkpoint", worker_index)``, commits ``txid`` in one atomic write;
3. every task's state commits ``txid``; then ``checkpoint_complete(txid)`` runs.

A crash before step 2 leaves the checkpoint undecided: on recovery every task state
prepared for it rolls back. A crash after step 2 leaves it decided: prepared task
states commit. Either way all tasks resume from one checkpoint, and spouts rewind to
the positions that checkpoint recorded.

The worker aligns the barrier before step 1 (:class:`CheckpointBarrier`): spouts
stop emitting and every queued tuple is processed, so the state of each task
reflects exactly the tuples emitted before the checkpoint. Under exactly-once a failed
tree rolls every stateful task back to the last checkpoint instead of reaching
``Spout.fail`` (:meth:`CheckpointBarrier.rollback`).

Semantics: Storm 2 "State Checkpointing" (``CheckpointSpout`` prepare/commit/
rollback, the recovery rules for a prepared transaction); Flink "Stateful Stream
Processing" (aligned checkpoint barriers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..component import Stateful
from ..state import KeyValueState, TxStatus
from ..state.errors import StateValueError

__all__ = ["CheckpointCoordinator", "CheckpointBarrier", "CheckpointOutcome", "CheckpointStats",
           "CheckpointDeclined", "COORDINATOR_COMPONENT"]

log = logging.getLogger("squall.runtime")

COORDINATOR_COMPONENT = "__checkpoint"
_DECIDED = "txid"
_IDLE_SLEEP_S = 0.0005
_ROLLBACK_BACKOFF_S = (0.05, 5.0)   # first and longest pause of the spouts after a rollback
FINAL_CHECKPOINT_ATTEMPTS = 6       # over about 1.5 s of backoff


class CheckpointOutcome(Enum):
    """How an attempt at a checkpoint ended."""

    TAKEN = "taken"
    FAILED = "failed"                # the previous checkpoint stays current
    ROLLED_BACK = "rolled back"      # a failed tree made the worker roll back instead


class CheckpointDeclined(Exception):
    """Raised by ``before_prepare`` when the tasks cannot be checkpointed consistently now
    (the checkpoint is skipped, not failed; the next interval tries again)."""


class _TreeFailed(Exception):
    """Aborts a checkpoint: under exactly-once a failed tree means a rollback instead."""


@dataclass
class CheckpointStats:
    """What checkpointing cost and where recovery started.

    ``recovered_txid`` is the checkpoint restored at start (None on a first run);
    ``recovery_s`` the time from opening the states to every task restored; times in
    seconds.
    """

    recovered_txid: int | None = None
    recovery_s: float = 0.0
    restored_at: float | None = None     # time.monotonic() when every task was restored
    completed: int = 0
    failed: int = 0
    declined: int = 0
    rollbacks: int = 0
    last_txid: int | None = None
    total_s: float = 0.0
    max_s: float = 0.0
    errors: list[str] = field(default_factory=list)


class CheckpointCoordinator:
    """Restores and checkpoints the stateful tasks of one worker.

    Args:
        backend: the open state store (``StateBackend.open()``) states live in.
        worker_index: the worker's number; names the coordinator's namespace.
        tasks: ``(component, task_id, obj)`` for every stateful task, upstream first.
    """

    def __init__(self, backend: Any, worker_index: int,
                 tasks: list[tuple[str, int, Stateful]]) -> None:
        self.backend = backend
        self.worker_index = worker_index
        self.tasks = tasks
        self.stats = CheckpointStats()
        self._coord: KeyValueState | None = None
        self._states: list[KeyValueState] = []
        self._txid = 0

    def recover(self) -> int | None:
        """Open every task's state at the last complete checkpoint and hand it to the task.

        Returns the restored checkpoint id, or None when there was none.
        """
        t0 = time.monotonic()
        coord = self._coord = self.backend.state(COORDINATOR_COMPONENT, self.worker_index)
        if coord.status is TxStatus.RECOVERING:
            coord.rollback()      # its decision never committed: the checkpoint did not happen
        decided = coord.get(_DECIDED)
        for component, task_id, obj in self.tasks:
            st = self.backend.state(component, task_id)
            if st.status is TxStatus.RECOVERING:
                if decided is not None and st.prepared_txid <= decided:
                    st.commit(st.prepared_txid)
                else:
                    st.rollback()
            self._states.append(st)
            obj.init_state(st)
        self._txid = decided or 0
        self.stats.recovered_txid = decided
        self.stats.restored_at = time.monotonic()
        self.stats.recovery_s = self.stats.restored_at - t0
        return decided

    def restore(self) -> None:
        """Roll every task back to the last complete checkpoint, in process: each state
        drops what is not committed and its task's ``init_state`` runs again."""
        for (_, _, obj), st in zip(self.tasks, self._states):
            st.rollback()
            obj.init_state(st)
        self._coord.rollback()
        self.stats.rollbacks += 1

    def checkpoint(self, before_prepare) -> int | None:
        """Take checkpoint ``last + 1``; returns its id, or None if it failed.

        ``before_prepare(obj, txid)`` calls the task's ``pre_prepare`` and lets the
        runtime deliver what that emitted or acked before the next task. A failure
        before the decision leaves the previous checkpoint current and the next call
        retries the same id; the run goes on.

        Raises:
            StateValueError: a task put a value its state cannot store (an unregistered
                type); it would fail every attempt, so it ends the run.
        """
        t0 = time.monotonic()
        txid = self._txid + 1
        try:
            for (_, _, obj), st in zip(self.tasks, self._states):
                before_prepare(obj, txid)
            for st in self._states:
                st.prepare_commit(txid)
            coord = self._coord
            coord.put(_DECIDED, txid)
            coord.prepare_commit(txid)
            coord.commit(txid)
        except CheckpointDeclined:
            self.stats.declined += 1
            return None
        except StateValueError:
            # A value state cannot store fails every later attempt too: end the run, as
            # Flink fails a job on a state serialization error, rather than run on with
            # no checkpoint ever completing.
            raise
        except Exception as exc:
            self._abort(txid, exc)
            return None
        self._txid = txid
        for st in self._states:
            st.commit(txid)
        for _, _, obj in self.tasks:
            obj.checkpoint_complete(txid)
        elapsed = time.monotonic() - t0
        s = self.stats
        s.completed += 1
        s.last_txid = txid
        s.total_s += elapsed
        s.max_s = max(s.max_s, elapsed)
        return txid

    def _abort(self, txid: int, exc: Exception) -> None:
        # Nothing is rolled back: states already staged stay prepared for ``txid`` and
        # the next attempt prepares the same txid again, folding later writes in, so a
        # task's incremental writes are never dropped by a failed checkpoint.
        text = f"checkpoint {txid} failed: {type(exc).__name__}: {exc}"
        log.warning("%s", text, exc_info=exc)
        self.stats.failed += 1
        self.stats.errors.append(text)

    def close(self) -> None:
        for st in [*self._states, self._coord]:
            if st is not None:
                st.close()


class CheckpointBarrier:
    """A worker's aligned checkpoints, its rollbacks (exactly-once) and its final checkpoint.

    Args:
        spouts, bolts: the worker's spout and bolt tasks, bolts in topological order.
        pollers: the bolt tasks with background work (``Bolt.poll``/``in_flight``).
        acker: the worker's acker, or None when acking is off.
        drain: processes every queued tuple and background result until none is left
            (the worker's drain); what aligns the barrier.
        exactly_once: a failed tree rolls back instead of reaching ``Spout.fail``
            (``squall.checkpoint.mode``).
        stopping: True once the run was asked to stop (no more retries).
        on_rollback: called after each rollback (the input is emitted again).

    :attr:`coordinator` is set by the worker once the states are open; without one
    (no state backend) the final checkpoint is trivially taken.

    Semantics: Flink's aligned barriers and restart from the last checkpoint; Storm 2's
    checkpoint prepare/commit (:class:`CheckpointCoordinator`).
    """

    def __init__(self, spouts: Sequence[Any], bolts: Sequence[Any], pollers: Sequence[Any],
                 acker: Any, drain: Callable[[], None], *, exactly_once: bool,
                 stopping: Callable[[], bool], on_rollback: Callable[[], None]) -> None:
        self.coordinator: CheckpointCoordinator | None = None
        self.rollback_requested = False
        # time.monotonic() before which spouts get no turn: the pause after a rollback.
        self.resume_at = 0.0
        self._backoff_s = 0.0
        self._spouts = spouts
        self._bolts = bolts
        self._pollers = pollers
        self._acker = acker
        self._drain = drain
        self._exactly_once = exactly_once
        self._stopping = stopping
        self._on_rollback = on_rollback

    def request_rollback(self) -> None:
        """A tree failed (exactly-once): roll back at the end of the current pass."""
        self.rollback_requested = True

    def rollback(self) -> None:
        """Drop queued tuples and return every stateful task to the last checkpoint;
        the spouts resume after a pause that doubles (0.05 s up to 5 s) while rollbacks
        repeat without a checkpoint in between."""
        self.rollback_requested = False
        pollers = self._pollers
        while any(bt.obj.in_flight() for bt in pollers):
            for bt in pollers:
                bt.poll()
            time.sleep(_IDLE_SLEEP_S)
        for bt in self._bolts:       # after background work settled: it may have emitted
            bt.inbox.clear()
        if self._acker is not None:
            self._acker.pending.clear()
        for sp in self._spouts:
            sp.completed.clear()
            sp.pending = 0
        self.coordinator.restore()
        first, longest = _ROLLBACK_BACKOFF_S
        self._backoff_s = min(longest, self._backoff_s * 2 or first)
        self.resume_at = time.monotonic() + self._backoff_s
        self._on_rollback()

    def checkpoint(self) -> CheckpointOutcome:
        """Align the barrier (drain everything), then take a checkpoint."""
        self._drain()          # the barrier: every tuple emitted so far is processed
        if self.rollback_requested:
            self.rollback()    # a tree failed: what the tasks hold must not be checkpointed
            return CheckpointOutcome.ROLLED_BACK

        spouts = {id(t.obj) for t in self._spouts}

        def before_prepare(obj, txid):
            if self._exactly_once and id(obj) in spouts and any(sp.pending for sp in self._spouts):
                # A tree still open after every bolt staged its state is held where no
                # state covers it (or stuck): the spouts' positions cannot be cut here.
                raise CheckpointDeclined(f"checkpoint {txid}: tuple trees still pending")
            obj.pre_prepare(txid)
            self._drain()      # what it emitted or acked reaches the tasks after it
            if self.rollback_requested:
                raise _TreeFailed(f"a tuple tree failed while checkpoint {txid} was taken")

        if self.coordinator.checkpoint(before_prepare) is not None:
            self._backoff_s = 0.0
            return CheckpointOutcome.TAKEN
        if self.rollback_requested:
            self.rollback()
            return CheckpointOutcome.ROLLED_BACK
        return CheckpointOutcome.FAILED

    def final(self, attempts: int = FINAL_CHECKPOINT_ATTEMPTS) -> CheckpointOutcome:
        """Checkpoint at the end of a run.

        A failing checkpoint is retried with backoff (0.05 s doubling), unless the run
        was asked to stop; if it keeps failing the run ends incomplete: a rerun resumes
        from the last one."""
        if self.coordinator is None:
            return CheckpointOutcome.TAKEN
        for attempt in range(attempts):
            outcome = self.checkpoint()
            if outcome is not CheckpointOutcome.FAILED or attempt == attempts - 1 or self._stopping():
                return outcome
            time.sleep(0.05 * 2 ** attempt)
        return CheckpointOutcome.FAILED
