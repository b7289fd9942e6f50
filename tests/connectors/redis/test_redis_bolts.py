"""Store, lookup and filter bolts against a real redis-server: data types, TTL, one
round trip per batch, per-command rejects, and the outage backoff."""

from __future__ import annotations

import copy
import pickle

import pytest
from redis_helpers import prepared, reads_processed, tuples

from squall.connectors.redis import (
    RedisConfigError,
    RedisConnectionError,
    RedisDataType,
    RedisFilterBolt,
    RedisFilterMapper,
    RedisLookupBolt,
    RedisLookupMapper,
    RedisStoreBolt,
    RedisStoreMapper,
    from_url,
)
from squall.runtime import run_topology
from squall.store import StoreClosedError
from squall.testing import ListSink, ListSpout
from squall.topology import TopologyBuilder
from tests.services.launch import free_port

F = ["car", "day", "speed", "area"]
ROWS = [("car1", "20240101", 81.5, "a1"), ("car2", "20240101", 95.0, "a2"), ("car1", "20240102", 120.0, "a1")]


def _store(cfg, **mapper):
    bolt = RedisStoreBolt(cfg, RedisStoreMapper(**mapper))
    bolt = copy.deepcopy(bolt)  # as the runtime does per task
    return bolt, prepared(bolt)


def test_store_string_with_ttl(redis_config, redis_kv):
    bolt, rec = _store(redis_config, data_type=RedisDataType.STRING, key_field="car", value_field="speed",
                       ttl_s=60)
    batch = tuples(F, ROWS)
    bolt.process_batch(batch)
    assert rec.acked == batch and not rec.failed and not rec.errors
    assert redis_kv.get("car1") == "120.0" and redis_kv.get("car2") == "95.0"
    assert redis_kv.ttl("car1") == 60


def test_store_set_with_ttl_is_the_speeding_sink(redis_config, redis_kv):
    bolt, rec = _store(redis_config, data_type=RedisDataType.SET, key_field="day", value_field="car",
                       ttl_s=604800)
    bolt.process_batch(tuples(F, ROWS + ROWS))  # a replay changes nothing
    assert len(rec.acked) == 6
    assert redis_kv.smembers("20240101") == {"car1", "car2"} and redis_kv.smembers("20240102") == {"car1"}
    assert redis_kv.ttl("20240101") == 604800


def test_store_hash_sorted_set_and_list(redis_config, redis_kv):
    c = redis_kv.client
    b1, r1 = _store(redis_config, data_type=RedisDataType.HASH, key="speeds", hash_field="car", value_field="speed")
    b2, r2 = _store(redis_config, data_type=RedisDataType.HASH, key_field="car", value_fields=["speed", "area"],
                    ttl_s=30)
    b3, r3 = _store(redis_config, data_type=RedisDataType.SORTED_SET, key_fn=_day_key, value_field="car",
                    score_field="speed")
    b4, r4 = _store(redis_config, data_type=RedisDataType.LIST, key="log", value_field="car")
    for b in (b1, b2, b3, b4):
        b.process_batch(tuples(F, ROWS))
    assert all(len(r.acked) == 3 and not r.failed for r in (r1, r2, r3, r4))
    assert c.hgetall("speeds") == {"car1": "120.0", "car2": "95.0"}
    assert c.hgetall("car1") == {"speed": "120.0", "area": "a1"} and 0 < c.ttl("car1") <= 30
    assert c.zrange("top:20240101", 0, -1, withscores=True) == [("car1", 81.5), ("car2", 95.0)]
    assert c.lrange("log", 0, -1) == ["car1", "car2", "car1"]


def _day_key(tup):
    return "top:" + tup["day"]


def test_one_round_trip_per_batch(redis_config, redis_kv):
    """Observed on the server: a batch of 30 SADD+EXPIRE arrives in one read event;
    500 tuples (1000 commands, sent by redis-py in ~6 KB chunks) in a handful."""
    bolt, rec = _store(redis_config, data_type=RedisDataType.SET, key_field="day", value_field="car", ttl_s=600)
    rows = [(f"car{i}", f"d{i % 7}", 1.0, "a") for i in range(500)]
    bolt.process_batch(tuples(F, rows[:1]))  # warm-up: the bolt's connection handshake
    probe = redis_kv.client
    r0 = reads_processed(probe)
    idle = reads_processed(probe) - r0  # reads caused by the INFO call itself

    def reads_for(action) -> int:
        before = reads_processed(probe)
        action()
        return reads_processed(probe) - before - idle

    assert reads_for(lambda: bolt.process_batch(tuples(F, rows[:30]))) == 1
    assert reads_for(lambda: bolt.process_batch(tuples(F, rows))) <= 10
    assert bolt.round_trips == 3
    # The contrast: one command at a time is one read each.
    assert reads_for(lambda: [redis_kv.sadd("x", i) for i in range(20)]) == 20
    assert len(rec.acked) == 531 and redis_kv.scard("d0") == 72 and redis_kv.ttl("d0") == 600


