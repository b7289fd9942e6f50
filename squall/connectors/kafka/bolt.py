"""``KafkaBolt``: produces tuples to Kafka; acks each input only once the broker confirmed it.

Semantics: storm-kafka-client ``KafkaBolt`` (``TopicSelector``, ``TupleToKafkaMapper``,
``FieldNameBasedTupleToKafkaMapper``); acks in the producer's delivery callback, as
Storm's non-fire-and-forget mode.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from confluent_kafka import KafkaException, Producer

from ...component import Bolt
from ...config import TICK_TUPLE_FREQ_SECS
from ...tuple import TICK_STREAM, Tuple
from .errors import KafkaDeliveryError, KafkaOutageError

__all__ = ["KafkaBolt", "TopicSelector", "DefaultTopicSelector", "FieldNameTopicSelector",
           "TupleToKafkaMapper", "FieldNameBasedTupleToKafkaMapper"]

log = logging.getLogger("squall.connectors.kafka")


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


class KafkaBolt(Bolt):
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

    Each tuple is acked in its delivery callback when the broker confirmed it, failed
    when delivery failed (the error is reported with the topic), and failed at once if
    the client refuses it (queue full, message too large). The bolt emits nothing.

    Threading: callbacks run inside ``poll``/``flush`` on the bolt's thread.
    """

    def __init__(self, bootstrap_servers: str, topic: str | TopicSelector,
                 mapper: TupleToKafkaMapper | None = None, flush_timeout_s: float = 1.0,
                 poll_interval_s: float = 0.2, producer_config: Mapping[str, Any] | None = None) -> None:
        if not bootstrap_servers:
            raise ValueError("KafkaBolt needs bootstrap_servers 'host:port'")
        if flush_timeout_s < 0 or poll_interval_s <= 0:
            raise ValueError("KafkaBolt: flush_timeout_s must be >= 0 and poll_interval_s > 0")
        self.bootstrap_servers = bootstrap_servers
        self.selector = DefaultTopicSelector(topic) if isinstance(topic, str) else topic
        self.mapper = mapper or FieldNameBasedTupleToKafkaMapper()
        self.flush_timeout_s = flush_timeout_s
        self.poll_interval_s = poll_interval_s
        self.producer_config = dict(producer_config or {})

    def component_configuration(self):
        return {TICK_TUPLE_FREQ_SECS: self.poll_interval_s}

    def prepare(self, config, context, collector):
        self.collector = collector
        props = {"acks": "all", "message.timeout.ms": 20000, **self.producer_config,
                 "bootstrap.servers": self.bootstrap_servers, "error_cb": self._on_error}
        props.setdefault("client.id", f"squall-{context.component_id}-{context.task_id}")
        props.setdefault("logger", log)       # librdkafka's log lines through logging, not stderr
        self._producer = Producer(props)
        self._select = self.selector.select
        self._key_value = self.mapper.key_value
        self._outage = False
        self.unconfirmed = 0      # produced, delivery not yet reported

    def process(self, tup):
        self.process_batch([tup])

    def process_batch(self, tuples):
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
            except (BufferError, KafkaException) as exc:
                collector.report_error(KafkaDeliveryError(f"{type(exc).__name__}: {exc}", topic))
                collector.fail(tup)
                continue
            except Exception as exc:
                collector.report_error(exc)
                collector.fail(tup)
                continue
            self.unconfirmed += 1
        producer.poll(0)
        if self.unconfirmed:
            producer.flush(self.flush_timeout_s)

    def _delivered(self, tup, topic, err, msg) -> None:
        self.unconfirmed -= 1
        if err is None:
            if self._outage:
                self._outage = False
                log.warning("KafkaBolt: deliveries confirmed again")
            self.collector.ack(tup)
        else:
            self.collector.report_error(KafkaDeliveryError(str(err), topic))
            self.collector.fail(tup)

    def _on_error(self, err) -> None:
        if not self._outage:
            self._outage = True
            self.collector.report_error(KafkaOutageError(str(err), "KafkaBolt"))

    def cleanup(self):
        producer = getattr(self, "_producer", None)
        if producer is not None:
            producer.flush(self.flush_timeout_s)
