"""Kafka under checkpoints, against a real broker: KafkaSpout -> a stateful counter ->
KafkaBolt (exactly-once, transactional), killed again and again.

Exactly-once means: the counter's final state equals the input's key counts, and the
output topic, read with ``isolation.level=read_committed``, holds every ``(key, n)``
for n = 1..count exactly once, however often the worker was killed. The spout resumes
from the checkpoint, not from the group's committed offsets.

The module also runs as a script (``python test_kafka_checkpoint.py BOOTSTRAP IN OUT
GROUP STATE_DIR PREFIX``): one worker run to the end of the input, for the kill -9 test.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import pytest

from squall import Bolt, Stateful, TopologyBuilder
from squall.config import CHECKPOINT_INTERVAL_MS, CHECKPOINT_MODE, EXACTLY_ONCE, MAX_SPOUT_PENDING
from squall.connectors.kafka import DefaultRecordTranslator, KafkaBolt, KafkaSpout, KafkaSpoutConfig
from squall.runtime.worker import Worker
from squall.state import RocksDBStateBackend

KEYS = [f"car{i}" for i in range(5)]

# Kill switch: the worker is stopped (no drain, no final checkpoint) once the counters
# have processed ``after`` tuples in the current run, or at the first checkpoint
# completed after they processed ``after_checkpoint``.
KILL = {"worker": None, "after": None, "after_checkpoint": None, "seen": 0}


class KeyCounter(Stateful, Bolt):
    """Counts per key in its state; emits ``(key, "key n")`` for the n-th record of a key."""

    def declare_output_fields(self, declarer):
        declarer.declare(["key", "message"])

    def process(self, t):
        KILL["seen"] += 1
        if KILL["after"] is not None and KILL["seen"] == KILL["after"]:
            KILL["worker"].stop()
        k = t["value"]
        c = self.state.get(k, 0) + 1
        self.state.put(k, c)
        self.collector.emit([k, f"{k} {c}"], anchors=[t])
        self.collector.ack(t)

    def checkpoint_complete(self, txid):
        if KILL["after_checkpoint"] is not None and KILL["seen"] >= KILL["after_checkpoint"]:
            KILL["worker"].stop()


class PublishFailsAt(KafkaBolt):
    """Stops the worker in the first ``checkpoint_complete`` with records to publish
    once the counters processed ``after`` tuples, and returns before publishing: a
    crash between the checkpoint's decision and the Kafka commit."""

    def __init__(self, *args, after: int, **kw):
        super().__init__(*args, **kw)
        self.after = after
        self.crashed_at = None

    def checkpoint_complete(self, txid):
        if self.crashed_at is None and KILL["seen"] >= self.after and self._segments:
            self.crashed_at = txid
            KILL["worker"].stop()
            return
        super().checkpoint_complete(txid)


