"""RedisConfig, from_url and the redis-py clients each mode builds; errors name the server."""

from __future__ import annotations

import pickle

import pytest
import redis
from redis.cluster import RedisCluster
from redis.sentinel import SentinelConnectionPool

import squall.connectors.redis as api
from squall.connectors.redis import (
    RedisConfig,
    RedisConfigError,
    RedisConnectionError,
    RedisConnectorError,
    RedisKeyValueStore,
    build_client,
    from_url,
)
from squall.store import StoreClosedError, StoreError
from tests.services.launch import free_port


def test_public_surface():
    assert sorted(api.__all__) == sorted(n for n in api.__all__ if hasattr(api, n))
    assert issubclass(RedisConnectionError, RedisConnectorError) and issubclass(RedisConnectorError, StoreError)
    assert issubclass(RedisConnectionError, ConnectionError) and issubclass(RedisConfigError, ValueError)


def test_single_server_client_from_url():
    cfg = from_url("redis://:secret@127.0.0.1:6390/3", socket_timeout_s=1.5, socket_connect_timeout_s=0.5,
                   retries=2, max_connections=7)
    client = build_client(cfg)
    kw = client.connection_pool.connection_kwargs
    assert (kw["host"], kw["port"], kw["db"], kw["password"]) == ("127.0.0.1", 6390, 3, "secret")
    assert kw["socket_timeout"] == 1.5 and kw["socket_connect_timeout"] == 0.5 and kw["decode_responses"]
    assert kw["retry"].get_retries() == 2 and client.connection_pool.max_connections == 7
    assert cfg.describe() == "redis://127.0.0.1:6390/3"  # no password in messages
    assert "secret" not in repr(RedisKeyValueStore(cfg))
    assert pickle.loads(pickle.dumps(cfg)) == cfg and hash(cfg) == hash(from_url(cfg.url, **_settings(cfg)))


def _settings(cfg):
    return dict(socket_timeout_s=cfg.socket_timeout_s, socket_connect_timeout_s=cfg.socket_connect_timeout_s,
                retries=cfg.retries, max_connections=cfg.max_connections)


def test_sentinel_client():
    cfg = from_url("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/cars/2", socket_timeout_s=0.5)
    assert cfg.mode == "sentinel" and cfg.service_name == "cars"
    client = build_client(cfg)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "cars"
    assert pool.connection_kwargs["db"] == 2 and pool.connection_kwargs["socket_timeout"] == 0.5
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]
    assert cfg.describe() == "Sentinel service 'cars' via 127.0.0.1:26379,127.0.0.1:26380"


def test_sentinel_unreachable_is_a_connection_error():
    cfg = RedisConfig(sentinel=[("127.0.0.1", free_port())], service_name="cars", retries=0)
    with pytest.raises(RedisConnectionError) as err:
        RedisKeyValueStore(cfg).open().get("k")
    assert err.value.server == cfg.describe() and "cars" in str(err.value)


def test_cluster_client(redis_cluster):
    client = build_client(redis_cluster)
    assert isinstance(client, RedisCluster)
    assert len(client.get_primaries()) == 3
    ports = {n.port for n in client.get_primaries()}
    assert ports == {p for _, p in redis_cluster.startup_nodes}
    assert redis_cluster.describe().startswith("Redis Cluster via 127.0.0.1:")
    cfg = from_url("redis+cluster://" + ",".join(f"{h}:{p}" for h, p in redis_cluster.startup_nodes))
    assert cfg.cluster and cfg.startup_nodes == redis_cluster.startup_nodes


def test_cluster_unreachable_is_a_connection_error():
    cfg = RedisConfig(cluster=True, startup_nodes=[("127.0.0.1", free_port())], retries=0)
    with pytest.raises(RedisConnectionError) as err:
        RedisKeyValueStore(cfg).open().sadd("k", "m")
    assert "Redis Cluster via" in str(err.value)


def test_unreachable_server_error_names_it():
    cfg = from_url(f"redis://127.0.0.1:{free_port()}/0", retries=0)
    with pytest.raises(RedisConnectionError) as err:
        RedisKeyValueStore(cfg).open().smembers("k")
    assert err.value.server == cfg.describe() and cfg.describe() in str(err.value)
    assert err.value.command == "SSCAN" and isinstance(err.value.__cause__, redis.ConnectionError)


@pytest.mark.parametrize("bad", [
    dict(sentinel=[("h", 1)]),
    dict(service_name="x"),
    dict(sentinel=[("h", 1)], service_name="x", cluster=True),
    dict(startup_nodes=[("h", 1)]),
    dict(retries=-1),
    dict(socket_timeout_s=0),
    dict(url="http://x"),
    dict(cluster=True, startup_nodes=["nohostport"]),
])
def test_config_validation(bad):
    with pytest.raises(RedisConfigError):
        RedisConfig(**bad)


def test_each_connection_has_its_own_pool_and_closes_it(redis_config):
    store = RedisKeyValueStore(redis_config)
    a, b = store.open(), store.open()
    a.set("k", "v")
    assert b.get("k") == "v" and a.client is not b.client
    a.close()
    assert b.get("k") == "v"  # closing one connection leaves the other usable
    with pytest.raises(StoreClosedError, match="GET refused"):
        a.get("k")
    b.close()
    with store.open() as c:
        assert c.get("k") == "v"


def test_store_through_a_real_sentinel(redis_server, redis_config, tmp_path):
    from tests.services.redis import start_sentinel

    sentinel = start_sentinel(tmp_path / "sentinel", redis_server.port, "cars")
    try:
        cfg = RedisConfig(sentinel=[("127.0.0.1", sentinel.port)], service_name="cars", socket_timeout_s=2.0)
        with RedisKeyValueStore(cfg).open() as kv:
            assert kv.sadd("20240101", "car1", "car2") == 2
            assert kv.client.connection_pool.get_master_address() == ("127.0.0.1", redis_server.port)
        with RedisKeyValueStore(redis_config).open() as direct:  # the same master, reached directly
            assert direct.smembers("20240101") == {"car1", "car2"}
    finally:
        sentinel.kill()
