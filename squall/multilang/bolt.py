"""``ShellBolt``: a bolt whose work is done by a child process in any language.

Semantics: Storm ``org.apache.storm.task.ShellBolt`` and "Multi-Lang Protocol", Bolts
and "Handling Heartbeats".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import count
from typing import Any

from ..component import Bolt, OutputFieldsDeclarer
from ..config import MULTILANG_SERIALIZER, SHELLBOLT_MAX_PENDING, SUBPROCESS_TIMEOUT_SECS, WORKER_TIMEOUT_SECS
from ..tuple import Tuple
from .errors import ShellComponentError, ShellError, ShellProtocolError
from .process import EOF, LogThrottle, ShellProcess
from .serializer import Serializer, serializer_named

__all__ = ["ShellBolt", "ShellComponent", "HEARTBEAT_STREAM", "SUBPROCESS_TIMEOUT_SECS",
           "WORKER_TIMEOUT_SECS", "SHELLBOLT_MAX_PENDING"]

HEARTBEAT_STREAM = "__heartbeat"
_DEFAULT_TIMEOUT_S = 30          # Storm's supervisor.worker.timeout.secs default
_DEFAULT_MAX_PENDING = 100       # Storm's topology.shellbolt.max.pending default
_HEARTBEAT_EVERY_S = 1.0         # ShellBolt's heartbeat timer period (shorter for short timeouts)
_RESTART_BACKOFF_S = (0.1, 10.0)
_WAIT_S = 0.01

# Storm's multilang log levels (storm.py's logTrace..logError) to logging's.
_LOG_LEVELS = {0: 5, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}


class ShellComponent:
    """What :class:`ShellBolt` and ``ShellSpout`` share: the command, the declared
    streams, and the handling of the child's ``log``, ``error`` and ``metrics``.

    Args:
        command: the program and its arguments, e.g. ``["python3", "splitsentence.py"]``.
        fields: the default stream's output fields (or override ``declare_output_fields``).
        streams: more output streams, ``{stream: fields}``.
        cwd: the child's working directory (Storm runs it in the topology's
            ``resources`` directory; here the worker's directory unless given).
        env: variables added to the child's environment.
        serializer: the wire format: ``"json"`` (Storm's), ``"msgpack"`` (pystorm's),
            or a :class:`~squall.multilang.serializer.Serializer`; None (the default):
            the topology's ``topology.multilang.serializer`` (Storm's key, default
            ``org.apache.storm.multilang.JsonSerializer``).
        metrics: handlers of the child's ``metrics`` command, ``{name: fn(params)}``
            (Storm's ``IShellMetric.updateMetricFromRPC``); must be picklable (module
            functions), as the component is copied per task.
    """

    def __init__(self, command: Sequence[str], fields: Sequence[str] | None = None, *,
                 streams: Mapping[str, Sequence[str]] | None = None, cwd: str | None = None,
                 env: Mapping[str, str] | None = None, serializer: Serializer | str | None = None,
                 metrics: Mapping[str, Callable[[Any], None]] | None = None) -> None:
        if isinstance(command, str) or not command:
            raise ValueError(f"command must be a non-empty list of arguments, got {command!r}")
        self.command = list(command)
        self.fields = None if fields is None else list(fields)
        self.streams = {s: list(f) for s, f in (streams or {}).items()}
        self.cwd = cwd
        self.env = dict(env or {})
        if isinstance(serializer, str):
            serializer = serializer_named(serializer, "serializer=")
        self.serializer = serializer
        self.metrics = dict(metrics or {})

    def declare_output_fields(self, declarer: OutputFieldsDeclarer) -> None:
        if self.fields is not None:
            declarer.declare(self.fields)
        for stream, fields in self.streams.items():
            declarer.declare_stream(stream, fields)

    def _setup_shell(self, config: Mapping[str, Any], context: Any) -> None:
        self._conf = config
        self._context = context
        self.name = f"{context.component_id}[{context.task_id}]"
        timeout = config.get(SUBPROCESS_TIMEOUT_SECS)
        if timeout is None:
            timeout = config.get(WORKER_TIMEOUT_SECS, _DEFAULT_TIMEOUT_S)
        self.timeout_s = float(timeout)
        self._logger = logging.getLogger(f"squall.multilang.{context.component_id}")
        self._log_throttle = LogThrottle(self._logger)
        if self.serializer is None:     # this task's copy of the component; the conf decides
            self.serializer = serializer_named(config.get(MULTILANG_SERIALIZER) or "json")
        self._encode = self.serializer.encode
        self.process: ShellProcess | None = None
        self.restarts = 0
        self._restart_at = 0.0
        self._backoff_s = 0.0

    def _launch(self) -> None:
        proc = ShellProcess(self.command, self.name, self.serializer, self.cwd, self.env)
        proc.launch(self._conf, self._context, self.timeout_s)
        self.process = proc

    def _log(self, msg: Mapping[str, Any]) -> None:
        level = _LOG_LEVELS.get(msg.get("level", 2), logging.INFO)
        self._log_throttle.log(level, "%s: %s", self.name, msg.get("msg"))

    def _child_error(self, msg: Mapping[str, Any]) -> None:
        self.collector.report_error(ShellComponentError(f"shell component {self.name} reported: {msg.get('msg')}"))

    def _metrics(self, msg: Mapping[str, Any]) -> None:
        name = msg.get("name")
        handler = self.metrics.get(name)
        if handler is None:
            known = ", ".join(sorted(self.metrics)) or "none"
            raise ShellProtocolError(self.name, str(msg)[:200], f"sent metrics for {name!r}, which has no "
                                     f"handler (metrics= of the component; known: {known})")
        try:
            handler(msg.get("params"))
        except Exception as exc:  # the handler's bug, not the child's: report, keep going
            self.collector.report_error(ShellError(
                f"shell component {self.name}: metrics handler for {name!r} failed on {msg.get('params')!r}: "
                f"{exc!r}"))

    def _send_task_ids(self, msg: Mapping[str, Any], tasks: list[int]) -> None:
        # Storm replies to every non-direct emit unless need_task_ids is false; the
        # adapters block reading that reply, so it must come even for an emit we refused.
        if not msg.get("task") and msg.get("need_task_ids", True):
            self.process.send(self._encode(tasks))

    def _stop_child(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def _schedule_restart(self, error: ShellError) -> None:
        """Report ``error``, stop the child; it restarts after a backoff that doubles
        while restarts keep failing (0.1 s to 10 s), so a child that dies at once does
        not spin."""
        self.collector.report_error(error)
        self._stop_child()
        now = time.monotonic()
        first, longest = _RESTART_BACKOFF_S
        # A child that lived ten backoffs was healthy: start the backoff over.
        if now - self._restart_at > 10 * max(self._backoff_s, first):
            self._backoff_s = 0.0
        self._backoff_s = min(longest, self._backoff_s * 2 or first)
        self._restart_at = now + self._backoff_s

    def _try_restart(self) -> bool:
        """Start a new child if the backoff is over; True when one runs."""
        if self.process is not None:
            return True
        if time.monotonic() < self._restart_at:
            return False
        try:
            self._launch()
        except ShellError as exc:
            self._schedule_restart(exc)
            return False
        self.restarts += 1
        self._on_restart()
        return True

    def _on_restart(self) -> None:
        """Called after a replacement child is running."""


class ShellBolt(ShellComponent, Bolt):
    """A bolt run by a child process that speaks Storm's multilang protocol.

    Declared as in Storm: ``ShellBolt(["python3", "splitsentence.py"], fields=["word"])``
    (see :class:`ShellComponent` for the arguments), with components written against
    Storm's own adapters (``storm.py``, ``storm.js``, ``storm.rb``) or pystorm.

    Each task starts its child in ``prepare`` (the handshake: config, context, pid
    directory; the child replies with its pid). Tuples go to the child as they arrive;
    the child's ``emit`` (anchored to input ids, on a stream, direct, with
    ``need_task_ids``), ``ack``, ``fail``, ``error``, ``log`` and ``metrics`` are carried
    out on the worker thread by ``poll``, so the worker loop never waits on the child.

    Faults:

    * A tuple sent and not yet acked or failed by the child is *pending*; at most
      ``topology.shellbolt.max.pending`` (default 100) are. Past that, taking more
      input waits for the child (backpressure reaches the spouts through the worker
      loop) instead of queueing without bound (Storm's STORM-738/742).
    * Every second (half the timeout if that is shorter) the child gets a heartbeat
      tuple (stream ``__heartbeat``, task -1) and must answer ``sync``; any message counts as a sign of life. A child that
      exits, is silent for ``topology.subprocess.timeout.secs`` (default
      ``supervisor.worker.timeout.secs``, 30), or writes something that is not a
      multilang message is reported (the error names the component, the command or
      the bad line, and the child's last stderr lines), killed, and restarted after a
      backoff; its pending tuples fail, so their spouts replay them.

    Differs from Storm, where such a child kills the whole worker (the tuples replay
    after the worker restarts): here only the child restarts. Errors raised by our
    side of an emit (undeclared stream, wrong field count) are reported and the emit
    dropped, not fatal. While no child runs (backoff), input tuples fail at once.

    Semantics: Storm ``ShellBolt`` ("Multi-Lang Protocol", Bolts, Handling Heartbeats).
    """

    def prepare(self, config, context, collector):
        """Start the child.

        Raises:
            ShellProcessError: it could not start or did not complete the handshake.
            ShellProtocolError: it answered the handshake with something else.
        """
        self.collector = collector
        self._setup_shell(config, context)
        self.max_pending = int(config.get(SHELLBOLT_MAX_PENDING) or _DEFAULT_MAX_PENDING)
        self._inputs: dict[str, Tuple] = {}
        self._ids = count(1)
        self._settled = 0
        # Storm beats every second; with a timeout of a second or less a healthy idle
        # child would then be silent for a whole timeout between its answers.
        self._heartbeat_s = min(_HEARTBEAT_EVERY_S, self.timeout_s / 2)
        self._launch()
        self._next_heartbeat = time.monotonic() + self._heartbeat_s

    # -- input ------------------------------------------------------------------------

    def process(self, tup: Tuple) -> None:
        self.process_batch([tup])

    def process_batch(self, tuples: list[Tuple]) -> None:
        inputs = self._inputs
        encode = self._encode
        ids = self._ids
        out: list[bytes] = []
        for t in tuples:
            if len(inputs) >= self.max_pending:
                self._flush(out)
                self._wait_for_room()
            if self.process is None and not self._try_restart():
                self.collector.fail(t)
                continue
            src = t.source
            tid = str(next(ids))
            try:
                out.append(encode({"id": tid, "comp": src.component, "stream": src.stream,
                                   "task": src.task, "tuple": t.values}))
            except (TypeError, ValueError) as exc:
                self.collector.report_error(ShellError(
                    f"shell component {self.name}: cannot send tuple {t!r} to the child: {exc}"))
                self.collector.fail(t)
                continue
            inputs[tid] = t
        self._flush(out)

    def _flush(self, out: list[bytes]) -> None:
        if out:
            if self.process is not None:
                self.process.send(b"".join(out))
            out.clear()

    def _wait_for_room(self) -> None:
        """Carry out the child's messages until fewer than ``max_pending`` tuples wait."""
        while len(self._inputs) >= self.max_pending:
            if self.process is None:
                return      # the restart failed them all
            msg = self.process.next_message(_WAIT_S)
            if msg is not None:
                self._handle(msg)
            self.poll()

    # -- output -----------------------------------------------------------------------

    def poll(self) -> int:
        """Carry out what the child sent; send heartbeats; restart a dead or silent child.

        Returns how many input tuples were acked or failed.
        """
        proc = self.process
        if proc is None:
            self._try_restart()
            return 0
        self._settled = 0
        handle = self._handle
        messages = proc.messages
        while not messages.empty():
            handle(messages.get_nowait())
            if self.process is not proc:
                break
        settled = self._settled
        now = time.monotonic()
        if now >= self._next_heartbeat and self.process is proc:
            if now - proc.last_heard > self.timeout_s:
                settled += self._restart(proc.died(f"sent nothing for {now - proc.last_heard:.1f} s, "
                                                   f"above the subprocess timeout of {self.timeout_s:g} s "
                                                   f"({SUBPROCESS_TIMEOUT_SECS})"))
            else:
                proc.send(self._encode({"id": str(next(self._ids)), "comp": None, "stream": HEARTBEAT_STREAM,
                                        "task": -1, "tuple": []}))
                self._next_heartbeat = now + self._heartbeat_s
        return settled

    def _handle(self, msg: Any) -> None:
        if type(msg) is dict:
            command = msg.get("command")
            try:
                if command == "emit":
                    self._emit(msg)
                elif command == "ack":
                    self.collector.ack(self._take(msg))
                    self._settled += 1
                elif command == "fail":
                    self.collector.fail(self._take(msg))
                    self._settled += 1
                elif command == "sync":
                    pass    # a heartbeat answer; the reader already noted the sign of life
                elif command == "log":
                    self._log(msg)
                elif command == "error":
                    self._child_error(msg)
                elif command == "metrics":
                    self._metrics(msg)
                else:
                    raise ShellProtocolError(self.name, str(msg)[:200], f"sent an unknown command {command!r}")
            except ShellProtocolError as exc:
                self._settled += self._restart(exc)
            return
        if msg is EOF:
            self._settled += self._restart(self.process.died("exited"))
        elif isinstance(msg, ShellProtocolError):
            self._settled += self._restart(msg)
        else:
            self._settled += self._restart(ShellProtocolError(
                self.name, str(msg)[:200], "sent a message that is not an object (a bolt's child "
                                           "sends commands, never task ids)"))

    def _take(self, msg: Mapping[str, Any]) -> Tuple:
        tup = self._inputs.pop(msg.get("id"), None)
        if tup is None:
            raise ShellProtocolError(self.name, str(msg)[:200], f"{msg.get('command')}ed tuple id "
                                     f"{msg.get('id')!r}, which is not pending (unknown, or acked or failed before)")
        return tup

    def _emit(self, msg: Mapping[str, Any]) -> None:
        inputs = self._inputs
        anchors = []
        for a in msg.get("anchors") or ():
            t = inputs.get(a)
            if t is None:
                raise ShellProtocolError(self.name, str(msg)[:200], f"anchored an emit to tuple id {a!r}, "
                                         f"which is not pending (acked or failed before, or unknown)")
            anchors.append(t)
        tasks: list[int] = []
        try:
            tasks = self.collector.emit(msg["tuple"], msg.get("stream") or "default", anchors,
                                        msg.get("task") or None)
        except (KeyError, ValueError, TypeError) as exc:
            self.collector.report_error(ShellError(f"shell component {self.name}: emit {str(msg)[:200]} "
                                                   f"refused: {exc}"))
        self._send_task_ids(msg, tasks)

    def _restart(self, error: ShellError) -> int:
        """Fail every pending tuple (they replay), report ``error``, stop the child and
        schedule a new one. Returns how many tuples failed."""
        pending = list(self._inputs.values())
        self._inputs.clear()
        fail = self.collector.fail
        for t in pending:
            fail(t)
        self._schedule_restart(error)
        return len(pending)

    def _on_restart(self) -> None:
        self._next_heartbeat = time.monotonic() + self._heartbeat_s

    def in_flight(self) -> int:
        return len(self._inputs)

    def cleanup(self) -> None:
        self._stop_child()
