"""A real Apache Kafka broker for tests: KRaft mode, one combined broker+controller node.

The jars (``org.apache.kafka:kafka_2.13`` and its runtime dependencies) come from Maven
Central through :mod:`tests.services.maven` and are cached outside the repo. The broker
runs on Java 17 with a small heap, on free loopback ports, with its log dir in a
directory the caller owns (a pytest tmp dir). Topics are never auto-created, so a
produce to a missing topic is a delivery error, as a test of failure paths needs.

>>> KAFKA_COORDINATE.startswith("org.apache.kafka:kafka_2.13:3.9")
True
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from .launch import Service, free_port
from .maven import classpath

__all__ = ["KAFKA_COORDINATE", "KafkaBroker", "java_binary"]

KAFKA_COORDINATE = "org.apache.kafka:kafka_2.13:3.9.0"
# The broker logs through slf4j; without a binding it says nothing, and a failing start
# should leave its reason in the log file.
_LOG_BINDING = "org.slf4j:slf4j-simple:1.7.36"

_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dir}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.check.interval.ms=600000
"""

_JVM_OPTS = ["-Xmx512m", "-Xms128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Djava.awt.headless=true", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
             "-Dorg.slf4j.simpleLogger.showDateTime=true"]


def java_binary() -> str:
    """The ``java`` to run: ``$JAVA_HOME/bin/java`` if set, else the one on PATH.

    Raises:
        RuntimeError: no Java found.
    """
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise RuntimeError("Kafka tests need Java 17: no java on PATH and no JAVA_HOME")
    return found


class KafkaBroker:
    """A one-node KRaft Kafka broker in ``workdir``: ``start()``, ``stop()``, ``restart()``.

    Attributes:
        bootstrap: ``"127.0.0.1:PORT"``, for ``bootstrap.servers``.
        port, controller_port: the loopback ports it listens on (kept across restarts).

    ``restart()`` stops the broker (SIGTERM, a clean shutdown) and starts it again on
    the same ports and data, so committed offsets and topics survive: the outage tests'
    broker restart.
    """

    def __init__(self, workdir: str | Path, extra_properties: dict[str, str] | None = None,
                 start_timeout_s: float = 90.0) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.extra_properties = dict(extra_properties or {})
        self.start_timeout_s = start_timeout_s
        self._service: Service | None = None

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        props = _PROPERTIES.format(port=self.port, controller=self.controller_port,
                                   log_dir=self.workdir / "kraft-logs")
        props += "".join(f"{k}={v}\n" for k, v in self.extra_properties.items())
        path = self.workdir / "server.properties"
        path.write_text(props)
        return path

    def start(self) -> KafkaBroker:
        """Fetch the jars (cached), format the storage once, start the broker and wait
        until it answers metadata requests.

        Raises:
            RuntimeError: Maven, the storage format or the broker failed (with the log tail).
        """
        if self._service is not None:
            self._service.start()
            self._wait_ready()
            return self
        java = java_binary()
        cp = classpath([KAFKA_COORDINATE, _LOG_BINDING])
        config = self._write_config()
        # A Kafka cluster id is a URL-safe base64 UUID; one starting with "-" would be
        # read by the storage tool as an option, so draw again.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        fmt = subprocess.run([java, *_JVM_OPTS, "-cp", cp, "kafka.tools.StorageTool", "format",
                              "-t", cluster_id, "-c", str(config)],
                             capture_output=True, text=True, cwd=self.workdir)
        if fmt.returncode != 0:
            raise RuntimeError(f"kafka storage format failed ({fmt.returncode}):\n{fmt.stdout}{fmt.stderr}")
        argv: Sequence[str] = [java, *_JVM_OPTS, "-cp", cp, "kafka.Kafka", str(config)]
        self._service = Service("kafka", argv, self.workdir, self.port,
                                start_timeout_s=self.start_timeout_s)
        self._service.start()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        # The port opens before the broker has registered with its controller; a
        # metadata answer that lists this broker means clients can work.
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = time.monotonic() + self.start_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                md = admin.list_topics(timeout=2)
                if md.brokers:
                    return
            except Exception as exc:  # not ready yet
                last = exc
            time.sleep(0.2)
        raise RuntimeError(f"kafka at {self.bootstrap} did not answer metadata requests in "
                           f"{self.start_timeout_s:.0f} s: {last}\n{self.log_tail()}")

    def stop(self) -> None:
        if self._service is not None:
            self._service.stop()

    def kill(self) -> None:
        if self._service is not None:
            self._service.kill()

    def restart(self) -> None:
        """Stop and start again with the same ports and data."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        log = self.workdir / "kafka.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def create_topic(self, name: str, partitions: int = 1, timeout_s: float = 30.0) -> str:
        """Create ``name`` with ``partitions`` partitions (replication 1); returns the name.

        Waits until every partition has a leader, so producing right after works.
        """
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=timeout_s)
        futures[name].result(timeout_s)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            md = admin.list_topics(name, timeout=5).topics.get(name)
            if md is not None and md.error is None and len(md.partitions) == partitions and all(
                    p.leader >= 0 for p in md.partitions.values()):
                return name
            time.sleep(0.05)
        raise RuntimeError(f"topic {name!r} has no leader for every partition after {timeout_s} s")
