"""A topology the CLI tests run by name (``tests.ui.ui_topos:numbers``)."""

from __future__ import annotations

import time

from squall import Spout, TopologyBuilder
from squall.testing import ListSink


class SlowNumbers(Spout):
    """Emits 0, 1, 2, ... reliably, one every 5 ms, until stopped."""

    def declare_output_fields(self, declarer):
        declarer.declare(["n"])

    def open(self, config, context, collector):
        self.collector = collector
        self.n = 0

    def next_tuple(self):
        self.collector.emit([self.n], message_id=self.n)
        self.n += 1
        time.sleep(0.005)


def numbers():
    b = TopologyBuilder()
    b.set_spout("numbers", SlowNumbers())
    b.set_bolt("sink", ListSink("ui-cli-numbers")).shuffle_grouping("numbers")
    return b
