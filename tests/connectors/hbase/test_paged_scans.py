"""Scans of a real HBase table larger than one page go page by page (``scan_batch_size``).

A spy on the Thrift client records every ``scannerGetList(scanner, n)`` the store
sends, so a store that asked for the whole table in one call, or read ahead of its
consumer, would fail here.
"""

from __future__ import annotations

import pytest

pytest.importorskip("happybase")

from squall.connectors.hbase import HBaseTableStore  # noqa: E402

PAGE = 7
ROWS = 50          # 8 pages, the last one partial


class _ClientSpy:
    def __init__(self, client, asked: list[int]) -> None:
        self._client = client
        self._asked = asked

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if name != "scannerGetList":
            return attr

        def get_list(scanner_id, n):
            self._asked.append(n)
            return attr(scanner_id, n)
        return get_list


class _ConnectionSpy:
    def __init__(self, conn, asked: list[int]) -> None:
        self._conn = conn
        self.client = _ClientSpy(conn.client, asked)

    def __getattr__(self, name):
        return getattr(self._conn, name)


@pytest.fixture
def paged(hbase_server, table_name, monkeypatch):
    store = HBaseTableStore(port=hbase_server.thrift_port, scan_batch_size=PAGE).open()
    store.create_table(table_name, ["cf"])
    table = store.open_table(table_name)
    table.put_many((f"row{i:03d}", {"cf:n": str(i)}) for i in range(ROWS))
    asked: list[int] = []
    call = store._call
    monkeypatch.setattr(store, "_call", lambda op, t, fn, idempotent=True:
                        call(op, t, lambda conn: fn(_ConnectionSpy(conn, asked)), idempotent))
    yield table, asked
    store.close()


def test_a_full_scan_reads_page_by_page_in_row_order(paged):
    table, asked = paged
    rows = list(table.scan())
    assert [r for r, _ in rows] == [f"row{i:03d}" for i in range(ROWS)]
    assert rows[13][1] == {"cf:n": b"13"}
    assert asked and max(asked) == PAGE
    assert len(asked) == -(-ROWS // PAGE) + 1      # the pages, then the empty answer that ends it


def test_a_scan_reads_no_further_than_its_consumer(paged):
    table, asked = paged
    scan = table.scan()
    for _ in range(PAGE + 1):
        next(scan)
    assert asked == [PAGE, PAGE]
    scan.close()


def test_a_limit_caps_the_pages(paged):
    table, asked = paged
    assert len(list(table.scan(limit=10))) == 10
    assert asked == [PAGE, 3]


def test_count_pages_too(paged):
    table, asked = paged
    assert table.count() == ROWS
    assert max(asked) == PAGE and len(asked) == -(-ROWS // PAGE) + 1
