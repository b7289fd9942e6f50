"""Start a server process for a test and make sure it goes away afterwards.

Servers bind loopback only; their logs go to a file that a failing start prints.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["free_port", "wait_for_port", "Service"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen | None = None,
                  log: Path | None = None) -> None:
    """Wait until 127.0.0.1:port accepts connections.

    Raises:
        RuntimeError: the process exited, or the port did not open in time; the
            message carries the tail of ``log``.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}"
                               f"{_tail(log)}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} after {timeout_s:.0f} s{_tail(log)}")


def _tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- server log tail ---\n" + "\n".join(text)


class Service:
    """A server subprocess in its own process group: ``start()``, ``stop()``, ``kill()``.

    ``restart()`` stops and starts it with the same command, ports and data (for
    outage tests).
    """

    def __init__(self, name: str, argv: Sequence[str], workdir: Path, port: int,
                 env: dict[str, str] | None = None, start_timeout_s: float = 60.0) -> None:
        self.name = name
        self.argv = list(argv)
        self.workdir = Path(workdir)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.start_timeout_s = start_timeout_s
        self.log = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Service:
        self.workdir.mkdir(parents=True, exist_ok=True)
        fh = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, env=self.env, stdout=fh,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        fh.close()
        try:
            wait_for_port(self.port, self.start_timeout_s, self.proc, self.log)
        except Exception:
            self.kill()
            raise
        return self

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()
