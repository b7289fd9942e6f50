"""Shell components running Storm's own adapters (storm.py, storm.js) unchanged."""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter

import pytest

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


def _reset(name: str) -> None:
    ListSpout.reset(name)
    ListSink.reset(name)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (.ci/run installs nodejs)")
def test_python_split_then_node_exclamation(component_dir):
    name = "ml-split-excl"
    _reset(name)
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([[s] for s in SENTENCES], ["sentence"], name=name))
    b.set_bolt("split", ShellBolt([PY, "splitsentence.py"], fields=["word"], cwd=str(component_dir)),
               2).shuffle_grouping("sentences")
    b.set_bolt("exclaim", ShellBolt(["node", "exclamation.js"], fields=["word"], cwd=str(component_dir))
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
    with pytest.warns(Warning, match="topology.subprocess.timeout.secs"):
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


def test_shell_spout_emits_and_gets_acks(component_dir):
    name = "ml-spout"
    ListSink.reset(name)
    acked_file = component_dir / "acked.txt"
    b = TopologyBuilder()
    b.set_spout("sentences", ShellSpout([PY, "sentencespout.py"], fields=["sentence"], cwd=str(component_dir)))
    b.set_bolt("split", ShellBolt([PY, "splitsentence.py"], fields=["word"], cwd=str(component_dir))
               ).shuffle_grouping("sentences")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("split")
    expected = Counter(w for s in ["the cow jumped over the moon", "an apple a day keeps the doctor away",
                                   "four score and seven years ago", "snow white and the seven dwarfs"]
                       for w in s.split(" "))
    with LocalCluster() as cluster:
        cluster.submit_topology(name, {"test.acked.file": str(acked_file)}, b.build())
        # A guard against a hang, not a speed claim: the run normally takes well under a second.
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            if acked_file.exists() and len(acked_file.read_text().split()) >= 4:
                break
            time.sleep(0.05)
        cluster.kill_topology(name, wait_secs=0)
    assert sorted(int(i) for i in acked_file.read_text().split()) == [0, 1, 2, 3]
    assert Counter(v[0] for v in ListSink.values(name)) == expected