def test_rejected_command_fails_only_its_tuple(redis_config, redis_kv):
    redis_kv.set("20240102", "a string, not a set")
    bolt, rec = _store(redis_config, data_type=RedisDataType.SET, key_field="day", value_field="car")
    batch = tuples(F, ROWS)
    bolt.process_batch(batch)
    assert rec.failed == [batch[2]] and rec.acked == batch[:2]
    assert len(rec.errors) == 1 and "WRONGTYPE" in str(rec.errors[0])
    assert not bolt.down


def test_lookup_bolt_reads_per_type(redis_config, redis_kv):
    c = redis_kv.client
    c.set("car1", "blue")
    c.hset("h:car1", mapping={"speed": "81"})
    c.sadd("seen", "car1")
    c.zadd("z", {"car1": 0.0})
    c.rpush("l:car1", "x", "y")
    cases = [
        (RedisLookupMapper(RedisDataType.STRING, "car", output_fields=["car"]), ["blue", None]),
        (RedisLookupMapper(RedisDataType.HASH, key_fn=_hkey, output_fields=["car"]), [{"speed": "81"}, {}]),
        (RedisLookupMapper(RedisDataType.SET, key="seen", member_field="car", output_fields=["car"]), [True, False]),
        (RedisLookupMapper(RedisDataType.SET, key="seen", output_fields=["car"]), [{"car1"}, {"car1"}]),
        (RedisLookupMapper(RedisDataType.SORTED_SET, key="z", member_field="car", output_fields=["car"]),
         [0.0, None]),
        (RedisLookupMapper(RedisDataType.LIST, key_fn=_lkey, output_fields=["car"], value_field="v"),
         [["x", "y"], []]),
    ]
    for mapper, expected in cases:
        bolt = RedisLookupBolt(redis_config, mapper)
        rec = prepared(bolt)
        batch = tuples(F, ROWS[:2])
        bolt.process_batch(batch)
        assert [v for v, _ in rec.emitted] == [["car1", expected[0]], ["car2", expected[1]]], mapper.data_type
        assert [a for _, a in rec.emitted] == [[batch[0]], [batch[1]]] and rec.acked == batch
        assert bolt.round_trips == 1


def _hkey(tup):
    return "h:" + tup["car"]


def _lkey(tup):
    return "l:" + tup["car"]


def test_filter_bolt(redis_config, redis_kv):
    redis_kv.sadd("blacklist", "car2")
    redis_kv.set("car1", "known")
    allow = RedisFilterBolt(redis_config, RedisFilterMapper(RedisDataType.SET, key="blacklist", member_field="car",
                                                            output_fields=F))
    deny = RedisFilterBolt(redis_config, RedisFilterMapper(RedisDataType.SET, key="blacklist", member_field="car",
                                                           output_fields=F, negate=True))
    known = RedisFilterBolt(redis_config, RedisFilterMapper(RedisDataType.STRING, "car", output_fields=F))
    batch = tuples(F, ROWS)
    out = {}
    for name, bolt in (("allow", allow), ("deny", deny), ("known", known)):
        rec = prepared(bolt)
        bolt.process_batch(batch)
        assert rec.acked == batch
        out[name] = [v[0] for v, _ in rec.emitted]
    assert out == {"allow": ["car2"], "deny": ["car1", "car1"], "known": ["car1", "car1"]}


def test_topology_store_lookup_filter(redis_config, redis_kv):
    redis_kv.sadd("watch", "car2")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(ROWS * 10, F, name="redis-topo"))
    b.set_bolt("store", RedisStoreBolt(redis_config, RedisStoreMapper(
        RedisDataType.HASH, key_field="car", hash_field="day", value_field="speed")), 2).fields_grouping("src", ["car"])
    b.set_bolt("watch", RedisFilterBolt(redis_config, RedisFilterMapper(
        RedisDataType.SET, key="watch", member_field="car", output_fields=F))).shuffle_grouping("src")
    b.set_bolt("look", RedisLookupBolt(redis_config, RedisLookupMapper(
        RedisDataType.SET, key="watch", output_fields=["car", "day"], value_field="watched"))).shuffle_grouping("watch")
    b.set_bolt("sink", ListSink("redis-topo-sink")).shuffle_grouping("look")
    res = run_topology(b.build(), timeout_s=30)
    assert res.completed and not res.errors()
    assert redis_kv.client.hgetall("car1") == {"20240101": "81.5", "20240102": "120.0"}
    assert ListSink.values("redis-topo-sink") == [["car2", "20240101", {"car2"}]] * 10
    assert sorted(ListSpout.acked("redis-topo")) == list(range(30))


