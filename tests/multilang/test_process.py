"""The handshake and heartbeats, driven directly (no runtime)."""

from __future__ import annotations

import json
import os
import sys
import time

from squall.component import TopologyContext
from squall.multilang import JsonSerializer, ShellBolt, ShellProcessError
from squall.multilang.process import ShellProcess
from squall.testing import ListSink, ListSpout, RecordingCollector
from squall.topology import TopologyBuilder

PY = sys.executable


def _context(bolt: ShellBolt, conf: dict) -> tuple[TopologyContext, dict]:
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([["a b"]], ["sentence"]))
    b.set_bolt("split", bolt, 2).fields_grouping("sentences", ["sentence"])
    b.set_bolt("sink", ListSink("ml-unit")).shuffle_grouping("split")
    topo = b.build()
    task = topo.task_ids("split")[1]
    return TopologyContext(topo, "split", task, topo.task_ids("split"), frozenset(), conf), conf


def test_handshake_sends_conf_context_and_pid_dir_and_the_child_writes_its_pid_file(component_dir):
    ctx, conf = _context(ShellBolt([PY, "handshake.py"], fields=["word"]), {"test.key": "v1"})
    proc = ShellProcess([PY, "handshake.py"], "split[3]", JsonSerializer(), cwd=str(component_dir))
    pid = proc.launch(conf, ctx, timeout_s=30)
    try:
        report = proc.next_message(timeout_s=30)
        assert report["command"] == "log"
        # storm.py writes its pid file right after the pid reply, before this log.
        assert os.path.exists(os.path.join(proc._pid_dir, str(pid)))
    finally:
        proc.kill()
    got = json.loads(report["msg"])
    assert got["test.key"] == "v1"
    c = got["context"]
    assert c["taskid"] == ctx.task_id and c["componentid"] == "split"
    assert c["task->component"] == {str(t): n for t, n in ctx.topology.component_of_task().items()}
    assert c["streams"] == ["default"] and c["stream->outputfields"] == {"default": ["word"]}
    assert c["source->stream->grouping"] == {"sentences": {"default": {"type": "FIELDS", "fields": ["sentence"]}}}
    assert c["source->stream->fields"] == {"sentences": {"default": ["sentence"]}}
    assert c["stream->target->grouping"] == {"default": {"sink": {"type": "SHUFFLE"}}}


def _poll_for(bolt: ShellBolt, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        bolt.poll()
        time.sleep(0.01)


def test_an_idle_child_that_answers_heartbeats_is_kept(component_dir):
    bolt = ShellBolt([PY, "handshake.py"], fields=["word"], cwd=str(component_dir))
    ctx, conf = _context(bolt, {"topology.subprocess.timeout.secs": 1.5})
    rec = RecordingCollector()
    bolt.prepare(conf, ctx, rec)
    try:
        first = bolt.process.pid
        _poll_for(bolt, 3.5)    # more than twice the timeout without a tuple
        assert bolt.restarts == 0 and bolt.process.pid == first, rec.errors
    finally:
        bolt.cleanup()


def test_a_child_that_stops_answering_is_killed_and_restarted(component_dir):
    bolt = ShellBolt([PY, "deaf.py"], fields=["word"], cwd=str(component_dir))
    ctx, conf = _context(bolt, {"topology.subprocess.timeout.secs": 1})
    rec = RecordingCollector()
    bolt.prepare(conf, ctx, rec)
    try:
        first = bolt.process
        _poll_for(bolt, 2.5)
        assert bolt.restarts >= 1
        assert not first.alive()
        timeouts = [e for e in rec.errors if isinstance(e, ShellProcessError)]
        assert timeouts and "split[" in str(timeouts[0]) and "subprocess timeout" in str(timeouts[0])
    finally:
        bolt.cleanup()
