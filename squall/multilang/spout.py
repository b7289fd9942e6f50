"""``ShellSpout``: a spout whose work is done by a child process in any language.

Semantics: Storm ``org.apache.storm.spout.ShellSpout`` and "Multi-Lang Protocol", Spouts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..component import Spout
from .bolt import ShellComponent
from .errors import ShellError, ShellProtocolError
from .process import EOF

__all__ = ["ShellSpout"]


class ShellSpout(ShellComponent, Spout):
    """A spout run by a child process that speaks Storm's multilang protocol.

    Declared as in Storm: ``ShellSpout(["python3", "randomsentence.py"], fields=["sentence"])``
    (see :class:`~squall.multilang.bolt.ShellComponent` for the arguments).

    The protocol is synchronous: ``next_tuple``, ``ack``, ``fail``, ``activate`` and
    ``deactivate`` each send the child a command (``next``, ``ack``/``fail`` with the
    message id the child emitted with, ...) and carry out its emits, logs, errors and
    metrics until it answers ``sync``. An emit's ``id`` becomes the tuple's message id,
    so the child's ``ack``/``fail`` are called when its tree completes or fails. Like
    Storm's, a child with nothing to emit should sleep briefly before ``sync``.

    Faults: a child that exits, writes something that is not a multilang message, or
    does not ``sync`` within ``topology.subprocess.timeout.secs`` (default
    ``supervisor.worker.timeout.secs``, 30) is reported, killed and restarted after a
    backoff (0.1 s doubling to 10 s); the new child is activated if the spout is
    active, and later gets the ``ack``/``fail`` of ids its predecessor emitted (Storm
    kills the worker instead).

    Semantics: Storm ``ShellSpout`` ("Multi-Lang Protocol", Spouts).
    """

    def open(self, config, context, collector):
        """Start the child.

        Raises:
            ShellProcessError: it could not start or did not complete the handshake.
            ShellProtocolError: it answered the handshake with something else.
        """
        self.collector = collector
        self._setup_shell(config, context)
        self._active = False
        self._launch()

    def next_tuple(self) -> None:
        self._command({"command": "next"})

    def ack(self, msg_id: Any) -> None:
        self._command({"command": "ack", "id": msg_id})

    def fail(self, msg_id: Any) -> None:
        self._command({"command": "fail", "id": msg_id})

    def activate(self) -> None:
        self._active = True
        self._command({"command": "activate"})

    def deactivate(self) -> None:
        self._active = False
        self._command({"command": "deactivate"})

    def close(self) -> None:
        self._stop_child()

    def _on_restart(self) -> None:
        if self._active:
            self._command({"command": "activate"})

    def _command(self, command: Mapping[str, Any]) -> None:
        """Send ``command`` and carry out the child's answer up to its ``sync``."""
        if self.process is None and not self._try_restart():
            return
        proc = self.process
        proc.send(self._encode(command))
        deadline = time.monotonic() + self.timeout_s
        try:
            while True:
                msg = proc.next_message(max(deadline - time.monotonic(), 1e-3))
                if msg is None:
                    raise proc.died(f"did not answer {command['command']!r} with 'sync' within "
                                    f"{self.timeout_s:g} s (topology.subprocess.timeout.secs)")
                if msg is EOF:
                    raise proc.died("exited")
                if isinstance(msg, ShellProtocolError):
                    raise msg
                if type(msg) is not dict:
                    raise ShellProtocolError(self.name, str(msg)[:200], "sent a message that is not an object "
                                             "object (a spout's child sends commands, never task ids)")
                cmd = msg.get("command")
                if cmd == "sync":
                    return
                if cmd == "emit":
                    self._emit(msg)
                elif cmd == "log":
                    self._log(msg)
                elif cmd == "error":
                    self._child_error(msg)
                elif cmd == "metrics":
                    self._metrics(msg)
                else:
                    raise ShellProtocolError(self.name, str(msg)[:200], f"sent an unknown command {cmd!r}")
        except ShellError as exc:
            self._schedule_restart(exc)

    def _emit(self, msg: Mapping[str, Any]) -> None:
        tasks: list[int] = []
        try:
            tasks = self.collector.emit(msg["tuple"], msg.get("stream") or "default", msg.get("id"),
                                        msg.get("task") or None)
        except (KeyError, ValueError, TypeError) as exc:
            self.collector.report_error(ShellError(f"shell component {self.name}: emit {str(msg)[:200]} "
                                                   f"refused: {exc}"))
        self._send_task_ids(msg, tasks)
