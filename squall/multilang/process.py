"""A child process speaking the multilang protocol: launch, handshake, pipes, threads.

The worker thread never blocks on the child: a writer thread drains an unbounded
queue of encoded messages into the child's stdin (the shell bolt bounds what it queues
by its pending-tuple count), a reader thread decodes the child's stdout into a queue,
and a third thread forwards its stderr to logging, throttled.

Semantics: Storm ``ShellProcess`` (launch, ``pidDir``, the setup message, the pid
reply) and "Multi-Lang Protocol", "Initial Handshake".
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from ..component import TopologyContext
from .errors import ShellProcessError, ShellProtocolError
from .serializer import Serializer

__all__ = ["ShellProcess", "LogThrottle", "EOF", "handshake_context"]

log = logging.getLogger("squall.multilang")

EOF = object()
"""Put on the message queue when the child closed its stdout (it exited)."""

_STDERR_TAIL_LINES = 20


class LogThrottle:
    """Lets at most ``max_per_interval`` records through per ``interval_s``; says how
    many it dropped when the next interval opens. One instance per thread.

    A child that prints in a loop would otherwise fill the worker's log and cost a
    log call per line.
    """

    def __init__(self, logger: logging.Logger, max_per_interval: int = 20, interval_s: float = 10.0) -> None:
        self.logger = logger
        self.max = max_per_interval
        self.interval_s = interval_s
        self._window_end = 0.0
        self._count = 0
        self.suppressed = 0

    def log(self, level: int, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now >= self._window_end:
            if self.suppressed:
                self.logger.warning("%d more log lines suppressed in the last %.0f s", self.suppressed,
                                    self.interval_s)
            self._window_end = now + self.interval_s
            self._count = 0
            self.suppressed = 0
        if self._count >= self.max:
            self.suppressed += 1
            return
        self._count += 1
        self.logger.log(level, msg, *args)


def _grouping_json(grouping: Any) -> dict[str, Any]:
    # Storm's thrift grouping names: SHUFFLE, FIELDS, ALL, NONE, DIRECT, LOCAL_OR_SHUFFLE, CUSTOM...
    name = type(grouping).__name__.removesuffix("Grouping")
    kind = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper() or "CUSTOM"
    out: dict[str, Any] = {"type": kind}
    if grouping.fields:
        out["fields"] = list(grouping.fields)
    return out


def handshake_context(context: TopologyContext) -> dict[str, Any]:
    """The ``context`` of the setup message, with the keys Storm 0.10+ sends.

    Returns ``taskid``, ``componentid``, ``task->component`` (task ids as strings,
    as JSON keys are), ``streams``, ``stream->outputfields``,
    ``source->stream->grouping``, ``source->stream->fields`` and
    ``stream->target->grouping``.
    """
    topo = context.topology
    me = topo.components[context.component_id]
    inputs: dict[str, dict[str, Any]] = {}
    input_fields: dict[str, dict[str, list[str]]] = {}
    for sub in me.inputs:
        src = sub.source
        inputs.setdefault(src.component, {})[src.stream] = _grouping_json(sub.grouping)
        input_fields.setdefault(src.component, {})[src.stream] = list(
            topo.components[src.component].streams[src.stream].fields)
    targets: dict[str, dict[str, Any]] = {}
    for name, spec in topo.components.items():
        for sub in spec.inputs:
            if sub.source.component == context.component_id:
                targets.setdefault(sub.source.stream, {})[name] = _grouping_json(sub.grouping)
    return {
        "taskid": context.task_id,
        "componentid": context.component_id,
        "task->component": {str(t): c for t, c in topo.component_of_task().items()},
        "streams": list(me.streams),
        "stream->outputfields": {s: list(spec.fields) for s, spec in me.streams.items()},
        "source->stream->grouping": inputs,
        "source->stream->fields": input_fields,
        "stream->target->grouping": targets,
    }


class ShellProcess:
    """One launched child and its three pipe threads.

    Args:
        command: the program and its arguments (no shell).
        component: ``name[task]``, used in every error and log line.
        serializer: encodes what is written, decodes what is read.
        cwd: the child's working directory (None: the worker's).
        env: variables added to the worker's environment for the child.

    Lifecycle: :meth:`launch` (starts the child and does the handshake), then
    :meth:`send` and :meth:`next_message` from one thread, then :meth:`kill`.
    ``last_heard`` (``time.monotonic()``) is updated by the reader on every message.
    The child leads its own process group, so a terminal's Ctrl-C reaches only the
    worker, which drains the topology through the child before it stops it.
    """

    def __init__(self, command: Sequence[str], component: str, serializer: Serializer,
                 cwd: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.command = list(command)
        self.component = component
        self.serializer = serializer
        self.cwd = cwd
        self.env = dict(env or {})
        self.pid: int | None = None
        self.last_heard = 0.0
        self.messages: queue.SimpleQueue = queue.SimpleQueue()
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
        self._writes: queue.SimpleQueue = queue.SimpleQueue()
        self._proc: subprocess.Popen | None = None
        self._pid_dir: str | None = None
        self._logger = logging.getLogger(f"squall.multilang.{component.split('[')[0]}")

    # -- start ----------------------------------------------------------------------

    def launch(self, conf: Mapping[str, Any], context: TopologyContext, timeout_s: float) -> int:
        """Start the child, send the setup message, and wait for its pid.

        Returns the pid the child reported.

        Raises:
            ShellProcessError: the command could not start, or the child exited or
                stayed silent for ``timeout_s`` instead of replying ``{"pid": N}``.
            ShellProtocolError: its first message was not the pid reply.
        """
        self._pid_dir = tempfile.mkdtemp(prefix=f"squall-{context.component_id}-{context.task_id}-pids-")
        env = {**os.environ, **self.env} if self.env else None
        try:
            # Its own process group: a terminal's Ctrl-C goes to the whole foreground
            # group, and would kill the child before the topology drains through it.
            self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, cwd=self.cwd, env=env, process_group=0)
        except OSError as exc:
            shutil.rmtree(self._pid_dir, ignore_errors=True)
            raise ShellProcessError(f"shell component {self.component}: cannot start {self.command} "
                                    f"(cwd {self.cwd or os.getcwd()}): {exc}") from exc
        name = f"squall-shell-{self.component}"
        threads = [threading.Thread(target=target, name=f"{name}-{suffix}", daemon=True)
                   for target, suffix in ((self._read_loop, "out"), (self._stderr_loop, "err"),
                                          (self._write_loop, "in"))]
        self._stderr_thread = threads[1]
        for t in threads:
            t.start()
        self.last_heard = time.monotonic()
        setup = {"conf": _json_safe_conf(conf), "pidDir": self._pid_dir, "context": handshake_context(context)}
        self.send(self.serializer.encode(setup))
        reply = self.next_message(timeout_s)
        if reply is None or reply is EOF:
            what = "exited" if reply is EOF else f"did not reply within {timeout_s:g} s"
            self.kill()
            raise self.died(f"{what} instead of sending its pid (the handshake)")
        if isinstance(reply, Exception):
            self.kill()
            raise reply
        if not isinstance(reply, dict) or not isinstance(reply.get("pid"), int):
            self.kill()
            raise ShellProtocolError(self.component, str(reply)[:200], 'answered the setup message without '
                                     'its pid (expected {"pid": N})')
        # storm.py replies before it writes its pid file, so the file is not checked
        # here; like Storm's supervisor, only a tool cleaning up after a crash needs it.
        self.pid = reply["pid"]
        log.info("shell component %s: launched %s, pid %s", self.component, self.command, self.pid)
        return self.pid

    # -- traffic --------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue encoded bytes for the child's stdin; never blocks."""
        self._writes.put(data)

    def next_message(self, timeout_s: float | None = 0.0) -> Any:
        """The next decoded message, :data:`EOF`, a :class:`ShellProtocolError`, or
        None when nothing arrived within ``timeout_s`` (0: do not wait)."""
        try:
            if not timeout_s:
                return self.messages.get_nowait()
            return self.messages.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def died(self, what: str) -> ShellProcessError:
        """An error saying the child ``what``, with its exit status and stderr tail."""
        proc = self._proc
        status = None
        if proc is not None:
            try:    # a child that closed stdout is usually exiting: let its last words arrive
                status = proc.wait(0.5)
                self._stderr_thread.join(0.5)
            except subprocess.TimeoutExpired:
                pass
        tail = "\n".join(self.stderr_tail)
        return ShellProcessError(
            f"shell component {self.component}: {self.command} (pid {self.pid or '?'}) {what}"
            + (f"; exit status {status}" if status is not None else "")
            + (f"; its last stderr lines:\n{tail}" if tail else ""))

    def kill(self) -> None:
        """Stop the child and what it started in its process group (SIGKILL: a hung child
        would ignore anything gentler), and its threads."""
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:    # not reaped, so its pid still names its group
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                log.error("shell component %s: pid %s did not die after SIGKILL", self.component, proc.pid)
        self._writes.put(None)
        if self._pid_dir is not None:
            shutil.rmtree(self._pid_dir, ignore_errors=True)
            self._pid_dir = None

    # -- threads --------------------------------------------------------------------

    def _read_loop(self) -> None:
        put = self.messages.put
        try:
            for msg in self.serializer.messages(self._proc.stdout, self.component):
                self.last_heard = time.monotonic()
                put(msg)
        except ShellProtocolError as exc:
            put(exc)
        except (OSError, ValueError):
            pass    # the pipe was closed by kill()
        put(EOF)

    def _stderr_loop(self) -> None:
        throttle = LogThrottle(self._logger)
        tail = self.stderr_tail
        try:
            for raw in self._proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                tail.append(line)
                throttle.log(logging.WARNING, "%s stderr: %s", self.component, line)
        except (OSError, ValueError):
            pass

    def _write_loop(self) -> None:
        writes = self._writes
        stdin = self._proc.stdin
        while True:
            data = writes.get()
            if data is None:
                break
            # Whatever queued meanwhile goes in the same write: one syscall per batch.
            parts = [data]
            stop = False
            while not writes.empty():
                more = writes.get_nowait()
                if more is None:
                    stop = True
                    break
                parts.append(more)
            try:
                stdin.write(b"".join(parts))
                stdin.flush()
            except (OSError, ValueError):
                break   # the child is gone; the reader sees EOF and the owner restarts it
            if stop:
                break
        try:
            stdin.close()
        except (OSError, ValueError):
            pass


def _json_safe_conf(conf: Mapping[str, Any]) -> dict[str, Any]:
    # Values JSON cannot carry (objects in a component's config) go as their repr:
    # children only read plain settings, and the handshake must not fail on them.
    return json.loads(json.dumps(dict(conf), default=repr))
