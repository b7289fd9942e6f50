"""Tests for the embedded key-value store with Redis semantics (squall.store.rocks_kv)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from squall.store import EmbeddedKeyValueStore, InvalidArgumentError, ReadOnlyStoreError, WrongTypeError
from squall.store.kv import glob_to_regex
from tests.store.holder import StoreHolder

T0 = 1_700_000_000.0


class Clock:
    """A clock the test advances (epoch seconds)."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def kv(tmp_path, clock):
    s = EmbeddedKeyValueStore(tmp_path, clock=clock).open()
    yield s
    s.close()


def test_sadd_counts_new_members_and_smembers(kv):
    assert kv.sadd("s", "car1", "car2", "car1") == 2
    assert kv.sadd("s", "car2", "car3") == 1
    assert kv.smembers("s") == {"car1", "car2", "car3"}
    assert kv.scard("s") == 3
    assert kv.sismember("s", "car3") and not kv.sismember("s", "car9")
    assert not kv.sismember("nope", "car1")
    assert kv.smembers("nope") == set()
    assert kv.sadd("n", 7, 1.5, b"raw") == 3 and kv.smembers("n") == {"7", "1.5", "raw"}
    with pytest.raises(InvalidArgumentError):
        kv.sadd("s")


def test_sets_do_not_leak_into_each_other(kv):
    # "a" + member "bc" must not collide with key "ab" + member "c".
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


def test_expire_and_ttl_values(kv, clock):
    assert kv.ttl("missing") == -2
    assert kv.expire("missing", 10) is False
    kv.sadd("s", "a")
    assert kv.ttl("s") == -1
    assert kv.expire("s", 10) is True
    assert kv.ttl("s") == 10
    clock.now += 3.4
    assert kv.ttl("s") == 7  # 6.6 s left rounds to 7, as Redis's (ms + 500) / 1000
    clock.now += 0.2
    assert kv.ttl("s") == 6  # 6.4 s left
    clock.now += 6.4
    assert kv.ttl("s") == 0 and kv.smembers("s") == {"a"}  # at the deadline: not yet expired
    clock.now += 0.001
    assert kv.ttl("s") == -2
    assert kv.smembers("s") == set() and kv.exists("s") == 0 and not kv.sismember("s", "a")


def test_expired_key_is_gone_on_read_and_recreated_without_ttl(kv, clock):
    kv.sadd("s", "old")
    kv.expire("s", 1)
    clock.now += 2
    assert kv.sadd("s", "new") == 1
    assert kv.smembers("s") == {"new"} and kv.ttl("s") == -1


def test_sadd_keeps_ttl(kv, clock):
    kv.sadd("speeding:day", "car1")
    kv.expire("speeding:day", timedelta(days=7))
    clock.now += 100
    kv.sadd("speeding:day", "car2")
    kv.srem("speeding:day", "car1")
    assert kv.ttl("speeding:day") == 7 * 86400 - 100


def test_expire_non_positive_deletes(kv):
    kv.set("k", "v")
    assert kv.expire("k", 0) is True
    assert kv.exists("k") == 0


def test_strings_set_get_ex_and_ttl_reset(kv, clock):
    assert kv.get("k") is None
    assert kv.set("k", "v", ex=5) is True
    assert kv.get("k") == "v" and kv.ttl("k") == 5
    kv.set("k", 42)  # SET without EX clears the TTL
    assert kv.get("k") == "42" and kv.ttl("k") == -1
    kv.set("k", "x", ex=timedelta(seconds=2))
    clock.now += 2.5
    assert kv.get("k") is None
    with pytest.raises(InvalidArgumentError):
        kv.set("k", "v", ex=0)


