"""Run topologies in this process: Storm's ``LocalCluster``, and bounded runs.

Semantics: Storm ``LocalCluster`` (submit, kill with a wait, activate/deactivate).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SquallError
from ..state import StateBackend
from ..topology import Topology
from .checkpoint import CheckpointStats
from .errors import NotRunningError
from .metrics import ComponentStats
from .worker import StopReport, Worker

__all__ = ["LocalCluster", "TopologyHandle", "RunResult", "run_topology", "NotRunningError", "StopReport"]


@dataclass
class RunResult:
    """What a bounded run reports when it ends."""

    completed: bool
    elapsed_s: float
    stats: dict[str, ComponentStats] = field(default_factory=dict)
    checkpoints: CheckpointStats | None = None

    def errors(self) -> list[str]:
        return [e for st in self.stats.values() for e in st.last_errors]


class TopologyHandle:
    """A topology running on a background thread of a :class:`LocalCluster`.

    A graceful stop for Ctrl-C/SIGTERM: call :meth:`stop` from the signal handler (it
    returns at once), keep waiting with :meth:`wait`, then read :attr:`stop_report`
    and the stats for the summary. A second :meth:`stop` kills the run at once.
    """

    def __init__(self, name: str, worker: Worker, until_complete: bool) -> None:
        self.name = name
        self.worker = worker
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(until_complete,),
                                        name=f"squall-{name}", daemon=True)

    def _run(self, until_complete: bool) -> None:
        try:
            self.worker.run(until_complete=until_complete)
        except BaseException as exc:  # surfaced by wait(); a thread has nobody else to tell
            self.error = exc

    def start(self) -> TopologyHandle:
        self._thread.start()
        return self

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the run to end; True if it did. Re-raises an error that ended it."""
        self._thread.join(timeout_s)
        if self.error is not None:
            raise self.error
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, drain_timeout_s: float | None = None) -> None:
        """Ask the run to stop; returns at once (safe in a signal handler).

        First call: graceful. Spouts stop emitting, the tuple trees in flight get up to
        ``drain_timeout_s`` to complete (default ``topology.message.timeout.secs``),
        a final checkpoint is taken when there is a state backend, and the run ends.
        Any later call: the run ends at the end of its current pass, without waiting
        or checkpointing (the next run resumes from the last checkpoint).
        See :meth:`~squall.runtime.worker.Worker.drain_and_stop`.
        """
        self.worker.drain_and_stop(drain_timeout_s)

    @property
    def stop_report(self) -> StopReport | None:
        """How a stopped run ended (graceful or killed, trees left, final checkpoint);
        None while it runs or when it ended by itself (bounded runs)."""
        return self.worker.stop_report

    def stats(self) -> dict[str, ComponentStats]:
        return self.worker.stats()


class LocalCluster:
    """Runs topologies in this process, each on its own thread.

    >>> from squall.testing import ListSpout, ListSink
    >>> from squall.topology import TopologyBuilder
    >>> b = TopologyBuilder()
    >>> b.set_spout("src", ListSpout([[1], [2], [3]], ["n"]))
    >>> _ = b.set_bolt("out", ListSink("local-doc")).shuffle_grouping("src")
    >>> with LocalCluster() as cluster:
    ...     h = cluster.submit_topology("t", {}, b.build(), until_complete=True)
    ...     h.wait(10)
    True
    >>> sorted(v[0] for v in ListSink.values("local-doc"))
    [1, 2, 3]
    """

    def __init__(self) -> None:
        self._running: dict[str, TopologyHandle] = {}

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def submit_topology(self, name: str, conf: Mapping[str, Any] | None, topology: Topology,
                        until_complete: bool = False,
                        state_backend: StateBackend | None = None) -> TopologyHandle:
        """Start ``topology`` under ``name``; with ``until_complete`` it ends by itself
        once its spouts are exhausted and every tree completed. With ``state_backend``
        its stateful tasks resume from the last checkpoint and are checkpointed
        (see :class:`~squall.runtime.worker.Worker`).

        Raises:
            SquallError: a topology of that name already runs here.
        """
        if name in self._running and self._running[name].running:
            raise SquallError(f"a topology named {name!r} is already running")
        handle = TopologyHandle(name, Worker(topology, conf, state_backend=state_backend),
                                until_complete).start()
        self._running[name] = handle
        return handle

    def topologies(self) -> dict[str, TopologyHandle]:
        """The topologies submitted and not killed, by name (a bounded run that ended
        stays until killed): a copy, safe to read from another thread while a kill
        removes entries."""
        return dict(self._running)

    def _handle(self, name: str) -> TopologyHandle:
        try:
            return self._running[name]
        except KeyError:
            raise NotRunningError(f"no topology named {name!r} (running: {sorted(self._running)})") from None

    def kill_topology(self, name: str, wait_secs: float | None = None) -> StopReport | None:
        """Stop ``name`` and wait until it has stopped; returns its :class:`StopReport`.

        With ``wait_secs`` it stops gracefully: spouts are deactivated, the trees in
        flight get up to that long to finish (Storm's ``kill -w``), and a final
        checkpoint is taken when there is a state backend. Without, it stops at once.
        """
        handle = self._handle(name)
        if wait_secs:
            handle.stop(wait_secs)
        else:
            handle.worker.stop()
        try:
            handle.wait()
        finally:
            del self._running[name]
        return handle.stop_report

    def activate(self, name: str) -> None:
        self._handle(name).worker.activate()

    def deactivate(self, name: str) -> None:
        self._handle(name).worker.deactivate()

    def get_stats(self, name: str) -> dict[str, ComponentStats]:
        return self._handle(name).stats()

    def shutdown(self) -> None:
        for name in list(self._running):
            self.kill_topology(name)


def run_topology(topology: Topology, conf: Mapping[str, Any] | None = None,
                 timeout_s: float | None = None,
                 state_backend: StateBackend | None = None) -> RunResult:
    """Run a bounded topology on the calling thread until its input is used up.

    Returns when every spout is exhausted and every tuple tree completed (after the
    bolts' ``end_of_input``), or after ``timeout_s`` (then ``completed`` is False).
    """
    worker = Worker(topology, conf, state_backend=state_backend)
    timer = None
    if timeout_s is not None:
        timer = threading.Timer(timeout_s, worker.stop)
        timer.daemon = True
        timer.start()
    start = time.monotonic()
    try:
        worker.run(until_complete=True)
    finally:
        if timer is not None:
            timer.cancel()
    return RunResult(worker.completed, time.monotonic() - start, worker.stats(), worker.checkpoint_stats)
