"""The table contract, run against the embedded RocksDB table and a real HBase alike.

Every test runs twice with the same assertions: once on ``EmbeddedTableStore`` and
once on ``HBaseTableStore`` over the session's HBase Thrift server. Families are
named in sorted order because HBase reports a table's families sorted (the embedded
table reports creation order).
"""

from __future__ import annotations

import copy
import pickle

import pytest

from squall.store import (
    EmbeddedTableStore,
    InvalidArgumentError,
    TableExistsError,
    UnknownColumnFamilyError,
    UnknownTableError,
)

FAMILIES = ["drive", "info"]


@pytest.fixture(params=["embedded", "hbase"])
def store(request, tmp_path):
    if request.param == "embedded":
        with EmbeddedTableStore(tmp_path).open() as s:
            yield s
    else:
        yield request.getfixturevalue("hbase")


@pytest.fixture
def table(store, table_name):
    store.create_table(table_name, FAMILIES)
    yield store.open_table(table_name)
    if table_name in store.tables():
        store.delete_table(table_name)


def test_put_merges_columns_and_encodes_values(table):
    table.put("r1", {"info:car": "car7", "drive:speed": 81.5, "drive:brake": 0})
    table.put("r1", {"drive:speed": 90, "info:raw": b"\x00\xff"})
    assert table.get("r1") == {"info:car": b"car7", "drive:speed": b"90", "drive:brake": b"0",
                               "info:raw": b"\x00\xff"}
    assert table.get("absent") == {}
    table.put("r1", {})  # writes nothing
    assert len(table.get("r1")) == 4


def test_family_only_column_is_the_empty_qualifier(table):
    table.put("r", {"info": "x"})
    assert table.get("r") == {"info:": b"x"}
    assert table.get("r", ["info:"]) == {"info:": b"x"}


def test_get_filters_by_column_and_family(table):
    table.put("r", {"info:car": "c", "info:area": "A", "drive:speed": 1})
    assert table.get("r", columns=["drive"]) == {"drive:speed": b"1"}
    assert table.get("r", columns=["info:car", "drive"]) == {"info:car": b"c", "drive:speed": b"1"}
    assert table.get("r", columns=["info:nope"]) == {}


def test_unknown_family_raises_store_error_and_writes_nothing(table):
    with pytest.raises(UnknownColumnFamilyError) as err:
        table.put("r", {"speed:kmh": 1})
    e = err.value
    assert (e.table, e.family, e.families) == (table.name, "speed", FAMILIES)
    assert isinstance(e, KeyError)
    with pytest.raises(UnknownColumnFamilyError):
        table.put_many([("a", {"info:x": 1}), ("b", {"nope:x": 1})])
    with pytest.raises(UnknownColumnFamilyError):
        table.get("r", columns=["speed"])
    with pytest.raises(UnknownColumnFamilyError):
        table.scan(columns=["speed:kmh"])
    with pytest.raises(UnknownColumnFamilyError):
        table.delete("r", columns=["speed"])
    assert table.count() == 0 and table.get("a") == {}


def test_bad_values_and_rows_rejected(table):
    with pytest.raises(InvalidArgumentError):
        table.put("r", {"info:a": None})
    with pytest.raises(InvalidArgumentError):
        table.put(b"r", {"info:a": "x"})
    with pytest.raises(InvalidArgumentError):
        table.put_many([("r", ["info:a"])])
    assert table.count() == 0


def test_scan_order_prefix_range_limit_columns(table):
    keys = ["b-2", "a-1", "b-1", "\u00e9-1", "b-10", "c", "a"]
    table.put_many([(k, {"info:k": k, "drive:n": i}) for i, k in enumerate(keys)])
    assert [k for k, _ in table.scan()] == sorted(keys)  # UTF-8 byte order = code point order
    assert [k for k, _ in table.scan(row_prefix="b-")] == ["b-1", "b-10", "b-2"]
    assert [k for k, _ in table.scan(row_start="a-1", row_stop="b-10")] == ["a-1", "b-1"]
    assert [k for k, _ in table.scan(row_start="b")] == ["b-1", "b-10", "b-2", "c", "\u00e9-1"]
    assert [k for k, _ in table.scan(row_stop="b")] == ["a", "a-1"]
    assert [k for k, _ in table.scan(limit=3)] == ["a", "a-1", "b-1"]
    assert [k for k, _ in table.scan(row_prefix="b-", limit=2)] == ["b-1", "b-10"]
    assert list(table.scan(row_prefix="c", columns=["info"])) == [("c", {"info:k": b"c"})]
    assert list(table.scan(row_prefix="zz")) == []