def test_wrongtype(kv):
    kv.set("str", "v")
    kv.sadd("set", "m")
    for op in (lambda: kv.sadd("str", "m"), lambda: kv.smembers("str"), lambda: kv.srem("str", "m"),
               lambda: kv.sismember("str", "m"), lambda: kv.scard("str")):
        with pytest.raises(WrongTypeError) as err:
            op()
        assert str(err.value).startswith("WRONGTYPE") and err.value.key == "str"
    with pytest.raises(WrongTypeError):
        kv.get("set")
    kv.set("set", "now a string")  # SET overwrites any type
    assert kv.get("set") == "now a string"
    kv.sadd("set2", "m")
    kv.set("set2", "s")
    kv.delete("set2")
    assert kv.sadd("set2", "z") == 1 and kv.smembers("set2") == {"z"}  # old members gone


def test_delete_and_exists(kv, clock):
    kv.set("a", 1)
    kv.sadd("b", "x")
    kv.set("c", 1, ex=1)
    clock.now += 2
    assert kv.exists("a", "a", "b", "c", "zz") == 3
    assert kv.delete("a", "b", "c", "zz") == 2
    assert kv.exists("a", "b") == 0


def test_keys_glob(kv, clock):
    for k in ("speeding:2024-01-05", "speeding:2024-02-05", "speeding:2024-12-05", "other", "h*llo"):
        kv.set(k, 1)
    kv.set("speeding:2024-03-01", 1, ex=1)
    clock.now += 2
    assert kv.keys() == sorted(["speeding:2024-01-05", "speeding:2024-02-05", "speeding:2024-12-05",
                                "other", "h*llo"])
    assert kv.keys("speeding:2024-0?-*") == ["speeding:2024-01-05", "speeding:2024-02-05"]
    assert kv.keys("speeding:2024-[01][^1]-*") == ["speeding:2024-02-05", "speeding:2024-12-05"]
    assert kv.keys(r"h\*llo") == ["h*llo"] and kv.keys("o[a-z]her") == ["other"]


def test_glob_edge_cases():
    assert glob_to_regex("[!a]").fullmatch("!")  # Redis: "!" is not a negation
    assert not glob_to_regex("[!a]").fullmatch("b")
    assert glob_to_regex("[z-a]").fullmatch("m")  # reversed range, as Redis
    assert glob_to_regex("a.b").fullmatch("a.b") and not glob_to_regex("a.b").fullmatch("axb")


def test_persistence_with_ttl_across_reopen(tmp_path, clock):
    s = EmbeddedKeyValueStore(tmp_path, clock=clock).open()
    s.sadd("keep", "a", "b")
    s.expire("keep", 100)
    s.sadd("short", "x")
    s.expire("short", 10)
    s.set("plain", "v")
    s.close()
    clock.now += 50
    s2 = EmbeddedKeyValueStore(tmp_path, clock=clock).open()
    assert s2.smembers("keep") == {"a", "b"} and s2.ttl("keep") == 50
    assert s2.ttl("short") == -2 and s2.get("plain") == "v" and s2.ttl("plain") == -1
    s2.close()


def test_purge_on_open_removes_expired_data(tmp_path, clock):
    s = EmbeddedKeyValueStore(tmp_path, clock=clock).open()
    s.sadd("gone", *[f"car{i}" for i in range(20)])
    s.expire("gone", 1)
    s.close()
    clock.now += 5
    s2 = EmbeddedKeyValueStore(tmp_path, clock=clock).open()
    s2.keys()  # first use opens and purges
    db = s2._lease.get("test")
    assert db.db.get(b"gone") is None and list(db.members.keys()) == []
    s2.close()


def test_periodic_purge_and_explicit(tmp_path, clock):
    s = EmbeddedKeyValueStore(tmp_path, clock=clock, purge_interval_s=10).open()
    s.set("a", 1, ex=1)
    s.set("b", 1, ex=1)
    clock.now += 11
    s.set("c", 1)  # a write after the interval sweeps
    assert s._lease.get("test").db.get(b"a") is None and s._lease.get("test").db.get(b"b") is None
    s.set("d", 1, ex=1)
    clock.now += 2
    assert s.purge_expired() == 1
    s.close()


