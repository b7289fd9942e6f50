"""Store configurations travel as plain data and open in the process that receives them.

A store object is what a topology spec carries to a worker process: it must pickle by
default dataclass semantics (no live handle inside), unpickle in a fresh interpreter,
and open there; what that process writes must be what this one reads back.
"""

from __future__ import annotations

import copy
import io
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import squall
from squall.component import TopologyContext
from squall.store import EmbeddedKeyValueStore, EmbeddedTableStore, single_writer_keys
from squall.store.bolts import DeadLetterBolt, FieldsTableMapper, TableWriterBolt
from squall.store.rocks_table import _HANDLES as _TABLE_HANDLES
from squall.testing import RecordingCollector
from squall.tuple import Fields, Tuple, TupleSource

# The modules a store configuration's pickle may name: the classes of its fields.
_PLAIN_MODULES = {"squall.store.rocks_table", "squall.store.rocks_kv", "pathlib", "builtins", "time",
                  "squall.connectors.redis.store", "squall.connectors.redis.config",
                  "squall.connectors.hbase.table", "squall.state.rocksdb", "squall.state.memory",
                  "squall.state.redis", "copyreg", "posix"}


class _Recorder(pickle.Unpickler):
    """Unpickles normally, noting the module of every class or function the pickle names."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.modules: set[str] = set()

    def find_class(self, module: str, name: str):
        self.modules.add(module)
        return super().find_class(module, name)


def pickled_globals(obj: object) -> set[str]:
    """The ``module`` of every class or function the pickle of ``obj`` refers to."""
    recorder = _Recorder(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    recorder.load()
    return recorder.modules


def assert_plain_config(store: object, also: frozenset[str] = frozenset()) -> None:
    """``store`` pickles and copies as data: equal after a round trip, naming no live module
    (``also``: the modules of user functions it carries, e.g. a state type's codec)."""
    assert pickle.loads(pickle.dumps(store)) == store
    assert copy.deepcopy(store) == store and copy.copy(store) == store
    assert pickled_globals(store) <= _PLAIN_MODULES | also, pickled_globals(store)


def test_embedded_configs_are_plain_data_before_and_after_open(tmp_path):
    table, kv = EmbeddedTableStore(tmp_path), EmbeddedKeyValueStore(tmp_path)
    for store in (table, kv, EmbeddedTableStore(tmp_path, read_only=True)):
        assert_plain_config(store)
    with table.open() as tables, kv.open() as keys:
        tables.create_table("t", ["f"])
        keys.set("k", "v")
        # Opening and using the store changed nothing in the configuration.
        assert_plain_config(table)
        assert_plain_config(kv)
        assert pickle.dumps(table) == pickle.dumps(EmbeddedTableStore(tmp_path))


def test_the_check_catches_a_live_handle_planted_in_a_config(tmp_path):
    store = EmbeddedTableStore(tmp_path)
    with store.open() as live:
        planted = EmbeddedTableStore(tmp_path)
        object.__setattr__(planted, "read_only", live)  # what a work-around would smuggle
        with pytest.raises((TypeError, AssertionError)):
            assert_plain_config(planted)


def test_a_relative_data_dir_is_kept_absolute_so_a_worker_elsewhere_opens_the_same(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = EmbeddedTableStore("data")
    assert store.data_dir == tmp_path / "data" and store.data_dir.is_absolute()
    assert store.single_writer_key == "rocksdb:" + os.path.realpath(tmp_path / "data" / "tables")


def test_single_writer_keys_name_the_directory_writers_lock(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert EmbeddedTableStore(tmp_path / "link").single_writer_key == f"rocksdb:{real}/tables"
    assert EmbeddedKeyValueStore(real).single_writer_key == f"rocksdb:{real}/kv"
    # Two spellings of one directory give one key: the scheduler must see one resource.
    assert EmbeddedTableStore(tmp_path / "link").single_writer_key == EmbeddedTableStore(real).single_writer_key
    # Readers take no lock; they may run anywhere.
    assert EmbeddedTableStore(real, read_only=True).single_writer_key is None
    assert EmbeddedKeyValueStore(real, read_only=True).single_writer_key is None


_CHILD = textwrap.dedent("""
    import pickle, sys
    table_store, kv_store = pickle.loads(sys.stdin.buffer.read())
    with table_store.open() as tables:
        tables.create_table("records", ["cf"])
        tables.open_table("records").put_many([(f"r{i}", {"cf:i": i}) for i in range(10)])
    with kv_store.open() as kv:
        kv.sadd("speeding", "car7", "car9")
        kv.expire("speeding", 3600)
    print(table_store.single_writer_key)
""")


def test_configs_unpickled_in_a_fresh_process_open_there_and_write_what_this_one_reads(tmp_path):
    table_store, kv_store = EmbeddedTableStore(tmp_path), EmbeddedKeyValueStore(tmp_path)
    # Run from another working directory, finding squall where this process found it.
    env = {**os.environ, "PYTHONPATH": str(Path(squall.__file__).parents[1])}
    res = subprocess.run([sys.executable, "-c", _CHILD], input=pickle.dumps((table_store, kv_store)),
                         capture_output=True, cwd=Path(tmp_path).anchor, env=env)
    assert res.returncode == 0, res.stderr.decode()
    # Another working directory, the same resource.
    assert res.stdout.decode().strip() == table_store.single_writer_key
    with table_store.open() as tables:
        t = tables.open_table("records")
        assert t.count() == 10 and t.get("r7") == {"cf:i": b"7"}
    with kv_store.open() as kv:
        assert kv.smembers("speeding") == {"car7", "car9"} and 3590 <= kv.ttl("speeding") <= 3600


def test_a_second_process_cannot_open_a_directory_this_one_writes(tmp_path):
    """Why single_writer_key exists: the child gets StoreLockedError from open()."""
    store = EmbeddedTableStore(tmp_path)
    code = ("import pickle, sys\nfrom squall.store import StoreLockedError\n"
            "try:\n    pickle.loads(sys.stdin.buffer.read()).open()\n"
            "except StoreLockedError:\n    sys.exit(3)\n")
    with store.open():
        res = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(store), capture_output=True)
    assert res.returncode == 3, res.stderr.decode()


def _tuples(fields, rows):
    src = TupleSource("parse", 1, "default", Fields(fields))
    return [Tuple(list(r), src, None) for r in rows]


def test_store_bolts_name_their_directories_and_open_on_prepare_close_on_cleanup(tmp_path):
    store = EmbeddedTableStore(tmp_path)
    writer = TableWriterBolt(store, "t", ["f"], FieldsTableMapper("k", "f", ["v"]))
    assert writer.single_writer_keys() == DeadLetterBolt(store).single_writer_keys() \
        == {f"rocksdb:{os.path.realpath(tmp_path)}/tables"}
    reader = EmbeddedTableStore(tmp_path, read_only=True)
    assert TableWriterBolt(reader, "t", ["f"], FieldsTableMapper("k", "f", ["v"])).single_writer_keys() == frozenset()
    assert single_writer_keys(store, EmbeddedKeyValueStore(tmp_path), reader) == {
        store.single_writer_key, EmbeddedKeyValueStore(tmp_path).single_writer_key}

    # The spec travels before prepare; the worker's copy opens, writes, and closes.
    bolts = [pickle.loads(pickle.dumps(writer)) for _ in range(2)]
    recorders = [RecordingCollector() for _ in bolts]
    for i, (bolt, rec) in enumerate(zip(bolts, recorders)):
        bolt.prepare({}, TopologyContext(topology=None, component_id="table", task_id=i, component_tasks=(0, 1)),
                     rec)
    # Two tasks of one process share the directory's handle (RocksDB allows one).
    assert _TABLE_HANDLES.refcount(store.path) == 2
    for i, bolt in enumerate(bolts):
        bolt.process_batch(_tuples(["k", "v"], [(f"r{i}", i)]))
        bolt.cleanup()
    assert all(len(rec.acked) == 1 for rec in recorders)
    assert _TABLE_HANDLES.refcount(store.path) == 0  # cleanup gave the handle back
    with store.open() as tables:
        assert dict(tables.open_table("t").scan()) == {"r0": {"f:v": b"0"}, "r1": {"f:v": b"1"}}
