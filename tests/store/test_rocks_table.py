"""Tests for the embedded wide-column table (squall.store.rocks_table)."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys

import pytest

import squall.store as store_pkg
from squall.store import (
    EmbeddedTableStore,
    InvalidArgumentError,
    ReadOnlyStoreError,
    StoreClosedError,
    StoreLockedError,
    TableExistsError,
    UnknownColumnFamilyError,
    UnknownTableError,
)
from tests.store.holder import StoreHolder


@pytest.fixture
def store(tmp_path):
    s = EmbeddedTableStore(tmp_path).open()
    yield s
    s.close()


@pytest.fixture
def table(store):
    store.create_table("records", ["info", "drive"])
    return store.open_table("records")


def test_public_surface():
    import types
    public = {n for n in dir(store_pkg) if not n.startswith("_")
              and not isinstance(getattr(store_pkg, n), types.ModuleType)}
    assert set(store_pkg.__all__) == public


def test_put_get_merges_columns_and_encodes_values(table):
    table.put("r1", {"info:car": "car7", "drive:speed": 81.5, "drive:brake": 0})
    table.put("r1", {"drive:speed": 90, "info:raw": b"\x00\xff"})
    assert table.get("r1") == {"info:car": b"car7", "drive:speed": b"90", "drive:brake": b"0",
                               "info:raw": b"\x00\xff"}
    assert table.get("absent") == {}


def test_family_only_column_is_empty_qualifier(table):
    table.put("r", {"info": "x"})
    assert table.get("r") == {"info:": b"x"}


def test_get_filters_by_column_and_family(table):
    table.put("r", {"info:car": "c", "info:area": "A", "drive:speed": 1})
    assert table.get("r", columns=["drive"]) == {"drive:speed": b"1"}
    assert table.get("r", columns=["info:car", "drive"]) == {"info:car": b"c", "drive:speed": b"1"}
    assert table.get("r", columns=["info:nope"]) == {}


def test_unknown_family_on_put_names_table_family_and_families(table):
    with pytest.raises(UnknownColumnFamilyError) as err:
        table.put("r", {"speed:kmh": 1})
    e = err.value
    assert (e.table, e.family, e.families) == ("records", "speed", ["info", "drive"])
    assert "'speed'" in str(e) and "records" in str(e) and "info, drive" in str(e)
    assert isinstance(e, KeyError)
    with pytest.raises(UnknownColumnFamilyError):
        table.get("r", columns=["speed"])
    assert table.count() == 0


def test_bad_values_and_rows_rejected(table):
    with pytest.raises(InvalidArgumentError):
        table.put("r", {"info:a": None})
    with pytest.raises(InvalidArgumentError):
        table.put(b"r", {"info:a": "x"})
    assert table.count() == 0


def _fill(table):
    for car in ("car1", "car2"):
        for ts in ("100", "101", "102"):
            table.put(f"{car}-{ts}", {"info:car": car, "drive:speed": ts})


def test_scan_prefix_range_limit_columns_in_order(table):
    _fill(table)
    assert [r for r, _ in table.scan()] == sorted(r for r, _ in table.scan())
    assert [r for r, _ in table.scan(row_prefix="car2-")] == ["car2-100", "car2-101", "car2-102"]
    assert [r for r, _ in table.scan(row_start="car1-101", row_stop="car2-101")] == [
        "car1-101", "car1-102", "car2-100"]  # stop exclusive, like HBase
    assert [r for r, _ in table.scan(row_start="car1-102", limit=2)] == ["car1-102", "car2-100"]
    rows = list(table.scan(row_prefix="car1", columns=["drive"], limit=1))
    assert rows == [("car1-100", {"drive:speed": b"100"})]


def test_scan_column_filter_skips_rows_without_them(table):
    table.put("a", {"info:x": 1})
    table.put("b", {"drive:y": 2})
    assert list(table.scan(columns=["drive:y"])) == [("b", {"drive:y": b"2"})]


def test_scan_argument_errors_raise_at_call(table):
    with pytest.raises(InvalidArgumentError):
        table.scan(row_prefix="a", row_start="b")
    with pytest.raises(InvalidArgumentError):
        table.scan(limit=0)
    with pytest.raises(UnknownColumnFamilyError):
        table.scan(columns=["nope"])


def test_delete_row_columns_family_and_count(table):
    _fill(table)
    assert table.count() == 6
    table.delete("car1-100")
    table.delete("car1-100")  # absent: no error, count unchanged
    assert table.get("car1-100") == {} and table.count() == 5
    table.delete("car1-101", columns=["drive:speed"])
    assert table.get("car1-101") == {"info:car": b"car1"} and table.count() == 5
    table.delete("car1-101", columns=["info"])  # last columns gone -> row gone
    assert table.get("car1-101") == {} and table.count() == 4
    assert "car1-101" not in [r for r, _ in table.scan()]


def test_put_many_is_atomic(table):
    table.put("keep", {"info:a": "1"})
    with pytest.raises(UnknownColumnFamilyError):
        table.put_many([("n1", {"info:a": "x"}), ("keep", {"info:a": "2"}), ("n2", {"bad:a": "y"})])
    assert [r for r, _ in table.scan()] == ["keep"]
    assert table.get("keep") == {"info:a": b"1"} and table.count() == 1


def test_put_many_repeated_row_merges_in_order(table):
    table.put_many([("r", {"info:a": "1", "info:b": "1"}), ("r", {"info:a": "2"})])
    assert table.get("r") == {"info:a": b"2", "info:b": b"1"} and table.count() == 1


def test_table_admin(store):
    store.create_table("b", ["f"])
    store.create_table("a", ["f", "g"])
    assert store.tables() == ["a", "b"]
    with pytest.raises(TableExistsError):
        store.create_table("a", ["f"])
    for bad in (("", ["f"]), ("x y", ["f"]), ("c", []), ("c", ["f:q"]), ("c", ["f", "f"]), ("c", "f")):
        with pytest.raises(InvalidArgumentError):
            store.create_table(*bad)
    t = store.open_table("a")
    t.put("r", {"f:q": 1})
    store.delete_table("a")
    assert store.tables() == ["b"]
    with pytest.raises(UnknownTableError) as err:
        t.get("r")
    assert "'a'" in str(err.value) and err.value.tables == ["b"]
    with pytest.raises(UnknownTableError):
        store.open_table("a")
    store.create_table("a", ["f"])  # re-created table is empty
    assert t.get("r") == {} and t.count() == 0


def test_persistence_across_close_and_reopen(tmp_path):
    s = EmbeddedTableStore(tmp_path).open()
    s.create_table("records", ["info"])
    s.open_table("records").put_many([(f"r{i}", {"info:i": i}) for i in range(50)])
    s.close()
    s2 = EmbeddedTableStore(tmp_path).open()
    t = s2.open_table("records")
    assert s2.tables() == ["records"] and t.count() == 50 and t.get("r7") == {"info:i": b"7"}
    assert t.families() == ["info"]
    s2.close()


def test_persistence_across_processes(tmp_path):
    code = ("import sys; from squall.store import EmbeddedTableStore as S; s = S(sys.argv[1]).open(); "
            "s.create_table('t', ['f']); s.open_table('t').put('r', {'f:q': 'v'}); s.close()")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    with EmbeddedTableStore(tmp_path).open() as s:
        assert s.open_table("t").get("r") == {"f:q": b"v"}


def test_shared_handle_in_process_and_lock_across_processes(tmp_path):
    a, b = EmbeddedTableStore(tmp_path).open(), EmbeddedTableStore(tmp_path).open()
    a.create_table("t", ["f"])
    b.open_table("t").put("r", {"f:q": 1})  # no RocksDB lock clash in the same process
    assert a.open_table("t").get("r") == {"f:q": b"1"}
    code = ("import sys; from squall.store import EmbeddedTableStore as S, StoreLockedError\n"
            "try:\n    S(sys.argv[1]).open().tables()\nexcept StoreLockedError as e:\n"
            "    print(e.path); sys.exit(3)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 3, res.stderr
    assert res.stdout.strip().endswith("tables")
    a.close()
    assert b.open_table("t").count() == 1  # b still holds the handle
    b.close()
    assert StoreLockedError("/x").path == "/x"


def test_store_is_a_config_and_a_closed_connection_refuses_calls(tmp_path, store, table):
    spec = copy.deepcopy(EmbeddedTableStore(tmp_path / "fresh"))
    assert spec == EmbeddedTableStore(tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()  # a config does no I/O
    assert pickle.loads(pickle.dumps(store.store)) == EmbeddedTableStore(tmp_path)
    with pytest.raises(TypeError):
        pickle.dumps(store)  # the live connection never travels
    table.put("r", {"info:a": "1"})
    store.close()
    with pytest.raises(StoreClosedError, match="get refused"):
        table.get("r")
    with pytest.raises(StoreClosedError, match="tables refused"):
        store.tables()


def test_put_many_in_batches_stores_every_row(table):
    rows = [(f"{9999999999999 - i:013d}-car{i % 100:03d}",
             {"info:ts": 1700000000000 + i, "info:car": f"car{i % 100}", "drive:speed": 81.2})
            for i in range(10_000)]
    for i in range(0, len(rows), 1000):
        table.put_many(rows[i:i + 1000])
    assert table.count() == 10_000
    assert table.get(rows[1234][0])["drive:speed"] == b"81.2"


def test_concurrent_puts_from_two_store_objects_merge(tmp_path):
    import threading

    a, b = EmbeddedTableStore(tmp_path).open(), EmbeddedTableStore(tmp_path).open()
    a.create_table("t", ["f"])
    ta, tb = a.open_table("t"), b.open_table("t")

    def writer(table, column):
        for i in range(0, 2000, 100):
            table.put_many([(f"r{j:04d}", {column: j}) for j in range(i, i + 100)])

    threads = [threading.Thread(target=writer, args=(ta, "f:a")),
               threading.Thread(target=writer, args=(tb, "f:b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ta.count() == 2000
    assert all(cells.keys() == {"f:a", "f:b"} for _, cells in ta.scan())
    a.close()
    b.close()


def test_read_only_store_follows_a_writer_holding_the_directory(tmp_path):
    reader = EmbeddedTableStore(tmp_path, read_only=True).open()
    with StoreHolder(tmp_path) as holder:
        assert reader.tables() == []
        holder("tables.create_table('a', ['f'])")
        t = reader.open_table("a")
        counts = []
        for i in range(3):
            holder(f"tables.open_table('a').put_many([('r{i}%03d' % j, {{'f:q': j}}) for j in range(100)])")
            counts.append(t.count())
            assert sum(1 for _ in t.scan()) == counts[-1]
        assert counts == [100, 200, 300]
        assert t.get("r2099") == {"f:q": b"99"}
        # A table created after the reader opened: RocksDB's secondary cannot catch up
        # over a new column family, so the reader reopens.
        holder("tables.create_table('b', ['g']); tables.open_table('b').put('x', {'g:': 1})")
        assert reader.tables() == ["a", "b"]
        assert reader.open_table("b").get("x") == {"g:": b"1"}
        assert t.count() == 300  # a table object of the reopened view still reads
        holder("tables.open_table('a').delete('r0000'); tables.delete_table('b')")
        assert reader.tables() == ["a"] and t.count() == 299 and t.get("r0000") == {}
        with pytest.raises(UnknownTableError):
            reader.open_table("b")
    reader.close()


def test_read_only_store_refuses_every_write_and_writes_nothing(tmp_path):
    with EmbeddedTableStore(tmp_path).open() as w:
        w.create_table("a", ["f"])
        w.open_table("a").put("r", {"f:q": 1})
    reader = EmbeddedTableStore(tmp_path, read_only=True).open()
    t = reader.open_table("a")
    for write, what in [(lambda: t.put("r", {"f:q": 2}), "put to table 'a'"),
                        (lambda: t.put_many([("s", {"f:q": 2})]), "put to table 'a'"),
                        (lambda: t.delete("r"), "delete from table 'a'"),
                        (lambda: reader.create_table("b", ["f"]), "create_table"),
                        (lambda: reader.delete_table("a"), "delete_table")]:
        with pytest.raises(ReadOnlyStoreError) as info:
            write()
        assert info.value.operation == what and info.value.path.endswith("tables")
        assert "read-only" in str(info.value)
    assert reader.tables() == ["a"] and t.count() == 1 and t.get("r") == {"f:q": b"1"}
    clone = pickle.loads(pickle.dumps(reader.store)).open()
    assert clone.store.read_only and clone.open_table("a").get("r") == {"f:q": b"1"}
    clone.close()
    reader.close()


def test_read_only_store_creates_nothing_and_removes_its_scratch_directory(tmp_path, monkeypatch):
    import tempfile
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    data = tmp_path / "data"
    reader = EmbeddedTableStore(data, read_only=True).open()
    assert reader.tables() == []
    with pytest.raises(UnknownTableError):
        reader.open_table("a")
    assert not data.exists() and list(scratch_root.iterdir()) == []
    with EmbeddedTableStore(data).open() as w:
        w.create_table("a", ["f"])
    assert reader.tables() == ["a"]  # the database appeared after the reader was made
    assert len(list(scratch_root.iterdir())) == 1  # the secondary's own directory
    reader.close()
    assert list(scratch_root.iterdir()) == []
