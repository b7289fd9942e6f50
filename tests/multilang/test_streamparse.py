"""streamparse (PyPI) topology definitions run on Squall with their components unchanged."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from squall.grouping import AllGrouping, DirectGrouping, FieldsGrouping, GlobalGrouping, ShuffleGrouping
from squall.multilang import (StreamparseTopologyError, builder_from_streamparse, load_streamparse_topology,
                              topology_from_streamparse)
from squall.runtime.local import LocalCluster
from squall.testing import ListSink

streamparse = pytest.importorskip("streamparse", reason="streamparse is in the test extra (pip install -e '.[test]')")

PROJECT = Path(__file__).parent / "components" / "streamparse_wordcount"
SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs"]


@pytest.mark.parametrize("serializer", ["json", "msgpack"])
def test_wordcount_project_counts(serializer):
    WordCount = load_streamparse_topology(PROJECT / "topologies" / "wordcount_topology.py")
    repeat = WordCount.config["wordcount.repeat"]
    expected = Counter({w: n * repeat for w, n in Counter(w for s in SENTENCES for w in s.split(" ")).items()})
    name = f"ml-streamparse-wordcount-{serializer}"
    ListSink.reset(name)
    b = builder_from_streamparse(WordCount, serializer=serializer)
    b.set_bolt("sink", ListSink(name)).shuffle_grouping("count")
    topo = b.build()
    assert {c: topo.components[c].parallelism for c in ("sentences", "split", "count")} == \
        {"sentences": 1, "split": 2, "count": 3}
    with LocalCluster() as cluster:
        cluster.submit_topology(name, WordCount.config, topo)
        give_up = time.monotonic() + 60     # a guard against a hang, not a speed claim
        while time.monotonic() < give_up and len(ListSink.values(name)) < sum(expected.values()):
            time.sleep(0.05)
        cluster.kill_topology(name, wait_secs=0)
    counts = ListSink.values(name)
    final = Counter()
    for word, n in counts:
        final[word] = max(final[word], n)
    # Running counts per task: a word reaching its total means one task saw all of it.
    assert final == expected
    assert len(counts) == sum(expected.values())


# A topology definition exercising the DSL's shapes; its components are never started.
class Words(streamparse.Spout):
    outputs = ["word", streamparse.Stream(fields=["word", "task"], name="routed", direct=True)]


class Sink(streamparse.Bolt):
    outputs = ["word"]


class Shapes(streamparse.Topology):
    config = {"topology.message.timeout.secs": 5}
    words = Words.spec(par=2)
    by_word = Sink.spec(inputs={words: streamparse.Grouping.fields("word")}, par=3, config={"k": 1})
    shuffled = Sink.spec(inputs=[words])
    everywhere = Sink.spec(inputs={words: streamparse.Grouping.ALL})
    single = Sink.spec(inputs={words: streamparse.Grouping.GLOBAL})
    routed = Sink.spec(inputs={words["routed"]: streamparse.Grouping.DIRECT})
    node = streamparse.ShellBolt.spec(command="node", script="count.js", inputs=[by_word], outputs=["word", "n"])


def test_dsl_shapes_become_the_same_topology():
    topo = topology_from_streamparse(Shapes)
    grouping = {name: type(topo.components[name].inputs[0].grouping)
                for name in ("by_word", "shuffled", "everywhere", "single", "routed")}
    assert grouping == {"by_word": FieldsGrouping, "shuffled": ShuffleGrouping, "everywhere": AllGrouping,
                        "single": GlobalGrouping, "routed": DirectGrouping}
    assert list(topo.components["by_word"].inputs[0].grouping.fields) == ["word"]
    assert topo.components["routed"].inputs[0].source.stream == "routed"
    words = topo.components["words"]
    assert words.is_spout and words.parallelism == 2
    assert list(words.streams["default"].fields) == ["word"]
    assert list(words.streams["routed"].fields) == ["word", "task"] and words.streams["routed"].direct
    assert topo.components["by_word"].parallelism == 3
    assert topo.components["by_word"].config["k"] == 1
    assert topo.components["by_word"].obj.command == [sys.executable, "-m", "streamparse.run", "-s", "json",
                                                      f"{__name__}.Sink"]
    # the directory from which this module imports by its dotted name
    assert Path(topo.components["by_word"].obj.cwd) == Path(__file__).parents[__name__.count(".")]
    assert topo.components["node"].obj.command == ["node", "count.js"]


def test_serializer_from_the_spec_script_and_override():
    class Msgpack(streamparse.Topology):
        words = Words.spec()
        sink = Sink.spec(inputs=[words])

    # what streamparse's set_topology_serializer does for config.json's "serializer"
    for thrift in [*Msgpack.thrift_spouts.values(), *Msgpack.thrift_bolts.values()]:
        obj = getattr(thrift, "spout_object", None) or thrift.bolt_object
        obj.shell.script = f"-s msgpack {obj.shell.script}"
    topo = topology_from_streamparse(Msgpack)
    assert topo.components["sink"].obj.command[3:5] == ["-s", "msgpack"]
    assert type(topo.components["sink"].obj.serializer).__name__ == "MsgpackSerializer"
    topo = topology_from_streamparse(Msgpack, serializer="json")
    assert topo.components["words"].obj.command[3:5] == ["-s", "json"]
    assert type(topo.components["words"].obj.serializer).__name__ == "JsonSerializer"


def test_parallelism_per_environment():
    class PerEnv(streamparse.Topology):
        words = Words.spec(par={"prod": 4, "dev": 1})
        sink = Sink.spec(inputs=[words])

    assert topology_from_streamparse(PerEnv, environment="prod").components["words"].parallelism == 4
    with pytest.raises(StreamparseTopologyError, match=r"PerEnv: component 'words'.*dev, prod"):
        topology_from_streamparse(PerEnv)


def test_jvm_components_and_java_groupings_are_refused():
    class WithJava(streamparse.Topology):
        words = Words.spec()
        java = streamparse.JavaBolt.spec(full_class_name="org.example.Sink", args_list=[], inputs=[words])

    with pytest.raises(StreamparseTopologyError, match=r"WithJava: component 'java'.*JVM"):
        topology_from_streamparse(WithJava)

    class CustomGrouping(streamparse.Topology):
        words = Words.spec()
        sink = Sink.spec(inputs={words: streamparse.Grouping.custom_object("org.example.G", [])})

    with pytest.raises(StreamparseTopologyError, match=r"CustomGrouping: bolt 'sink' input words:default.*Java"):
        topology_from_streamparse(CustomGrouping)


def test_a_file_without_a_topology_is_refused(tmp_path):
    (tmp_path / "sp_no_topology_here.py").write_text("X = 1\n")
    with pytest.raises(StreamparseTopologyError, match="sp_no_topology_here.py defines no streamparse Topology"):
        load_streamparse_topology(tmp_path / "sp_no_topology_here.py")
