"""KafkaBolt against a real broker: acks only after delivery, fails on delivery errors."""

from __future__ import annotations

import uuid

from squall.connectors.kafka import FieldNameTopicSelector, KafkaBolt
from squall.runtime import run_topology
from squall.testing import ListSpout
from squall.topology import TopologyBuilder


def build(spout, bolt):
    b = TopologyBuilder()
    b.set_spout("src", spout)
    b.set_bolt("kafka", bolt).shuffle_grouping("src")
    return b.build()


def test_round_trip_acks_every_tuple_after_delivery(kafka, topic, consume_all):
    t = topic(3)
    name = f"bolt-{uuid.uuid4().hex[:8]}"
    rows = [[f"car{i % 7}", f"line {i}"] for i in range(300)]
    res = run_topology(build(ListSpout(rows, ["key", "message"], name=name),
                             KafkaBolt(kafka.bootstrap, t)), timeout_s=30)
    assert res.completed and not ListSpout.failed(name)
    assert sorted(ListSpout.acked(name)) == list(range(300))
    assert res.stats["kafka"].acked == 300
    msgs = consume_all(t, 300)
    assert sorted((m.key().decode(), m.value().decode()) for m in msgs) == sorted(map(tuple, rows))
    # Same key, same partition.
    parts = {}
    for m in msgs:
        assert parts.setdefault(m.key(), m.partition()) == m.partition()


def test_topic_from_a_field(kafka, topic, consume_all):
    t1, t2 = topic(1), topic(1)
    name = f"bolt-{uuid.uuid4().hex[:8]}"
    rows = [[t1 if i % 2 else t2, None, f"v{i}"] for i in range(10)]
    res = run_topology(build(ListSpout(rows, ["topic", "key", "message"], name=name),
                             KafkaBolt(kafka.bootstrap, FieldNameTopicSelector("topic"))), timeout_s=30)
    assert res.completed and len(ListSpout.acked(name)) == 10
    assert sorted(m.value().decode() for m in consume_all(t1, 5)) == [f"v{i}" for i in range(1, 10, 2)]
    assert sorted(m.value().decode() for m in consume_all(t2, 5)) == [f"v{i}" for i in range(0, 10, 2)]


def test_delivery_error_fails_the_tuple_and_nothing_is_acked(kafka):
    name = f"bolt-{uuid.uuid4().hex[:8]}"
    missing = f"missing-{uuid.uuid4().hex[:8]}"     # auto.create.topics.enable=false on the broker
    bolt = KafkaBolt(kafka.bootstrap, missing, flush_timeout_s=0.5,
                     producer_config={"message.timeout.ms": 3000, "topic.metadata.propagation.max.ms": 1000})
    res = run_topology(build(ListSpout([["k", f"v{i}"] for i in range(5)], ["key", "message"], name=name,
                                       max_replays=0), bolt), timeout_s=30)
    assert res.completed
    assert ListSpout.acked(name) == [] and sorted(ListSpout.failed(name)) == list(range(5))
    assert res.stats["kafka"].failed == 5 and res.stats["kafka"].acked == 0
    assert any("KafkaDeliveryError" in e and missing in e for e in res.errors())
