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
outage and the client keeps reconnecting.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import deque
from time import monotonic
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from ...component import Spout
from ...tuple import DEFAULT_STREAM
from .config import KafkaSpoutConfig
from .errors import KafkaConnectorError, KafkaOutageError, KafkaRecordDroppedError

__all__ = ["KafkaSpout"]

log = logging.getLogger("squall.connectors.kafka")

_EOF = KafkaError._PARTITION_EOF


class _Partition:
    """What the spout tracks for one assigned partition."""

    __slots__ = ("topic", "partition", "buffer", "inflight", "emitted", "fetched_upto", "committed",
                 "requested", "queued", "blocked", "eof", "gone")

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

    def commit_point(self) -> int | None:
        """The offset to commit: everything below it is done."""
        if self.inflight:
            return next(iter(self.inflight))        # insertion order is offset order
        if self.buffer:
            return self.buffer[0].offset()
        return self.fetched_upto


class KafkaSpout(Spout):
    """Emits each record of the subscribed topics as a tuple with message id
    ``(topic, partition, offset)``; see the module doc for the offset contract.

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
        self._outage_since: float | None = None
        self.counts = {"retried": 0, "dropped": 0, "commits": 0, "commit_errors": 0, "outages": 0}
        props = cfg.consumer_properties()
        props.setdefault("client.id", f"squall-{context.component_id}-{context.task_id}")
        props.setdefault("logger", log)       # librdkafka's log lines through logging, not stderr
        props["on_commit"] = self._on_commit
        props["error_cb"] = self._on_error
        self._consumer = Consumer(props)
        self._consumer.subscribe(cfg.subscription(), on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_lost)

    def deactivate(self):
        self._commit(asynchronous=True)

    def close(self):
        consumer = getattr(self, "_consumer", None)
        if consumer is None:
            return
        try:
            # Synchronous while the brokers answer; during an outage it could hang, so
            # the last acks are sent asynchronously and at worst replayed after restart.
            self._commit(asynchronous=self._outage_since is not None)
        except Exception as exc:
            self.collector.report_error(KafkaConnectorError(f"final commit failed: {exc}"))
        try:
            consumer.close()
        finally:
            self._consumer = None

    def exhausted(self):
        if not self.config.stop_at_end or not self._parts:
            return False
        return all(p.eof and not p.buffer and not p.inflight for p in self._parts.values())

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
            try:
                out = translate(record)
            except Exception as exc:
                self._drop(p, offset, f"translator raised {type(exc).__name__}: {exc}", exc)
                continue
            if out is None:
                continue          # skipped: done at once, committed past
            stream, values = out
            p.inflight[offset] = [stream, values, 0]
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
            p.eof = False
            p.buffer.append(record)
            if not p.queued and not p.blocked:
                p.queued = True
                ready.append(p)
        if healthy and self._outage_since is not None:
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
        elif partitions and self._outage_since is not None:
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
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if ignore_commits and key not in self._seen:
                tp.offset = start
            self._seen.add(key)
            old = self._parts.get(key)
            if old is not None:
                old.gone = True
            self._parts[key] = _Partition(tp.topic, tp.partition)
        consumer.assign(partitions)
        log.info("KafkaSpout assigned %s", [(tp.topic, tp.partition) for tp in partitions])

    def _on_revoke(self, consumer, partitions) -> None:
        mine = [p for p in (self._parts.get((tp.topic, tp.partition)) for tp in partitions) if p is not None]
        if mine and self._outage_since is None:
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

    # -- errors ------------------------------------------------------------------------

    def _on_error(self, err) -> None:
        fatal = getattr(err, "fatal", lambda: False)()
        if self._outage_since is None or fatal:
            if self._outage_since is None:
                self._outage_since = monotonic()
                self.counts["outages"] += 1
            self.collector.report_error(KafkaOutageError(str(err), "KafkaSpout"))
        else:
            log.debug("KafkaSpout: %s (outage already reported)", err)

    def _recovered(self) -> None:
        log.warning("KafkaSpout: Kafka reachable again after %.1f s", monotonic() - self._outage_since)
        self._outage_since = None
