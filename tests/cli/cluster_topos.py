"""Topologies that tests/cli/test_cluster_cli.py runs through ``squall local`` and
``squall submit`` in another process: each ATTR shape the commands accept.

The sinks are :class:`~squall.testing.ListSink` journals, files readable from the test's
process when the command runs with ``SQUALL_TESTKIT_DIR`` set to the test's kit directory.
"""

from __future__ import annotations

import time
from collections import Counter

from squall.component import BasicBolt, Spout, Stateful
from squall.testing import ListSink, ListSpout
from squall.topology import TopologyBuilder

SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs"] * 5
WORDCOUNT_SINK = "cli-wordcount"
ENDLESS_SINK = "cli-endless"


def expected_counts() -> Counter:
    return Counter(w for s in SENTENCES for w in s.split(" "))


class SplitBolt(BasicBolt):
    def declare_output_fields(self, declarer):
        declarer.declare(["word"])

    def execute(self, tup, collector):
        for word in tup["sentence"].split(" "):
            collector.emit([word])


class CountBolt(BasicBolt):
    """A running count per task: a word split across tasks never reaches its total."""

    def declare_output_fields(self, declarer):
        declarer.declare(["word", "count"])

    def prepare_basic(self, config, context):
        self.counts = Counter()

    def execute(self, tup, collector):
        word = tup["word"]
        self.counts[word] += 1
        collector.emit([word, self.counts[word]])


def word_count_builder() -> TopologyBuilder:
    """sentences (ListSpout) -> split (shuffle, 2) -> count (fields on word, 2) -> sink."""
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([[s] for s in SENTENCES], ["sentence"]))
    b.set_bolt("split", SplitBolt(), 2).shuffle_grouping("sentences")
    b.set_bolt("count", CountBolt(), 2).fields_grouping("split", ["word"])
    b.set_bolt("sink", ListSink(WORDCOUNT_SINK)).shuffle_grouping("count")
    return b


def word_count():
    """A bounded word count: ATTR as a function returning a Topology."""
    return word_count_builder().build()


class SlowNumbers(Spout):
    """Emits 0, 1, 2, ... forever, reliably, one every few milliseconds."""

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def open(self, config, context, collector):
        self.collector = collector
        self.next = 0

    def next_tuple(self):
        self.collector.emit([self.next], message_id=self.next)
        self.next += 1
        time.sleep(0.005)


class StatefulNumbers(Stateful, SlowNumbers):
    """SlowNumbers whose position is checkpointed (so the topology can be rebalanced)."""

    def init_state(self, state):
        self.state = state
        self.next = state.get("next", 0)

    def pre_prepare(self, txid):
        self.state.put("next", self.next)


def endless_stateful():
    """endless, with a checkpointed spout."""
    b = TopologyBuilder()
    b.set_spout("numbers", StatefulNumbers())
    b.set_bolt("sink", ListSink(ENDLESS_SINK)).shuffle_grouping("numbers")
    return b.build()


def endless():
    """An unbounded topology: numbers -> sink, until it is killed."""
    b = TopologyBuilder()
    b.set_spout("numbers", SlowNumbers())
    b.set_bolt("sink", ListSink(ENDLESS_SINK)).shuffle_grouping("numbers")
    return b.build()


NOT_A_TOPOLOGY = 42
