"""Whole-set and keyspace reads go page by page (SSCAN/SCAN), never SMEMBERS/KEYS, on a real server.

The server's own command statistics (``INFO commandstats``) say which commands ran and
how many times, so a store that fell back to one SMEMBERS or KEYS would fail here.
"""

from __future__ import annotations

import pytest

from squall.connectors.redis import RedisConfigError, RedisKeyValueStore
from squall.store import WrongTypeError

PAGE = 100
MEMBERS = 2_500          # 25 pages


def calls(client, command: str) -> int:
    return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


@pytest.fixture
def paged(redis_config):
    kv = RedisKeyValueStore(redis_config.replace(scan_count=PAGE)).open()
    kv.sadd("big", *(f"car{i:05d}" for i in range(MEMBERS)))
    kv.client.mset({f"k:{i:05d}": i for i in range(MEMBERS)})
    yield kv
    kv.close()


def test_smembers_reads_a_large_set_with_sscan_pages(paged):
    c = paged.client
    smembers, sscan = calls(c, "smembers"), calls(c, "sscan")
    assert paged.smembers("big") == {f"car{i:05d}" for i in range(MEMBERS)}
    assert calls(c, "smembers") == smembers
    # SSCAN's COUNT is a hint: a set this size (a hashtable) answers about a page a call.
    assert calls(c, "sscan") - sscan >= MEMBERS // (2 * PAGE)


def test_keys_reads_the_keyspace_with_scan_pages_and_sorts(paged):
    c = paged.client
    keys, scan = calls(c, "keys"), calls(c, "scan")
    assert paged.keys("k:*") == [f"k:{i:05d}" for i in range(MEMBERS)]
    assert calls(c, "keys") == keys
    assert calls(c, "scan") - scan >= MEMBERS // (2 * PAGE)


def test_iterators_stream_one_page_at_a_time(paged):
    c = paged.client
    sscan = calls(c, "sscan")
    members = paged.sscan_iter("big")
    first = next(members)
    assert calls(c, "sscan") - sscan == 1, "the first member needs one page, not the whole set"
    assert {first, *members} == {f"car{i:05d}" for i in range(MEMBERS)}
    scan = calls(c, "scan")
    keys = paged.scan_iter("k:*")
    next(keys)
    assert calls(c, "scan") - scan == 1
    assert len(set(paged.scan_iter("k:*"))) == MEMBERS


def test_paged_reads_keep_the_store_errors(paged):
    paged.set("plain", "x")
    with pytest.raises(WrongTypeError):
        paged.smembers("plain")
    with pytest.raises(WrongTypeError):
        list(paged.sscan_iter("plain"))
    assert paged.smembers("absent") == set() and list(paged.sscan_iter("absent")) == []


def test_scan_count_is_validated():
    with pytest.raises(RedisConfigError, match="scan_count"):
        RedisKeyValueStore("redis://127.0.0.1:6379/0").config.replace(scan_count=0)


def test_cluster_smembers_and_keys_page_too(redis_cluster):
    kv = RedisKeyValueStore(redis_cluster.replace(scan_count=PAGE)).open()
    try:
        kv.flushdb()
        kv.sadd("big", *(str(i) for i in range(1_000)))
        for i in range(300):
            kv.set(f"k{i}", i)
        assert kv.smembers("big") == {str(i) for i in range(1_000)}
        assert kv.keys("k*") == sorted(f"k{i}" for i in range(300))
        assert len(set(kv.scan_iter("k*"))) == 300
    finally:
        kv.close()
