"""``KafkaSpout``: reads topics of a consumer group as reliable tuples, at least once.

Semantics: storm-kafka-client ``KafkaSpout`` (``KafkaSpoutConfig``,
``FirstPollOffsetStrategy``, ``KafkaSpoutRetryExponentialBackoff``, ``OffsetManager``,
``maxUncommittedOffsets``); Storm "Guaranteeing Message Processing".

How offsets move, per partition:

- every record fetched stays *outstanding* until its tuple tree is acked (or it is
  given up after ``max_retries``); the offset committed is the smallest outstanding
  offset, else the next offset after the last fetched record: the highest contiguous
  done offset + 1, so a record still failing or in flight holds the commit back and a
  restart replays it (at least once, never lost);
- commits are asynchronous, every ``offset_commit_period_s``, and on deactivate; on
  ``close`` and on partition revoke they are synchronous (while the brokers are
  reachable);
- a partition with ``max_uncommitted_offsets`` emitted-but-uncommitted offsets is
  paused until a commit confirms progress; retries are emitted regardless;
- on revoke the acked part is committed and the partition's state is forgotten:
  buffered records, pending retries, and late acks/fails for it are ignored (its new
  owner resumes from the commit); on assign the partition starts at the committed
  offset (or per the first-poll strategy).

Differences from Storm: a failed tuple is re-emitted from memory (the spout keeps the
values of tuples in flight, bounded by ``max_uncommitted_offsets``) instead of seeking
the consumer back; consumer errors never stop the spout, they are reported once per
outage (:class:`~squall.connectors.outage.Outage`), the end of the outage is logged
once, librdkafka's own log lines are throttled, and the client keeps reconnecting.
Only a bounded run (``stop_at_end``) gives up, and only at its start: ``open`` waits
up to ``startup_timeout_s`` for the brokers and topics, then raises
:class:`~squall.connectors.kafka.KafkaStartupError`, which ends the run.

Checkpointed (a :class:`~squall.component.Stateful` spout run with a state backend),
the position lives in the checkpoint, as Flink's Kafka source keeps it:

- ``pre_prepare`` stores, per assigned (topic, partition), the offset the spout has
  taken records up to and the offsets below it still not done (in flight or awaiting
  retry, with their failure counts); everything else below it is done;
- on start a partition found in the restored state resumes there (a seek), records
  below it that were done are skipped, the pending ones emitted again; a partition not
  in the state starts as without checkpoints (first-poll strategy / committed offset),
  resolved to a number when assigned so that the next checkpoint holds it even before
  a record was read from it;
- a rollback (exactly-once mode, ``init_state`` again while running) seeks every
  assigned partition back to the checkpoint (or to where this assignment began, for a
  partition the checkpoint does not hold) and forgets buffered, in-flight and retry
  bookkeeping;
- offsets are committed to the consumer group only when a checkpoint completes
  (``checkpoint_complete``, the checkpoint's positions, asynchronously; once more,
  synchronously, on ``close``); never on ack, deactivate or revoke. The group's offsets
  are then for monitoring and for a task that gets a partition it has no state for.

Limitation with several spout tasks in one group: a partition's position is in the
state of the task that held it at the checkpoint. If a restart or a rebalance gives it
to another task, that task starts from the group's committed offset, which is the last
completed checkpoint's position unless the crash fell between a checkpoint's decision
and its offset commit; records emitted since that position are then read again (at
least once, never lost). One spout task per group, or a stable assignment, keeps it
exact.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from time import monotonic
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from ...component import Spout, Stateful
from ...tuple import DEFAULT_STREAM
from ..outage import Outage
from .client import ClientLog, await_brokers, reason
from .config import KafkaSpoutConfig
from .errors import KafkaConnectorError, KafkaOutageError, KafkaRecordDroppedError

__all__ = ["KafkaSpout"]

log = logging.getLogger("squall.connectors.kafka")

_EOF = KafkaError._PARTITION_EOF
_POSITIONS = "positions"     # state key: {(topic, partition): (taken_upto, {pending offset: failures})}


class _Partition:
    """What the spout tracks for one assigned partition."""

    __slots__ = ("topic", "partition", "buffer", "inflight", "emitted", "fetched_upto", "committed",
                 "requested", "queued", "blocked", "eof", "gone", "taken_upto", "replay", "first_fetched")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.buffer: deque[Any] = deque()           # fetched, not yet emitted
        self.inflight: dict[int, list[Any]] = {}    # offset -> [stream, values, failures], emitted and not done
        self.emitted: deque[int] = deque()          # offsets emitted once and not yet committed (for the cap)
        self.fetched_upto: int | None = None        # next offset after the last fetched record
        self.committed: int | None = None           # last offset the broker confirmed
        self.requested: int | None = None           # last offset sent in a commit
        self.queued = False                         # in the spout's ready rotation
        self.blocked = False                        # paused: max_uncommitted_offsets reached
        self.eof = False
        self.gone = False                           # revoked or lost
        # Checkpointed runs only:
        self.taken_upto: int | None = None          # next offset after the last record taken from the buffer
        self.replay: dict[int, int] = {}            # restored: offset below taken_upto -> failures, to emit again
        self.first_fetched: int | None = None       # where this assignment's reading began

    def commit_point(self) -> int | None:
        """The offset to commit: everything below it is done."""
        if self.inflight:
            return next(iter(self.inflight))        # insertion order is offset order
        if self.buffer:
            return self.buffer[0].offset()
        return self.fetched_upto

    def position(self) -> tuple[int, dict[int, int]] | None:
        """``(taken_upto, {offset: failures})``: below ``taken_upto`` every offset is done
        except the pending ones; None until this partition yielded a record."""
        if self.taken_upto is None:
            return None
        pending = {o: e[2] for o, e in self.inflight.items()}
        pending.update(self.replay)               # restored, not emitted again yet
        return self.taken_upto, pending

    def restore(self, position: tuple[int, dict[int, int]]) -> int:
        """Resume at a checkpointed ``position``; returns the offset to seek to."""
        upto, pending = position
        self.taken_upto = upto
        self.replay = dict(pending)
        return min(pending, default=upto)


class KafkaSpout(Stateful, Spout):
    """Emits each record of the subscribed topics as a tuple with message id
    ``(topic, partition, offset)``; see the module doc for the offset contract.

    Checkpoints (with a state backend): the position of each assigned partition is part
    of every checkpoint and a restart resumes from it, not from the group's committed
    offsets; offsets are committed to the group when a checkpoint completes and not on
    ack. Without a state backend the spout commits acked offsets as storm-kafka-client
    does. See the module doc.

    Args:
        config: a :class:`~squall.connectors.kafka.KafkaSpoutConfig`.

    Threading: the consumer and all its callbacks (assign, revoke, commit, error) run
    on the spout's thread inside ``next_tuple``; ``next_tuple`` polls with timeout 0 and
    never blocks. ``close`` may block for a final synchronous commit.

    Counters (on the live task object, ``counts``): ``retried``, ``dropped``,
    ``commits``, ``commit_errors``, ``outages``.

    Semantics: storm-kafka-client ``KafkaSpout``.
    """

    def __init__(self, config: KafkaSpoutConfig) -> None:
        if not isinstance(config, KafkaSpoutConfig):
            raise TypeError(f"KafkaSpout takes a KafkaSpoutConfig, got {type(config).__name__}")
        self.config = config

    def declare_output_fields(self, declarer):
        for stream, fields in self.config.translator.streams().items():
            if stream == DEFAULT_STREAM:
                declarer.declare(fields)
            else:
                declarer.declare_stream(stream, fields)

    # -- lifecycle ---------------------------------------------------------------------

    def open(self, config, context, collector):
        self.collector = collector
        cfg = self.config
        self._translate = cfg.translator.translate
        self._cap = cfg.max_uncommitted_offsets
        self._retry = cfg.retry
        self._max_retries = cfg.retry.max_retries
        self._batch = cfg.max_poll_records
        self._commit_period_s = cfg.offset_commit_period_s
        self._next_commit = monotonic() + self._commit_period_s
        self._parts: dict[tuple[str, int], _Partition] = {}
        self._ready: deque[_Partition] = deque()
        self._retries: list[tuple[float, int, _Partition, int, list[Any]]] = []
        self._seq = itertools.count()
        self._seen: set[tuple[str, int]] = set()
        self._component = f"KafkaSpout {context.component_id}[{context.task_id}]"
        # librdkafka reconnects by itself: the outage is only reported and its end logged.
        self._outage = Outage(self._component, f"Kafka {cfg.bootstrap_servers}", log=log)
        self._last_error: str | None = None
        self._checkpointed = False         # until init_state: commit on ack
        self._positions: dict[tuple[str, int], tuple[int, dict[int, int]]] = {}   # restored, not yet assigned
        self._assigned_once = False
        self._staged: tuple[int, list[TopicPartition]] | None = None     # (txid, offsets) of the last pre_prepare
        self._completed_offsets: list[TopicPartition] = []               # of the last completed checkpoint
        self.counts = {"retried": 0, "dropped": 0, "commits": 0, "commit_errors": 0, "outages": 0}
        props = cfg.consumer_properties()
        props.setdefault("client.id", f"squall-{context.component_id}-{context.task_id}")
        if cfg.static_membership:
            props.setdefault("group.instance.id", f"squall-{context.component_id}-{context.task_id}")
        # librdkafka's log lines through logging, not stderr, and not one per reconnect.
        props.setdefault("logger", ClientLog(log))
        props["on_commit"] = self._on_commit
        props["error_cb"] = self._on_error
        self._consumer = Consumer(props)
        if cfg.stop_at_end and cfg.startup_timeout_s is not None:
            try:
                await_brokers(self._consumer, cfg.bootstrap_servers, cfg.startup_timeout_s, self._component,
                              cfg.topics, cfg.topic_pattern, lambda: self._last_error)
            except BaseException:
                self._consumer.close()
                self._consumer = None
                raise
        self._consumer.subscribe(cfg.subscription(), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_lost)

    def deactivate(self):
        if not self._checkpointed:
            self._commit(asynchronous=True)

    def close(self):
        consumer = getattr(self, "_consumer", None)
        if consumer is None:
            return
        try:
            # Synchronous while the brokers answer; during an outage it could hang, so
            # the last acks are sent asynchronously and at worst replayed after restart.
            if self._checkpointed:
                self._commit_checkpoint(asynchronous=self._outage.down)
            else:
                self._commit(asynchronous=self._outage.down)
        except Exception as exc:
            self.collector.report_error(KafkaConnectorError(f"final commit failed: {exc}"))
        try:
            consumer.close()
        finally:
            self._consumer = None

    def partition_offsets(self) -> list[dict[str, Any]]:
        """Where this task stands on each partition assigned to it, for monitoring (the
        UI's lag view); callable from another thread while the spout runs.

        Returns:
            one dict per assigned partition: ``topic``, ``partition``, ``committed``
            (the last offset the group's commit confirmed), ``done`` (every offset
            below it is acked or given up: the commit point now), ``head`` (the log end,
            the high watermark the consumer last saw in a fetch: no broker round trip).
            An offset not known yet (no commit confirmed, no fetch) is None. Empty
            before ``open`` or while nothing is assigned.

        The partition table is copied first (the spout's thread changes it on assign and
        revoke), then each entry is read; a value read while the spout's thread moves it
        is at worst one fetch or ack old.

        Semantics: Storm ``KafkaOffsetLagUtil`` (committed offset and log head per
        partition).
        """
        parts = getattr(self, "_parts", None)
        if not parts:
            return []
        for _ in range(3):
            try:
                entries = list(parts.values())
                break
            except RuntimeError:       # changed size while copied: the spout's thread reassigned
                continue
        else:
            return []
        consumer = getattr(self, "_consumer", None)
        out = []
        for p in entries:
            if p.gone:
                continue
            head = None
            if consumer is not None:
                try:
                    _, high = consumer.get_watermark_offsets(TopicPartition(p.topic, p.partition), cached=True)
                    head = high if high >= 0 else None
                except (KafkaException, RuntimeError):   # closed consumer, partition not fetched yet
                    head = None
            try:
                done = p.commit_point()
            except (RuntimeError, StopIteration, IndexError):   # in flight changed while read
                done = None
            out.append({"topic": p.topic, "partition": p.partition, "committed": p.committed,
                        "done": done, "head": head})
        return out

    def exhausted(self):
        if not self.config.stop_at_end or not self._parts:
            return False
        return all(p.eof and not p.buffer and not p.inflight and not p.replay for p in self._parts.values())

    # -- emitting ----------------------------------------------------------------------

    def next_tuple(self):
        retries = self._retries
        if retries and retries[0][0] <= monotonic() and self._emit_retry():
            return
        if self._ready and self._emit_fetched():
            return
        now = monotonic()
        if now >= self._next_commit:
            self._next_commit = now + self._commit_period_s
            if not self._checkpointed:
                self._commit(asynchronous=True)
        self._poll()
        if self._ready:
            self._emit_fetched()

    def _emit_retry(self) -> bool:
        retries = self._retries
        now = monotonic()
        while retries and retries[0][0] <= now:
            _, _, p, offset, entry = heapq.heappop(retries)
            if p.gone or p.inflight.get(offset) is not entry:
                continue      # revoked, or acked meanwhile
            self.counts["retried"] += 1
            self.collector.emit(entry[1], entry[0], message_id=(p.topic, p.partition, offset))
            return True
        return False

    def _emit_fetched(self) -> bool:
        ready = self._ready
        cap = self._cap
        translate = self._translate
        emit = self.collector.emit
        while ready:
            p = ready.popleft()
            buffer = p.buffer
            if p.gone or not buffer:
                p.queued = False
                continue
            if len(p.emitted) >= cap:
                p.queued = False
                self._block(p)
                continue
            record = buffer.popleft()
            if buffer:
                ready.append(p)
            else:
                p.queued = False
            offset = record.offset()
            failures = 0
            if p.replay:
                failures = p.replay.pop(offset, 0)
            if p.taken_upto is None or offset >= p.taken_upto:
                p.taken_upto = offset + 1
            try:
                out = translate(record)
            except Exception as exc:
                self._drop(p, offset, f"translator raised {type(exc).__name__}: {exc}", exc)
                continue
            if out is None:
                continue          # skipped: done at once, committed past
            stream, values = out
            p.inflight[offset] = [stream, values, failures]
            p.emitted.append(offset)
            emit(values, stream, message_id=(p.topic, p.partition, offset))
            return True
        return False

    def _poll(self) -> None:
        try:
            records = self._consumer.consume(self._batch, 0)
        except KafkaException as exc:
            self._on_error(exc.args[0] if exc.args else exc)
            return
        if not records:
            return
        parts = self._parts
        ready = self._ready
        healthy = False
        for record in records:
            err = record.error()
            if err is not None:
                if err.code() == _EOF:
                    p = parts.get((record.topic(), record.partition()))
                    if p is not None:
                        p.eof = True
                else:
                    self._on_error(err)
                continue
            healthy = True
            p = parts.get((record.topic(), record.partition()))
            if p is None:
                continue          # not ours any more
            offset = record.offset()
            upto = p.fetched_upto
            if upto is not None and offset < upto:
                continue          # fetched before (a client-side re-fetch): already tracked
            p.fetched_upto = offset + 1
            if p.first_fetched is None:
                p.first_fetched = offset
                if p.taken_upto is None:
                    p.taken_upto = offset       # below where this assignment began: not ours
            taken = p.taken_upto
            if taken is not None and offset < taken and offset not in p.replay:
                continue          # restored from a checkpoint: done before it
            p.eof = False
            p.buffer.append(record)
            if not p.queued and not p.blocked:
                p.queued = True
                ready.append(p)
        if healthy and self._outage.down:
            self._recovered()

    # -- outcomes ----------------------------------------------------------------------

    def ack(self, msg_id):
        topic, partition, offset = msg_id
        p = self._parts.get((topic, partition))
        if p is not None:
            p.inflight.pop(offset, None)

    def fail(self, msg_id):
        topic, partition, offset = msg_id
        p = self._parts.get((topic, partition))
        if p is None:
            return                # revoked: the new owner replays from the commit
        entry = p.inflight.get(offset)
        if entry is None:
            return
        failures = entry[2] + 1
        if self._max_retries is not None and failures > self._max_retries:
            self._drop(p, offset, f"failed {failures} times (max_retries={self._max_retries})")
            return
        entry[2] = failures
        heapq.heappush(self._retries, (monotonic() + self._retry.delay_s(failures), next(self._seq), p, offset, entry))

    def _drop(self, p: _Partition, offset: int, reason: str, cause: BaseException | None = None) -> None:
        # Storm gives a record up after maxRetries: it is acked for the commit, and lost.
        p.inflight.pop(offset, None)
        self.counts["dropped"] += 1
        err = KafkaRecordDroppedError(reason, (p.topic, p.partition, offset))
        if cause is not None:
            err.__cause__ = cause
        self.collector.report_error(err)

    # -- commits -----------------------------------------------------------------------

    def _commit(self, asynchronous: bool, only: list[_Partition] | None = None) -> None:
        consumer = getattr(self, "_consumer", None)
        if consumer is None:
            return
        offsets = []
        for p in (self._parts.values() if only is None else only):
            point = p.commit_point()
            if point is not None and point != p.requested:
                p.requested = point
                offsets.append(TopicPartition(p.topic, p.partition, point))
        if not offsets:
            return
        self._send_commit(consumer, offsets, asynchronous)

    def _on_commit(self, err, partitions) -> None:
        parts = self._parts
        cap = self._cap
        for tp in partitions:
            p = parts.get((tp.topic, tp.partition))
            if p is None:
                continue
            if err is not None or tp.error is not None:
                p.requested = p.committed          # send it again next period
                continue
            offset = tp.offset
            if p.committed is None or offset > p.committed:
                p.committed = offset
            emitted = p.emitted
            while emitted and emitted[0] < offset:
                emitted.popleft()
            if p.blocked and len(emitted) < cap:
                self._unblock(p)
        if err is not None or any(tp.error is not None for tp in partitions):
            self.counts["commit_errors"] += 1
            self._on_error(err if err is not None else next(tp.error for tp in partitions if tp.error))
        elif partitions and self._outage.down:
            self._recovered()

    def _block(self, p: _Partition) -> None:
        if not p.blocked:
            p.blocked = True
            self._consumer.pause([TopicPartition(p.topic, p.partition)])

    def _unblock(self, p: _Partition) -> None:
        p.blocked = False
        if not p.gone:
            self._consumer.resume([TopicPartition(p.topic, p.partition)])
            if p.buffer and not p.queued:
                p.queued = True
                self._ready.append(p)

    # -- group membership --------------------------------------------------------------

    def _on_assign(self, consumer, partitions) -> None:
        ignore_commits = self.config.first_poll_offset_strategy.ignores_commits
        start = OFFSET_BEGINNING if self.config.first_poll_offset_strategy.reset == "earliest" else OFFSET_END
        self._assigned_once = True
        fresh = []
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if ignore_commits and key not in self._seen:
                tp.offset = start
            self._seen.add(key)
            old = self._parts.get(key)
            if old is not None:
                old.gone = True
            p = self._parts[key] = _Partition(tp.topic, tp.partition)
            restored = self._positions.pop(key, None)
            if restored is not None:
                tp.offset = p.restore(restored)     # the checkpoint wins over commits and strategy
            elif self._checkpointed:
                fresh.append((tp, p))
        if fresh:
            self._resolve_start(consumer, fresh)
        consumer.assign(partitions)
        log.info("KafkaSpout assigned %s", [(tp.topic, tp.partition) for tp in partitions])

    def _resolve_start(self, consumer, fresh: list[tuple[TopicPartition, _Partition]]) -> None:
        # Checkpointed: turn the logical start (committed offset, else the strategy's
        # end of the log) into a number, so that the next checkpoint holds a position
        # for this partition even if nothing was read from it yet. If the brokers do not
        # answer, the first record read sets it instead.
        reset = self.config.first_poll_offset_strategy.reset
        try:
            stored = [tp for tp, _ in fresh if tp.offset < 0 and tp.offset not in (OFFSET_BEGINNING, OFFSET_END)]
            committed = {(c.topic, c.partition): c.offset
                         for c in (consumer.committed(stored, timeout=10) if stored else [])}
            for tp, p in fresh:
                offset = committed.get((tp.topic, tp.partition), tp.offset)
                if offset < 0:
                    low, high = consumer.get_watermark_offsets(tp, timeout=10)
                    if offset == OFFSET_END or (offset != OFFSET_BEGINNING and reset == "latest"):
                        offset = high
                    else:
                        offset = low
                tp.offset = p.taken_upto = offset
        except KafkaException as exc:
            log.warning("KafkaSpout: start offsets not resolved (%s); set by the first records read", exc)

    def _on_revoke(self, consumer, partitions) -> None:
        mine = [p for p in (self._parts.get((tp.topic, tp.partition)) for tp in partitions) if p is not None]
        if mine and not self._outage.down and not self._checkpointed:
            try:
                self._commit(asynchronous=False, only=mine)
            except Exception as exc:
                log.warning("KafkaSpout: commit on revoke failed (the new owner replays): %s", exc)
        self._forget(partitions)

    def _on_lost(self, consumer, partitions) -> None:
        self._forget(partitions)

    def _forget(self, partitions) -> None:
        for tp in partitions:
            p = self._parts.pop((tp.topic, tp.partition), None)
            if p is not None:
                p.gone = True
                p.buffer.clear()
                p.inflight.clear()
        log.info("KafkaSpout revoked %s", [(tp.topic, tp.partition) for tp in partitions])

    # -- checkpoints -------------------------------------------------------------------

    def init_state(self, state):
        """Resume from the checkpoint in ``state``; again while running: roll back to it.

        Partitions the state holds resume at their checkpointed position when assigned
        (or at once, by a seek, if they are assigned already); an assigned partition
        the state does not hold goes back to where this assignment began reading.
        """
        self.state = state
        self._checkpointed = True
        self._staged = None
        self._positions = dict(state.get(_POSITIONS) or {})
        self._retries.clear()
        self._ready.clear()
        consumer = self._consumer
        seeks = []
        for key, old in list(self._parts.items()):
            old.gone = True
            p = self._parts[key] = _Partition(old.topic, old.partition)
            restored = self._positions.pop(key, None)
            if restored is not None:
                offset = p.restore(restored)
            elif old.first_fetched is not None:
                offset = p.taken_upto = old.first_fetched
            else:
                offset = None          # nothing read from it yet: its position did not move
                p.taken_upto = old.taken_upto
            if old.blocked:
                consumer.resume([TopicPartition(old.topic, old.partition)])
            if offset is not None:
                seeks.append(TopicPartition(old.topic, old.partition, offset))
        try:
            for tp in seeks:
                consumer.seek(tp)
        except KafkaException as exc:
            # Seek refused (the partition's fetcher in a state that does not take it):
            # assign the whole assignment again, each partition at its position.
            log.warning("KafkaSpout: seek on rollback failed (%s); assigning again", exc)
            wanted = {(tp.topic, tp.partition): tp.offset for tp in seeks}
            current = consumer.position([TopicPartition(t, part) for t, part in self._parts])
            consumer.assign([TopicPartition(tp.topic, tp.partition, wanted.get((tp.topic, tp.partition), tp.offset))
                             for tp in current])

    def pre_prepare(self, txid):
        """Put the position of every assigned partition into the state (see the module doc)."""
        if not self._assigned_once:
            positions = dict(self._positions)       # not in the group yet: keep what was restored
        else:
            positions = {}
            for key, p in self._parts.items():
                pos = p.position()
                if pos is not None:
                    positions[key] = pos
        self.state.put(_POSITIONS, positions)
        offsets = [TopicPartition(t, part, min(pending, default=upto))
                   for (t, part), (upto, pending) in positions.items() if (t, part) in self._parts]
        self._staged = (txid, offsets)

    def checkpoint_complete(self, txid):
        """Commit the positions of checkpoint ``txid`` to the consumer group (asynchronously)."""
        staged = self._staged
        if staged is None or staged[0] != txid:
            return
        self._staged = None
        self._completed_offsets = staged[1]
        self._commit_checkpoint(asynchronous=True)

    def _commit_checkpoint(self, asynchronous: bool) -> None:
        consumer = getattr(self, "_consumer", None)
        offsets = [tp for tp in self._completed_offsets if (tp.topic, tp.partition) in self._parts]
        if consumer is None or not offsets:
            return
        offsets = [TopicPartition(tp.topic, tp.partition, tp.offset) for tp in offsets]
        self._send_commit(consumer, offsets, asynchronous)

    def _send_commit(self, consumer, offsets: list, asynchronous: bool) -> None:
        self.counts["commits"] += 1
        if asynchronous:
            consumer.commit(offsets=offsets, asynchronous=True)
            return
        try:
            done = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self._on_commit(exc.args[0] if exc.args else exc, offsets)
            raise
        self._on_commit(None, done or [])

    # -- errors ------------------------------------------------------------------------

    def _on_error(self, err) -> None:
        """The client's ``error_cb`` (and errors of polls and commits): report an outage once."""
        text = self._last_error = reason(err)
        fatal = getattr(err, "fatal", lambda: False)()
        if self._outage.failed() or fatal:      # a fatal error ends the client: always said
            if self._outage.outages > self.counts["outages"]:
                self.counts["outages"] = self._outage.outages
            self.collector.report_error(KafkaOutageError(text, self._component, self.config.bootstrap_servers))

    def _recovered(self) -> None:
        self._outage.succeeded()
        self._last_error = None
