"""The smart-car table on real HBase through the generic TableWriterBolt, and a Thrift
server outage in the middle of a run."""

from __future__ import annotations

import time

from squall import TopologyBuilder
from squall.config import MAX_SPOUT_PENDING
from squall.connectors.hbase import HBaseBolt, SimpleHBaseMapper
from squall.runtime import LocalCluster, run_topology
from squall.store import EmbeddedTableStore
from squall.store.bolts import FieldsTableMapper, TableWriterBolt
from squall.testing import ListSpout
from squall_smartcar.bolts import ParseBolt
from squall_smartcar.record import FIELDS, date_to_ms
from squall_smartcar.sources import simulate
from squall_smartcar.topology import FAMILY, TABLE


def _feed(cars: int, seconds: int) -> list[list]:
    start = date_to_ms("20230301080000")
    return [[r.line, r.origin, r.error] for r in simulate(cars, seconds, start, seed=7)]


def _store_feed(store, feed, name) -> None:
    b = TopologyBuilder()
    b.set_spout("source", ListSpout(feed, ["line", "origin", "error"], name=name))
    b.set_bolt("parse", ParseBolt()).shuffle_grouping("source")
    b.set_bolt("table", TableWriterBolt(store, TABLE, [FAMILY], FieldsTableMapper("row_key", FAMILY, FIELDS)),
               2).shuffle_grouping("parse")
    res = run_topology(b.build(), timeout_s=60)
    assert res.completed, res.errors()


def test_smartcar_table_on_hbase_matches_the_embedded_table(hbase_store, hbase, tmp_path):
    feed = _feed(cars=12, seconds=30)  # 360 records
    if TABLE in hbase.tables():
        hbase.delete_table(TABLE)
    _store_feed(hbase_store, feed, "smartcar-hbase")
    embedded = EmbeddedTableStore(tmp_path)
    _store_feed(embedded, feed, "smartcar-embedded")
    with embedded.open() as tables:
        expected = list(tables.open_table(TABLE).scan())
    table = hbase.open_table(TABLE)
    assert table.count() == len(feed) == len(expected)
    assert list(table.scan()) == expected
    assert table.families() == [FAMILY]
    key, cells = expected[0]
    assert "-" in key and set(cells) == {f"{FAMILY}:{f}" for f in FIELDS}
    # A replay of the same feed rewrites the same rows: nothing new.
    _store_feed(hbase_store, feed[:50], "smartcar-hbase-replay")
    assert table.count() == len(feed)


class PacedListSpout(ListSpout):
    """A ListSpout that emits at most one tuple per ``interval_s`` (replays included)."""

    def __init__(self, rows, fields, name, interval_s):
        super().__init__(rows, fields, name=name)
        self.interval_s = interval_s

    def open(self, config, context, collector):
        super().open(config, context, collector)
        self._next_at = 0.0

    def next_tuple(self):
        now = time.monotonic()
        if now >= self._next_at:
            self._next_at = now + self.interval_s
            super().next_tuple()


def test_thrift_restart_mid_run_loses_nothing(hbase_server, hbase_store, hbase, table_name, caplog):
    caplog.set_level("WARNING")
    n = 600
    rows = [[f"car{i % 20:02d}-{i:05d}", i, 1] for i in range(n)]
    b = TopologyBuilder()
    b.set_spout("cars", PacedListSpout(rows, ["key", "seq", "one"], name=table_name, interval_s=0.005))
    b.set_bolt("hbase", HBaseBolt(hbase_store, table_name,
                                  SimpleHBaseMapper("key", "cf", column_fields=["seq"]),
                                  batch_size=25, flush_interval_s=0.2, create_if_missing=True)) \
        .shuffle_grouping("cars")
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("outage", {MAX_SPOUT_PENDING: 200}, b.build())
        deadline = time.monotonic() + 20
        while len(ListSpout.acked(table_name)) < n // 4:  # well into the run
            assert time.monotonic() < deadline, "no progress before the outage"
            time.sleep(0.05)
        acked_before = len(ListSpout.acked(table_name))
        hbase_server.stop_thrift()
        time.sleep(1.0)  # a real outage: the spout keeps emitting, the bolt fails and backs off
        hbase_server.start_thrift()
        deadline = time.monotonic() + 60
        while len(set(ListSpout.acked(table_name))) < n:
            assert handle.running, "the topology stopped"
            assert time.monotonic() < deadline, (
                f"only {len(set(ListSpout.acked(table_name)))} of {n} acked; "
                f"errors {cluster.get_stats('outage')['hbase'].last_errors}")
            time.sleep(0.1)
        assert handle.running  # never stopped: it is still up after catching up
        stats = cluster.get_stats("outage")["hbase"]
    assert acked_before < n
    failed = ListSpout.failed(table_name)
    assert failed, "the outage failed no tuple"
    assert sorted(set(ListSpout.acked(table_name))) == list(range(n))
    # reported once per outage, not once per failed tuple or batch
    assert 1 <= len(stats.last_errors) <= 3, stats.last_errors
    assert any("HBase Thrift" in e for e in stats.last_errors)
    assert any("retrying with backoff" in e for e in stats.last_errors)
    # The end of each outage is logged once, with the tuples it failed.
    recoveries = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(recoveries) == len(stats.last_errors), recoveries
    assert all(f"HBase Thrift 127.0.0.1:{hbase_server.thrift_port}" in m for m in recoveries)
    table = hbase.open_table(table_name)
    assert table.count() == n
    assert {k: int(v["cf:seq"]) for k, v in table.scan()} == {r[0]: r[1] for r in rows}
