"""``KafkaBolt``: produces tuples to Kafka; acks each input only once the broker confirmed it.

At least once (no state backend, or ``squall.checkpoint.mode = at-least-once``): each
tuple is produced at once and acked in its delivery callback; a replayed tuple is
produced again.

Exactly once (a state backend and ``squall.checkpoint.mode = exactly-once``) the bolt
is a two-phase-commit sink, as Flink's ``KafkaSink`` with ``DeliveryGuarantee.
EXACTLY_ONCE``: records received since the last checkpoint are buffered (and their
tuples acked); ``pre_prepare`` puts them into the task's state; ``checkpoint_complete``
produces them inside one Kafka transaction of a transactional producer
(``transactional.id`` = ``<transactional_id_prefix>-<component>-<task>``) and commits
it. Records become visible to ``isolation.level=read_committed`` consumers at
checkpoint completion (latency = the checkpoint interval).

Publishing is idempotent across a crash between a checkpoint's decision and the Kafka
commit: the same transaction also commits, with ``send_offsets_to_transaction``, a
*marker* - offset = the checkpoint id, metadata = the state's run id - for the
dedicated consumer group ``squall-sink-<transactional.id>`` on partition 0 of
``transaction_marker_topic``. Records and marker commit atomically or not at all. On
recovery the producer is initialised first (``init_transactions`` aborts a transaction
a dead predecessor left open), then the marker is read: records staged by checkpoints
up to the marker were published and are dropped; the rest are published again, with
the restored checkpoint's id as the marker. So a read_committed consumer sees each
record exactly once. A Kafka error at publish time keeps the records; they go out with
the next checkpoint's transaction (they stay in every checkpoint until then).

Only one bolt task may use a ``transactional.id`` at a time: give topologies that share
component names distinct prefixes (a second producer with the same id fences the first).

Semantics: storm-kafka-client ``KafkaBolt`` (``TopicSelector``, ``TupleToKafkaMapper``,
``FieldNameBasedTupleToKafkaMapper``); acks in the producer's delivery callback, as
Storm's non-fire-and-forget mode. Exactly once: Flink ``TwoPhaseCommitSinkFunction`` /
``KafkaSink`` (pre-commit on the barrier, commit on ``notifyCheckpointComplete``,
recover-and-commit on restore); Kafka KIP-98 transactions, KIP-447 offset commits in a
transaction.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from functools import partial
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Producer, TopicPartition

from ...component import Bolt, Stateful
from ...config import CHECKPOINT_MODE, EXACTLY_ONCE, TICK_TUPLE_FREQ_SECS
from ...tuple import TICK_STREAM, Tuple
from ..urls import mask_config, mask_url
from .config import KafkaConfigError
from ..outage import Outage
from .client import ClientLog, await_brokers, reason
from .errors import KafkaDeliveryError, KafkaOutageError, KafkaTransactionError

__all__ = ["KafkaBolt", "TopicSelector", "DefaultTopicSelector", "FieldNameTopicSelector",
           "TupleToKafkaMapper", "FieldNameBasedTupleToKafkaMapper"]

log = logging.getLogger("squall.connectors.kafka")

_SEGMENTS = "segments"   # state key: [(txid that first staged them, [(topic, key, value), ...]), ...]
_RUN = "run"             # state key: this state's run id, the marker's metadata
# Delivery errors that mean "no broker took it in time", not "this record is refused".
_OUTAGE_CODES = frozenset({KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
                           KafkaError._TIMED_OUT, KafkaError._QUEUE_FULL})


class TopicSelector:
    """Picks the topic of a tuple; None means "do not produce it" (the tuple is acked)."""

    def select(self, tup: Tuple) -> str | None:
        raise NotImplementedError


class DefaultTopicSelector(TopicSelector):
    """Always the same topic."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def select(self, tup):
        return self.topic


class FieldNameTopicSelector(TopicSelector):
    """The topic is the value of field ``field``; ``default`` when it is None or empty."""

    def __init__(self, field: str, default: str | None = None) -> None:
        self.field = field
        self.default = default

    def select(self, tup):
        return tup.get(self.field) or self.default


class TupleToKafkaMapper:
    """A tuple -> ``(key, value)``; each str, bytes or None."""

    def key_value(self, tup: Tuple) -> tuple[Any, Any]:
        raise NotImplementedError


