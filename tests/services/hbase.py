"""A real Apache HBase for tests: standalone HMaster (master + region server + ZooKeeper
in one JVM) plus the HBase Thrift (thrift1) server in a second JVM.

The jars (``org.apache.hbase:hbase-server:2.6.1-hadoop3`` and ``hbase-thrift:2.6.1``
with their runtime dependencies) come from Maven Central through
:mod:`tests.services.maven` and are cached outside the repo. ``hbase-thrift`` is only
published without the ``-hadoop3`` suffix; declared after ``hbase-server``'s hadoop3
artifact, Maven's nearest-first rule keeps the hadoop3 HBase and Hadoop 3.3 jars.

Everything binds 127.0.0.1 on free ports; data (``hbase.rootdir`` on the local file
system, ZooKeeper's data dir) and logs live in a directory the caller owns. The Thrift
server runs in its own JVM so an outage test can stop and start it
(:meth:`HBaseServer.restart_thrift`) while HBase itself keeps running.

Start route and its cost on the 2-core test machine: the master JVM is ready (meta
and namespace regions online) in about 10 s; the Thrift JVM listens in about 1 s.

>>> HBASE_COORDINATES[0]
'org.apache.hbase:hbase-server:2.6.1-hadoop3'
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import time
from pathlib import Path

from .launch import Service, free_port
from .maven import classpath

__all__ = ["HBASE_COORDINATES", "HBaseServer"]

HBASE_COORDINATES = (
    "org.apache.hbase:hbase-server:2.6.1-hadoop3",
    "org.apache.hbase:hbase-thrift:2.6.1",
)

# What HBase's own bin/hbase passes on JDK 17 (hbase-env / "jdk17 flags"), plus small
# heaps and a start-up-friendly JIT for a 2-core machine.
_FAST_START = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
_JVM_FLAGS = [
    "-Xss512k",
    "-Djava.net.preferIPv4Stack=true",
    "-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    *(f"--add-opens=java.base/{pkg}=ALL-UNNAMED" for pkg in (
        "java.lang", "java.lang.reflect", "java.io", "java.net", "java.nio", "java.util",
        "java.util.concurrent", "sun.nio.ch", "jdk.internal.misc")),
]

_SITE_PROPERTIES = {
    "hbase.cluster.distributed": "false",
    "hbase.rootdir": "file://{data}/hbase",
    "hbase.zookeeper.property.dataDir": "{data}/zookeeper",
    "hbase.zookeeper.property.clientPort": "{zk_port}",
    "hbase.zookeeper.quorum": "127.0.0.1",
    "hbase.master.hostname": "127.0.0.1",
    "hbase.regionserver.hostname": "127.0.0.1",
    "hbase.master.port": "{master_port}",
    "hbase.regionserver.port": "{rs_port}",
    "hbase.master.info.port": "-1",
    "hbase.regionserver.info.port": "-1",
    "hbase.thrift.info.port": "-1",
    # The local file system has no hflush/hsync; standalone mode needs this off.
    "hbase.unsafe.stream.capability.enforce": "false",
    # One region server: do not wait 4.5 s for more to report in.
    "hbase.master.wait.on.regionservers.mintostart": "1",
    "hbase.master.wait.on.regionservers.maxtostart": "1",
    "hbase.regionserver.handler.count": "8",
    "hbase.regionserver.thrift.port": "{thrift_port}",
    # The Thrift server's own client: fail a call within seconds, not minutes.
    "hbase.client.retries.number": "5",
    "hbase.client.pause": "100",
}

_LOG4J = """\
log4j.rootLogger=WARN,console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{2}: %m%n
log4j.logger.org.apache.hadoop.hbase.master.HMaster=INFO
log4j.logger.org.apache.hadoop.hbase.thrift.ThriftServer=INFO
"""

_READY = re.compile(rb"Master has completed initialization")


def java_binary() -> str:
    """The ``java`` to run: ``$JAVA_HOME/bin/java`` when set, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise RuntimeError("java (17+) is needed to run HBase for the tests; install openjdk-17-jre")
    return found


