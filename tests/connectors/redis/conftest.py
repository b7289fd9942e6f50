"""Real redis-server fixtures for the Redis connector tests (no mocks).

One server per session (loopback, free port, AOF in a temp dir); tests that stop the
server start their own. A 3-master Redis Cluster is started once, on first request.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # `tests.services` is importable however pytest was started
    sys.path.insert(0, str(ROOT))

from tests.services.redis import REDIS_CLI, REDIS_SERVER, start_redis_cluster  # noqa: E402

from squall.connectors.redis import RedisConfig, RedisKeyValueStore, from_url  # noqa: E402

if REDIS_SERVER is None:
    pytest.skip("redis-server is not installed (scripts/test.sh installs Debian's redis-server)",
                allow_module_level=True)


@pytest.fixture
def redis_config(redis_url) -> RedisConfig:
    """A config for the session server whose database 0 is empty at test start."""
    cfg = from_url(redis_url, socket_timeout_s=2.0)
    with RedisKeyValueStore(cfg).open() as kv:
        kv.flushdb()
    return cfg


@pytest.fixture
def redis_kv(redis_config):
    kv = RedisKeyValueStore(redis_config).open()
    yield kv
    kv.close()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A 3-master Redis Cluster; yields its :class:`RedisConfig`."""
    if REDIS_CLI is None:
        pytest.skip("redis-cli is not installed (Debian's redis-tools)")
    services = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"), masters=3)
    yield RedisConfig(cluster=True, startup_nodes=[("127.0.0.1", s.port) for s in services],
                      socket_timeout_s=2.0)
    for s in services:
        s.kill()
