"""Tail and spooling-directory sources: appends, rotation, filters, position files, replay."""

import os
import time

from squall import Bolt, TopologyBuilder
from squall.connectors.files import SpoolDirSpout, TailSpout
from squall.runtime import LocalCluster, run_topology
from squall.testing import ListSink


def wait_for(cond, timeout=10.0):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.02)


def lines(name):
    return [v[0] for v in ListSink.values(name)]


def start_tail(cluster, tmp_path, sink, **kw):
    ListSink.reset(sink)
    b = TopologyBuilder()
    b.set_spout("tail", TailSpout(str(tmp_path / "app.log"), str(tmp_path / "pos.json"),
                                  poll_interval_s=0.02, save_interval_s=0.05, **kw))
    b.set_bolt("sink", ListSink(sink)).shuffle_grouping("tail")
    return cluster.submit_topology("tail", {}, b.build())


def append(path, text, mode="ab"):
    with open(path, mode) as fh:
        fh.write(text.encode() if isinstance(text, str) else text)


def test_tail_follows_appends_rotation_and_truncation(tmp_path):
    log = tmp_path / "app.log"
    append(log, "one\ntwo\npart")
    with LocalCluster() as cluster:
        start_tail(cluster, tmp_path, "tail1")
        wait_for(lambda: lines("tail1") == [b"one", b"two"])
        append(log, "ial\nthree\n")
        wait_for(lambda: lines("tail1")[2:] == [b"partial", b"three"])
        # Rotation: the writer renames the file and starts a new one; the old file's
        # unfinished last line still counts.
        append(log, "four\nlast-of-old")
        os.rename(log, tmp_path / "app.log.1")
        append(log, "new-1\n")
        wait_for(lambda: lines("tail1")[4:] == [b"four", b"last-of-old", b"new-1"])
        # Truncation (copytruncate rotation): read again from the start.
        with open(log, "wb"):
            pass
        time.sleep(0.1)
        append(log, "after-truncate\n")
        wait_for(lambda: lines("tail1")[-1:] == [b"after-truncate"])
        cluster.kill_topology("tail", wait_secs=5)


def test_tail_restart_neither_loses_nor_repeats(tmp_path):
    log = tmp_path / "app.log"
    append(log, "".join(f"line {i}\n" for i in range(100)))
    with LocalCluster() as cluster:
        start_tail(cluster, tmp_path, "tail2")
        wait_for(lambda: len(lines("tail2")) == 100)
        cluster.kill_topology("tail", wait_secs=5)
    first = lines("tail2")
    append(log, "".join(f"line {i}\n" for i in range(100, 150)))
    with LocalCluster() as cluster:
        start_tail(cluster, tmp_path, "tail2")
        wait_for(lambda: len(lines("tail2")) == 50)
        time.sleep(0.2)
        cluster.kill_topology("tail", wait_secs=5)
    assert first + lines("tail2") == [f"line {i}".encode() for i in range(150)]


def test_tail_regex_filter_keeps_matching_lines_only(tmp_path):
    append(tmp_path / "app.log", "20240101000000,car1\n# comment\n20240101000001,car2\nnoise\n")
    with LocalCluster() as cluster:
        start_tail(cluster, tmp_path, "tail3", include=r"^\d{14}")
        wait_for(lambda: len(lines("tail3")) == 2)
        time.sleep(0.1)
        cluster.kill_topology("tail", wait_secs=5)
    assert lines("tail3") == [b"20240101000000,car1", b"20240101000001,car2"]


class FailOnce(Bolt):
    def prepare(self, config, context, collector):
        self.collector, self.seen = collector, set()

    def process(self, tup):
        ListSink.record("spool", [tup[0]])
        if tup[0].endswith(b"7") and tup[0] not in self.seen:
            self.seen.add(tup[0])
            self.collector.fail(tup)
        else:
            self.collector.ack(tup)


def run_spool(spool, **kw):
    b = TopologyBuilder()
    b.set_spout("spool", SpoolDirSpout(str(spool), stop_when_empty=True, poll_interval_s=0.01, **kw))
    b.set_bolt("sink", FailOnce()).shuffle_grouping("spool")
    assert run_topology(b.build(), timeout_s=20).completed


def test_spool_dir_reads_each_file_once_replays_failures_and_marks_completed(tmp_path):
    ListSink.reset("spool")
    spool = tmp_path / "spool"
    spool.mkdir()
    for n, name in enumerate(["a.log", "b.log"]):
        (spool / name).write_text("".join(f"{name}-{i}\n" for i in range(10)))
        os.utime(spool / name, (1000 + n, 1000 + n))
    (spool / ".hidden").write_text("ignored\n")
    run_spool(spool, include=r"-\d")
    got = [v[0] for v in ListSink.values("spool")]
    expected = [f"{n}-{i}".encode() for n in ("a.log", "b.log") for i in range(10)]
    assert sorted(set(got)) == sorted(expected)
    assert len(got) == len(expected) + 2           # a.log-7 and b.log-7 replayed once each
    assert sorted(p.name for p in spool.iterdir()) == [".hidden", ".squall-spool.json", "a.log.COMPLETED",
                                                       "b.log.COMPLETED"]
    ListSink.reset("spool")
    run_spool(spool)                                # nothing left to read
    assert ListSink.values("spool") == []


def test_spool_dir_resumes_inside_a_file_from_its_position_file(tmp_path):
    ListSink.reset("spool")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "big.log").write_text("".join(f"x{i}\n" for i in range(20)))
    # As if a previous run had delivered the first five lines (3 bytes each) and stopped.
    (spool / ".squall-spool.json").write_text('{"file": "big.log", "offset": 15}')
    run_spool(spool, delete=True)
    assert sorted(set(v[0] for v in ListSink.values("spool"))) == sorted(f"x{i}".encode() for i in range(5, 20))
    assert not (spool / "big.log").exists()
