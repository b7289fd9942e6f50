"""A worker: one process's share of a topology, run by one scheduling loop.

The loop gives every spout task a turn (deliver ack/fail outcomes, then up to
``squall.spout.batch.size`` ``next_tuple`` calls and at most about
``squall.spout.turn.max.ms``), then drains every bolt inbox in topological order, so
one pass carries a spout batch through an acyclic topology and a tuple reaches its
bolts within a few milliseconds of its emit, however slow the spout's calls are.
Because downstream inboxes are drained before a spout runs again, queues stay bounded
by a spout batch times the fan-out; ``topology.max.spout.pending`` bounds the tuple
trees in flight. Housekeeping (timeouts, tick tuples, capacity) runs between passes.

A worker takes its task ids as an argument and is driven by its owner (a thread of the
local cluster here; a Ray actor later), so nothing assumes a single process.

Semantics: Storm worker/executor model ("Understanding the Parallelism of a Storm
Topology"), timeouts and replay ("Guaranteeing Message Processing"), tick tuples.
"""

from __future__ import annotations

import gc
import threading
from concurrent.futures import Future
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..component import Bolt, Stateful, TopologyContext
from ..config import (CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING,
                      MESSAGE_TIMEOUT_SECS, SPOUT_BATCH_SIZE, SPOUT_TURN_MAX_MS, STATS_SAMPLE_RATE,
                      TICK_TUPLE_FREQ_SECS,
                      ConfigError, acking_enabled, resolve)
from ..state import StateBackend
from ..topology import Topology
from ..tuple import SYSTEM_COMPONENT, TICK_STREAM, Fields, Tuple, TupleSource
from .acker import Acker
from .checkpoint import (FINAL_CHECKPOINT_ATTEMPTS, CheckpointBarrier, CheckpointCoordinator,
                         CheckpointOutcome, CheckpointParticipant, CheckpointStats)
from .executor import BoltTask, Executor, SpoutTask
from .metrics import ComponentStats, roll_up
from .routing import build_routes

__all__ = ["Worker", "StopReport"]

_TICK_FIELDS = Fields(["rate_secs"])
_HOUSEKEEPING_S = 0.05
_CAPACITY_WINDOW_S = 10.0
_IDLE_SLEEP_S = 0.0005
# Container allocations between two young-generation collections while a worker runs
# (the interpreter's default is 700). A pass allocates a few objects per tuple (values,
# Tuple, id pair) and holds them in inboxes until the next bolt drains them: with 700,
# most of a pass's tuples survive two collections, reach the old generation and make
# the collector scan the whole heap again and again. Above a pass's allocations (a
# spout batch of 512 times the fan-out, times about 3) they die young.
_GC_YOUNG_THRESHOLD = 50_000

@dataclass(frozen=True)
class StopReport:
    """How a run that was asked to stop ended (``Worker.stop_report``).

    Attributes:
        graceful: True when it ended by a drain (``drain_and_stop``): spouts stopped,
            the trees in flight completed or the drain's time ran out, then the final
            checkpoint; False when killed (``stop``, or a second ``drain_and_stop``).
        in_flight: tuple trees still pending when it ended (0: fully drained). Their
            spout replays them on the next run, from the checkpoint.
        final_checkpoint: the id of the checkpoint taken as the run ended, which the
            next run resumes from; None without a state backend, after a kill, or when
            it could not be taken (exactly-once declines one while trees are pending:
            the next run resumes from the one before and replays).
    """

    graceful: bool
    in_flight: int
    final_checkpoint: int | None


