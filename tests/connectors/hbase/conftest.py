"""Fixtures for the HBase connector tests: one real HBase + Thrift server per session.

The server is HBase standalone (HMaster with its region server and ZooKeeper in one
JVM) plus the Thrift server in a second JVM, both from Maven Central jars; see
:mod:`tests.services.hbase`. Tests share it and isolate themselves by table name.
"""

from __future__ import annotations

import itertools
import re
import shutil

import pytest

from tests.services.hbase import HBaseServer, java_binary

_names = itertools.count()


@pytest.fixture(scope="session")
def hbase_server(tmp_path_factory):
    """The running :class:`HBaseServer` (``thrift_port``, ``restart_thrift()``)."""
    try:
        java_binary()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    if shutil.which("mvn") is None:
        pytest.skip("mvn is needed to fetch the HBase jars from Maven Central")
    server = HBaseServer(tmp_path_factory.mktemp("hbase")).start()
    print(f"\nHBase standalone + Thrift started in {server.start_seconds:.1f} s "
          f"(thrift port {server.thrift_port})")
    yield server
    server.stop()


@pytest.fixture
def hbase_store(hbase_server):
    from squall.connectors.hbase import HBaseTableStore
    store = HBaseTableStore(port=hbase_server.thrift_port)
    yield store
    store.close()


@pytest.fixture
def table_name(request):
    """A table name unique in the session, readable in the server log."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60]
    return f"{base}_{next(_names)}"
