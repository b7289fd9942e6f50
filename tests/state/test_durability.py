"""Crash recovery and commit atomicity against real storage: a writer process killed
with SIGKILL, and a Redis reader racing a committer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
import redis

from squall.state import RedisStateBackend, RocksDBStateBackend, StateCodec, TxStatus

N_KEYS = 300

# Commits transaction t with every key set to t, forever, announcing "committed <t>"
# after each commit; when t == stop_at it announces "prepared <t>" after preparing and
# waits there to be killed.
WRITER = textwrap.dedent("""
    import sys
    from squall.state import RocksDBStateBackend, RedisStateBackend
    kind, where, stop_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    backend = RocksDBStateBackend(where).open() if kind == "rocksdb" else RedisStateBackend(where, key_prefix="crash").open()
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
        print("committed", t, flush=True)
        t += 1
""").format(n=N_KEYS)


def _where(kind, tmp_path, request):
    return str(tmp_path / "db") if kind == "rocksdb" else request.getfixturevalue("redis_url")


def _backend(kind, where):
    return RocksDBStateBackend(where).open() if kind == "rocksdb" else RedisStateBackend(where, key_prefix="crash").open()


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
        lines = [proc.stdout.readline().split() for _ in range(4)]
        assert lines == [["committed", "1"], ["committed", "2"], ["committed", "3"], ["prepared", "4"]]
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
    """The writer commits t with every key = t; killed while it writes the next
    transaction, the reopened state must hold one whole transaction (every key equal
    to committed_txid), at least the last one the writer announced as committed.

    Each kill lands after the writer's ``commits_before_kill``-th commit of that run,
    so a run that never committed fails here instead of passing with nothing to check,
    and each run must resume from the previous run's commit (its first commit is
    ``committed_txid + 1``)."""
    where = _where(kind, tmp_path, request)
    if kind == "redis":
        _clear_crash_keys(where)
    committed = 0
    for commits_before_kill in (1, 3, 7):
        proc = _spawn(kind, where, stop_at=-1)
        try:
            announced = []
            while len(announced) < commits_before_kill:
                line = proc.stdout.readline().split()
                assert line[:1] == ["committed"], f"the writer stopped before committing: {line}"
                announced.append(int(line[1]))
            # The writer goes on preparing and committing while the signal travels,
            # so the kill lands at a varying point of the next transactions.
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            proc.kill()
        assert announced[0] == committed + 1, "the run did not resume from the last commit"
        with _backend(kind, where) as backend:
            st = backend.state("counter", 1)
            if st.status is TxStatus.RECOVERING:
                assert st.prepared_txid == st.committed_txid + 1
                st.rollback()
            assert st.committed_txid is not None and st.committed_txid >= announced[-1]
            assert dict(st.items()) == {k: st.committed_txid for k in range(N_KEYS)}
            committed = st.committed_txid


def test_redis_reader_never_sees_a_partial_commit(redis_url):
    backend = RedisStateBackend(redis_url, key_prefix="atomic").open()
    st = backend.state("counter", 1)
    reader = redis.Redis.from_url(redis_url)
    key_c, key_m = st._kc, st._km
    stop = threading.Event()
    seen = []
    decode = StateCodec().decode

    def observe():
        while not stop.is_set():
            pipe = reader.pipeline(transaction=True)
            pipe.hget(key_m, "committed_txid")
            pipe.hvals(key_c)
            txid, vals = pipe.execute()
            if txid is not None:
                seen.append((int(txid), {decode(v) for v in vals}, len(vals)))

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
