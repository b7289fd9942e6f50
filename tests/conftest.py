"""Suite-wide rules, and the real services tests share: one Kafka broker, one
redis-server and one HBase (+ Thrift) per session, each started on first use on free
loopback ports.

Each service fixture skips only when the service truly cannot be had here (no Java, no
mvn, no redis-server); under CI a skip fails the run (see below).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:      # `tests.services` however pytest was started
    sys.path.insert(0, str(_ROOT))

from tests.services.hbase import HBaseServer  # noqa: E402
from tests.services.kafka import KafkaBroker, java_binary  # noqa: E402
from tests.services.redis import REDIS_SERVER, start_redis  # noqa: E402


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """The session's broker: ``.bootstrap``, ``.restart()``, ``.create_topic(name, partitions)``."""
    try:
        java_binary()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka")).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """The session's redis-server (a ``Service``; ``.port``)."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (scripts/test.sh installs Debian's redis-server)")
    svc = start_redis(tmp_path_factory.mktemp("redis"))
    yield svc
    svc.kill()


@pytest.fixture(scope="session")
def redis_url(redis_server) -> str:
    return f"redis://127.0.0.1:{redis_server.port}/0"


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



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # On CI every service can be installed, so a skip means an install step is missing:
    # fail loudly instead of landing a run that tested less than it claims.
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (an install step is missing?): {report.longrepr}"
