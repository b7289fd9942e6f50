"""HBaseBolt (batching, flushes, counters, acks, failure and backoff) and HBaseLookupBolt,
against the session's real HBase."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from squall import TopologyBuilder
from squall.component import TopologyContext
from squall.config import TICK_TUPLE_FREQ_SECS
from squall.connectors.hbase import (
    HBaseBolt,
    HBaseConnectionError,
    HBaseLookupBolt,
    HBaseTableStore,
    SimpleHBaseMapper,
    decode_counter,
)
from squall.runtime import run_topology
from squall.store import InvalidArgumentError
from squall.testing import ListSink, ListSpout, RecordingCollector as Recorder
from squall.tuple import SYSTEM_COMPONENT, TICK_STREAM, Fields, Tuple, TupleSource
from tests.services.launch import free_port

WORDS = Fields(["word", "count", "note"])
_SRC = TupleSource("words", 0, "default", WORDS)
_TICK = Tuple([1.0], TupleSource(SYSTEM_COMPONENT, -1, TICK_STREAM, Fields(["rate_secs"])), None)


def word(w, n=1, note="x"):
    return Tuple([w, n, note], _SRC, None)


def mapper():
    return SimpleHBaseMapper("word", "cf", column_fields=["word", "note"], counter_fields=["count"])


def prepared(bolt):
    rec = Recorder()
    bolt.prepare({}, TopologyContext(topology=None, component_id="hbase", task_id=1, component_tasks=(1,)), rec)
    return bolt, rec


def test_mapper_composite_key_columns_counters_and_errors():
    m = SimpleHBaseMapper(["word", "note"], "cf", column_fields=["note"], counter_fields=["count"])
    assert m.mutation(word("a", 3, "n1")) == ("a-n1", {"cf:note": "n1"}, [("a-n1", "cf:count", 3)])
    assert m.mutation(word("a", "4", "")) == ("a-", {"cf:note": ""}, [("a-", "cf:count", 4)])
    with pytest.raises(InvalidArgumentError):  # a row key part is None
        m.mutation(word("a", 1, None))
    with pytest.raises(InvalidArgumentError):
        m.mutation(word("a", "lots"))
    with pytest.raises(InvalidArgumentError):
        SimpleHBaseMapper("word", "cf", column_fields=["x"], counter_fields=["x"])
    with pytest.raises(InvalidArgumentError):
        SimpleHBaseMapper("nope", "cf", column_fields=["word"]).mutation(word("a"))


def test_batch_size_flush_then_ack_with_counters(hbase_store, hbase, table_name):
    bolt, rec = prepared(HBaseBolt(hbase_store, table_name, mapper(), batch_size=3,
                                   create_if_missing=True))
    assert bolt.component_configuration() == {TICK_TUPLE_FREQ_SECS: 1.0}
    bolt.process_batch([word("a", 2), word("b", 1)])
    assert rec.acked == [] and table_name not in hbase.tables()  # buffered, nothing sent
    bolt.process_batch([word("a", 5, "y"), word("c", 1)])
    assert len(rec.acked) == 3 and rec.failed == [] and bolt.flushes == 1
    t = hbase.open_table(table_name)
    assert t.get("a") == {"cf:word": b"a", "cf:note": b"y", "cf:count": (7).to_bytes(8, "big")}
    assert t.get("c") == {}  # still buffered
    bolt.process_batch([_TICK])  # the flush interval elapsed
    assert len(rec.acked) == 4 and decode_counter(t.get("c")["cf:count"]) == 1
    bolt.process_batch([word("c", 10)])
    bolt.end_of_input()  # end of input flushes what is left
    assert len(rec.acked) == 5 and decode_counter(t.get("c", ["cf:count"])["cf:count"]) == 11
    assert rec.errors == [] and bolt.flushes == 3


def test_bad_tuple_fails_alone(hbase_store, table_name):
    bolt, rec = prepared(HBaseBolt(hbase_store, table_name, mapper(), batch_size=2, create_if_missing=True))
    good, bad = word("g", 1), word("b", "not a number")
    bolt.process_batch([good, bad, word("h", 1)])
    assert rec.failed == [bad] and len(rec.errors) == 1 and len(rec.acked) == 2


def test_unreachable_server_fails_batch_backs_off_and_reports_once(table_name):
    store = HBaseTableStore(port=free_port(), timeout_ms=2000)
    bolt, rec = prepared(HBaseBolt(store, table_name, mapper(), batch_size=2,
                                   backoff_initial_s=0.2, backoff_max_s=0.5))
    batch = [word("a"), word("b")]
    t0 = time.monotonic()
    bolt.process_batch(batch)
    assert rec.failed == batch and rec.acked == []
    assert len(rec.errors) == 1 and isinstance(rec.errors[0], HBaseConnectionError)
    bolt.process_batch([word("c"), word("d"), word("e")])  # during the backoff: failed at once
    assert len(rec.failed) == 5 and time.monotonic() - t0 < 1.0
    time.sleep(0.25)
    bolt.process_batch([word("f"), word("g")])  # backoff over: tried again, fails again
    assert len(rec.failed) == 7 and len(rec.errors) == 1  # the outage is reported once
    assert bolt._outage.delay_s == 0.4  # 0.2 after the first failure, doubled after the second
    assert bolt._outage.outages == 1 and bolt._outage.failed_during == 7


def test_word_count_topology_acks_every_tuple_after_flush(hbase_store, hbase, table_name):
    words = [["w%d" % (i % 7), i % 3 + 1, "n%d" % i] for i in range(200)]
    b = TopologyBuilder()
    b.set_spout("words", ListSpout(words, ["word", "count", "note"], name=table_name))
    b.set_bolt("hbase", HBaseBolt(hbase_store, table_name, mapper(), batch_size=64,
                                  flush_interval_s=0.2, create_if_missing=True), 2) \
        .fields_grouping("words", ["word"])
    res = run_topology(b.build(), timeout_s=60)
    assert res.completed, res.errors()
    assert sorted(ListSpout.acked(table_name)) == list(range(200))
    expected = Counter()
    for w, n, _ in words:
        expected[w] += n
    t = hbase.open_table(table_name)
    got = {k: decode_counter(v["cf:count"]) for k, v in t.scan(columns=["cf:count"])}
    assert got == dict(expected)


def test_lookup_bolt_emits_input_fields_plus_columns(hbase_store, hbase, table_name):
    hbase.create_table(table_name, ["cf"])
    t = hbase.open_table(table_name)
    t.put_many([(f"car{i}", {"cf:area": f"A{i}", "cf:speed": 50 + i}) for i in range(5)])
    t.increment("car1", "cf:trips", 3)
    keys = [[f"car{i}", i] for i in (0, 1, 4, 9)]
    sink = table_name + "_sink"
    b = TopologyBuilder()
    b.set_spout("keys", ListSpout(keys, ["car", "seq"], name=table_name))
    b.set_bolt("lookup", HBaseLookupBolt(hbase_store, table_name, "car", ["cf:area", "cf:speed"],
                                         input_fields=["car", "seq"], decode=bytes.decode)) \
        .shuffle_grouping("keys")
    b.set_bolt("sink", ListSink(sink)).shuffle_grouping("lookup")
    res = run_topology(b.build(), timeout_s=30)
    assert res.completed, res.errors()
    assert sorted(ListSink.values(sink)) == [["car0", 0, "A0", "50"], ["car1", 1, "A1", "51"],
                                             ["car4", 4, "A4", "54"], ["car9", 9, None, None]]
    assert sorted(ListSpout.acked(table_name)) == [0, 1, 2, 3]


def test_lookup_bolt_direct_batch_missing_rows_and_outage(hbase_store, hbase, table_name):
    hbase.create_table(table_name, ["cf"])
    hbase.open_table(table_name).increment("a", "cf:n", 5)
    bolt, rec = prepared(HBaseLookupBolt(hbase_store, table_name, "word", ["cf:n"], ["word"],
                                         output_fields=["total"], decode=decode_counter,
                                         emit_missing=False))
    batch = [word("a"), word("zz"), word("a"), _TICK]
    bolt.process_batch(batch)
    assert [v for v, _ in rec.emitted] == [["a", 5], ["a", 5]]
    assert [a for _, a in rec.emitted] == [[batch[0]], [batch[2]]]
    assert rec.acked == batch[:3] and rec.failed == []
    down, rec2 = prepared(HBaseLookupBolt(HBaseTableStore(port=free_port()), table_name, "word", ["cf:n"],
                                          ["word"]))
    down.process_batch(batch)
    down.process_batch([word("b")])
    assert rec2.failed == [*batch[:3], rec2.failed[3]] and len(rec2.errors) == 1 and rec2.emitted == []


def test_public_surface():
    import types

    import squall.connectors.hbase as pkg
    public = {n for n in dir(pkg) if not n.startswith("_") and not isinstance(getattr(pkg, n), types.ModuleType)}
    assert set(pkg.__all__) == public
