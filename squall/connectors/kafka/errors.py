"""Errors of the Kafka connector."""

from __future__ import annotations

from ...errors import SquallError
from ..outage import RETRYING
from ..urls import mask_url

__all__ = ["KafkaConnectorError", "KafkaOutageError", "KafkaStartupError", "KafkaDeliveryError",
           "KafkaRecordDroppedError", "KafkaTransactionError"]


class KafkaConnectorError(SquallError):
    """Root of the Kafka connector's errors."""


class KafkaOutageError(KafkaConnectorError, ConnectionError):
    """The client lost the brokers (reported once per outage; the component keeps going).

    Attributes:
        component: who lost them (``"KafkaSpout source[2]"``).
        reason: the client's error text.
        servers: the bootstrap servers, credentials masked.
    """

    def __init__(self, reason: str, component: str, servers: str = "") -> None:
        servers = mask_url(servers)
        super().__init__(f"{component}: Kafka {servers} unreachable: {reason}; {RETRYING}" if servers else
                         f"{component}: Kafka unreachable: {reason}; {RETRYING}")
        self.reason = reason
        self.component = component
        self.servers = servers


class KafkaStartupError(KafkaConnectorError):
    """A bounded run could not start: the brokers did not answer, or a topic it reads
    did not exist, within ``startup_timeout_s``. Raised from the spout's ``open`` (the
    bolt's ``prepare``), so the run ends with it (``TopologyHandle.wait`` and
    ``run_topology`` raise it).

    Attributes:
        reason: what was missing (``"Kafka 127.0.0.1:1 unreachable: ... refused"``).
        component: who waited.
        servers: the bootstrap servers, credentials masked.
        timeout_s: how long it waited, seconds.
    """

    def __init__(self, reason: str, component: str, servers: str, timeout_s: float) -> None:
        super().__init__(f"{component}: {reason} (gave up after startup_timeout_s={timeout_s:g} s at the start "
                         f"of a bounded run)")
        self.reason = reason
        self.component = component
        self.servers = mask_url(servers)
        self.timeout_s = timeout_s


class KafkaDeliveryError(KafkaConnectorError):
    """The broker did not confirm a produced message; its input tuple was failed.

    Attributes:
        topic: the topic it was produced to.
        reason: the client's error text.
    """

    def __init__(self, reason: str, topic: str | None) -> None:
        super().__init__(f"delivery to topic {topic!r} failed: {reason}")
        self.reason = reason
        self.topic = topic


class KafkaRecordDroppedError(KafkaConnectorError):
    """A record was given up: its tuple failed more than ``max_retries`` times, or the
    translator raised on it. It is committed past (Storm's behaviour) and counted.

    Attributes:
        message_id: ``(topic, partition, offset)``.
        reason: why.
    """

    def __init__(self, reason: str, message_id: tuple[str, int, int]) -> None:
        super().__init__(f"record {message_id} dropped: {reason}")
        self.reason = reason
        self.message_id = message_id


class KafkaTransactionError(KafkaConnectorError):
    """An exactly-once ``KafkaBolt`` could not publish a checkpoint's records in a
    transaction; they are kept and go out with the next checkpoint's transaction.

    Attributes:
        transactional_id: the producer's ``transactional.id``.
        reason: what failed.
    """

    def __init__(self, reason: str, transactional_id: str) -> None:
        super().__init__(f"Kafka transaction of {transactional_id!r}: {reason}")
        self.reason = reason
        self.transactional_id = transactional_id
