"""The Redis state backend reaches Redis through the connector's RedisConfig: a
password-protected server, Sentinel and Cluster, with a URL string as shorthand."""

from __future__ import annotations

import pickle

import pytest

from squall.connectors.redis import RedisConfig, from_url
from squall.state import RedisStateBackend, StateBackendError, TxStatus
from tests.services.redis import REDIS_CLI, REDIS_SERVER, start_redis, start_redis_cluster, start_sentinel

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


def _commit_and_reopen(make_backend, tasks=(0, 1, 2, 3)):
    """Commit a value per task, then read it back through a new backend object."""
    with make_backend() as backend:
        for task in tasks:
            state = backend.state("counter", task)
            state.put(("car", task), {"count": task, "cars": {f"car-{task}"}})
            state.prepare_commit(1)
            state.commit(1)
    with make_backend() as backend:
        for task in tasks:
            state = backend.state("counter", task)
            assert state.committed_txid == 1 and state.status is TxStatus.OPEN
            assert dict(state.items()) == {("car", task): {"count": task, "cars": {f"car-{task}"}}}


def test_a_url_string_is_shorthand_for_from_url():
    url = "redis://127.0.0.1:6390/3"
    assert RedisStateBackend(url).config == from_url(url)
    assert RedisStateBackend.from_url(url, socket_timeout_s=1.5).config == from_url(url, socket_timeout_s=1.5)
    with pytest.raises(TypeError, match="RedisConfig"):
        RedisStateBackend(6379)


def test_the_backend_travels_as_a_spec(redis_url):
    backend = RedisStateBackend(RedisConfig(url=redis_url, retries=0), key_prefix="spec")
    clone = pickle.loads(pickle.dumps(backend))
    assert clone == backend and clone.key_prefix == "spec" and clone.single_writer_key is None
    _commit_and_reopen(lambda: pickle.loads(pickle.dumps(backend)).open(), tasks=(0,))
    with backend.open() as store:
        store.state("counter", 0)   # builds the live client
        with pytest.raises(TypeError):
            pickle.dumps(store)     # which never travels


def test_a_password_protected_server(tmp_path):
    svc = start_redis(tmp_path / "auth", None, "--requirepass", "s3cret-pw")
    try:
        url = f"redis://:s3cret-pw@127.0.0.1:{svc.port}/0"
        _commit_and_reopen(lambda: RedisStateBackend(RedisConfig(url=url), key_prefix="auth").open())
        wrong = RedisConfig(url=f"redis://:not-it@127.0.0.1:{svc.port}/0", retries=0)
        with RedisStateBackend(wrong).open() as backend:
            with pytest.raises(StateBackendError) as err:
                backend.state("counter", 0)
        assert "not-it" not in str(err.value)
    finally:
        svc.kill()


def test_sentinel(tmp_path):
    master = start_redis(tmp_path / "master")
    sentinel = start_sentinel(tmp_path / "sentinel", master.port, "cars")
    try:
        config = RedisConfig(sentinel=[("127.0.0.1", sentinel.port)], service_name="cars")
        _commit_and_reopen(lambda: RedisStateBackend(config, key_prefix="sent").open())
    finally:
        sentinel.kill()
        master.kill()


@pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli is not installed")
def test_cluster(tmp_path):
    nodes = start_redis_cluster(tmp_path / "cluster")
    try:
        config = RedisConfig(cluster=True, startup_nodes=[("127.0.0.1", n.port) for n in nodes])
        # Namespaces hash to different slots, so several nodes hold state; each
        # namespace's prepare and commit stay one MULTI on its own slot.
        _commit_and_reopen(lambda: RedisStateBackend(config, key_prefix="clu").open(), tasks=range(12))
        with RedisStateBackend(config, key_prefix="clu").open() as backend:
            state = backend.state("counter", 5)
            state.put("x", 1)
            state.prepare_commit(2)
        with RedisStateBackend(config, key_prefix="clu").open() as backend:
            state = backend.state("counter", 5)
            assert state.status is TxStatus.RECOVERING and state.prepared_txid == 2
            state.commit(2)
            assert state.get("x") == 1
    finally:
        for n in nodes:
            n.kill()
