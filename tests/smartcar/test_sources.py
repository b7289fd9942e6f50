"""The feed spouts: replay after failure, and a reader that breaks is reported, not hidden."""

from squall import Bolt, TopologyBuilder
from squall.component import TopologyContext
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
    progress = result.stats["source"].metrics
    assert progress["read"] == 2 and progress["replayed"] == 2
    assert progress["source_error"] == "OSError: disk went away"
    assert any("disk went away" in e for e in result.stats["source"].last_errors)


class Three(FeedSpout):
    def readings(self):
        for i in range(3):
            yield Reading(i, "c", f"line-{i}", f"f:{i}", None)


class Emits:
    def __init__(self):
        self.ids = []

    def emit(self, values, stream="default", message_id=None, direct_task=None):
        self.ids.append(message_id)
        return []


def test_a_failed_record_waits_a_backoff_that_doubles_with_each_failure(monkeypatch):
    from squall_smartcar import sources
    now = [100.0]
    monkeypatch.setattr(sources.time, "monotonic", lambda: now[0])
    spout, out = Three("backoff-test", 0), Emits()
    spout.open({}, TopologyContext(None, "source", 1, (1,)), out)
    spout.next_tuple()                       # record 0
    spout.fail(0)
    spout.next_tuple()                       # not due yet: the next record instead
    assert out.ids == [0, 1]
    now[0] += 0.002
    spout.next_tuple()
    assert out.ids == [0, 1, 0]              # due after 2 ms
    spout.fail(0)                            # second failure: 4 ms
    now[0] += 0.003
    spout.next_tuple()
    assert out.ids == [0, 1, 0, 2]
    now[0] += 0.001
    spout.next_tuple()
    assert out.ids == [0, 1, 0, 2, 0]
    spout.ack(0)
    spout.ack(1)
    spout.ack(2)
    spout.next_tuple()
    assert spout.exhausted()
