"""A real Kafka broker (KRaft, from Maven Central jars) for the connector tests, and helpers."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:      # `tests.services` when pytest runs without `python -m`
    sys.path.insert(0, str(_ROOT))


confluent_kafka = pytest.importorskip("confluent_kafka", reason="pip install squall[kafka]")


@pytest.fixture
def topic(kafka):
    """``topic(partitions=1)`` -> the name of a new topic."""
    def make(partitions: int = 1) -> str:
        return kafka.create_topic(f"t-{uuid.uuid4().hex[:10]}", partitions)
    return make


@pytest.fixture
def produce(kafka):
    """``produce(topic, values, partition=None, keys=None)``: write and wait for every delivery."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 5})

    def send(topic, values, partition=None, keys=None):
        failed = []
        for i, v in enumerate(values):
            kwargs = {} if partition is None else {"partition": partition}
            producer.produce(topic, v, None if keys is None else keys[i],
                             on_delivery=lambda err, msg: err and failed.append(err), **kwargs)
        left = producer.flush(30)
        assert not left and not failed, (left, failed)
    return send


@pytest.fixture
def committed(kafka):
    """``committed(group, topic, partitions)`` -> [offset per partition] (-1001: none)."""
    from confluent_kafka import Consumer, TopicPartition

    def read(group, topic, partitions):
        c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
            return [tp.offset for tp in tps]
        finally:
            c.close()
    return read


@pytest.fixture
def consume_all(kafka):
    """``consume_all(topic, n, timeout_s)`` -> the first n messages of ``topic`` (or fewer on timeout)."""
    from confluent_kafka import Consumer

    def read(topic, n, timeout_s=20.0):
        c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe([topic])
        out = []
        deadline = time.monotonic() + timeout_s
        try:
            while len(out) < n and time.monotonic() < deadline:
                for m in c.consume(n - len(out), 0.5):
                    if m.error() is None:
                        out.append(m)
            return out
        finally:
            c.close()
    return read
