"""State backends are configurations: they pickle as data and open in the receiving process."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import squall
from squall.state import MemoryStateBackend, RocksDBStateBackend, StateType
from tests.state.test_codec import POINT, Point
from tests.store.test_store_configs import assert_plain_config

_CHILD = textwrap.dedent("""
    import pickle, sys
    backend = pickle.loads(sys.stdin.buffer.read())
    with backend.open() as store:
        st = store.state("counter", 3)
        st.put(("car", 7), {"count": 2})
        st.put("where", __import__("tests.state.test_codec", fromlist=["Point"]).Point(1, 2))
        st.prepare_commit(1)
        st.commit(1)
    print(backend.single_writer_key)
""")


def test_a_rocksdb_backend_unpickled_in_a_fresh_process_opens_there_and_commits_what_this_one_reads(tmp_path):
    backend = RocksDBStateBackend(tmp_path / "state", types=[POINT])
    # Another working directory, squall and the tests package found where this process found them.
    root = str(Path(squall.__file__).parents[1])
    res = subprocess.run([sys.executable, "-c", _CHILD], input=pickle.dumps(backend), capture_output=True,
                         cwd=Path(tmp_path).anchor, env={**os.environ, "PYTHONPATH": root})
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.decode().strip() == "rocksdb:" + os.path.realpath(tmp_path / "state")
    with backend.open() as store:
        assert store.namespaces() == [("counter", 3)]
        st = store.state("counter", 3)
        assert st.committed_txid == 1 and st.get(("car", 7)) == {"count": 2} and st.get("where") == Point(1, 2)


def test_backends_are_plain_data_before_and_after_open(tmp_path):
    rocks = RocksDBStateBackend(tmp_path / "state", sync=True, types=[POINT])
    memory = MemoryStateBackend(types=(POINT,))
    user = frozenset({"squall.state.codec", "tests.state.test_codec"})   # StateType and its functions
    for backend in (rocks, memory):
        assert_plain_config(backend, user)
        with backend.open() as store:
            store.state("c", 0).put("k", 1)
            assert_plain_config(backend, user)
            with pytest.raises(TypeError):
                pickle.dumps(store)
    assert copy.deepcopy(rocks).types == (POINT,)
    assert memory.single_writer_key is None


def test_each_open_of_a_memory_backend_is_its_own_store():
    backend = MemoryStateBackend()
    first = backend.open()
    st = first.state("c", 0)
    st.put("k", 1)
    st.prepare_commit(1)
    st.commit(1)
    assert backend.open().namespaces() == []       # nothing shared through the config
    assert first.namespaces() == [("c", 0)]


def test_bad_types_are_refused_when_the_backend_is_built():
    with pytest.raises(Exception, match="registered twice"):
        MemoryStateBackend(types=[POINT, StateType(Point, "tests.Other", POINT.encode, POINT.decode)])
