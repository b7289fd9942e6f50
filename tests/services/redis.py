"""Start real ``redis-server`` processes for connector tests (Debian's package).

``start_redis`` runs one server on a free loopback port with an append-only file in
its own directory, so ``Service.stop()`` + ``Service.start()`` brings back every
acknowledged write. ``start_redis_cluster`` starts N masters and joins them with
``redis-cli --cluster create``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from .launch import Service, free_port

__all__ = ["REDIS_SERVER", "REDIS_CLI", "start_redis", "start_redis_cluster", "start_sentinel", "cluster_port"]

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def redis_argv(port: int, workdir: Path, *extra: str) -> list[str]:
    """The command line of a loopback-only, AOF-persisted, RDB-free server."""
    if REDIS_SERVER is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server; scripts/test.sh does it)")
    return [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
            "--dir", str(workdir), "--protected-mode", "no", *extra]


def start_redis(workdir: Path, port: int | None = None, *extra: str, name: str = "redis") -> Service:
    """Start ``redis-server`` under ``workdir`` (created) and wait until it listens.

    Returns:
        The started :class:`Service`; ``.port`` is the port.
    """
    port = port or free_port()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    return Service(name, redis_argv(port, workdir, *extra), workdir, port, start_timeout_s=20).start()


def cluster_port() -> int:
    """A free port P <= 55535 whose cluster bus port P + 10000 is free too."""
    for _ in range(200):
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair (P, P + 10000) for a cluster node")


def start_redis_cluster(workdir: Path, masters: int = 3, timeout_s: float = 30.0) -> list[Service]:
    """Start ``masters`` cluster-enabled servers and create a cluster of them (no replicas).

    Returns once every slot is served (``cluster_state:ok`` on every node).

    Raises:
        RuntimeError: ``redis-cli --cluster create`` failed or the cluster did not settle.
    """
    if REDIS_CLI is None:
        raise RuntimeError("redis-cli is not installed (Debian's redis-tools package)")
    services: list[Service] = []
    try:
        for i in range(masters):
            port = cluster_port()
            d = Path(workdir) / f"node{i}"
            services.append(start_redis(d, port, "--cluster-enabled", "yes", "--cluster-config-file",
                                        str(d / "nodes.conf"), "--cluster-node-timeout", "2000",
                                        name=f"redis-cluster-{i}"))
        addrs = [f"127.0.0.1:{s.port}" for s in services]
        res = subprocess.run([REDIS_CLI, "--cluster", "create", *addrs, "--cluster-replicas", "0",
                              "--cluster-yes"], capture_output=True, text=True, timeout=timeout_s)
        if res.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        deadline = time.monotonic() + timeout_s
        while True:
            states = [subprocess.run([REDIS_CLI, "-p", str(s.port), "cluster", "info"], capture_output=True,
                                     text=True, timeout=5).stdout for s in services]
            if all("cluster_state:ok" in st for st in states):
                return services
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster did not reach cluster_state:ok in {timeout_s} s: {states}")
            time.sleep(0.1)
    except BaseException:
        for s in services:
            s.kill()
        raise


def start_sentinel(workdir: Path, master_port: int, service_name: str, port: int | None = None) -> Service:
    """Start a Redis Sentinel monitoring ``127.0.0.1:master_port`` as ``service_name`` (quorum 1)."""
    if REDIS_SERVER is None:
        raise RuntimeError("redis-server is not installed")
    port = port or free_port()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "sentinel.conf"  # Sentinel rewrites its own config file: it must be writable
    conf.write_text(f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {workdir}\n"
                    f"sentinel monitor {service_name} 127.0.0.1 {master_port} 1\n")
    return Service("redis-sentinel", [REDIS_SERVER, str(conf), "--sentinel"], workdir, port,
                   start_timeout_s=20).start()
