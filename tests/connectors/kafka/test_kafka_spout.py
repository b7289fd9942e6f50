"""KafkaSpout against a real broker: offsets, commits, retries, caps, strategies, faults."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest

from squall import Bolt
from squall.config import MAX_SPOUT_PENDING, MESSAGE_TIMEOUT_SECS
from squall.connectors.kafka import (DefaultRecordTranslator, FirstPollOffsetStrategy, KafkaOutageError,
                                     KafkaSpout, KafkaSpoutConfig, RetryBackoff)
from squall.runtime import LocalCluster
from squall.topology import TopologyBuilder


def wait_until(cond, timeout_s, what, step_s=0.05):
    """Poll ``cond()`` until truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")

_lock = threading.Lock()
_seen: dict[str, list[tuple[float, int, int, str]]] = defaultdict(list)   # name -> (t, partition, offset, value)


class Recorder(Bolt):
    """Records (time, partition, offset, value) of every tuple; fails the offsets of
    ``fail`` ({(partition, offset): times}, -1 = always) that many times; acks the rest
    (unless ``ack=False``)."""

    def __init__(self, name, fail=None, ack=True):
        self.name = name
        self.fail_plan = dict(fail or {})
        self.ack = ack

    def prepare(self, config, context, collector):
        self.collector = collector
        self.failures = Counter()

    def process(self, tup):
        _, partition, offset, _, value, _ = tup.values
        with _lock:
            _seen[self.name].append((time.monotonic(), partition, offset, value))
        plan = self.fail_plan.get((partition, offset))
        if plan is not None and (plan < 0 or self.failures[(partition, offset)] < plan):
            self.failures[(partition, offset)] += 1
            self.collector.fail(tup)
        elif self.ack:
            self.collector.ack(tup)


def seen(name):
    with _lock:
        return list(_seen[name])


def values(name):
    return [v for _, _, _, v in seen(name)]


