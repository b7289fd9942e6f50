"""Write a bounded sequence of messages to a topic and wait for the broker's word.

For command-line feeders (``squall smartcar produce``), not for topologies: a bolt
uses :class:`~squall.connectors.kafka.bolt.KafkaBolt`, which acks per delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import logging

from confluent_kafka import Producer

from ..urls import mask_url
from .client import ClientLog, await_brokers, reason

__all__ = ["SendReport", "send_all"]

log = logging.getLogger("squall.connectors.kafka")


@dataclass
class SendReport:
    """How a :func:`send_all` went: messages handed over, confirmed, failed, unconfirmed."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    unconfirmed: int = 0
    errors: list[str] = field(default_factory=list)   # the first few delivery errors


def send_all(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]],
             timeout_s: float = 60.0, startup_timeout_s: float | None = None) -> SendReport:
    """Produce ``(key, value)`` messages to ``topic`` with an idempotent producer
    (``acks=all``) and wait up to ``timeout_s`` for the last confirmations.

    First waits up to ``startup_timeout_s`` (default: ``timeout_s``) for the brokers to
    answer and ``topic`` to exist. An outage while sending is logged once (WARNING),
    librdkafka's own lines are throttled.

    Raises:
        KafkaStartupError: the brokers did not answer, or ``topic`` does not exist,
            within ``startup_timeout_s``; nothing was sent.
    """
    report = SendReport()
    outage: list[str] = []         # the first error of the outage in progress, once logged

    def delivered(err, msg):
        if err is None:
            report.delivered += 1
        else:
            report.failed += 1
            if len(report.errors) < 5:
                report.errors.append(str(err))

    def on_error(err):
        if not outage:
            outage.append(reason(err))
            log.warning("Kafka %s unreachable: %s; retrying", mask_url(bootstrap), outage[0])

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                         "message.timeout.ms": int(timeout_s * 1000), "enable.idempotence": True,
                         "logger": ClientLog(log), "error_cb": on_error})
    await_brokers(producer, bootstrap, timeout_s if startup_timeout_s is None else startup_timeout_s,
                  f"producer to {topic!r}", (topic,),
                  last_error=lambda: outage[0] if outage else None)
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)        # local queue full: let deliveries drain
        report.sent += 1
        if report.sent % 10000 == 0:
            producer.poll(0)
    report.unconfirmed = producer.flush(timeout_s)
    return report