class HBaseServer:
    """HBase standalone + Thrift server, for one test session.

    Args:
        workdir: where data, config and logs go (created; the caller cleans it up).
        master_heap_mb, thrift_heap_mb: JVM heaps.
        fast_start: C1-only JIT and the serial collector: starts in seconds, for tests;
            False gives the default JIT and collector, for benchmarks.

    ``start()`` fetches the jars (first run only), starts both JVMs and returns once
    the master finished initialising and the Thrift port accepts connections.
    ``thrift_port`` is where happybase connects. ``restart_thrift()`` stops and starts
    only the Thrift JVM (same port). ``stop()`` stops both; it is also registered
    with ``atexit`` so an interrupted session leaves no JVM behind.
    """

    def __init__(self, workdir: str | os.PathLike[str], master_heap_mb: int = 512,
                 thrift_heap_mb: int = 192, start_timeout_s: float = 90.0, fast_start: bool = True) -> None:
        self.workdir = Path(workdir)
        self.master_heap_mb = master_heap_mb
        self._flags = (_FAST_START if fast_start else []) + _JVM_FLAGS
        self.thrift_heap_mb = thrift_heap_mb
        self.start_timeout_s = start_timeout_s
        self.zk_port = free_port()
        self.master_port = free_port()
        self.rs_port = free_port()
        self.thrift_port = free_port()
        self.master: Service | None = None
        self.thrift: Service | None = None
        self.start_seconds: float | None = None

    def _write_conf(self) -> Path:
        conf = self.workdir / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        values = {"data": str((self.workdir / "data").resolve()), "zk_port": self.zk_port,
                  "master_port": self.master_port, "rs_port": self.rs_port,
                  "thrift_port": self.thrift_port}
        props = "".join(f"  <property><name>{k}</name><value>{v.format(**values)}</value></property>\n"
                        for k, v in _SITE_PROPERTIES.items())
        (conf / "hbase-site.xml").write_text(
            f'<?xml version="1.0"?>\n<configuration>\n{props}</configuration>\n')
        (conf / "log4j.properties").write_text(_LOG4J)
        return conf

    def start(self) -> HBaseServer:
        cp = classpath(HBASE_COORDINATES)  # before the clock: a fresh machine downloads here
        t0 = time.monotonic()
        conf = self._write_conf()
        java = java_binary()
        cp = f"{conf}{os.pathsep}{cp}"
        self.master = Service(
            "hbase-master",
            [java, f"-Xmx{self.master_heap_mb}m", *self._flags, "-cp", cp,
             "org.apache.hadoop.hbase.master.HMaster", "start"],
            self.workdir, self.master_port, start_timeout_s=self.start_timeout_s)
        self.thrift = Service(
            "hbase-thrift",
            [java, f"-Xmx{self.thrift_heap_mb}m", *self._flags, "-cp", cp,
             "org.apache.hadoop.hbase.thrift.ThriftServer",
             "-b", "127.0.0.1", "-p", str(self.thrift_port), "start"],
            self.workdir, self.thrift_port, start_timeout_s=self.start_timeout_s)
        atexit.register(self.stop)
        try:
            self.master.start()
            self._wait_master_ready(t0 + self.start_timeout_s)
            self.thrift.start()
        except Exception:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _wait_master_ready(self, deadline: float) -> None:
        assert self.master is not None
        while time.monotonic() < deadline:
            if self.master.proc is not None and self.master.proc.poll() is not None:
                raise RuntimeError(f"HMaster exited with {self.master.proc.returncode}{self._tail()}")
            if self.master.log.exists() and _READY.search(self.master.log.read_bytes()):
                return
            time.sleep(0.2)
        raise RuntimeError(f"HMaster did not finish initialising in {self.start_timeout_s:.0f} s"
                           f"{self._tail()}")

    def _tail(self) -> str:
        if self.master is None or not self.master.log.exists():
            return ""
        lines = self.master.log.read_text(errors="replace").splitlines()
        return "\n--- hbase-master.log tail ---\n" + "\n".join(lines[-40:])

    def stop_thrift(self) -> None:
        """Stop the Thrift server only (HBase keeps running)."""
        if self.thrift is not None:
            self.thrift.stop()

    def start_thrift(self) -> None:
        """Start the Thrift server again on the same port."""
        if self.thrift is not None:
            self.thrift.start()

    def restart_thrift(self) -> None:
        """Stop and start the Thrift server on the same port (an outage for clients)."""
        self.stop_thrift()
        self.start_thrift()

    def stop(self) -> None:
        """Stop the Thrift server, then HBase; idempotent.

        The data is throw-away, so HBase gets 3 s to exit on SIGTERM, then SIGKILL
        (a clean HMaster shutdown takes 20 s and more on this machine).
        """
        for svc in (self.thrift, self.master):
            if svc is not None:
                svc.stop(timeout_s=3.0)
        atexit.unregister(self.stop)
