"""Write a bounded sequence of messages to a topic and wait for the broker's word.

For command-line feeders (``squall smartcar produce``), not for topologies: a bolt
uses :class:`~squall.connectors.kafka.bolt.KafkaBolt`, which acks per delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Producer

__all__ = ["SendReport", "send_all"]


@dataclass
class SendReport:
    """How a :func:`send_all` went: messages handed over, confirmed, failed, unconfirmed."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    unconfirmed: int = 0
    errors: list[str] = field(default_factory=list)   # the first few delivery errors


def send_all(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]],
             timeout_s: float = 60.0) -> SendReport:
    """Produce ``(key, value)`` messages to ``topic`` with an idempotent producer
    (``acks=all``) and wait up to ``timeout_s`` for the last confirmations."""
    report = SendReport()

    def delivered(err, msg):
        if err is None:
            report.delivered += 1
        else:
            report.failed += 1
            if len(report.errors) < 5:
                report.errors.append(str(err))

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                         "message.timeout.ms": int(timeout_s * 1000), "enable.idempotence": True})
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