def spout_config(bootstrap, in_topic, group, static=True):
    # Static membership: a run restarted after a kill -9 gets every partition back at
    # once, not only those the dead member does not hold (see KafkaSpoutConfig).
    return KafkaSpoutConfig(bootstrap, group, topics=(in_topic,), stop_at_end=True,
                            translator=DefaultRecordTranslator(value_decoder=bytes.decode),
                            consumer_config={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
                            static_membership=static)


def topology(bootstrap, in_topic, out_topic, group, prefix, sink=None, static=True):
    b = TopologyBuilder()
    b.set_spout("kafka", KafkaSpout(spout_config(bootstrap, in_topic, group, static)))
    b.set_bolt("count", KeyCounter(), 2).fields_grouping("kafka", ["value"])
    b.set_bolt("out", sink or KafkaBolt(bootstrap, out_topic, transactional_id_prefix=prefix)).shuffle_grouping("count")
    return b.build()


def conf(interval_ms=100):
    return {CHECKPOINT_MODE: EXACTLY_ONCE, CHECKPOINT_INTERVAL_MS: interval_ms, MAX_SPOUT_PENDING: 500}


def run_once(topo, state_dir, kill_after=None, interval_ms=100, kill_after_checkpoint=None):
    backend = RocksDBStateBackend(state_dir).open()
    try:
        worker = Worker(topo, conf(interval_ms), state_backend=backend)
        KILL.update(worker=worker, after=kill_after, after_checkpoint=kill_after_checkpoint, seen=0)
        worker.run(until_complete=True)
    finally:
        KILL.update(worker=None, after=None, after_checkpoint=None)
        backend.close()
    return worker


def final_counts(state_dir, topo):
    backend = RocksDBStateBackend(state_dir).open()
    try:
        counts = {}
        for task in topo.task_ids("count"):
            with backend.state("count", task) as st:
                counts.update(dict(st.items()))
        return counts
    finally:
        backend.close()


def feed(produce, topic, n, partitions, seed):
    rng = random.Random(seed)
    rows = [rng.choice(KEYS) for _ in range(n)]
    for p in range(partitions):
        produce(topic, rows[p::partitions], partition=p)
    return rows


def read_committed(bootstrap, topic, partitions, timeout_s=30.0):
    """Every message of ``topic`` a read_committed consumer sees, to the end of each partition."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, at_end = [], set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(at_end) < partitions and time.monotonic() < deadline:
            for m in c.consume(500, 0.2):
                if m.error() is None:
                    out.append(m.value().decode())
                    at_end.discard(m.partition())
                elif m.error().code() == m.error()._PARTITION_EOF:
                    at_end.add(m.partition())
        assert len(at_end) == partitions, f"{topic} not read to its end in {timeout_s} s"
        return out
    finally:
        c.close()


def expected(rows):
    totals = Counter(rows)
    return Counter(f"{k} {c}" for k, n in totals.items() for c in range(1, n + 1)), dict(totals)


def commit_group(bootstrap, group, topic, offsets):
    """Overwrite ``group``'s committed offsets (the group has no live member)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in enumerate(offsets)], asynchronous=False)
    finally:
        c.close()


def test_kills_at_random_points_count_and_publish_each_record_exactly_once(kafka, topic, produce, committed,
                                                                           tmp_path):
    t_in, t_out = topic(3), topic(2)
    rows = feed(produce, t_in, 15000, 3, seed=7)
    group, prefix = f"g-{uuid.uuid4().hex[:8]}", f"eo-{uuid.uuid4().hex[:8]}"
    topo = topology(kafka.bootstrap, t_in, t_out, group, prefix)
    rng = random.Random(7)
    kills, skipped, checkpointed_kills = 0, 0, 0
    while True:
        w = run_once(topo, tmp_path / "state", kill_after=rng.randint(300, 2000) if kills < 6 else None,
                     interval_ms=10)
        (sink,) = [t.obj for t in w.bolt_tasks if t.component == "out"]
        skipped += sink.skipped_on_recovery
        if w.completed:
            break
        kills += 1
        checkpointed_kills += sink.transactions > 0
        assert kills <= 6, "a run without a kill did not complete"
    assert kills == 6 and w.checkpoint_stats.recovered_txid is not None
    assert checkpointed_kills >= 3, "most killed runs should have published something first"
    assert not [e for e in w.stats()["out"].last_errors], w.stats()["out"].last_errors
    want, totals = expected(rows)
    assert final_counts(tmp_path / "state", topo) == totals
    got = Counter(read_committed(kafka.bootstrap, t_out, 2))
    assert not {m: n for m, n in got.items() if n > 1}, "published twice"
    assert got == want
    # Offsets are committed to the group when a checkpoint completes: at the end, the end.
    assert committed(group, t_in, 3) == [5000, 5000, 5000]
    # A kill between checkpoints leaves the last one's records in the state, published:
    # the restart found them under the marker and did not publish them again.
    assert skipped > 0


def test_restart_resumes_from_the_checkpoint_not_from_the_group_offsets(kafka, topic, produce, tmp_path):
    t_in, t_out = topic(2), topic(1)
    rows = feed(produce, t_in, 2000, 2, seed=3)
    group, prefix = f"g-{uuid.uuid4().hex[:8]}", f"eo-{uuid.uuid4().hex[:8]}"
    # Dynamic members leave the group on close: it is empty when the test commits for it.
    topo = topology(kafka.bootstrap, t_in, t_out, group, prefix, static=False)
    w = run_once(topo, tmp_path / "state", kill_after_checkpoint=600, interval_ms=1)
    assert not w.completed
    in_checkpoint = sum(final_counts(tmp_path / "state", topo).values())
    assert 600 <= in_checkpoint < 2000
    # The group's offsets now say "all read"; the checkpoint says otherwise and wins.
    commit_group(kafka.bootstrap, group, t_in, [1000, 1000])
    w = run_once(topo, tmp_path / "state")
    assert w.completed
    want, totals = expected(rows)
    assert final_counts(tmp_path / "state", topo) == totals
    # Now they say "nothing read": a restart must not read anything again.
    commit_group(kafka.bootstrap, group, t_in, [0, 0])
    more = feed(produce, t_in, 400, 2, seed=4)
    w = run_once(topo, tmp_path / "state")
    assert w.completed
    want, totals = expected(rows + more)
    assert final_counts(tmp_path / "state", topo) == totals
    assert Counter(read_committed(kafka.bootstrap, t_out, 1)) == want


def test_a_crash_between_the_checkpoint_decision_and_the_kafka_commit_publishes_on_recovery(
        kafka, topic, produce, tmp_path):
    t_in, t_out = topic(1), topic(1)
    rows = feed(produce, t_in, 1500, 1, seed=5)
    group, prefix = f"g-{uuid.uuid4().hex[:8]}", f"eo-{uuid.uuid4().hex[:8]}"
    sink = PublishFailsAt(kafka.bootstrap, t_out, transactional_id_prefix=prefix, after=500)
    w = run_once(topology(kafka.bootstrap, t_in, t_out, group, prefix, sink=sink), tmp_path / "state",
                 interval_ms=1)
    (live,) = [t.obj for t in w.bolt_tasks if t.component == "out"]
    assert not w.completed and live.crashed_at is not None
    assert w.checkpoint_stats.last_txid == live.crashed_at
    # That checkpoint is decided, its records are in the state and not in Kafka.
    published = Counter(read_committed(kafka.bootstrap, t_out, 1))
    w = run_once(topology(kafka.bootstrap, t_in, t_out, group, prefix), tmp_path / "state")
    assert w.completed and w.checkpoint_stats.recovered_txid == live.crashed_at
    (live,) = [t.obj for t in w.bolt_tasks if t.component == "out"]
    assert live.skipped_on_recovery == 0          # the marker was older: published on recovery
    want, _ = expected(rows)
    got = Counter(read_committed(kafka.bootstrap, t_out, 1))
    assert got == want and sum(published.values()) < sum(want.values())


def test_kill_9_at_random_moments_then_the_same_command_again(kafka, topic, produce, tmp_path):
    t_in, t_out = topic(2), topic(2)
    rows = feed(produce, t_in, 20000, 2, seed=11)
    group, prefix = f"g-{uuid.uuid4().hex[:8]}", f"eo-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, __file__, kafka.bootstrap, t_in, t_out, group, str(tmp_path / "state"), prefix]
    rng = random.Random(11)
    topo = topology(kafka.bootstrap, t_in, t_out, group, prefix)
    kills, progress = 0, []          # records in the last checkpoint at each kill
    for attempt in range(12):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if kills < 3:
            # Killed once it has made progress (a checkpoint line), at a random moment after.
            line = proc.stdout.readline()
            while line and not line.startswith("checkpoint"):
                line = proc.stdout.readline()
            time.sleep(rng.uniform(0.0, 0.3))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
                kills += 1
                progress.append(sum(final_counts(tmp_path / "state", topo).values()))
                continue
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        break
    else:
        pytest.fail("the command never completed")
    assert kills >= 2           # a run may reach the end before its kill
    assert any(0 < n < len(rows) for n in progress), f"no kill fell mid-input: {progress}"
    want, totals = expected(rows)
    assert final_counts(tmp_path / "state", topo) == totals
    got = Counter(read_committed(kafka.bootstrap, t_out, 2))
    assert not {m: n for m, n in got.items() if n > 1}, "published twice"
    assert got == want


def _main(bootstrap, t_in, t_out, group, state_dir, prefix):
    """One run to the end of the input; prints a line per completed checkpoint."""
    import logging
    import threading

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(name)s %(message)s")
    logging.getLogger("squall.connectors.kafka").setLevel(logging.INFO)

    topo = topology(bootstrap, t_in, t_out, group, prefix)
    backend = RocksDBStateBackend(state_dir).open()
    worker = Worker(topo, conf(50), state_backend=backend)

    def report():
        last = 0
        while worker.finished_at is None:
            st = worker.checkpoint_stats
            if st is not None and st.completed > last:
                last = st.completed
                print(f"checkpoint {st.last_txid}", flush=True)
            time.sleep(0.02)

    threading.Thread(target=report, daemon=True).start()
    try:
        worker.run(until_complete=True)
    finally:
        backend.close()
    return 0 if worker.completed else 1


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:]))
