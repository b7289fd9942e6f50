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
           "CheckpointDeclined", "COORDINATOR_COMPONENT", "CheckpointParticipant"]

log = logging.getLogger("squall.runtime")

COORDINATOR_COMPONENT = "__checkpoint"
_DECIDED = "txid"
_IDLE_SLEEP_S = 0.0005
_ROLLBACK_BACKOFF_S = (0.05, 5.0)   # first and longest pause of the spouts after a rollback
FINAL_CHECKPOINT_ATTEMPTS = 6       # over about 1.5 s of backoff
_OWN_RECORD = object()              # recover(): the worker's own decision record


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
    seconds. ``last_state_size_bytes`` is what the last completed checkpoint staged,
    summed over the worker's task states (:attr:`KeyValueState.staged_bytes`: encoded
    keys and values handed to the backend; None before the first checkpoint);
    ``max_state_size_bytes`` the largest so far.

    Semantics: Flink "Monitoring Checkpointing" (checkpointed data size, duration,
    restore count).
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
    last_s: float | None = None               # the last completed checkpoint's duration
    last_completed_at: float | None = None    # when it completed (time.time(), seconds)
    last_state_size_bytes: int | None = None
    max_state_size_bytes: int = 0
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
        self._staged_bytes = 0      # what stage() wrote for the checkpoint being taken

    def recover(self, decided: int | None | object = _OWN_RECORD) -> int | None:
        """Open every task's state at the last complete checkpoint and hand it to the task.

        ``decided``: the checkpoint decided for the whole topology, when a cluster's
        coordinator decides it (see :meth:`decide`); by default this worker's own record.
        A state prepared for a checkpoint at or below it commits; any other prepared
        state rolls back. Returns the restored checkpoint id, or None when there was none.
        """
        t0 = time.monotonic()
        coord = self._coord = self._coord or self.backend.state(COORDINATOR_COMPONENT, self.worker_index)
        if coord.status is TxStatus.RECOVERING:
            coord.rollback()      # its decision never committed: the checkpoint did not happen
        if decided is _OWN_RECORD:
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

    def decided(self) -> int | None:
        """The last checkpoint this worker's record says was decided (None: none yet)."""
        coord = self._coord or self.backend.state(COORDINATOR_COMPONENT, self.worker_index)
        self._coord = coord
        if coord.status is TxStatus.RECOVERING:
            coord.rollback()
        return coord.get(_DECIDED)

    def restore(self, decided: int | None | object = _OWN_RECORD) -> None:
        """Roll every task back to the last complete checkpoint, in process: each state
        drops what is not committed and its task's ``init_state`` runs again.

        With ``decided`` (a cluster's decision), a state staged for a checkpoint at or
        below it commits instead: that checkpoint completed, its commit had not arrived."""
        for (_, _, obj), st in zip(self.tasks, self._states):
            prepared = st.prepared_txid
            if decided is not _OWN_RECORD and decided is not None and prepared is not None \
                    and prepared <= decided:
                st.commit(prepared)
            else:
                st.rollback()
            obj.init_state(st)
        if decided is not _OWN_RECORD and decided is not None:
            self._txid = max(self._txid, decided)
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
            self.stage(txid)
            self.decide(txid)
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
        self.commit(txid, t0)
        return txid

    @property
    def next_txid(self) -> int:
        return self._txid + 1

    def stage(self, txid: int) -> None:
        """Step 1: every task's state prepares ``txid`` (after the tasks' ``pre_prepare``)."""
        for st in self._states:
            st.prepare_commit(txid)
        self._staged_bytes = sum(st.staged_bytes for st in self._states)

    def decide(self, txid: int) -> None:
        """Step 2: record that checkpoint ``txid`` happened, in one atomic write (once:
        a cluster's worker 0 records the decision before the commit reaches it)."""
        coord = self._coord
        if coord.committed_txid is not None and coord.committed_txid >= txid:
            return
        coord.put(_DECIDED, txid)
        coord.prepare_commit(txid)
        coord.commit(txid)

    def commit(self, txid: int, started: float) -> None:
        """Step 3: every task's state commits ``txid``; then ``checkpoint_complete``."""
        self._txid = txid
        for st in self._states:
            st.commit(txid)
        for _, _, obj in self.tasks:
            obj.checkpoint_complete(txid)
        elapsed = time.monotonic() - started
        s = self.stats
        s.completed += 1
        s.last_txid = txid
        s.total_s += elapsed
        s.max_s = max(s.max_s, elapsed)
        s.last_s = elapsed
        s.last_completed_at = time.time()
        s.last_state_size_bytes = self._staged_bytes
        s.max_state_size_bytes = max(s.max_state_size_bytes, self._staged_bytes)

    def failed(self, txid: int, exc: Exception) -> None:
        """A checkpoint attempt that did not complete (the states stay staged)."""
        self._abort(txid, exc)

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
        self.drop_in_flight()
        self.coordinator.restore()
        first, longest = _ROLLBACK_BACKOFF_S
        self._backoff_s = min(longest, self._backoff_s * 2 or first)
        self.resume_at = time.monotonic() + self._backoff_s
        self._on_rollback()

    def drop_in_flight(self) -> None:
        """Forget every queued tuple and open tree (a rollback replays them from the
        checkpoint), once background work has settled."""
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


