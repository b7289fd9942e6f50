"""pystorm (PyPI) components run unchanged as shell components, JSON and msgpack."""

from __future__ import annotations

import sys
import time
from collections import Counter

import pytest

from squall.config import ConfigError
from squall.multilang import ShellBolt, ShellSpout
from squall.runtime import run_topology
from squall.runtime.local import LocalCluster
from squall.testing import ListSink, ListSpout
from squall.topology import TopologyBuilder

pytest.importorskip("pystorm", reason="pystorm is in the test extra (pip install -e '.[test]')")

PY = sys.executable
SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs"]
WORDS = Counter(w for s in SENTENCES for w in s.split(" "))


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_pystorm_bolt(component_dir, serializer):
    name = f"ml-pystorm-bolt-{serializer}"
    ListSpout.reset(name)
    ListSink.reset(name)
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([[s] for s in SENTENCES * 10], ["sentence"], name=name))
    b.set_bolt("split", ShellBolt([PY, "pystorm_split.py", serializer], fields=["word"],
                                  serializer=serializer, cwd=str(component_dir)), 2).shuffle_grouping("sentences")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("split")
    result = run_topology(b.build())
    assert result.completed, result.errors()
    assert Counter(v[0] for v in ListSink.values(name)) == Counter({w: n * 10 for w, n in WORDS.items()})
    assert sorted(ListSpout.acked(name)) == list(range(40))
    assert result.errors() == []


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_pystorm_spout_emits_and_gets_acks(component_dir, serializer):
    name = f"ml-pystorm-spout-{serializer}"
    ListSink.reset(name)
    acked_file = component_dir / "acked.txt"
    b = TopologyBuilder()
    b.set_spout("sentences", ShellSpout([PY, "pystorm_spout.py", serializer], fields=["sentence"],
                                        serializer=serializer, cwd=str(component_dir)))
    b.set_bolt("split", ShellBolt([PY, "pystorm_split.py", serializer], fields=["word"],
                                  serializer=serializer, cwd=str(component_dir))).shuffle_grouping("sentences")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("split")
    with LocalCluster() as cluster:
        cluster.submit_topology(name, {"test.acked.file": str(acked_file)}, b.build())
        give_up = time.monotonic() + 60     # a guard against a hang, not a speed claim
        while time.monotonic() < give_up:
            if acked_file.exists() and len(acked_file.read_text().split()) >= len(SENTENCES):
                break
            time.sleep(0.05)
        cluster.kill_topology(name, wait_secs=0)
    assert sorted(int(i) for i in acked_file.read_text().split()) == list(range(len(SENTENCES)))
    assert Counter(v[0] for v in ListSink.values(name)) == WORDS


@pytest.mark.parametrize("conf_value", ["com.yelp.pyleus.serializer.MessagePackSerializer", "msgpack"])
def test_topology_multilang_serializer_picks_the_wire_format(component_dir, conf_value):
    # No serializer= on the bolt: Storm's key decides. A JSON parent would read the
    # msgpack child's pid reply as garbage and the handshake would fail.
    name = "ml-pystorm-conf-serializer"
    ListSpout.reset(name)
    ListSink.reset(name)
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([[s] for s in SENTENCES], ["sentence"], name=name))
    b.set_bolt("split", ShellBolt([PY, "pystorm_split.py", "msgpack"], fields=["word"],
                                  cwd=str(component_dir))).shuffle_grouping("sentences")
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("split")
    result = run_topology(b.build(), {"topology.multilang.serializer": conf_value})
    assert result.completed, result.errors()
    assert Counter(v[0] for v in ListSink.values(name)) == WORDS
    assert result.errors() == []


def test_unknown_multilang_serializer_is_refused_naming_the_key(component_dir):
    b = TopologyBuilder()
    b.set_spout("sentences", ListSpout([["a b"]], ["sentence"], name="ml-bad-serializer"))
    b.set_bolt("split", ShellBolt([PY, "pystorm_split.py", "json"], fields=["word"],
                                  cwd=str(component_dir))).shuffle_grouping("sentences")
    with pytest.raises(ConfigError, match=r"topology\.multilang\.serializer: unknown multilang serializer "
                                          r"'org\.example\.ThriftSerializer'"):
        run_topology(b.build(), {"topology.multilang.serializer": "org.example.ThriftSerializer"})
