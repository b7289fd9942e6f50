"""Executors and their tasks with collectors: the per-tuple hot path.

A worker owns one inbox (a plain list) per bolt task. Emitting appends the tuple to
the inboxes of the chosen tasks (routing: :mod:`squall.runtime.routing`); the worker
later drains each inbox as one batch. No lock, thread switch or syscall happens per
tuple: a worker runs its executors on one thread, and routing tables are built once
when the worker builds its tasks.

Semantics: Storm ``SpoutExecutor``/``BoltExecutor`` and their output collectors;
anchoring and acking as in "Guaranteeing Message Processing"; executors as in
"Understanding the Parallelism of a Storm Topology".
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from random import getrandbits
from time import perf_counter, time
from typing import Any

from ..component import Bolt, OutputCollector, Spout, SpoutOutputCollector, TopologyContext
from ..config import DEFAULTS, ERROR_THROTTLE_INTERVAL_SECS, MAX_ERROR_REPORT_PER_INTERVAL, STATS_SAMPLE_RATE
from ..tuple import DEFAULT_STREAM, Tuple
from .acker import Acker
from .errors import FieldCountError, InvalidDirectTaskError, UndeclaredStreamError
from .metrics import ErrorLogThrottle, TaskCounters
from .routing import Route

__all__ = ["Executor", "SpoutTask", "BoltTask"]


@dataclass
class Executor:
    """A group of tasks of one component scheduled together (parallelism = executors).

    ``capacity`` is the share of the last capacity window (seconds of execute time per
    second) its tasks spent executing, Storm UI's "capacity".
    """

    component: str
    tasks: list[Any]
    capacity: float = 0.0
    _window_exec_s: float = 0.0

    def exec_s(self) -> float:
        return sum(t.counters.exec_s for t in self.tasks)

    def roll_capacity(self, window_s: float) -> None:
        """Close a capacity window of ``window_s`` seconds."""
        total = self.exec_s()
        self.capacity = (total - self._window_exec_s) / window_s
        self._window_exec_s = total


class _TaskBase:
    """What spout and bolt tasks share: identity, routes, counters, error reporting."""

    def __init__(self, obj, context: TopologyContext, routes: dict[str, Route],
                 inboxes: list[list[Tuple] | None], acker: Acker | None) -> None:
        self.obj = obj
        self.context = context
        self.component = context.component_id
        self.task_id = context.task_id
        self.routes = routes
        self.inboxes = inboxes
        self.acker = acker
        self.counters = TaskCounters()
        conf = context.config
        self.error_log = ErrorLogThrottle(
            f"{self.component}[{self.task_id}]",
            conf.get(ERROR_THROTTLE_INTERVAL_SECS, DEFAULTS[ERROR_THROTTLE_INTERVAL_SECS]),
            conf.get(MAX_ERROR_REPORT_PER_INTERVAL, DEFAULTS[MAX_ERROR_REPORT_PER_INTERVAL]))

    def _route(self, stream: str) -> Route:
        try:
            return self.routes[stream]
        except KeyError:
            declared = ", ".join(sorted(self.routes)) or "none"
            raise UndeclaredStreamError(
                f"{self.component!r} emitted on stream {stream!r}, which it does not declare "
                f"(declared: {declared}); declare it in declare_output_fields") from None

    def _wrong_arity(self, route: Route, values: Sequence[Any]) -> FieldCountError:
        src = route.source
        return FieldCountError(self.component, src.stream, src.fields, values)

    def _direct(self, route: Route, task: int) -> list[int]:
        if task not in route.direct_targets:
            raise InvalidDirectTaskError(
                f"{self.component!r} emit_direct to task {task} on stream {route.source.stream!r}: "
                f"that task does not subscribe with a direct grouping (direct targets: "
                f"{sorted(route.direct_targets)})")
        route.direct_sent += 1
        return [task]

    def sync_counters(self) -> None:
        """Publish the hot counters kept on routes and tasks into ``counters``."""
        c = self.counters
        c.emitted = {s: r.emitted for s, r in self.routes.items()}
        c.transferred = sum(r.transferred() for r in self.routes.values())
        if isinstance(self, BoltTask):
            c.acked = self.n_acked
            c.failed = self.n_failed

    def report_error(self, error: BaseException) -> None:
        """Count ``error`` in the stats and log it, throttled (see ``ErrorLogThrottle``)."""
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        c = self.counters
        c.error_count += 1
        c.errors.append((time(), text))
        self.error_log.log(text, error)


class SpoutTask(_TaskBase, SpoutOutputCollector):
    """One spout task and its collector.

    ``completed`` receives ``(msg_id, ok, t0)`` from the acker; the worker delivers
    them to ``Spout.ack``/``fail`` at the start of this task's turn.
    """

    def __init__(self, obj: Spout, context, routes, inboxes, acker, *, max_pending: int | None,
                 batch_size: int, turn_max_s: float, sample_every: int) -> None:
        super().__init__(obj, context, routes, inboxes, acker)
        self.completed: list[tuple[Any, bool, float]] = []
        self.pending = 0
        self.max_pending = max_pending
        self.batch_size = batch_size
        self.turn_max_s = turn_max_s
        self.active = False
        self._sample_every = sample_every
        self._sample_left = sample_every
        self._now = 0.0
        self._emits = 0
        # Exactly-once: a failed tree rolls the worker back instead of reaching Spout.fail.
        self.on_fail: Callable[[], None] | None = None

    def emit(self, values, stream=DEFAULT_STREAM, message_id=None, direct_task=None):
        route = self.routes.get(stream) or self._route(stream)
        if len(values) != route.arity:
            raise self._wrong_arity(route, values)
        src = route.source
        tasks = (route.fixed or route.choose(values)) if direct_task is None \
            else self._direct(route, direct_task)
        inboxes = self.inboxes
        route.emitted += 1
        self._emits += 1
        acker = self.acker
        if message_id is None:
            tup = Tuple(values, src, None)
            for t in tasks:
                inboxes[t].append(tup)
            return tasks
        if acker is None or not tasks:
            # At-most-once (no acker) or nobody listening: the tree is complete at once.
            for t in tasks:
                inboxes[t].append(Tuple(values, src, None))
            self.pending += 1
            self.completed.append((message_id, True, 0.0))
            return tasks
        root = acker.new_root()
        xor = 0
        for t in tasks:
            edge = getrandbits(64)
            xor ^= edge
            inboxes[t].append(Tuple(values, src, (root, edge)))
        self._sample_left -= 1
        if self._sample_left:
            acker.init(root, xor, self, message_id, self._now)
        else:
            self._sample_left = self._sample_every
            acker.init(root, xor, self, message_id, self._now, perf_counter())
        self.pending += 1
        return tasks

    def deliver_completions(self) -> int:
        """Call the spout's ``ack``/``fail`` for trees that finished since the last turn."""
        done = self.completed
        if not done:
            return 0
        self.completed = []
        obj = self.obj
        c = self.counters
        now = perf_counter()
        lat = c.complete_latency
        for msg_id, ok, t0 in done:
            self.pending -= 1
            try:
                if ok:
                    c.acked += 1
                    if t0:
                        lat.add(now - t0)
                    obj.ack(msg_id)
                else:
                    c.failed += 1
                    if self.on_fail is not None:
                        self.on_fail()
                    else:
                        obj.fail(msg_id)
            except Exception as exc:  # a spout's own bug must not lose the other outcomes
                self.report_error(exc)
        return len(done)

    def turn(self, now_s: float) -> int:
        """Deliver outcomes, then call ``next_tuple`` until the turn is used up; returns
        tuples emitted.

        A turn ends after ``squall.spout.batch.size`` calls, or once it has lasted
        ``squall.spout.turn.max.ms``, or at the first call that emits nothing, or when
        ``topology.max.spout.pending`` trees are in flight.
        """
        self._now = now_s
        self.deliver_completions()
        if not self.active:
            return 0
        next_tuple = self.obj.next_tuple
        max_pending = self.max_pending
        start = self._emits
        t0 = perf_counter()
        deadline = t0 + self.turn_max_s
        # The clock is read after calls 1, 2, 4, ..., 64 and then every 64 calls: a
        # spout that sleeps in next_tuple (Storm's idiom) ends its turn after its first
        # call, while a fast one reads the clock 14 times per 512 calls. With calls of
        # even cost a turn lasts less than twice the bound (plus the first call).
        check_at = 1
        for n in range(1, self.batch_size + 1):
            if max_pending is not None and self.pending >= max_pending:
                break
            before = self._emits
            try:
                next_tuple()
            except Exception as exc:
                self.report_error(exc)
                break
            if self._emits == before:
                break
            if n == check_at:
                if perf_counter() >= deadline:
                    break
                check_at += n if n < 64 else 64
        self.counters.exec_s += perf_counter() - t0
        n = self._emits - start
        self.counters.executed += n
        return n

