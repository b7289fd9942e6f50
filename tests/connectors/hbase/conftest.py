"""Fixtures for the HBase connector tests: one real HBase + Thrift server per session.

The server is HBase standalone (HMaster with its region server and ZooKeeper in one
JVM) plus the Thrift server in a second JVM, both from Maven Central jars; see
:mod:`tests.services.hbase`. Tests share it and isolate themselves by table name.
"""

from __future__ import annotations

import itertools
import re

import pytest


_names = itertools.count()


@pytest.fixture
def hbase_store(hbase_server):
    """The session server's store configuration (what bolts are given)."""
    from squall.connectors.hbase import HBaseTableStore
    return HBaseTableStore(port=hbase_server.thrift_port)


@pytest.fixture
def hbase(hbase_store):
    """A live connection to the session server (what a test reads and writes through)."""
    with hbase_store.open() as connection:
        yield connection


@pytest.fixture
def table_name(request):
    """A table name unique in the session, readable in the server log."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60]
    return f"{base}_{next(_names)}"
