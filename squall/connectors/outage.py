"""One outage policy for every connector that calls a server: report once, back off, log the recovery.

A component that talks to a server (a Redis or HBase bolt, a Kafka spout or bolt) keeps
one :class:`Outage` per server and tells it how each call went:

* the first failure starts an outage: :meth:`Outage.failed` returns True and the
  component reports it once, through ``collector.report_error``, with an error whose
  message says the server is unreachable and that the component retries with backoff;
* while the outage lasts, further failures only lengthen the backoff (doubling from
  ``initial_s`` up to ``max_s``) and are logged at DEBUG; :meth:`Outage.backing_off`
  tells the component to fail its input at once instead of calling the server, so the
  worker loop never waits on a dead server;
* the first success after it ends the outage: :meth:`Outage.succeeded` logs one WARNING
  line with its length and how many tuples were failed for replay meanwhile.

A component whose client reconnects by itself (librdkafka) uses the report/recovery
half only. This module imports nothing optional.

Semantics: Storm's "Guaranteeing Message Processing" (a failed tuple is replayed by its
spout); the backoff is storm-kafka-client's ``KafkaSpoutRetryExponentialBackoff`` shape
(doubling, capped) applied to calls instead of tuples.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["Outage", "RETRYING", "check_backoff"]

RETRYING = "retrying with backoff"
"""The words every outage report ends with (after ``"; "``)."""


def check_backoff(initial_s: float, max_s: float) -> str | None:
    """Return what is wrong with a backoff range, or None when it is valid.

    Components raise their own error class with it, at build time.

    >>> check_backoff(0.1, 5.0) is None, check_backoff(0, 5.0)
    (True, 'need 0 < backoff_initial_s <= backoff_max_s, got 0 and 5.0')
    """
    if isinstance(initial_s, (int, float)) and isinstance(max_s, (int, float)) and 0 < initial_s <= max_s:
        return None
    return f"need 0 < backoff_initial_s <= backoff_max_s, got {initial_s!r} and {max_s!r}"


class Outage:
    """The state of one server as one component task sees it: up, or down since when.

    Args:
        component: who calls the server, for log lines (``"store[3]"``).
        server: the server, credentials masked (``"Redis at redis://h:6379/0"``).
        initial_s: seconds to stay away after the first failure (must be > 0).
        max_s: the longest backoff; each failure during an outage doubles it up to this.
        clock: monotonic seconds (a test clock may be injected).
        log: where the recovery line (WARNING) and repeated failures (DEBUG) go.

    Attributes:
        outages: how many outages began.
        failed_during: tuples failed for replay in the current outage (the caller adds
            them through :meth:`failed`); reset when it ends.

    Thread-safety: none; one task's thread owns it.

    >>> now = [0.0]
    >>> o = Outage("store[1]", "Redis at redis://h:6379/0", initial_s=0.1, max_s=0.4, clock=lambda: now[0])
    >>> o.failed(3), o.failed(2), o.down, round(o.retry_at, 2)       # reported once; 0.1 then 0.2 s
    (True, False, True, 0.2)
    >>> o.backing_off(), o.outages, o.failed_during
    (True, 1, 5)
    >>> now[0] = 1.0; o.backing_off(), o.succeeded(), o.down
    (False, 1.0, False)

    Semantics: see the module doc.
    """

    __slots__ = ("component", "server", "initial_s", "max_s", "clock", "log", "since", "retry_at", "delay_s",
                 "outages", "failed_during")

    def __init__(self, component: str, server: str, *, initial_s: float = 0.1, max_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, log: logging.Logger | None = None) -> None:
        problem = check_backoff(initial_s, max_s)
        if problem is not None:
            raise ValueError(f"{component}: {problem}")
        self.component = component
        self.server = server
        self.initial_s = initial_s
        self.max_s = max_s
        self.clock = clock
        self.log = log or logging.getLogger(__name__)
        self.since: float | None = None
        self.retry_at = 0.0
        self.delay_s = initial_s
        self.outages = 0
        self.failed_during = 0

    @property
    def down(self) -> bool:
        """True from the first failure to the next success."""
        return self.since is not None

    def backing_off(self) -> bool:
        """True while the component should not call the server (down, backoff not over)."""
        return self.since is not None and self.clock() < self.retry_at

    def failed(self, tuples_failed: int = 0) -> bool:
        """Record a failed call (and the tuples failed with it); True when an outage starts.

        The caller reports the outage once, when this returns True.
        """
        now = self.clock()
        self.failed_during += tuples_failed
        if self.since is None:
            self.since = now
            self.delay_s = self.initial_s
            self.outages += 1
            first = True
        else:
            self.delay_s = min(self.delay_s * 2, self.max_s)
            first = False
            self.log.debug("%s: %s still unreachable (backoff %.1f s)", self.component, self.server, self.delay_s)
        self.retry_at = now + self.delay_s
        return first

    def succeeded(self) -> float | None:
        """Record a successful call; if it ends an outage, log that once and return its length (s)."""
        if self.since is None:
            return None
        took = self.clock() - self.since
        self.log.warning("%s: %s reachable again after %.1f s; %d tuples were failed for replay during the "
                         "outage", self.component, self.server, took, self.failed_during)
        self.since = None
        self.retry_at = 0.0
        self.delay_s = self.initial_s
        self.failed_during = 0
        return took