def test_shared_handle_pickle_and_lock(tmp_path, clock):
    a = EmbeddedKeyValueStore(tmp_path, clock=clock).open()
    b = pickle.loads(pickle.dumps(EmbeddedKeyValueStore(tmp_path))).open()  # default clock pickles
    a.sadd("s", "m")
    assert b.smembers("s") == {"m"}
    code = ("import sys; from squall.store import EmbeddedKeyValueStore as S, StoreLockedError\n"
            "try:\n    S(sys.argv[1]).open().keys()\nexcept StoreLockedError as e:\n"
            "    print(e.path); sys.exit(3)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 3, res.stderr
    assert res.stdout.strip().endswith("kv")
    a.close()
    b.close()


def test_real_clock_default(tmp_path):
    with EmbeddedKeyValueStore(tmp_path).open() as s:
        s.set("k", "v", ex=100)
        assert 99 <= s.ttl("k") <= 100
        assert abs(s._now_ms() / 1000 - time.time()) < 5


def test_read_only_store_follows_a_writer_holding_the_directory(tmp_path):
    reader = EmbeddedKeyValueStore(tmp_path, read_only=True).open()
    with StoreHolder(tmp_path) as holder:
        assert reader.keys() == [] and reader.ttl("s") == -2
        for i in range(3):
            holder(f"kv.sadd('s', 'car{i}'); kv.set('last', '{i}')")
            assert reader.smembers("s") == {f"car{j}" for j in range(i + 1)}
            assert reader.scard("s") == i + 1 and reader.get("last") == str(i)
        holder("kv.expire('s', 3600)")
        assert 3590 <= reader.ttl("s") <= 3600 and reader.ttl("last") == -1
        assert reader.sismember("s", "car1") and reader.exists("s", "last", "nope") == 2
        assert sorted(reader.keys()) == ["last", "s"]
        holder("kv.delete('last')")
        assert reader.get("last") is None and reader.keys() == ["s"]
    reader.close()


def test_read_only_store_hides_expired_keys_and_leaves_them_to_the_writer(tmp_path, clock):
    with EmbeddedKeyValueStore(tmp_path, clock=clock).open() as w:
        w.sadd("day", "car7")
        w.expire("day", 10)
        w.set("s", "v", ex=10)
        w.set("forever", "v")
    clock.now += 11
    reader = EmbeddedKeyValueStore(tmp_path, clock=clock, read_only=True).open()
    assert reader.smembers("day") == set() and reader.scard("day") == 0
    assert not reader.sismember("day", "car7") and reader.get("s") is None
    assert reader.ttl("day") == -2 and reader.exists("day", "s", "forever") == 1
    assert reader.keys() == ["forever"]
    for write in [lambda: reader.sadd("day", "x"), lambda: reader.srem("day", "car7"),
                  lambda: reader.set("k", "v"), lambda: reader.delete("day"),
                  lambda: reader.expire("forever", 5), lambda: reader.purge_expired()]:
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            write()
    reader.close()
    # Reading wrote nothing: an earlier clock still sees the keys the reader hid.
    clock.now -= 11
    with EmbeddedKeyValueStore(tmp_path, clock=clock, read_only=True).open() as earlier:
        assert earlier.smembers("day") == {"car7"} and earlier.get("s") == "v"


def test_read_only_store_of_a_missing_store_is_empty_and_creates_nothing(tmp_path):
    with EmbeddedKeyValueStore(tmp_path / "data", read_only=True).open() as reader:
        assert reader.smembers("k") == set() and reader.ttl("k") == -2 and reader.keys() == []
        assert reader.get("k") is None and reader.exists("k") == 0
        assert repr(reader).endswith("read_only=True)>")
        assert pickle.loads(pickle.dumps(reader.store)).read_only
    assert not (tmp_path / "data").exists()