def spout_config(kafka, topics, group, **kw):
    kw.setdefault("offset_commit_period_s", 0.2)
    kw.setdefault("translator", DefaultRecordTranslator(value_decoder=bytes.decode))
    kw.setdefault("consumer_config", {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    return KafkaSpoutConfig(kafka.bootstrap, group, topics=topics, **kw)


def topology(cfg, name, parallelism=1, **bolt_kw):
    b = TopologyBuilder()
    b.set_spout("kafka", KafkaSpout(cfg), parallelism)
    b.set_bolt("sink", Recorder(name, **bolt_kw)).shuffle_grouping("kafka")
    return b.build()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def spouts(cluster, name):
    return [t.obj for t in cluster._handle(name).worker.spout_tasks]


def errors(cluster, name):
    return cluster.get_stats(name)["kafka"].last_errors


CONF = {MESSAGE_TIMEOUT_SECS: 30}


def test_reads_every_record_once_and_commits_to_the_end(kafka, topic, produce, committed):
    t = topic(3)
    for p in range(3):
        produce(t, [f"{p}-{i}" for i in range(100)], partition=p)
    group, name = unique("g"), unique("all")
    with LocalCluster() as cluster:
        cluster.submit_topology("t", CONF, topology(spout_config(kafka, [t], group), name))
        wait_until(lambda: len(seen(name)) >= 300, 30, "300 records")
        wait_until(lambda: committed(group, t, 3) == [100, 100, 100], 10, "commits to the end")
        time.sleep(0.3)
        got = values(name)
    assert len(got) == 300 and set(got) == {f"{p}-{i}" for p in range(3) for i in range(100)}
    # Per partition, offsets arrive in order.
    for p in range(3):
        offs = [o for _, pp, o, _ in seen(name) if pp == p]
        assert offs == list(range(100))


def test_commit_stops_at_a_gap_and_retry_succeeds_after_backoff(kafka, topic, produce, committed):
    t = topic(2)
    produce(t, [f"a{i}" for i in range(20)], partition=0)
    produce(t, [f"b{i}" for i in range(20)], partition=1)
    group, name = unique("g"), unique("gap")
    # (0, 5) fails forever (and keeps being retried): the commit of p0 must hold at 5.
    # (1, 7) fails twice, then succeeds, after 0.3 s then 0.4 s of backoff.
    retry = RetryBackoff(initial_delay_s=0.2, delay_period_s=0.1, max_delay_s=60)
    plan = {(0, 5): -1, (1, 7): 2}
    with LocalCluster() as cluster:
        cluster.submit_topology("t", CONF, topology(spout_config(kafka, [t], group, retry=retry), name,
                                                      fail=plan))
        wait_until(lambda: len([1 for _, p, o, _ in seen(name) if (p, o) == (1, 7)]) >= 3, 20,
                   "three deliveries of (1, 7)")
        wait_until(lambda: committed(group, t, 2) == [5, 20], 10, "commits [5, 20]")
        time.sleep(0.6)
        assert committed(group, t, 2) == [5, 20]
        stats = cluster.get_stats("t")["kafka"]
        assert stats.failed >= 3
    times = [ts for ts, p, o, _ in seen(name) if (p, o) == (1, 7)]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.3 - 0.02 and times[2] - times[1] >= 0.4 - 0.02
    # Everything else exactly once; (0, 5) retried with growing delays.
    counts = Counter((p, o) for _, p, o, _ in seen(name))
    assert counts[(0, 5)] >= 3 and all(c == 1 for k, c in counts.items() if k not in {(1, 7), (0, 5)})
    assert len(counts) == 40


def test_max_retries_gives_the_record_up_and_commits_past_it(kafka, topic, produce, committed):
    t = topic(1)
    produce(t, [f"r{i}" for i in range(10)])
    group, name = unique("g"), unique("maxr")
    retry = RetryBackoff(initial_delay_s=0.0, delay_period_s=0.05, max_retries=2, max_delay_s=1)
    with LocalCluster() as cluster:
        cluster.submit_topology("t", CONF, topology(spout_config(kafka, [t], group, retry=retry), name,
                                                      fail={(0, 3): -1}))
        wait_until(lambda: committed(group, t, 1) == [10], 20, "commit past the given-up record")
        (spout,) = spouts(cluster, "t")
        assert spout.counts["dropped"] == 1 and spout.counts["retried"] == 2
        assert any("dropped" in e for e in errors(cluster, "t"))
    assert Counter(o for _, _, o, _ in seen(name))[3] == 3     # first emit + 2 retries


def test_max_uncommitted_offsets_caps_emission(kafka, topic, produce, committed):
    t = topic(2)
    produce(t, [f"a{i}" for i in range(50)], partition=0)
    produce(t, [f"b{i}" for i in range(50)], partition=1)
    group, name = unique("g"), unique("cap")
    with LocalCluster() as cluster:
        # Nothing is acked: each partition stops after 10 emitted, uncommitted offsets.
        cluster.submit_topology("t", CONF, topology(
            spout_config(kafka, [t], group, max_uncommitted_offsets=10), name, ack=False))
        wait_until(lambda: len(seen(name)) >= 20, 20, "20 records")
        time.sleep(1.0)
        per_partition = Counter(p for _, p, _, _ in seen(name))
        assert per_partition == {0: 10, 1: 10}
    # Acked, the same cap lets everything through as commits catch up.
    name2 = unique("cap2")
    with LocalCluster() as cluster:
        cluster.submit_topology("t", CONF, topology(
            spout_config(kafka, [t], unique("g"), max_uncommitted_offsets=10, offset_commit_period_s=0.05),
            name2))
        wait_until(lambda: len(seen(name2)) >= 100, 30, "100 records through the cap")


def test_latest_and_earliest_strategies(kafka, topic, produce, committed):
    t = topic(1)
    produce(t, [f"old{i}" for i in range(20)])
    group, latest, earliest = unique("g"), unique("latest"), unique("earliest")
    with LocalCluster() as cluster:
        cluster.submit_topology("t", CONF, topology(
            spout_config(kafka, [t], group, first_poll_offset_strategy=FirstPollOffsetStrategy.LATEST), latest))
        (spout,) = spouts(cluster, "t")
        wait_until(lambda: spout._parts, 20, "partition assignment")
        time.sleep(0.5)    # the position (end of log) is fetched after assignment
        produce(t, [f"new{i}" for i in range(5)])
        wait_until(lambda: len(seen(latest)) >= 5, 20, "the 5 new records")
        wait_until(lambda: committed(group, t, 1) == [25], 10, "commit at 25")
    assert values(latest) == [f"new{i}" for i in range(5)]
    # EARLIEST ignores the group's commit (25) on first assignment and reads from 0.
    with LocalCluster() as cluster:
        cluster.submit_topology("t", CONF, topology(
            spout_config(kafka, [t], group, first_poll_offset_strategy="earliest"), earliest))
        wait_until(lambda: len(seen(earliest)) >= 25, 20, "all 25 records")
    assert sorted(values(earliest)) == sorted([f"old{i}" for i in range(20)] + [f"new{i}" for i in range(5)])


def test_restart_with_same_group_resumes_from_committed_offsets(kafka, topic, produce, committed):
    t = topic(1)
    produce(t, [f"v{i}" for i in range(100)])
    group, run1, run2 = unique("g"), unique("run1"), unique("run2")
    retry = RetryBackoff(initial_delay_s=60)          # offset 30 stays failed during run 1
    with LocalCluster() as cluster:
        cluster.submit_topology("t", CONF, topology(spout_config(kafka, [t], group, retry=retry), run1,
                                                      fail={(0, 30): -1}))
        wait_until(lambda: len(seen(run1)) >= 100, 20, "run 1 reads 100")
        wait_until(lambda: committed(group, t, 1) == [30], 10, "commit held at 30")
    # Killed (not drained) with offset 30 still failing: the restart replays from 30.
    produce(t, [f"v{i}" for i in range(100, 150)])
    with LocalCluster() as cluster:
        cluster.submit_topology("t", CONF, topology(spout_config(kafka, [t], group), run2))
        wait_until(lambda: len(seen(run2)) >= 120, 20, "run 2 reads from 30")
        wait_until(lambda: committed(group, t, 1) == [150], 10, "commit at 150")
        time.sleep(0.3)
    assert [o for _, _, o, _ in seen(run2)] == list(range(30, 150))
    acked = {v for _, p, o, v in seen(run1) if o != 30} | set(values(run2))
    assert acked == {f"v{i}" for i in range(150)}


def test_two_spouts_in_one_group_split_partitions_and_rebalance_loses_nothing(kafka, topic, produce, committed):
    t = topic(4)
    group, a, b = unique("g"), unique("a"), unique("b")
    everything = []

    def send(n0, n1):
        batch = [f"m{i}" for i in range(n0, n1)]
        for p in range(4):
            produce(t, batch[p::4], partition=p)
        everything.extend(batch)

    send(0, 200)
    with LocalCluster() as cluster:
        cluster.submit_topology("a", CONF, topology(spout_config(kafka, [t], group), a))
        wait_until(lambda: len(seen(a)) >= 200, 20, "spout a reads the first 200")
        cluster.submit_topology("b", CONF, topology(spout_config(kafka, [t], group), b))
        (sb,) = spouts(cluster, "b")
        wait_until(lambda: sb._parts, 20, "spout b gets partitions")
        (sa,) = spouts(cluster, "a")
        wait_until(lambda: len(sa._parts) + len(sb._parts) == 4 and not set(sa._parts) & set(sb._parts),
                   20, "a split of the 4 partitions")
        assert len(sa._parts) == 2 and len(sb._parts) == 2
        send(200, 400)
        wait_until(lambda: set(values(a)) | set(values(b)) >= set(everything), 20, "400 records")
        cluster.kill_topology("b")                     # b leaves: a takes all 4 again
        wait_until(lambda: len(sa._parts) == 4, 20, "a owns all partitions")
        send(400, 500)
        wait_until(lambda: set(values(a)) | set(values(b)) >= set(everything), 20, "500 records")
        wait_until(lambda: committed(group, t, 4) == [125] * 4, 10, "commits at the end")
    got = values(a) + values(b)
    assert set(got) == set(everything)
    assert {p for _, p, _, _ in seen(b)}, "b read nothing"


def test_broker_restart_mid_run_loses_nothing_and_reports_the_outage(kafka, topic, produce, committed, caplog):
    caplog.set_level("WARNING", logger="squall.connectors.kafka")
    t = topic(2)
    group, name = unique("g"), unique("outage")
    produce(t, [f"x{i}" for i in range(100)], partition=0)
    produce(t, [f"y{i}" for i in range(100)], partition=1)
    with LocalCluster() as cluster:
        cluster.submit_topology("t", {**CONF, MAX_SPOUT_PENDING: 50}, topology(spout_config(kafka, [t], group), name))
        wait_until(lambda: len(seen(name)) >= 200, 20, "200 records")
        kafka.restart()
        (spout,) = spouts(cluster, "t")
        wait_until(lambda: spout.counts["outages"] >= 1, 20, "the outage to be seen")
        produce(t, [f"x{i}" for i in range(100, 150)], partition=0)
        produce(t, [f"y{i}" for i in range(100, 150)], partition=1)
        wait_until(lambda: len(set(values(name))) >= 300, 60, "300 records after the restart")
        wait_until(lambda: committed(group, t, 2) == [150, 150], 20, "commits after the restart")
        assert cluster._handle("t").running
        errs = errors(cluster, "t")
    assert set(values(name)) == {f"{c}{i}" for c in "xy" for i in range(150)}
    outage_reports = [e for e in errs if KafkaOutageError.__name__ in e]
    assert 1 <= len(outage_reports) <= 3, errs      # once per outage, not once per poll
    recoveries = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(recoveries) == len(outage_reports), [r.getMessage() for r in recoveries]
    # librdkafka's own lines during the restart: throttled per facility, not one per retry.
    client_lines = [r for r in caplog.records if r.name == "squall.connectors.kafka" and r.levelno >= 30
                    and "reachable again" not in r.getMessage()]
    assert len(client_lines) <= 10, [r.getMessage() for r in client_lines]


def test_stop_at_end_makes_a_bounded_run(kafka, topic, produce, committed):
    from squall.runtime import run_topology

    t = topic(2)
    produce(t, [f"e{i}" for i in range(30)], partition=0)
    produce(t, [f"f{i}" for i in range(30)], partition=1)
    group, name = unique("g"), unique("bounded")
    res = run_topology(topology(spout_config(kafka, [t], group, stop_at_end=True), name), CONF, timeout_s=30)
    assert res.completed and len(seen(name)) == 60
    assert committed(group, t, 2) == [30, 30]          # the final synchronous commit on close