class Worker:
    """Runs a set of tasks of a topology on the calling thread.

    Args:
        topology: the validated spec.
        conf: topology config (Storm keys); merged over the defaults.
        task_ids: the tasks this worker hosts; all of them by default.
        worker_index: this worker's number (0-255) among the topology's workers.
        placement: task id -> worker index, for tasks hosted elsewhere.
        transport: ``send(worker_index, message)`` for tuples, acks and fails bound
            for other workers; messages are plain picklable tuples, delivered on the
            other side with :meth:`deliver`. Needed when ``task_ids`` is not all tasks.
        state_backend: where the state of :class:`~squall.component.Stateful` tasks
            lives: a :class:`~squall.state.StateBackend` (opened and closed by the run,
            in the process that runs it) or a store already open (``backend.open()``;
            left open, so a test can run again on the same in-memory state). With one, the worker restores them from the last complete checkpoint
            on start and checkpoints every ``topology.state.checkpoint.interval.ms``
            (0: only at the end of a bounded run or a drain), see
            :mod:`squall.runtime.checkpoint`.

    Tuples for a task of another worker collect in an outbox, flushed to the transport
    once per pass as one message per task; acks for another worker's tuple trees are
    forwarded to that worker's acker. A bounded run (``until_complete``) ends on the
    worker whose spouts are exhausted; the others are stopped by their owner.

    Lifecycle: ``run()`` opens spouts and prepares bolts on the running thread, loops
    until stopped (``stop()``, from any thread) or, with ``until_complete``, until every
    spout is exhausted and every tree completed; on the way, once every spout has
    emitted all its input and the inboxes are drained, it calls ``end_of_input`` on the
    bolts in topological order (bounded runs). A run that ends by itself or by a drain
    (:meth:`drain_and_stop`, bounded in time) takes a last checkpoint; a run that was
    asked to stop says how it ended in :attr:`stop_report`. Then ``cleanup``/``close``,
    and return. While any worker of the process runs, the garbage collector's
    young-generation threshold is 50,000 (``gc.set_threshold``; restored when the last
    one ends, and left alone when already higher or 0), so tuples waiting in inboxes die
    young instead of driving full collections.

    Checkpoint barriers: the worker runs every task on one thread, so it aligns a
    checkpoint by not giving spouts a turn and draining every inbox (and background
    work) first; what each task then stages reflects exactly the tuples emitted before
    the barrier. Checkpoints are per worker (one process).

    With a state backend every spout must be stateful (its position is checkpointed
    with the bolts' state). Exactly-once (``squall.checkpoint.mode``): a failed
    or timed-out tree does not reach ``Spout.fail``; the worker rolls back instead, as
    Flink restarts from a checkpoint: queued tuples are dropped, every stateful task
    returns to the last complete checkpoint (spouts to its positions) and the spouts
    resume after a pause that doubles while rollbacks repeat without a checkpoint in
    between. So no state counts a replayed tuple twice. A checkpoint is declined (tried
    again at the next interval) while a tree is still open once the bolts have staged
    their state: a tuple held outside any state, or stuck, cannot be placed on either
    side of the barrier; if it then fails, the rollback replays it.
    """

    def __init__(self, topology: Topology, conf: Mapping[str, Any] | None = None,
                 task_ids: Iterable[int] | None = None, *, worker_index: int = 0,
                 placement: Mapping[int, int] | None = None,
                 transport: Callable[[int, tuple], None] | None = None,
                 state_backend: StateBackend | None = None, coordinated: bool = False) -> None:
        self.topology = topology
        self.conf = resolve(conf)
        all_tasks = topology.component_of_task()
        self.task_ids = frozenset(all_tasks if task_ids is None else task_ids)
        remote = set(all_tasks) - self.task_ids
        if remote and (transport is None or placement is None or not remote <= set(placement)):
            raise ValueError(f"tasks {sorted(remote)} run elsewhere: a worker hosting only some "
                             f"tasks needs a transport and the placement of the others")
        if not 0 <= worker_index <= 255:
            raise ValueError(f"worker_index must be 0..255, got {worker_index}")
        self.worker_index = worker_index
        self._transport = transport
        self._placement = dict(placement or {})
        self.acker = (Acker(self.conf[MESSAGE_TIMEOUT_SECS], worker_index,
                            self._forward_ack if remote else None)
                      if acking_enabled(self.conf) else None)
        self._inboxes: list[list[Tuple] | None] = [None] * (max(all_tasks, default=0) + 1)
        self._outboxes: dict[int, list[Tuple]] = {t: [] for t in remote}
        for t, box in self._outboxes.items():
            self._inboxes[t] = box
        self._incoming: deque[tuple] = deque()
        self.messages_received = 0
        self._sources: dict[tuple[str, int, str], TupleSource] = {}
        self.spout_tasks: list[SpoutTask] = []
        self.bolt_tasks: list[BoltTask] = []
        self.executors: list[Executor] = []
        self._commands: deque[Callable[[], None]] = deque()
        self._pollers: list[BoltTask] = []
        self._stop = threading.Event()
        self._drain_requested = False
        self._draining = False
        self._drain_deadline = float("inf")
        self.completed = False
        self.stop_report: StopReport | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._state_backend = state_backend
        self._state_store = None
        self._owned_store = None
        self.checkpointer: CheckpointCoordinator | None = None
        self.coordinated = coordinated
        self.participant: CheckpointParticipant | None = None
        self.epoch = 0
        self.rollback_wanted = False
        self._opened = False
        self._build()
        exactly_once = state_backend is not None and self.conf[CHECKPOINT_MODE] == EXACTLY_ONCE
        self._barrier = CheckpointBarrier(
            self.spout_tasks, self.bolt_tasks, self._pollers, self.acker, self._drain_all,
            exactly_once=exactly_once, stopping=self._stop.is_set, on_rollback=self._input_again)
        if state_backend is not None:
            # Restoring bolts to a checkpoint while a source resumes from elsewhere would
            # skip or repeat input in their state, in either mode.
            stateless = sorted({t.component for t in self.spout_tasks if not isinstance(t.obj, Stateful)})
            if stateless:
                raise ConfigError(f"checkpoints need spouts that checkpoint their position; "
                                  f"{', '.join(stateless)} do not (make them squall.Stateful, or run "
                                  f"without a state backend)")
            if exactly_once:
                for t in self.spout_tasks:
                    t.on_fail = self._want_rollback if coordinated else self._barrier.request_rollback

    def _build(self) -> None:
        topo = self.topology
        rate = self.conf[STATS_SAMPLE_RATE]
        sample_every = max(1, round(1 / rate)) if rate > 0 else 1 << 62
        self._ticks: list[tuple[float, list[BoltTask], Tuple]] = []
        for name in topo.topological_order():
            spec = topo.components[name]
            ids = [t for t in topo.task_ids(name) if t in self.task_ids]
            if not ids:
                continue
            # Both layers were checked for unknown keys already (here and at build).
            conf = resolve(self.conf, spec.config, check_unknown=False)
            tasks = []
            for task_id in ids:
                ctx = TopologyContext(topo, name, task_id, topo.task_ids(name), self.task_ids, conf)
                routes = build_routes(ctx, name, task_id)
                obj = spec.build()
                if spec.is_spout:
                    task = SpoutTask(obj, ctx, routes, self._inboxes, self.acker,
                                     max_pending=conf[MAX_SPOUT_PENDING] if self.acker is not None else None,
                                     batch_size=conf[SPOUT_BATCH_SIZE],
                                     turn_max_s=conf[SPOUT_TURN_MAX_MS] / 1000.0,
                                     sample_every=sample_every)
                    self.spout_tasks.append(task)
                else:
                    task = BoltTask(obj, ctx, routes, self._inboxes, self.acker)
                    self.bolt_tasks.append(task)
                    if type(obj).poll is not Bolt.poll:
                        self._pollers.append(task)
                tasks.append(task)
            # Tasks are dealt to executors in contiguous runs, as Storm assigns them.
            n_exec = min(spec.parallelism, len(tasks))
            for i in range(n_exec):
                self.executors.append(Executor(name, tasks[i * len(tasks) // n_exec:(i + 1) * len(tasks) // n_exec]))
            freq = conf[TICK_TUPLE_FREQ_SECS]
            if freq and not spec.is_spout:
                src = TupleSource(SYSTEM_COMPONENT, -1, TICK_STREAM, _TICK_FIELDS)
                self._ticks.append((float(freq), tasks, Tuple([freq], src, None)))

    # -- control, callable from any thread ------------------------------------------

    def stop(self) -> None:
        """Stop at the end of the current pass, without draining or a final checkpoint
        (a kill: the next run resumes from the last checkpoint and replays)."""
        self._stop.set()

    def drain_and_stop(self, timeout_s: float | None = None) -> None:
        """Stop gracefully; returns at once, the running thread does the work.

        Spouts are deactivated (no more ``next_tuple``; acks and fails still reach
        them), the tuple trees in flight get up to ``timeout_s`` to complete (default
        ``topology.message.timeout.secs``, after which a tree would have timed out
        anyway), then the final checkpoint is taken when there is a state backend, and
        ``run`` returns; :attr:`stop_report` says how it ended. A second call stops at
        once, as :meth:`stop` does (a second Ctrl-C).

        Thread-safe: call it from any thread or from a signal handler.

        Semantics: Storm ``kill -w`` (deactivate, wait, kill), with Flink's
        stop-with-savepoint final checkpoint.
        """
        if self._drain_requested:
            self.stop()
            return
        self._drain_requested = True
        wait_s = self.conf[MESSAGE_TIMEOUT_SECS] if timeout_s is None else timeout_s
        self._commands.append(lambda: self._begin_drain(wait_s))

    def activate(self) -> None:
        self._commands.append(lambda: self._set_active(True))

    def call(self, fn: Callable[[], Any]) -> Future:
        """Run ``fn`` on the running thread between two passes; its result (or error)
        arrives in the returned future. For a cluster's coordinator."""
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)
        self._commands.append(run)
        return future

    def _want_rollback(self) -> None:
        self.rollback_wanted = True     # a coordinated run: the cluster rolls every worker back

    def _drop_for_rollback(self, epoch: int) -> None:
        self._barrier.drop_in_flight()
        self._incoming.clear()
        self.epoch = epoch
        self.rollback_wanted = False
        self._input_again()

    def end_of_input(self, component: str) -> None:
        """Call ``end_of_input`` on this worker's tasks of ``component`` (on the running
        thread, draining after each): the cluster's coordinator tells each worker in
        topological order once every spout of the topology has emitted all."""
        self._commands.append(lambda: self._end_of_input(component))

    def status(self) -> dict[str, Any]:
        """A snapshot for a coordinator, safe from any thread: whether this worker's
        spouts emitted all / are exhausted, trees pending, tuples queued, messages taken."""
        return {
            # A spout answers these only once opened.
            "emitted_all": self._opened and all(sp.obj.emitted_all() for sp in self.spout_tasks),
            "exhausted": self._opened and all(sp.obj.exhausted() for sp in self.spout_tasks),
            "pending": self._trees_pending(),
            "queued": len(self._incoming) + len(self._commands) + sum(len(bt.inbox) for bt in self.bolt_tasks)
                      + sum(bt.obj.in_flight() for bt in self._pollers),
            "received": self.messages_received,
            "epoch": self.epoch,
            "rollback_wanted": self.rollback_wanted,
            "opened": self._opened,
            "restored": self.restored,
            "running": self.started_at is not None and self.finished_at is None,
        }

    @property
    def restored(self) -> bool:
        """False while a cluster's worker waits for its coordinator to restore its tasks."""
        return self.participant is None or self.checkpointer.stats.restored_at is not None

    def settled(self) -> bool:
        """True when this worker holds nothing to process: no message, command, queued
        tuple, unsent tuple or background work.

        Exact only on the running thread between two passes (through :meth:`call`):
        :meth:`status`, read from another thread, can catch a bolt in the middle of a
        batch, when the batch is in no queue and what it emits not yet in an outbox, and
        a coordinator that took that for quiet would cut a checkpoint through the batch.
        """
        return not (self._incoming or self._commands or any(bt.inbox for bt in self.bolt_tasks)
                    or any(self._outboxes.values()) or any(bt.obj.in_flight() for bt in self._pollers))

    def deactivate(self) -> None:
        self._commands.append(lambda: self._set_active(False))

    # -- the loop -------------------------------------------------------------------

    def run(self, until_complete: bool = False) -> None:
        self.started_at = time.monotonic()
        with _young_gc_threshold:
            self._open()
            try:
                self._loop(until_complete)
                if self.stop_report is None and self._stop.is_set():
                    self.stop_report = StopReport(False, self._trees_pending(), None)
            finally:
                self._close()
                self.finished_at = time.monotonic()

    def _open(self) -> None:
        for task in self.spout_tasks:
            task.obj.open(task.context.config, task.context, task)
        for task in self.bolt_tasks:
            task.obj.prepare(task.context.config, task.context, task)
        if self._state_backend is not None:
            # Bolts stage before spouts: a bolt may ack held tuples in pre_prepare, and
            # the spouts' positions must reflect those acks.
            stateful = [(t.component, t.task_id, t.obj) for t in [*self.bolt_tasks, *self.spout_tasks]
                        if isinstance(t.obj, Stateful)]
            # A backend is configuration: its live store opens here, on the running worker,
            # and closes with the run. A store opened by the caller stays the caller's.
            if isinstance(self._state_backend, StateBackend):
                self._state_store = self._owned_store = self._state_backend.open()
            else:
                self._state_store = self._state_backend
            self.checkpointer = CheckpointCoordinator(self._state_store, self.worker_index, stateful)
            if self.coordinated:
                # The cluster's coordinator restores and checkpoints every worker together;
                # the spouts wait for its restore.
                self.participant = CheckpointParticipant(
                    self.checkpointer, self._barrier, self.spout_tasks, self.bolt_tasks, self._drain_all,
                    self._drop_for_rollback, failed_tree=lambda: self.rollback_wanted)
                self._barrier.resume_at = float("inf")
            else:
                self.checkpointer.recover()
                self._barrier.coordinator = self.checkpointer
        self._set_active(True)
        self._opened = True

    @property
    def checkpoint_stats(self) -> CheckpointStats | None:
        """Checkpoint counts and times, and the checkpoint restored at start; None without state."""
        return self.checkpointer.stats if self.checkpointer is not None else None

    def _input_again(self) -> None:
        self._input_ended = False     # after a rollback the input is emitted again from the checkpoint

    def _set_active(self, active: bool) -> None:
        for task in self.spout_tasks:
            if task.active != active:
                task.active = active
                try:
                    task.obj.activate() if active else task.obj.deactivate()
                except Exception as exc:
                    task.report_error(exc)

    def _begin_drain(self, wait_s: float) -> None:
        self._set_active(False)
        self._draining = True
        self._drain_deadline = time.monotonic() + wait_s

    def _finish_drain(self, deadline_passed: bool) -> bool:
        """The drain's final checkpoint; True when the run may end (False: it rolled
        back instead, and the next pass tries again)."""
        # Past the deadline a tree is stuck: one attempt, no retries that wait for it.
        outcome = self._barrier.final(attempts=1 if deadline_passed else FINAL_CHECKPOINT_ATTEMPTS)
        if outcome is CheckpointOutcome.ROLLED_BACK:
            return False
        taken = outcome is CheckpointOutcome.TAKEN and self.checkpointer is not None
        self.stop_report = StopReport(True, self._trees_pending(),
                                      self.checkpointer.stats.last_txid if taken else None)
        return True

    def _trees_pending(self) -> int:
        return sum(sp.pending for sp in self.spout_tasks)

    def _loop(self, until_complete: bool) -> None:
        spouts = self.spout_tasks
        bolts = self.bolt_tasks
        pollers = self._pollers
        all_tasks = [*spouts, *bolts]
        acker = self.acker
        commands = self._commands
        stop = self._stop
        barrier = self._barrier
        monotonic = time.monotonic
        now = monotonic()
        next_housekeeping = now
        expire_every = min(1.0, self.conf[MESSAGE_TIMEOUT_SECS] / 4)
        next_expire = now + expire_every
        next_tick = [now + f for f, _, _ in self._ticks]
        cap_window_start = now
        self._input_ended = False
        checkpoint_every = self.conf[CHECKPOINT_INTERVAL_MS] / 1000.0 if self._barrier.coordinator else 0
        next_checkpoint = now + checkpoint_every if checkpoint_every else float("inf")
        # A cluster's worker runs nothing until the coordinator restored its tasks: what a
        # bolt did before would be outside every checkpoint (a sink would even write
        # through), and a restarted worker is rolled back with all the others anyway.
        awaiting_restore = self.participant is not None
        while not stop.is_set():
            while commands:
                commands.popleft()()
            if awaiting_restore:
                if not self.restored:
                    time.sleep(_IDLE_SLEEP_S)
                    continue
                awaiting_restore = False
            now = monotonic()
            if now >= next_housekeeping:
                next_housekeeping = now + _HOUSEKEEPING_S
                if acker is not None and now >= next_expire:
                    next_expire = now + expire_every
                    acker.expire(now)
                for i, (freq, tasks, tick) in enumerate(self._ticks):
                    if now >= next_tick[i]:
                        next_tick[i] = now + freq
                        for task in tasks:
                            task.inbox.append(tick)
                for task in all_tasks:
                    if task.error_log.suppressed:
                        task.error_log.flush_due(now)
                if self._draining and now >= self._drain_deadline and self._finish_drain(True):
                    return
                if now - cap_window_start >= _CAPACITY_WINDOW_S:
                    self._roll_capacity(now - cap_window_start)
                    cap_window_start = now
            if now >= next_checkpoint:
                barrier.checkpoint()
                next_checkpoint = monotonic() + checkpoint_every
            did = self._receive() if self._incoming else 0
            if now >= barrier.resume_at:
                for sp in spouts:
                    did += sp.turn(now)
            else:
                did += sum(sp.deliver_completions() for sp in spouts)
            for bt in bolts:
                if bt.inbox:
                    did += bt.drain()
            for bt in pollers:
                did += bt.poll()
            if self._outboxes:
                self._flush_remote()
            if barrier.rollback_requested:
                barrier.rollback()
                continue
            if did:
                continue
            if now < barrier.resume_at:
                time.sleep(_IDLE_SLEEP_S)
                continue
            if any(sp.completed for sp in spouts):
                continue
            in_flight = any(sp.pending for sp in spouts)
            if self._draining and not in_flight:
                if self._finish_drain(False):
                    return
                continue
            if until_complete:
                if not self._input_ended and all(sp.obj.emitted_all() for sp in spouts):
                    self._input_ended = True
                    self._end_of_input()
                    continue
                if self._input_ended and not in_flight and all(sp.obj.exhausted() for sp in spouts):
                    outcome = barrier.final()
                    if outcome is not CheckpointOutcome.ROLLED_BACK:
                        self.completed = outcome is CheckpointOutcome.TAKEN
                        return
                    continue
            time.sleep(_IDLE_SLEEP_S)

    def _drain_all(self) -> None:
        while True:
            did = self._receive() if self._incoming else 0
            for sp in self.spout_tasks:
                did += sp.deliver_completions()
            for bt in self.bolt_tasks:
                if bt.inbox:
                    did += bt.drain()
            for bt in self._pollers:
                did += bt.poll()
            if self._outboxes:
                self._flush_remote()
            if not did:
                if any(bt.obj.in_flight() for bt in self._pollers):
                    time.sleep(_IDLE_SLEEP_S)   # background work still to settle
                    continue
                return

    # -- other workers ------------------------------------------------------------------

    def deliver(self, message: tuple) -> None:
        """Take a message from another worker's transport; safe from any thread.

        Messages: ``("tuples", task_id, [(values, component, task, stream, message_id), ...])``,
        ``("ack", root, value)``, ``("acks", 0, [(root, value), ...])`` (a transport's folded
        acks), ``("fail", root, None)``.
        """
        self._incoming.append(message)

    def _forward_ack(self, root: int, value: int | None) -> None:
        owner = root & 0xFF
        self._transport(owner, ("fail", root, None) if value is None else ("ack", root, value))

    def _flush_remote(self) -> None:
        for task, box in self._outboxes.items():
            if box:
                batch = [(t.values, t.source.component, t.source.task, t.source.stream, t.message_id)
                         for t in box]
                box.clear()
                self._transport(self._placement[task], ("tuples", task, batch))
        flush = getattr(self._transport, "flush", None)
        if flush is not None:
            flush()

    def _receive(self) -> int:
        n = 0
        incoming = self._incoming
        while incoming:
            kind, target, payload = incoming.popleft()
            self.messages_received += 1
            if kind == "tuples":
                inbox = self._inboxes[target]
                sources = self._sources
                for values, component, task, stream, mid in payload:
                    key = (component, task, stream)
                    src = sources.get(key)
                    if src is None:
                        fields = self.topology.components[component].streams[stream].fields
                        src = sources[key] = TupleSource(component, task, stream, fields)
                    inbox.append(Tuple(values, src, mid))
                n += len(payload)
            elif self.acker is not None:
                if kind == "acks":
                    ack = self.acker.ack
                    for root, value in payload:
                        ack(root, value)
                    n += len(payload)
                elif kind == "ack":
                    self.acker.ack(target, payload)
                    n += 1
                else:
                    self.acker.fail(target)
                    n += 1
        return n

    def _end_of_input(self, component: str | None = None) -> None:
        # Upstream first, draining in between, so what a bolt flushes at end of input
        # reaches its subscribers before they are told the input ended.
        for bt in self.bolt_tasks:
            if component is not None and bt.component != component:
                continue
            try:
                bt.obj.end_of_input()
            except Exception as exc:
                bt.report_error(exc)
            self._drain_all()

    def _close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.close()
        if self._owned_store is not None:
            self._owned_store.close()
        for task in self.bolt_tasks:
            try:
                task.obj.cleanup()
            except Exception as exc:
                task.report_error(exc)
        for task in self.spout_tasks:
            try:
                task.obj.close()
            except Exception as exc:
                task.report_error(exc)
        for task in [*self.spout_tasks, *self.bolt_tasks]:
            task.error_log.flush()

    def _roll_capacity(self, window_s: float) -> None:
        for ex in self.executors:
            ex.roll_capacity(window_s)

    # -- metrics, readable from any thread -------------------------------------------

    def stats(self) -> dict[str, ComponentStats]:
        """Per-component figures (Storm UI names); safe to call while running."""
        return roll_up(self.topology, self.executors)

    def in_flight(self) -> int:
        return len(self.acker) if self.acker is not None else 0


class _YoungGcThreshold:
    """Raises the collector's young-generation threshold to ``_GC_YOUNG_THRESHOLD``
    while any worker of the process runs; the last one to end restores the previous
    setting, unless something else changed it meanwhile. A higher setting already in
    place, or automatic collection turned off (threshold 0), is left alone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved: tuple[int, ...] | None = None
        self._set: tuple[int, ...] | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                current = gc.get_threshold()
                if 0 < current[0] < _GC_YOUNG_THRESHOLD:
                    self._saved = current
                    self._set = (_GC_YOUNG_THRESHOLD, *current[1:])
                    gc.set_threshold(*self._set)
            self._running += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._saved is not None:
                if gc.get_threshold() == self._set:
                    gc.set_threshold(*self._saved)
                self._saved = self._set = None


_young_gc_threshold = _YoungGcThreshold()
