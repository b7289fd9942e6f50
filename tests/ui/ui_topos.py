"""A topology the CLI tests run by name (``tests.ui.ui_topos:numbers``), and the
checkpointed components the metrics tests run here and in Ray's worker processes."""

from __future__ import annotations

import time

from squall import Bolt, Spout, Stateful, TopologyBuilder
from squall.testing import ListSink


class Numbers(Spout):
    """Emits 0, 1, 2, ... reliably, one every ``pause_s`` seconds, for as long as it runs
    or up to ``limit`` numbers."""

    def __init__(self, pause_s: float = 0.0, limit: int | None = None) -> None:
        self.pause_s = pause_s
        self.limit = limit

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def open(self, config, context, collector):
        self.collector = collector
        self.n = 0

    def next_tuple(self):
        if self.limit is not None and self.n >= self.limit:
            return
        self.collector.emit([self.n], message_id=self.n)
        self.n += 1
        if self.pause_s:
            time.sleep(self.pause_s)


def numbers():
    b = TopologyBuilder()
    b.set_spout("numbers", Numbers(0.005))
    b.set_bolt("sink", ListSink("ui-cli-numbers")).shuffle_grouping("numbers")
    return b


class Counting(Stateful, Spout):
    """0, 1, 2, ... reliably; its checkpointed position is the next number (a few bytes)."""

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def open(self, config, context, collector):
        self.collector = collector

    def init_state(self, state):
        self.state = state
        self.n = state.get("next", 0)

    def pre_prepare(self, txid):
        self.state.put("next", self.n)

    def next_tuple(self):
        self.collector.emit([self.n], message_id=self.n)
        self.n += 1


class Collecting(Stateful, Bolt):
    """Keeps every number it saw in one state value that grows with each, pausing
    ``pause_s`` per tuple (to keep a run going)."""

    def __init__(self, pause_s: float = 0.0) -> None:
        self.pause_s = pause_s

    def init_state(self, state):
        self.state = state
        self.seen = list(state.get("seen", []))

    def pre_prepare(self, txid):
        self.state.put("seen", self.seen)

    def process(self, tup):
        if self.pause_s:
            time.sleep(self.pause_s)
        self.seen.append(tup.values[0])
        self.collector.ack(tup)
