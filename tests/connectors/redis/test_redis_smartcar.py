"""The smart-car SpeedingBolt, unchanged, on a real Redis: same sets as on the embedded store."""

from __future__ import annotations

from squall_smartcar.bolts import SpeedingBolt

from squall.connectors.redis import RedisKeyValueStore
from squall.runtime import run_topology
from squall.store import EmbeddedKeyValueStore
from squall.testing import ListSpout
from squall.topology import TopologyBuilder

DAY1 = 1704067230000  # 2024-01-01 00:00:30 UTC
DAY2 = DAY1 + 86400_000
ROWS = [["car1", DAY1], ["car2", DAY1], ["car1", DAY1 + 30_000], ["car3", DAY2], ["car1", DAY2]]


def _run(store, name):
    b = TopologyBuilder()
    b.set_spout("cep", ListSpout(ROWS, ["carNumber", "window_start"], name=name))
    b.set_bolt("speeding", SpeedingBolt(store, ttl_s=3600), 2).fields_grouping("cep", ["carNumber"])
    res = run_topology(b.build(), timeout_s=30)
    assert res.completed and not res.errors()
    assert sorted(ListSpout.acked(name)) == list(range(len(ROWS)))


def test_speeding_bolt_on_redis_matches_embedded(redis_config, tmp_path):
    _run(RedisKeyValueStore(redis_config), "speeding-redis")
    _run(EmbeddedKeyValueStore(tmp_path), "speeding-embedded")
    with RedisKeyValueStore(redis_config).open() as redis_kv, EmbeddedKeyValueStore(tmp_path).open() as emb:
        assert redis_kv.keys() == emb.keys() == ["20240101", "20240102"]
        for key in ("20240101", "20240102"):
            assert redis_kv.smembers(key) == emb.smembers(key)
            assert redis_kv.ttl(key) == emb.ttl(key) == 3600
        assert redis_kv.smembers("20240101") == {"car1", "car2"}
        assert redis_kv.client.type("20240101") == "set"