def test_scan_skips_rows_without_selected_columns(table):
    table.put("a", {"info:x": 1})
    table.put("b", {"drive:y": 2})
    table.put("c", {"info:x": 3, "drive:y": 4})
    assert list(table.scan(columns=["drive"])) == [("b", {"drive:y": b"2"}), ("c", {"drive:y": b"4"})]
    assert [k for k, _ in table.scan(columns=["info:x"])] == ["a", "c"]


def test_scan_argument_errors_raise_at_the_call(table):
    with pytest.raises(InvalidArgumentError):
        table.scan(row_prefix="a", row_start="a")
    with pytest.raises(InvalidArgumentError):
        table.scan(limit=0)
    with pytest.raises(InvalidArgumentError):
        table.scan(row_stop=3)


def test_delete_columns_families_rows_and_count(table):
    table.put_many([("r1", {"info:a": 1, "info:b": 2, "drive:s": 3}), ("r2", {"info:a": 1})])
    assert table.count() == 2
    table.delete("r1", ["info:a"])
    assert table.get("r1") == {"info:b": b"2", "drive:s": b"3"}
    table.delete("r1", ["info"])
    assert table.get("r1") == {"drive:s": b"3"}
    table.delete("r1", ["drive:s"])  # last column: the row ceases to exist
    assert table.get("r1") == {} and table.count() == 1
    assert [k for k, _ in table.scan()] == ["r2"]
    table.delete("r2")
    table.delete("never-there")
    assert table.count() == 0


def test_put_many_repeated_row_merges_later_wins(table):
    table.put_many([("r", {"info:a": 1, "info:b": 1}), ("r", {"info:a": 2}), ("s", {"info:a": 0}),
                    ("r", {"drive:c": 3})])
    assert table.get("r") == {"info:a": b"2", "info:b": b"1", "drive:c": b"3"}


def test_count_and_scan_across_many_chunks(table):
    table.put_many((f"row{i:05d}", {"drive:i": i}) for i in range(2500))
    assert table.count() == 2500
    rows = list(table.scan(row_start="row00998", limit=5))
    assert [k for k, _ in rows] == [f"row{i:05d}" for i in range(998, 1003)]
    assert sum(1 for _ in table.scan(columns=["drive:i"])) == 2500


def test_table_admin_and_errors(store, table_name):
    assert table_name not in store.tables()
    store.create_table(table_name, FAMILIES)
    assert table_name in store.tables()
    assert store.open_table(table_name).families() == FAMILIES
    with pytest.raises(TableExistsError):
        store.create_table(table_name, ["x"])
    for bad in ([], ["a", "a"], ["a:b"], "info"):
        with pytest.raises(InvalidArgumentError):
            store.create_table(table_name + "_bad", bad)
    with pytest.raises(InvalidArgumentError):
        store.create_table(".hidden", ["a"])
    t = store.open_table(table_name)
    t.put("r", {"info:a": 1})
    store.delete_table(table_name)
    assert table_name not in store.tables()
    with pytest.raises(UnknownTableError) as err:
        store.open_table(table_name)
    assert err.value.table == table_name
    with pytest.raises(UnknownTableError):
        store.delete_table(table_name)
    with pytest.raises(UnknownTableError):
        t.get("r")
    with pytest.raises(UnknownTableError):
        t.put("r", {"info:a": 1})
    with pytest.raises(UnknownTableError):
        t.count()
    # Re-created with other families: the old handle follows the table by name.
    store.create_table(table_name, ["zz"])
    t.put("r", {"zz:q": 1})
    assert t.get("r") == {"zz:q": b"1"} and t.families() == ["zz"]
    store.delete_table(table_name)


def test_the_store_is_a_config_a_copy_opens_elsewhere_and_the_connection_never_travels(store, table):
    table.put("r", {"info:a": "x"})
    config = store.store
    assert pickle.loads(pickle.dumps(config)) == config == copy.deepcopy(config)
    with pickle.loads(pickle.dumps(config)).open() as clone:
        assert clone.open_table(table.name).get("r") == {"info:a": b"x"}
    for live in (store, table):
        with pytest.raises(TypeError):
            pickle.dumps(live)