class BoltTask(_TaskBase, OutputCollector):
    """One bolt task, its inbox and its collector."""

    def __init__(self, obj: Bolt, context, routes, inboxes, acker) -> None:
        super().__init__(obj, context, routes, inboxes, acker)
        self.inbox: list[Tuple] = []
        inboxes[self.task_id] = self.inbox
        self._batched = type(obj).process_batch is not Bolt.process_batch
        # Hot counters live on the task (one attribute hop); sync_counters publishes them.
        self.n_acked = 0
        self.n_failed = 0
        # The acker's ledger is the one place a tree completes; bound once here.
        self._xor = acker.ack if acker is not None else None
        # Process latency (execute start -> ack) is measured on the first tuple of each
        # drained batch, which keeps a clock read off the per-tuple path.
        self._sampled: Tuple | None = None
        self._sampled_t0 = 0.0
        # Execute latency's distribution: one tuple in every _exec_every is timed on its
        # own (Storm's topology.stats.sample.rate); _exec_left counts down to the next.
        rate = context.config.get(STATS_SAMPLE_RATE, DEFAULTS[STATS_SAMPLE_RATE])
        self._exec_every = max(1, round(1 / rate)) if rate > 0 else 1 << 62
        self._exec_left = self._exec_every
        self._tracking = acker is not None
        if acker is None:
            # No tuple carries a tree (acking is off in every worker): emit and ack
            # without the anchoring and id checks.
            self.emit = self._emit_untracked
            self.ack = self._ack_untracked

    def emit(self, values, stream=DEFAULT_STREAM, anchors=(), direct_task=None):
        route = self.routes.get(stream) or self._route(stream)
        if len(values) != route.arity:
            raise self._wrong_arity(route, values)
        if direct_task is None:
            tasks = route.fixed or route.choose(values)
        else:
            tasks = self._direct(route, direct_task)
        route.emitted += 1
        if anchors and self._tracking:
            if len(anchors) == 1:
                a = anchors[0]
                amid = a.message_id
                if amid.__class__ is tuple:
                    # The common case (one anchor, one root) without the general loops.
                    root = amid[0]
                    if len(tasks) == 1:
                        edge = getrandbits(64)
                        a.out_ack ^= edge
                        self.inboxes[tasks[0]].append(Tuple(values, route.source, (root, edge)))
                        return tasks
                    inboxes = self.inboxes
                    for t in tasks:
                        edge = getrandbits(64)
                        a.out_ack ^= edge
                        inboxes[t].append(Tuple(values, route.source, (root, edge)))
                    return tasks
            inboxes = self.inboxes
            for t in tasks:
                edge = getrandbits(64)
                mid: dict[int, int] = {}
                for a in anchors:
                    amid = a.message_id
                    if amid is not None:
                        for root in ((amid[0],) if amid.__class__ is tuple else amid):
                            mid[root] = mid.get(root, 0) ^ edge
                        a.out_ack ^= edge
                inboxes[t].append(Tuple(values, route.source, mid or None))
            return tasks
        if len(tasks) == 1:
            self.inboxes[tasks[0]].append(Tuple(values, route.source, None))
        else:
            tup = Tuple(values, route.source, None)
            inboxes = self.inboxes
            for t in tasks:
                inboxes[t].append(tup)
        return tasks

    def _emit_untracked(self, values, stream=DEFAULT_STREAM, anchors=(), direct_task=None):
        """``emit`` when there is no acker: ``anchors`` are ignored."""
        route = self.routes.get(stream) or self._route(stream)
        if len(values) != route.arity:
            raise self._wrong_arity(route, values)
        if direct_task is None:
            tasks = route.fixed or route.choose(values)
        else:
            tasks = self._direct(route, direct_task)
        route.emitted += 1
        if len(tasks) == 1:
            self.inboxes[tasks[0]].append(Tuple(values, route.source, None))
        else:
            tup = Tuple(values, route.source, None)
            inboxes = self.inboxes
            for t in tasks:
                inboxes[t].append(tup)
        return tasks

    def ack(self, tup: Tuple) -> None:
        # The tuple's edge and the edges anchored to it leave each of its trees. One
        # class test picks the common id, a (root, edge) pair; then {root: edge} or None.
        mid = tup.message_id
        if mid.__class__ is tuple:
            self._xor(mid[0], mid[1] ^ tup.out_ack)
        elif mid is not None:
            out = tup.out_ack
            xor = self._xor
            for root, edge in mid.items():
                xor(root, edge ^ out)
        if tup is self._sampled:
            self.counters.process_latency.add(perf_counter() - self._sampled_t0)
            self._sampled = None
        self.n_acked += 1

    def _ack_untracked(self, tup: Tuple) -> None:
        """``ack`` when there is no acker: only the counts and the latency sample."""
        if tup is self._sampled:
            self.counters.process_latency.add(perf_counter() - self._sampled_t0)
            self._sampled = None
        self.n_acked += 1

    def fail(self, tup: Tuple) -> None:
        mid = tup.message_id
        if mid is not None and self.acker is not None:
            for root in ((mid[0],) if mid.__class__ is tuple else mid):
                self.acker.fail(root)
        self.n_failed += 1

    def poll(self) -> int:
        """Let the bolt settle background work; errors are reported, never fatal."""
        try:
            return self.obj.poll()
        except Exception as exc:
            self.report_error(exc)
            return 0

    def drain(self) -> int:
        """Process everything in the inbox as one batch; returns how many tuples."""
        inbox = self.inbox
        batch = inbox.copy()
        inbox.clear()
        t0 = perf_counter()
        if self._sampled is None:
            self._sampled = batch[0]
            self._sampled_t0 = t0
        if self._batched:
            try:
                self.obj.process_batch(batch)
            except Exception as exc:
                # Which tuples the batch got to is unknown: fail them all (already-acked
                # trees ignore it), so nothing is lost and at most some are replayed.
                self.report_error(exc)
                for t in batch:
                    self.fail(t)
        elif len(batch) < self._exec_left:
            self._exec_left -= len(batch)
            self._process(batch)
        else:
            self._process_timing_samples(batch)
        c = self.counters
        c.exec_s += perf_counter() - t0
        c.executed += len(batch)
        return len(batch)

    def _process(self, batch: list[Tuple]) -> None:
        """``process`` each tuple; one that raises is reported and failed, the rest go on."""
        process = self.obj.process
        it = iter(batch)
        while True:
            try:
                for t in it:
                    process(t)
                break
            except Exception as exc:
                self.report_error(exc)
                self.fail(t)

    def _process_timing_samples(self, batch: list[Tuple]) -> None:
        """:meth:`_process`, with the tuples the sample rate picks timed one by one into
        ``counters.execute_latency``: two clock reads and a bisection per sampled tuple,
        a slice per stretch between two of them, nothing on the others (the whole
        batch's time is still counted in ``exec_s``, for the mean and capacity)."""
        process = self.obj.process
        hist = self.counters.execute_latency
        every = self._exec_every
        n = len(batch)
        start, i = 0, self._exec_left - 1       # i: the batch index of the next tuple timed
        while i < n:
            if start < i:
                self._process(batch[start:i])
            t = batch[i]
            t1 = perf_counter()
            try:
                process(t)
            except Exception as exc:
                self.report_error(exc)
                self.fail(t)
            else:
                hist.add(perf_counter() - t1)
            start, i = i + 1, i + every
        if start < n:
            self._process(batch[start:])
        self._exec_left = i - n + 1
