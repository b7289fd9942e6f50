"""Shell components running Storm's own adapters (storm.py, storm.js) unchanged."""

from __future__ import annotations

import shutil
import sys
import time
import warnings
from collections import Counter
from contextlib import contextmanager

import pytest

from squall.config import ConfigWarning
from squall.multilang import ShellBolt, ShellSpout
from squall.runtime import run_topology
from squall.runtime.local import LocalCluster
from squall.testing import ListSink, ListSpout
from squall.topology import TopologyBuilder

SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs",
             "i am at two with nature"]
WORDS = Counter(w for s in SENTENCES for w in s.split(" "))
PY = sys.executable


def _split_topology(name: str, bolt: ShellBolt) -> TopologyBuilder:
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([[s] for s in SENTENCES], ["sentence"], name=name))
    b.set_bolt("split", bolt).shuffle_grouping("sentences")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("split")
    return b


@contextmanager
def _storm_keys_allowed():
    """Runs with the multilang config keys, which squall.config may still list as
    Storm settings it lacks (a ConfigWarning, not what these tests are about)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        yield


def _reset(name: str) -> None:
    ListSpout.reset(name)
    ListSink.reset(name)


@pytest.mark.parametrize("runtime,script", [("node", "exclamation.js"), ("ruby", "exclamation.rb")])
def test_python_split_then_exclamation_in_another_language(component_dir, runtime, script):
    if shutil.which(runtime) is None:
        pytest.skip(f"{runtime} is not installed (.ci/run installs it from Debian's packages)")
    name = f"ml-split-excl-{runtime}"
    _reset(name)
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([[s] for s in SENTENCES], ["sentence"], name=name))
    b.set_bolt("split", ShellBolt([PY, "splitsentence.py"], fields=["word"], cwd=str(component_dir)),
               2).shuffle_grouping("sentences")
    b.set_bolt("exclaim", ShellBolt([runtime, script], fields=["word"], cwd=str(component_dir))
               ).shuffle_grouping("split")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("exclaim")
    result = run_topology(b.build())
    assert result.completed, result.errors()
    assert Counter(v[0] for v in ListSink.values(name)) == Counter({f"{w}!!!": n for w, n in WORDS.items()})
    assert sorted(ListSpout.acked(name)) == list(range(len(SENTENCES)))
    assert ListSpout.failed(name) == []


@pytest.mark.parametrize("mode", ["exit", "hang"])
def test_child_that_dies_or_hangs_is_restarted_and_its_pending_tuples_replay(component_dir, mode):
    name = f"ml-crash-{mode}"
    _reset(name)
    marker = component_dir / "crashed"
    conf = {"test.crash.marker": str(marker), "test.crash.mode": mode,
            "topology.subprocess.timeout.secs": 2}
    topo = _split_topology(name, ShellBolt([PY, "crashonce.py"], fields=["word"], cwd=str(component_dir)))
    with _storm_keys_allowed():
        result = run_topology(topo.build(), conf)
    assert result.completed, result.errors()
    assert marker.exists()      # the first child did fail
    # The first child acked and emitted nothing, so every word arrives exactly once.
    assert Counter(v[0] for v in ListSink.values(name)) == WORDS
    assert sorted(ListSpout.acked(name)) == list(range(len(SENTENCES)))
    assert ListSpout.failed(name)   # its pending tuples failed, then replayed
    why = "exited" if mode == "exit" else "sent nothing for"
    assert any("split[" in e and why in e for e in result.errors()), result.errors()


def test_garbage_on_stdout_is_reported_with_the_component_and_the_line(component_dir):
    name = "ml-garbage"
    _reset(name)
    topo = _split_topology(name, ShellBolt([PY, "garbage.py"], fields=["word"], cwd=str(component_dir)))
    result = run_topology(topo.build(), timeout_s=3)
    assert not result.completed
    errors = [e for e in result.errors() if "ShellProtocolError" in e]
    assert errors, result.errors()
    assert "split[" in errors[0] and "'debug: got a tuple'" in errors[0]
    assert ListSink.values(name) == []


def test_missing_script_fails_at_prepare_naming_the_component_and_its_stderr(component_dir):
    from squall.multilang import ShellProcessError
    topo = _split_topology("ml-missing", ShellBolt([PY, "no_such_bolt.py"], fields=["word"],
                                                   cwd=str(component_dir)))
    with pytest.raises(ShellProcessError, match=r"split\[\d+\].*no_such_bolt.py.*exited") as err:
        run_topology(topo.build())
    assert "No such file" in str(err.value)


@pytest.mark.parametrize("crash", [False, True], ids=["healthy", "child-exits-once"])
def test_shell_spout_emits_and_gets_acks(component_dir, crash):
    name = f"ml-spout-{crash}"
    ListSink.reset(name)
    acked_file = component_dir / "acked.txt"
    marker = component_dir / "spout-crashed"
    conf = {"test.acked.file": str(acked_file)}
    if crash:
        conf["test.crash.marker"] = str(marker)
    b = TopologyBuilder()
    b.set_spout("sentences", ShellSpout([PY, "sentencespout.py"], fields=["sentence"], cwd=str(component_dir)))
    b.set_bolt("split", ShellBolt([PY, "splitsentence.py"], fields=["word"], cwd=str(component_dir))
               ).shuffle_grouping("sentences")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("split")
    expected = Counter(w for s in ["the cow jumped over the moon", "an apple a day keeps the doctor away",
                                   "four score and seven years ago", "snow white and the seven dwarfs"]
                       for w in s.split(" "))
    with LocalCluster() as cluster:
        cluster.submit_topology(name, conf, b.build())
        # A guard against a hang, not a speed claim: the run normally takes well under a second.
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            if acked_file.exists() and set(acked_file.read_text().split()) == {"0", "1", "2", "3"}:
                break
            time.sleep(0.05)
        errors = cluster.get_stats(name)["sentences"].last_errors
        cluster.kill_topology(name, wait_secs=0)
    acked = [int(i) for i in acked_file.read_text().split()]
    words = Counter(v[0] for v in ListSink.values(name))
    if not crash:
        assert sorted(acked) == [0, 1, 2, 3]
        assert words == expected
        return
    # The replacement child starts over, so the first two sentences may come twice,
    # and it is told the acks of its predecessor's tuples too.
    assert marker.exists() and set(acked) == {0, 1, 2, 3}
    assert words.keys() == expected.keys() and all(words[w] >= n for w, n in expected.items())
    assert any("sentences[" in e and "exited" in e for e in errors), errors


class _BoundRecordingShellBolt(ShellBolt):
    """Records the most tuples ever pending in the child after a batch was taken."""

    most_pending = 0

    def process_batch(self, tuples):
        super().process_batch(tuples)
        cls = _BoundRecordingShellBolt
        cls.most_pending = max(cls.most_pending, self.in_flight())


def test_pending_tuples_are_bounded_by_shellbolt_max_pending(component_dir):
    name = "ml-bound"
    _reset(name)
    _BoundRecordingShellBolt.most_pending = 0
    sentences = SENTENCES * 40
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([[s] for s in sentences], ["sentence"], name=name))
    b.set_bolt("split", _BoundRecordingShellBolt([PY, "splitsentence.py"], fields=["word"],
                                                 cwd=str(component_dir))).shuffle_grouping("sentences")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("split")
    # A spout batch of 200 tuples lands in the shell bolt's inbox at once: unbounded,
    # all 200 would be written to the child before it acks any.
    conf = {"topology.shellbolt.max.pending": 3, "squall.spout.batch.size": 200}
    with _storm_keys_allowed():
        result = run_topology(b.build(), conf)
    assert result.completed, result.errors()
    assert 1 <= _BoundRecordingShellBolt.most_pending <= 3
    assert Counter(v[0] for v in ListSink.values(name)) == Counter({w: n * 40 for w, n in WORDS.items()})


_METRICS: list = []


def _record_metric(params):
    _METRICS.append(params)


def test_named_streams_task_ids_log_error_and_metrics(component_dir, caplog):
    name = "ml-probe"
    for n in (name, f"{name}-upper", f"{name}-tasks"):
        ListSink.reset(n)
    ListSpout.reset(name)
    _METRICS.clear()
    words = ["alpha", "beta", "gamma"]
    b = TopologyBuilder()
    b.set_spout("words", ListSpout([[w] for w in words], ["word"], name=name))
    b.set_bolt("probe", ShellBolt([PY, "probe.py"], fields=["word"],
                                  streams={"upper": ["word"], "tasks": ["word", "tasks"]},
                                  cwd=str(component_dir), metrics={"words": _record_metric})
               ).shuffle_grouping("words")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("probe")
    b.set_bolt("upper", ListSink(f"{name}-upper"), 2).shuffle_grouping("probe", "upper")
    b.set_bolt("tasks", ListSink(f"{name}-tasks")).shuffle_grouping("probe", "tasks")
    topo = b.build()
    with caplog.at_level("WARNING", logger="squall.multilang"):
        result = run_topology(topo)
    assert result.completed, result.errors()
    assert sorted(v[0] for v in ListSink.values(name)) == words
    assert sorted(v[0] for v in ListSink.values(f"{name}-upper")) == ["ALPHA", "BETA", "GAMMA"]
    # Each emit's reply named the one "upper" task its tuple went to; a stray reply to
    # the need_task_ids=false emit would have shifted them onto the wrong emits.
    upper_tasks = {str(t) for t in topo.task_ids("upper")}
    replies = ListSink.values(f"{name}-tasks")
    assert sorted(w for w, _ in replies) == words
    assert all(tasks in upper_tasks for _, tasks in replies), replies
    assert sorted(p["word"] for p in _METRICS) == words
    assert sum("probe error for" in e and "probe[" in e for e in result.errors()) >= 1
    assert any("probe saw alpha" in r.getMessage() for r in caplog.records)


class _DirectShellBolt(ShellBolt):
    """Declares its streams as a Storm user would, overriding declare_output_fields."""

    def declare_output_fields(self, declarer):
        declarer.declare(["word"])
        declarer.declare_stream("direct", ["word"], direct=True)
        declarer.declare_stream("tasks", ["word", "tasks"])


def test_direct_emits_go_to_the_named_task_and_get_no_task_ids_reply(component_dir):
    name = "ml-direct"
    for n in (name, f"{name}-direct", f"{name}-tasks"):
        ListSink.reset(n)
    ListSpout.reset(name)
    words = ["alpha", "beta", "gamma", "delta"]
    b = TopologyBuilder()
    b.set_spout("words", ListSpout([[w] for w in words], ["word"], name=name))
    b.set_bolt("probe", _DirectShellBolt([PY, "direct.py"], cwd=str(component_dir))).shuffle_grouping("words")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("probe")
    b.set_bolt("direct_sink", _TaskRecordingSink(f"{name}-direct"), 3).direct_grouping("probe", "direct")
    b.set_bolt("tasks", ListSink(f"{name}-tasks")).shuffle_grouping("probe", "tasks")
    topo = b.build()
    result = run_topology(topo)
    assert result.completed, result.errors()
    target = max(topo.task_ids("direct_sink"))
    assert sorted(ListSink.values(f"{name}-direct")) == sorted([w, target] for w in words)
    sink_tasks = {str(t) for t in topo.task_ids("sink")}
    replies = ListSink.values(f"{name}-tasks")
    assert sorted(w for w, _ in replies) == sorted(words)
    assert all(tasks in sink_tasks for _, tasks in replies), replies


class _TaskRecordingSink(ListSink):
    """Records each tuple's values with the task that received it."""

    def prepare(self, config, context, collector):
        super().prepare(config, context, collector)
        self.task_id = context.task_id

    def process(self, tup):
        ListSink.record(self.name, [*tup.values, self.task_id])
        self.collector.ack(tup)
