"""The feed spouts: replay after failure, and a reader that breaks is reported, not hidden."""

from squall import Bolt, TopologyBuilder
from squall.runtime import run_topology
from squall.testing import ListSink
from squall_smartcar.obd import Reading
from squall_smartcar.sources import FeedSpout


class Broken(FeedSpout):
    def readings(self):
        yield Reading(0, "c", "line-0", "f:1", None)
        yield Reading(1, "c", "line-1", "f:2", None)
        raise OSError("disk went away")


class FailFirst(Bolt):
    def prepare(self, config, context, collector):
        self.collector, self.seen = collector, set()

    def process(self, tup):
        ListSink.record("feed", [tup[0]])
        if tup[0] not in self.seen:
            self.seen.add(tup[0])
            self.collector.fail(tup)
        else:
            self.collector.ack(tup)


def test_failed_records_are_replayed_and_a_broken_reader_is_reported():
    ListSink.reset("feed")
    b = TopologyBuilder()
    b.set_spout("source", Broken("broken-test", 0))
    b.set_bolt("sink", FailFirst()).shuffle_grouping("source")
    result = run_topology(b.build(), timeout_s=10)
    assert result.completed
    assert sorted(v[0] for v in ListSink.values("feed")) == ["line-0", "line-0", "line-1", "line-1"]
    progress = FeedSpout.progress["broken-test"]
    assert progress["read"] == 2 and progress["replayed"] == 2
    assert progress["source_error"] == "OSError: disk went away"
    assert any("disk went away" in e for e in result.stats["source"].last_errors)