class FieldNameBasedTupleToKafkaMapper(TupleToKafkaMapper):
    """Key and value from two fields (Storm's defaults: ``key`` and ``message``);
    ``key_field=None`` produces without a key. Values that are neither str nor bytes
    are produced as ``str(value)``."""

    def __init__(self, key_field: str | None = "key", value_field: str = "message") -> None:
        self.key_field = key_field
        self.value_field = value_field

    def key_value(self, tup):
        key = tup.get(self.key_field) if self.key_field else None
        value = tup.get(self.value_field)
        if key is not None and not isinstance(key, (str, bytes)):
            key = str(key)
        if value is not None and not isinstance(value, (str, bytes)):
            value = str(value)
        return key, value


class KafkaBolt(Stateful, Bolt):
    """Produces each input tuple as one Kafka message.

    Args:
        bootstrap_servers: ``"host:port[,...]"``.
        topic: a fixed topic, or a :class:`TopicSelector` (e.g. from a field).
        mapper: tuple -> (key, value); default fields ``key`` and ``message``.
        flush_timeout_s: after producing a drained batch the bolt flushes for at most
            this long; deliveries still unconfirmed are acked or failed by a later
            batch or tick (``poll_interval_s``). Nothing blocks the worker longer.
        poll_interval_s: tick frequency that serves late delivery callbacks.
        producer_config: more librdkafka properties (``acks`` defaults to ``all``,
            ``message.timeout.ms`` to 20000 so a delivery fails before the topology's
            30 s tuple timeout would).
        transactional_id_prefix: exactly-once only; ``transactional.id`` is
            ``<prefix>-<component>-<task>``. Unique per topology writing to a cluster.
        transaction_marker_topic: exactly-once only; the topic whose partition 0 carries
            the checkpoint marker (see the module doc). Default: ``topic`` when fixed;
            required with a :class:`TopicSelector`.
        transaction_timeout_s: exactly-once only; bound of one publish (Kafka's
            ``transaction.timeout.ms``) and of each blocking transaction call.
        startup_timeout_s: None (default): never wait at start; the brokers being
            down is an outage like any other. Seconds: ``prepare`` waits at most this
            long for the brokers to answer (and a fixed ``topic`` to exist), then raises
            :class:`~squall.connectors.kafka.KafkaStartupError`, which ends the run
            (for bounded runs, e.g. ``squall collect --once``).

    Outages: the brokers being unreachable is reported once (``KafkaOutageError``),
    its end logged once (:class:`~squall.connectors.outage.Outage`); meanwhile the
    client keeps the records queued and retries, and deliveries that fail for it
    (timed out) fail their tuples without a report each. Other delivery errors are
    reported once per error code until a delivery succeeds again. librdkafka's own log
    lines are throttled (:class:`~squall.connectors.kafka.client.ClientLog`).

    At least once, each tuple is acked in its delivery callback when the broker
    confirmed it, failed when delivery failed (the error is reported with the topic),
    and failed at once if the client refuses it (queue full, message too large).
    Exactly once (a state backend and ``squall.checkpoint.mode = exactly-once``), each
    tuple is acked on receipt and its record published in the transaction of the next
    completed checkpoint; see the module doc. The bolt emits nothing.

    Threading: callbacks run inside ``poll``/``flush`` on the bolt's thread. Exactly
    once, ``checkpoint_complete`` blocks the worker for the transaction's commit (at
    most ``transaction_timeout_s``), as the checkpoint itself does.

    Counters (on the live task object): ``unconfirmed``; exactly once ``transactions``
    (committed), ``published`` (records), ``skipped_on_recovery`` (records recovery
    found already published).

    Semantics: storm-kafka-client ``KafkaBolt``; Flink ``KafkaSink`` (exactly once).
    """

    def __init__(self, bootstrap_servers: str, topic: str | TopicSelector,
                 mapper: TupleToKafkaMapper | None = None, flush_timeout_s: float = 1.0,
                 poll_interval_s: float = 0.2, producer_config: Mapping[str, Any] | None = None, *,
                 transactional_id_prefix: str = "squall", transaction_marker_topic: str | None = None,
                 transaction_timeout_s: float = 60.0, startup_timeout_s: float | None = None) -> None:
        if not bootstrap_servers:
            raise ValueError("KafkaBolt needs bootstrap_servers 'host:port'")
        if flush_timeout_s < 0 or poll_interval_s <= 0:
            raise ValueError("KafkaBolt: flush_timeout_s must be >= 0 and poll_interval_s > 0")
        if not transactional_id_prefix:
            raise KafkaConfigError("KafkaBolt: transactional_id_prefix must not be empty")
        if transaction_timeout_s <= 0:
            raise KafkaConfigError(f"KafkaBolt: transaction_timeout_s must be positive, got {transaction_timeout_s!r}")
        if startup_timeout_s is not None and not startup_timeout_s > 0:
            raise KafkaConfigError(f"KafkaBolt: startup_timeout_s must be positive or None, got {startup_timeout_s!r}")
        self.bootstrap_servers = bootstrap_servers
        self.selector = DefaultTopicSelector(topic) if isinstance(topic, str) else topic
        self.mapper = mapper or FieldNameBasedTupleToKafkaMapper()
        self.flush_timeout_s = flush_timeout_s
        self.poll_interval_s = poll_interval_s
        self.producer_config = dict(producer_config or {})
        self.transactional_id_prefix = transactional_id_prefix
        self.transaction_marker_topic = transaction_marker_topic or (topic if isinstance(topic, str) else None)
        self.transaction_timeout_s = transaction_timeout_s
        self.startup_timeout_s = startup_timeout_s

    def __repr__(self) -> str:
        topic = getattr(self.selector, "topic", self.selector)
        return (f"KafkaBolt({mask_url(self.bootstrap_servers)!r}, {topic!r}, "
                f"producer_config={mask_config(self.producer_config)!r})")

    def component_configuration(self):
        return {TICK_TUPLE_FREQ_SECS: self.poll_interval_s}

    def prepare(self, config, context, collector):
        self.collector = collector
        props = {"acks": "all", "message.timeout.ms": 20000, **self.producer_config,
                 "bootstrap.servers": self.bootstrap_servers, "error_cb": self._on_error}
        props.setdefault("client.id", f"squall-{context.component_id}-{context.task_id}")
        # librdkafka's log lines through logging, not stderr, and not one per reconnect.
        props.setdefault("logger", ClientLog(log))
        self._props = props
        self._component = f"KafkaBolt {context.component_id}[{context.task_id}]"
        self._outage = Outage(self._component, f"Kafka {self.bootstrap_servers}", log=log)
        self._reported_codes: set[int] = set()     # delivery errors reported since the last delivery
        self._last_error: str | None = None
        self._producer = Producer(props)
        if self.startup_timeout_s is not None:
            topic = self.selector.topic if isinstance(self.selector, DefaultTopicSelector) else None
            await_brokers(self._producer, self.bootstrap_servers, self.startup_timeout_s, self._component,
                          (topic,) if topic else (), last_error=lambda: self._last_error)
        self._select = self.selector.select
        self._key_value = self.mapper.key_value
        self.unconfirmed = 0      # produced, delivery not yet reported
        # Exactly once:
        self._exactly_once = config.get(CHECKPOINT_MODE) == EXACTLY_ONCE
        self._transactional = False            # until init_state: produce and ack on delivery
        self.transactional_id = f"{self.transactional_id_prefix}-{context.component_id}-{context.task_id}"
        self._buffer: list[tuple[str, Any, Any]] = []                  # records since the last pre_prepare
        self._segments: list[tuple[int, list[tuple[str, Any, Any]]]] = []   # staged, not yet published
        self._txn_producer: Producer | None = None
        self._marker_consumer: Consumer | None = None
        self._published_txid: int | None = None    # the marker, once known (None: read it before publishing)
        self._run: str | None = None
        self.transactions = self.published = self.skipped_on_recovery = 0

    def process(self, tup):
        self.process_batch([tup])

    def process_batch(self, tuples):
        if self._transactional:
            self._buffer_batch(tuples)
            return
        producer = self._producer
        produce = producer.produce
        select = self._select
        key_value = self._key_value
        delivered = self._delivered
        collector = self.collector
        for tup in tuples:
            if tup.source.stream == TICK_STREAM:
                continue
            try:
                topic = select(tup)
                if topic is None:
                    collector.ack(tup)
                    continue
                key, value = key_value(tup)
                try:
                    produce(topic, value, key, on_delivery=partial(delivered, tup, topic))
                except BufferError:
                    producer.poll(0)       # the local queue is full: serve callbacks, try once more
                    produce(topic, value, key, on_delivery=partial(delivered, tup, topic))
            except BufferError:
                self._failed(tup, topic, KafkaError._QUEUE_FULL, "the client's local queue is full")
                continue
            except KafkaException as exc:
                self._failed(tup, topic, exc.args[0].code() if exc.args else KafkaError._FAIL, reason(exc))
                continue
            except Exception as exc:
                collector.report_error(exc)
                collector.fail(tup)
                continue
            self.unconfirmed += 1
        producer.poll(0)
        if self.unconfirmed and self._outage.since is None:
            # Not during an outage: nothing would confirm, the worker would only wait.
            producer.flush(self.flush_timeout_s)

    def _buffer_batch(self, tuples) -> None:
        select = self._select
        key_value = self._key_value
        collector = self.collector
        append = self._buffer.append
        for tup in tuples:
            if tup.source.stream == TICK_STREAM:
                continue
            try:
                topic = select(tup)
                if topic is not None:
                    key, value = key_value(tup)
                    append((topic, key, value))
            except Exception as exc:
                collector.report_error(exc)
                collector.fail(tup)
                continue
            collector.ack(tup)

    def _delivered(self, tup, topic, err, msg) -> None:
        self.unconfirmed -= 1
        if err is None:
            if self._outage.since is not None:
                self._outage.succeeded()
            if self._reported_codes:
                self._reported_codes.clear()
            self.collector.ack(tup)
            return
        self._failed(tup, topic, err.code(), reason(err))

    def _failed(self, tup, topic, code: int, text: str) -> None:
        """Fail ``tup``; report the failure unless its outage or its error code already was."""
        self.collector.fail(tup)
        if code in _OUTAGE_CODES or self._outage.since is not None:
            # The brokers are gone: one report for the outage, not one per record.
            if self._outage.failed(1):
                self.collector.report_error(KafkaOutageError(text, self._component, self.bootstrap_servers))
        elif code not in self._reported_codes:
            self._reported_codes.add(code)
            self.collector.report_error(KafkaDeliveryError(
                f"{text} (more deliveries failing so are not reported until one succeeds)", topic))

    def _on_error(self, err) -> None:
        """The client's ``error_cb``: report an outage once."""
        self._last_error = reason(err)
        if self._outage.failed():
            self.collector.report_error(KafkaOutageError(self._last_error, self._component, self.bootstrap_servers))

    # -- exactly once: checkpoints ----------------------------------------------------

    def init_state(self, state):
        """Exactly once: restore the records staged but perhaps not published, and
        publish those the marker says were not (see the module doc). Again while
        running (a rollback): drop what was buffered since the last checkpoint."""
        self.state = state
        if not self._exactly_once:
            return
        if self.transaction_marker_topic is None:
            raise KafkaConfigError("KafkaBolt with a TopicSelector needs transaction_marker_topic=... "
                                   "(an existing topic) to run exactly-once")
        if not self._transactional:
            self._transactional = True
            self._producer.close()         # nothing was produced with it: the transactional one takes over
        self._buffer = []
        run = state.get(_RUN)
        if run is None:
            run = uuid.uuid4().hex
            state.put(_RUN, run)
        if run != self._run:
            self._run = run
            self._published_txid = None    # a marker from another run says nothing about this one
        self._segments = [(txid, list(records)) for txid, records in state.get(_SEGMENTS) or ()]
        if self._segments:
            self._publish(max(txid for txid, _ in self._segments))

    def pre_prepare(self, txid):
        if not self._transactional:
            return
        if self._buffer:
            self._segments.append((txid, self._buffer))
            self._buffer = []
        self.state.put(_SEGMENTS, [(t, tuple(records)) for t, records in self._segments])

    def checkpoint_complete(self, txid):
        if self._transactional and self._segments:
            self._publish(txid)

    def _publish(self, txid: int) -> None:
        """Publish every staged segment in one transaction with marker ``txid``; on a
        Kafka error keep them for the next checkpoint (reported, never raised)."""
        try:
            producer = self._ready()
            self._drop_published()
            if not self._segments:
                return
            timeout = self.transaction_timeout_s
            marker = TopicPartition(self.transaction_marker_topic, 0, txid, metadata=self._run)
            producer.begin_transaction()
            try:
                n = 0
                for _, records in self._segments:
                    for topic, key, value in records:
                        self._produce(producer, topic, key, value)
                        n += 1
                producer.send_offsets_to_transaction([marker], self._marker_consumer.consumer_group_metadata(),
                                                     timeout)
                self._commit(producer, timeout)
            except Exception as exc:
                err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
                if err is not None and err.txn_requires_abort():
                    try:
                        producer.abort_transaction(timeout)
                    except Exception:
                        self._reset_producer()
                else:
                    self._reset_producer()     # fatal or ambiguous: a new producer reads the marker again
                raise
        except Exception as exc:
            self.collector.report_error(KafkaTransactionError(
                f"publishing checkpoint {txid} ({sum(len(r) for _, r in self._segments)} records) failed, "
                f"kept for the next checkpoint: {type(exc).__name__}: {exc}", self.transactional_id))
            return
        self._published_txid = txid
        self._segments = []
        self.transactions += 1
        self.published += n

    @staticmethod
    def _produce(producer: Producer, topic: str, key: Any, value: Any) -> None:
        while True:
            try:
                producer.produce(topic, value, key)
                return
            except BufferError:
                producer.poll(0.05)         # local queue full: let deliveries drain

    @staticmethod
    def _commit(producer: Producer, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                producer.commit_transaction(max(0.1, deadline - time.monotonic()))
                return
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if err is None or not err.retriable() or time.monotonic() >= deadline:
                    raise
                # Retriable (e.g. timed out): committing again is how the client resumes.

    def _ready(self) -> Producer:
        """The transactional producer, initialised (fencing a predecessor with the same
        id, aborting its open transaction), and the marker known."""
        if self._txn_producer is None:
            props = {**self._props, "transactional.id": self.transactional_id,
                     "transaction.timeout.ms": int(self.transaction_timeout_s * 1000)}
            props.pop("error_cb", None)
            props["error_cb"] = self._on_error
            producer = Producer(props)
            producer.init_transactions(self.transaction_timeout_s)
            self._txn_producer = producer
            self._published_txid = None
        if self._marker_consumer is None:
            self._marker_consumer = Consumer({
                "bootstrap.servers": self.bootstrap_servers, "group.id": f"squall-sink-{self.transactional_id}",
                "enable.auto.commit": False, "isolation.level": "read_committed", "logger": ClientLog(log)})
        if self._published_txid is None:
            (tp,) = self._marker_consumer.committed([TopicPartition(self.transaction_marker_topic, 0)],
                                                    self.transaction_timeout_s)
            if tp.error is not None:
                raise KafkaException(tp.error)
            same_run = tp.offset != OFFSET_INVALID and tp.offset >= 0 and tp.metadata == self._run
            self._published_txid = tp.offset if same_run else 0
        return self._txn_producer

    def _drop_published(self) -> None:
        done = self._published_txid or 0
        keep = [(t, records) for t, records in self._segments if t > done]
        if len(keep) != len(self._segments):
            dropped = sum(len(r) for t, r in self._segments if t <= done)
            self.skipped_on_recovery += dropped
            log.info("KafkaBolt %s: %d records of checkpoints <= %d were published before; not again",
                     self.transactional_id, dropped, done)
            self._segments = keep

    def _reset_producer(self) -> None:
        self._txn_producer = None
        self._published_txid = None

    def cleanup(self):
        if getattr(self, "_transactional", False):
            # Nothing is in a transaction between checkpoints; what is buffered belongs
            # to no checkpoint and is replayed from the sources after a restart.
            if self._marker_consumer is not None:
                self._marker_consumer.close()
                self._marker_consumer = None
            if self._txn_producer is not None:
                self._txn_producer.close()
                self._txn_producer = None
            return
        producer = getattr(self, "_producer", None)
        if producer is not None:
            producer.flush(self.flush_timeout_s)
