"""The table stores' column-wise bulk write (``Table.put_columns``), which the micro-batch sinks use:
the same rows, cells and counts as ``put_many``, all or nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squall.store import EmbeddedTableStore, InvalidArgumentError, Table, UnknownColumnFamilyError

ROWS = st.text(alphabet="ab\u00e9\u4e2d-0", min_size=0, max_size=3)
VALUES = st.one_of(st.binary(max_size=4), st.text(max_size=4), st.integers(-5, 5),
                   st.floats(allow_nan=False, allow_infinity=False, width=32))
COLUMN_SETS = st.lists(st.sampled_from(["f:a", "f:b", "f", "g:zz"]), min_size=1, max_size=3, unique=True)


@pytest.fixture
def tables(tmp_path):
    """Two tables with the same families: one written by put_columns, one by put_many."""
    conn = EmbeddedTableStore(tmp_path).open()
    for name in ("bulk", "rows"):
        conn.create_table(name, ["f", "g"])
    yield conn.open_table("bulk"), conn.open_table("rows")
    conn.close()


def _as_rows(keys, columns):
    return [(k, {c: columns[c][i] for c in columns}) for i, k in enumerate(keys)]


@st.composite
def batches(draw):
    """Batches of rows given column-wise; keys repeat within and across batches."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        names = draw(COLUMN_SETS)
        keys = draw(st.lists(ROWS, min_size=0, max_size=6))
        out.append((keys, {c: draw(st.lists(VALUES, min_size=len(keys), max_size=len(keys))) for c in names}))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=batches())
def test_put_columns_writes_what_put_many_writes(tables, data):
    bulk, rows = tables
    for keys, columns in data:
        bulk.put_columns(keys, columns)
        rows.put_many(_as_rows(keys, columns))
    assert list(bulk.scan()) == list(rows.scan())
    assert bulk.count() == rows.count()
    for keys, _ in data:          # clean for the next example (the fixture is per test)
        for k in keys:
            bulk.delete(k)
            rows.delete(k)


def test_put_columns_merges_into_stored_rows_and_counts_new_ones(tables):
    bulk, _ = tables
    bulk.put("r1", {"f:a": "old", "g:zz": 1})
    bulk.put_columns(["r1", "r2"], {"f:a": [b"new", b"x"], "f:b": [2.5, 3]})
    assert bulk.get("r1") == {"f:a": b"new", "f:b": b"2.5", "g:zz": b"1"}
    assert bulk.get("r2") == {"f:a": b"x", "f:b": b"3"}
    assert bulk.count() == 2


def test_put_columns_is_all_or_nothing_and_names_the_fault(tables):
    bulk, _ = tables
    bulk.put("keep", {"f:a": "1"})
    with pytest.raises(InvalidArgumentError, match=r"column 'f:b' has 1 values for 2 rows"):
        bulk.put_columns(["n1", "n2"], {"f:a": ["x", "y"], "f:b": ["z"]})
    with pytest.raises(UnknownColumnFamilyError):
        bulk.put_columns(["n1"], {"f:a": ["x"], "nope:a": ["y"]})
    with pytest.raises(InvalidArgumentError, match="no byte form"):
        bulk.put_columns(["n1", "n2"], {"f:a": ["x", None]})
    with pytest.raises(InvalidArgumentError, match="row key 7 is not a str"):
        bulk.put_columns(["n1", 7], {"f:a": ["x", "y"]})
    assert list(bulk.scan()) == [("keep", {"f:a": b"1"})]
    assert bulk.count() == 1


def test_the_default_put_columns_goes_through_put_many(tables):
    # A backend without a bulk path (HBase) gets Table.put_columns, the same writes.
    bulk, rows = tables
    Table.put_columns(bulk, ["a", "b", "a"], {"f:a": ["1", "2", "3"], "g:zz": [1, 2, 3]})
    rows.put_many([("a", {"f:a": "1", "g:zz": 1}), ("b", {"f:a": "2", "g:zz": 2}), ("a", {"f:a": "3", "g:zz": 3})])
    assert list(bulk.scan()) == list(rows.scan())
    with pytest.raises(InvalidArgumentError, match="give one value per row"):
        Table.put_columns(bulk, ["a"], {"f:a": []})
