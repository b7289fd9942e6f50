"""Crash recovery and commit atomicity against real storage: a writer process killed
with SIGKILL, and a Redis reader racing a committer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import redis

from squall.state import RedisStateBackend, RocksDBStateBackend, TxStatus

N_KEYS = 300

# Commits transaction t with every key set to t, forever; after preparing the odd ones
# it announces "prepared <t>" and waits to be killed once the parent asks for it.
WRITER = textwrap.dedent("""
    import sys
    from squall.state import RocksDBStateBackend, RedisStateBackend
    kind, where, stop_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    backend = RocksDBStateBackend(where) if kind == "rocksdb" else RedisStateBackend(where, key_prefix="crash")
    st = backend.state("counter", 1)
    t = (st.committed_txid or 0) + 1
    while True:
        for k in range({n}):
            st.put(k, t)
        st.prepare_commit(t)
        if t == stop_at:
            print("prepared", t, flush=True)
            sys.stdin.readline()  # the parent kills us here
        st.commit(t)
        t += 1
""").format(n=N_KEYS)


def _where(kind, tmp_path, request):
    return str(tmp_path / "db") if kind == "rocksdb" else request.getfixturevalue("redis_url")


def _backend(kind, where):
    return RocksDBStateBackend(where) if kind == "rocksdb" else RedisStateBackend(where, key_prefix="crash")


def _clear_crash_keys(url):
    r = redis.Redis.from_url(url)
    for k in r.scan_iter(match="crash:*"):
        r.delete(k)


def _spawn(kind, where, stop_at):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.Popen([sys.executable, "-c", WRITER, kind, where, str(stop_at)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("kind", ["rocksdb", "redis"])
def test_kill_between_prepare_and_commit_recovers_last_committed(kind, tmp_path, request):
    where = _where(kind, tmp_path, request)
    if kind == "redis":
        _clear_crash_keys(where)
    proc = _spawn(kind, where, stop_at=4)
    try:
        assert proc.stdout.readline().split() == ["prepared", "4"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    with _backend(kind, where) as backend:
        st = backend.state("counter", 1)
        assert st.status is TxStatus.RECOVERING and st.committed_txid == 3 and st.prepared_txid == 4
        assert dict(st.items()) == {k: 3 for k in range(N_KEYS)}
        st.commit(4)  # the checkpoint had completed: finish it
        assert dict(st.items()) == {k: 4 for k in range(N_KEYS)}


@pytest.mark.parametrize("kind", ["rocksdb", "redis"])
def test_kill_at_random_points_never_leaves_a_half_commit(kind, tmp_path, request):
    """The writer commits t with every key = t; killed at any moment, the reopened
    state must hold one whole transaction: every key equal to committed_txid."""
    where = _where(kind, tmp_path, request)
    if kind == "redis":
        _clear_crash_keys(where)
    for delay_s in (0.35, 0.5, 0.65):
        proc = _spawn(kind, where, stop_at=-1)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        with _backend(kind, where) as backend:
            st = backend.state("counter", 1)
            if st.status is TxStatus.RECOVERING:
                st.rollback()
            if st.committed_txid is not None:
                assert dict(st.items()) == {k: st.committed_txid for k in range(N_KEYS)}


def test_redis_reader_never_sees_a_partial_commit(redis_url):
    backend = RedisStateBackend(redis_url, key_prefix="atomic")
    st = backend.state("counter", 1)
    reader = redis.Redis.from_url(redis_url)
    key_c, key_m = st._kc, st._km
    stop = threading.Event()
    seen = []

    def observe():
        while not stop.is_set():
            pipe = reader.pipeline(transaction=True)
            pipe.hget(key_m, "committed_txid")
            pipe.hvals(key_c)
            txid, vals = pipe.execute()
            if txid is not None:
                import pickle
                seen.append((int(txid), {pickle.loads(v) for v in vals}, len(vals)))

    t = threading.Thread(target=observe)
    t.start()
    try:
        for txid in range(1, 30):
            for k in range(N_KEYS):
                st.put(k, txid)
            st.prepare_commit(txid)
            st.commit(txid)
    finally:
        stop.set()
        t.join()
        backend.close()
    assert seen
    for txid, values, n in seen:
        assert values == {txid} and n == N_KEYS
