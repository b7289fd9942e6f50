"""The key-value contract, run unchanged on the embedded store, a Redis server and a Redis Cluster.

Same behaviours as tests/store/test_rocks_kv.py where they do not need a test clock;
expiry is checked on the real clock (one short sleep).
"""

from __future__ import annotations

import pickle
import time
from datetime import timedelta

import pytest

from squall.connectors.redis import RedisKeyValueStore
from squall.store import EmbeddedKeyValueStore, InvalidArgumentError, StoreError, WrongTypeError


@pytest.fixture(params=["embedded", "redis", "cluster"])
def kv(request, tmp_path):
    if request.param == "embedded":
        store = EmbeddedKeyValueStore(tmp_path).open()
    else:
        cfg = request.getfixturevalue("redis_config" if request.param == "redis" else "redis_cluster")
        store = RedisKeyValueStore(cfg).open()
        store.flushdb()
    yield store
    store.close()


def test_sadd_counts_new_members_and_smembers(kv):
    assert kv.sadd("s", "car1", "car2", "car1") == 2
    assert kv.sadd("s", "car2", "car3") == 1
    assert kv.smembers("s") == {"car1", "car2", "car3"}
    assert kv.scard("s") == 3
    assert kv.sismember("s", "car3") and not kv.sismember("s", "car9")
    assert not kv.sismember("nope", "car1")
    assert kv.smembers("nope") == set() and kv.scard("nope") == 0
    assert kv.sadd("n", 7, 1.5, b"raw") == 3 and kv.smembers("n") == {"7", "1.5", "raw"}
    with pytest.raises(InvalidArgumentError):
        kv.sadd("s")
    with pytest.raises(InvalidArgumentError):
        kv.sadd("s", None)


def test_sets_do_not_leak_into_each_other(kv):
    kv.sadd("a", "bc")
    kv.sadd("ab", "c")
    assert kv.smembers("a") == {"bc"} and kv.smembers("ab") == {"c"}
    kv.delete("a")
    assert kv.smembers("ab") == {"c"}


def test_srem_and_empty_set_is_deleted(kv):
    kv.sadd("s", "a", "b")
    assert kv.srem("s", "a", "zz") == 1
    assert kv.srem("s", "b") == 1
    assert kv.exists("s") == 0 and kv.ttl("s") == -2
    assert kv.srem("s", "b") == 0


def test_expire_ttl_and_real_expiry(kv):
    assert kv.ttl("missing") == -2
    assert kv.expire("missing", 10) is False
    kv.sadd("s", "a")
    assert kv.ttl("s") == -1
    assert kv.expire("s", 10) is True and kv.ttl("s") == 10
    assert kv.expire("s", timedelta(days=7)) is True and kv.ttl("s") == 7 * 86400
    kv.sadd("short", "x")
    kv.expire("short", 1)
    kv.set("str", "v", ex=1)
    time.sleep(1.1)
    assert kv.ttl("short") == -2 and kv.smembers("short") == set() and not kv.sismember("short", "x")
    assert kv.get("str") is None and kv.exists("short", "str") == 0
    assert kv.sadd("short", "new") == 1 and kv.ttl("short") == -1  # recreated without a TTL


def test_sadd_keeps_ttl(kv):
    kv.sadd("speeding:day", "car1")
    kv.expire("speeding:day", timedelta(days=7))
    kv.sadd("speeding:day", "car2")
    kv.srem("speeding:day", "car1")
    assert kv.ttl("speeding:day") == 7 * 86400


def test_expire_non_positive_deletes(kv):
    kv.set("k", "v")
    assert kv.expire("k", 0) is True
    assert kv.exists("k") == 0


def test_strings_set_get_ex_and_ttl_reset(kv):
    assert kv.get("k") is None
    assert kv.set("k", "v", ex=5) is True
    assert kv.get("k") == "v" and kv.ttl("k") == 5
    kv.set("k", 42)  # SET without EX clears the TTL
    assert kv.get("k") == "42" and kv.ttl("k") == -1
    with pytest.raises(InvalidArgumentError):
        kv.set("k", "v", ex=0)
    with pytest.raises(InvalidArgumentError):
        kv.set("k", "v", ex=timedelta(milliseconds=1500))


def test_wrongtype(kv):
    kv.set("str", "v")
    kv.sadd("set", "m")
    for op in (lambda: kv.sadd("str", "m"), lambda: kv.smembers("str"), lambda: kv.srem("str", "m"),
               lambda: kv.sismember("str", "m"), lambda: kv.scard("str")):
        with pytest.raises(WrongTypeError) as err:
            op()
        assert str(err.value).startswith("WRONGTYPE") and err.value.key == "str"
        assert err.value.actual == "string" and isinstance(err.value, (StoreError, TypeError))
    with pytest.raises(WrongTypeError) as err:
        kv.get("set")
    assert err.value.actual == "set"
    kv.set("set", "now a string")  # SET overwrites any type
    assert kv.get("set") == "now a string"
    kv.sadd("set2", "m")
    kv.set("set2", "s")
    kv.delete("set2")
    assert kv.sadd("set2", "z") == 1 and kv.smembers("set2") == {"z"}


def test_delete_and_exists(kv):
    kv.set("a", 1)
    kv.sadd("b", "x")
    assert kv.exists("a", "a", "b", "zz") == 3  # a key named twice counts twice
    assert kv.delete("a", "b", "zz") == 2
    assert kv.exists("a", "b") == 0


def test_keys_glob(kv):
    for k in ("speeding:2024-01-05", "speeding:2024-02-05", "speeding:2024-12-05", "other", "h*llo"):
        kv.set(k, 1)
    assert sorted(kv.keys()) == sorted(["speeding:2024-01-05", "speeding:2024-02-05", "speeding:2024-12-05",
                                        "other", "h*llo"])
    assert sorted(kv.keys("speeding:2024-0?-*")) == ["speeding:2024-01-05", "speeding:2024-02-05"]
    assert sorted(kv.keys("speeding:2024-[01][^1]-*")) == ["speeding:2024-02-05", "speeding:2024-12-05"]
    assert kv.keys(r"h\*llo") == ["h*llo"] and kv.keys("o[a-z]her") == ["other"]


def test_the_store_pickles_as_a_config_and_its_connections_share_state(kv):
    store = kv.store
    assert pickle.loads(pickle.dumps(store)) == store
    with pytest.raises(TypeError):
        pickle.dumps(kv)  # a live connection never travels
    other = pickle.loads(pickle.dumps(store)).open()
    kv.sadd("s", "m")
    assert other.smembers("s") == {"m"}
    other.close()
    assert kv.smembers("s") == {"m"}  # closing one connection leaves the other usable