def test_outage_fails_fast_and_backs_off(redis_config, redis_kv):
    """Against a port nothing listens on: fail, report once, back off 0.1 -> 0.2 -> ... -> 5 s."""
    now = [100.0]
    cfg = from_url(f"redis://127.0.0.1:{free_port()}/0", retries=0)
    bolt = RedisStoreBolt(cfg, RedisStoreMapper(RedisDataType.SET, key="k", value_field="car"),
                          clock=lambda: now[0])
    rec = prepared(bolt)
    batch = tuples(F, ROWS)
    bolt.process_batch(batch)
    assert rec.failed == batch and not rec.acked and bolt.down and bolt.round_trips == 1
    assert len(rec.errors) == 1 and isinstance(rec.errors[0], RedisConnectionError)
    assert cfg.describe() in str(rec.errors[0]) and rec.errors[0].server == cfg.describe()
    delays = []
    for _ in range(8):
        start = bolt.round_trips
        t0 = now[0]
        while bolt.round_trips == start:  # within the backoff: failed without a round trip
            bolt.process_batch(batch)
            now[0] += 0.05
        delays.append(round(now[0] - 0.05 - t0, 2))
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert len(rec.errors) == 1  # one report per outage, not per probe or tuple
    assert bolt.outages == 1 and bolt.outage_failed == len(rec.failed)


def test_bolt_specs_pickle_and_validate(redis_config):
    bolt = RedisStoreBolt(redis_config, RedisStoreMapper(RedisDataType.STRING, "car", value_field="speed", ttl_s=5))
    again = pickle.loads(pickle.dumps(bolt))
    assert again.config == redis_config and again.mapper.ttl_s == 5
    for bad in (dict(data_type=RedisDataType.STRING, key_field="car"),
                dict(data_type=RedisDataType.SET, value_field="car"),
                dict(data_type=RedisDataType.HASH, key_field="car", value_field="speed"),
                dict(data_type=RedisDataType.SORTED_SET, key_field="car", value_field="car"),
                dict(data_type=RedisDataType.SET, key_field="car", key="k", value_field="car"),
                dict(data_type=RedisDataType.SET, key_field="car", value_field="car", ttl_s=0)):
        with pytest.raises(RedisConfigError):
            RedisStoreMapper(**bad)
    bolt, rec = _store(redis_config, data_type=RedisDataType.SET, key_field="nope", value_field="car")
    with pytest.raises(RedisConfigError, match="'nope' is not a field"):
        bolt.process_batch(tuples(F, ROWS))


def test_a_used_bolt_still_pickles_as_data_and_writes_the_same_in_another_copy(redis_config, redis_kv):
    """Mapper plans are partials of module functions: a bolt copied after it ran (its plans
    built) pickles by default and its clone writes exactly what the original writes."""
    store_bolt, rec = _store(redis_config, data_type=RedisDataType.SET, key_field="day", value_field="car",
                             ttl_s=600)
    store_bolt.process_batch(tuples(F, ROWS[:1]))
    assert store_bolt.mapper._plans  # built by the batch
    assert store_bolt.single_writer_keys() == frozenset()
    store_bolt.cleanup()
    for mapper in (store_bolt.mapper,
                   RedisLookupMapper(RedisDataType.SET, "day", member_field="car", output_fields=["car"]),
                   RedisFilterMapper(RedisDataType.SET, key="blacklist", member_field="car", output_fields=F)):
        for t in tuples(F, ROWS[:1]):
            mapper._plan(t)
        assert pickle.loads(pickle.dumps(mapper))._plans.keys() == mapper._plans.keys()
    clone = pickle.loads(pickle.dumps(RedisStoreBolt(redis_config, store_bolt.mapper)))
    rec2 = prepared(clone)
    clone.process_batch(tuples(F, ROWS[1:]))
    assert len(rec.acked) == 1 and len(rec2.acked) == 2
    assert redis_kv.smembers("20240101") == {"car1", "car2"} and redis_kv.ttl("20240102") == 600
    clone.cleanup()
    with pytest.raises(StoreClosedError):
        clone._connection.get("20240101")  # cleanup closed the bolt's connection
