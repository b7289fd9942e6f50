"""Fixtures: every state backend, the Redis one against a real redis-server."""

from __future__ import annotations

import itertools

import pytest

from squall.state import MemoryStateBackend, RedisStateBackend, RocksDBStateBackend
from tests.services.redis import REDIS_SERVER, start_redis

_prefixes = itertools.count()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    svc = start_redis(tmp_path_factory.mktemp("state-redis"))
    try:
        yield f"redis://127.0.0.1:{svc.port}/0"
    finally:
        svc.kill()


class BackendFactory:
    """Builds fresh backend objects over the *same* storage, as a restarted worker would."""

    def __init__(self, kind: str, make) -> None:
        self.kind = kind
        self._make = make
        self._made = []

    def __call__(self):
        b = self._make()
        self._made.append(b)
        return b

    def close_all(self) -> None:
        for b in self._made:
            b.close()


@pytest.fixture(params=["memory", "rocksdb", "redis"])
def new_backend(request, tmp_path):
    kind = request.param
    if kind == "memory":
        shared = MemoryStateBackend().open()
        factory = BackendFactory(kind, lambda: shared)
    elif kind == "rocksdb":
        factory = BackendFactory(kind, lambda: RocksDBStateBackend(tmp_path / "state").open())
    else:
        url = request.getfixturevalue("redis_url")
        prefix = f"test{next(_prefixes)}"  # every test gets its own key space
        factory = BackendFactory(kind, lambda: RedisStateBackend(url, key_prefix=prefix).open())
    yield factory
    factory.close_all()


@pytest.fixture
def backend(new_backend):
    return new_backend()