class CheckpointParticipant:
    """A worker's part in checkpoints a cluster coordinator drives across workers.

    One worker cannot align a barrier alone when tuples cross processes, so the
    coordinator (the cluster's Nimbus) runs Storm 2's checkpoint protocol over all of
    them: pause every spout; wait until no tuple is queued or in transit anywhere;
    :meth:`prepare_bolts` on every worker (their ``pre_prepare`` may emit or ack
    across workers); wait again; :meth:`prepare_spouts` on every worker (positions,
    then every state staged); record the decision once (:meth:`decide` on worker 0,
    in its durable state); :meth:`commit` everywhere; resume. Under exactly-once a
    failed tree anywhere, or a restarted worker, makes the coordinator roll every
    worker back to the decided checkpoint (:meth:`rollback`), with a new epoch so
    that tuples of the old one still in transit are dropped on arrival.

    Every method runs on the worker's own loop thread (``Worker.call``).

    Semantics: Storm 2 "State Checkpointing" (CheckpointSpout's prepare/commit/rollback
    across tasks); Flink's aligned barriers and restart from the last checkpoint.
    """

    def __init__(self, coordinator: CheckpointCoordinator, barrier: CheckpointBarrier,
                 spouts: Sequence[Any], bolts: Sequence[Any], drain: Callable[[], None],
                 clear: Callable[[int], None], failed_tree: Callable[[], bool] = lambda: False) -> None:
        self.coordinator = coordinator
        self.failed_tree = failed_tree
        self._barrier = barrier
        self._spouts = spouts
        self._bolts = bolts
        self._drain = drain
        self._clear = clear
        self._started = 0.0

    def restore(self, decided: int | None) -> None:
        """Open the states at ``decided`` (a worker's start) and let the spouts run."""
        if self.coordinator.stats.restored_at is None:
            self.coordinator.recover(decided)
        self._barrier.resume_at = 0.0

    def pause(self) -> None:
        self._barrier.resume_at = float("inf")

    def resume(self, after_s: float = 0.0) -> None:
        self._barrier.resume_at = time.monotonic() + after_s

    def prepare_bolts(self, txid: int) -> None:
        if self.coordinator.stats.restored_at is None:
            return           # prepare_spouts declines the checkpoint on this worker
        self._started = time.monotonic()
        for bt in self._bolts:
            if isinstance(bt.obj, Stateful):
                bt.obj.pre_prepare(txid)
                self._drain()

    def prepare_spouts(self, txid: int, exactly_once: bool) -> bool:
        """Stage ``txid``; False when it must be declined: the worker is not restored
        yet, or, under exactly-once, a tree is still open or one failed since the last
        rollback (the states may hold what a failed tree did, which its replay would do
        again)."""
        if self.coordinator.stats.restored_at is None:
            return False     # a restarted worker not restored yet: its tasks hold no state to stage
        if exactly_once and (self.failed_tree() or any(sp.pending for sp in self._spouts)):
            return False
        try:
            for sp in self._spouts:
                if isinstance(sp.obj, Stateful):
                    sp.obj.pre_prepare(txid)
            self._drain()
            self.coordinator.stage(txid)
        except StateValueError:
            raise
        except Exception as exc:
            self.coordinator.failed(txid, exc)
            return False
        return True

    def decide(self, txid: int) -> None:
        self.coordinator.decide(txid)

    def decided(self) -> int | None:
        return self.coordinator.decided()

    def commit(self, txid: int) -> None:
        self.coordinator.decide(txid)
        self.coordinator.commit(txid, self._started or time.monotonic())

    def rollback(self, epoch: int, decided: int | None) -> None:
        """Drop every queued tuple, enter ``epoch`` (tuples of older ones are dropped on
        arrival) and return each stateful task to ``decided``; the spouts stay paused
        until :meth:`resume`. A worker not restored yet (restarted) is restored instead."""
        self.pause()
        self._clear(epoch)
        if self.coordinator.stats.restored_at is None:
            self.coordinator.recover(decided)
        else:
            self.coordinator.restore(decided)
