"""Topologies the cluster tests run (importable by worker processes: tests.cluster.ray_topos)."""

from __future__ import annotations

import random
import time
from collections import Counter

from squall import Bolt, Stateful, TopologyBuilder
from squall.connectors.files import FileSinkBolt
from squall.factory import ComponentFactory
from squall.state import RocksDBStateBackend
from squall.testing import ListSink, ListSpout


class SplitBolt(Bolt):
    """Sentence -> words, anchored."""

    def declare_output_fields(self, declarer):
        declarer.declare(["word"])

    def process(self, tup):
        for w in tup[0].split():
            self.collector.emit([w], anchors=[tup])
        self.collector.ack(tup)


class CountBolt(Bolt):
    """Word -> running count, emitted per word (the count is the bolt's own state)."""

    def prepare(self, config, context, collector):
        super().prepare(config, context, collector)
        self.counts: Counter[str] = Counter()

    def declare_output_fields(self, declarer):
        declarer.declare(["word", "count"])

    def process(self, tup):
        self.counts[tup[0]] += 1
        self.collector.emit([tup[0], self.counts[tup[0]]], anchors=[tup])
        self.collector.ack(tup)


class SlowBolt(Bolt):
    """Passes tuples on after a pause: keeps a run going long enough to disturb it."""

    def __init__(self, pause_s: float) -> None:
        self.pause_s = pause_s

    def declare_output_fields(self, declarer):
        declarer.declare(["n", "tag"])

    def process(self, tup):
        time.sleep(self.pause_s)
        self.collector.emit(list(tup.values), anchors=[tup])
        self.collector.ack(tup)


WORDS = "the quick brown fox jumps over the lazy dog and the cat".split()


def sentences(n: int) -> list[list[str]]:
    return [[" ".join(WORDS[(i + j) % len(WORDS)] for j in range(1 + i % 5))] for i in range(n)]


def word_count(n: int, sink: str, spout_name: str | None = None, split: int = 2, count: int = 2):
    """Sentences -> split (shuffle) -> count (fields) -> sink; components as factories."""
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout(sentences(n), ["sentence"], name=spout_name), 1)
    b.set_bolt("split", ComponentFactory(SplitBolt), split).shuffle_grouping("sentences")
    b.set_bolt("count", ComponentFactory(CountBolt), count).fields_grouping("split", ["word"])
    b.set_bolt("sink", ListSink(sink)).global_grouping("count")
    return b.build()


def slow_numbers(n: int, sink: str, spout_name: str, pause_s: float, slow: int = 2):
    """Numbers through slow bolts spread over the workers: a run of several seconds."""
    b = TopologyBuilder()
    b.set_spout("numbers", ListSpout([[i, f"n{i}"] for i in range(n)], ["n", "tag"], name=spout_name), 2)
    b.set_bolt("slow", ComponentFactory(SlowBolt, pause_s), slow).shuffle_grouping("numbers")
    b.set_bolt("sink", ListSink(sink), 2).shuffle_grouping("slow")
    return b.build()


class KeyCounter(Stateful, Bolt):
    """key -> running count kept in checkpointed state, emitted as (key, count)."""

    def __init__(self, pause_s: float = 0.0) -> None:
        self.pause_s = pause_s

    def declare_output_fields(self, declarer):
        declarer.declare(["key", "count"])

    def process(self, tup):
        if self.pause_s:
            time.sleep(self.pause_s)
        c = self.state.get(tup["key"], 0) + 1
        self.state.put(tup["key"], c)
        self.collector.emit([tup["key"], c], anchors=[tup])
        self.collector.ack(tup)


class LineSink(FileSinkBolt):
    """'key count' lines, published when a checkpoint completes (exactly once)."""

    def format(self, tup):
        return f"{tup['key']} {tup['count']}"


KEYS = [f"k{i}" for i in range(7)]


def keyed_rows(n: int, seed: int = 1) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(KEYS)] for _ in range(n)]


def expected_lines(rows) -> set[str]:
    seen: Counter[str] = Counter()
    out = set()
    for (key,) in rows:
        seen[key] += 1
        out.add(f"{key} {seen[key]}")
    return out


def stateful_count(rows, log_path: str, pause_s: float = 0.0, count_executors: int = 2, count_tasks: int = 2):
    """Keys (2 spout tasks) -> stateful counter -> transactional line sink."""
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(rows, ["key"]), 2)
    b.set_bolt("count", ComponentFactory(KeyCounter, pause_s), count_executors, count_tasks) \
        .fields_grouping("src", ["key"])
    b.set_bolt("log", ComponentFactory(LineSink, log_path)).global_grouping("count")
    return b.build()


def rocksdb_partition(base: str, partition: str) -> RocksDBStateBackend:
    """One state partition (a task's, a worker's record): its own RocksDB directory."""
    return RocksDBStateBackend(f"{base}/{partition}")
