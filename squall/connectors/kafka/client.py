"""What every Kafka client of the connector shares: its log lines, its errors, its start.

* :class:`ClientLog` - librdkafka's ``logger``: its lines go through Python logging,
  throttled per facility. Against a closed port librdkafka tries to connect about 20
  times a second and logs every failure; the outage itself is reported once by the
  component (its ``error_cb``), so these lines add nothing after the first.
* :func:`await_brokers` - a bounded run's start: wait until the brokers answer and the
  topics exist, or raise :class:`~squall.connectors.kafka.errors.KafkaStartupError`
  after a timeout, instead of waiting for a partition that never comes.
* :func:`reason` - a client error as one readable sentence.

Semantics: confluent-kafka ``logger`` / ``error_cb`` configuration (librdkafka's log
and error callbacks, served by ``poll``); Kafka's ``default.api.timeout.ms`` role for
the startup wait.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from ..urls import mask_url
from .errors import KafkaStartupError

__all__ = ["ClientLog", "await_brokers", "reason"]

_STEP_S = 1.0       # longest single metadata wait, so the loop serves callbacks in between


def reason(err: Any) -> str:
    """The text of a client error (``KafkaError``, ``KafkaException`` or other), masked."""
    if isinstance(err, KafkaException) and err.args:
        err = err.args[0]
    text = err.str() if isinstance(err, KafkaError) else str(err)
    return mask_url(text)


class ClientLog:
    """librdkafka's ``logger``: each line to ``logger`` at its level, throttled per facility.

    The first line of a facility (``FAIL``, ``REQTMOUT``, ...) in each ``interval_s`` is
    logged at its own level; the others in that interval go at DEBUG (seen with
    ``-vv``) and are counted, and the next line let through says how many were held back.

    Args:
        logger: the Python logger the lines go to.
        interval_s: length of a throttling interval, seconds.
        clock: monotonic seconds (a test clock may be injected).

    Thread-safety: librdkafka's log lines are served by ``poll``/``flush`` on the
    thread that calls them (the component's); this object is used from that thread only.

    >>> import logging
    >>> lines = []
    >>> class Keep(logging.Handler):
    ...     def emit(self, record): lines.append((record.levelname, record.getMessage()))
    >>> lg = logging.getLogger("doc.clientlog"); lg.addHandler(Keep()); lg.setLevel(logging.INFO)
    >>> now = [0.0]
    >>> log = ClientLog(lg, interval_s=60, clock=lambda: now[0])
    >>> for t in (0.0, 0.05, 0.1, 61.0):
    ...     now[0] = t; log.log(40, "%s [%s] %s", "FAIL", "rdkafka#consumer-1", "Connection refused")
    >>> lines
    [('ERROR', 'FAIL [rdkafka#consumer-1] Connection refused'), \
('ERROR', 'FAIL [rdkafka#consumer-1] Connection refused (2 similar FAIL lines held back in the last 61 s)')]

    Semantics: confluent-kafka's ``logger`` property (an object with ``log(level, msg, *args)``).
    """

    __slots__ = ("logger", "interval_s", "clock", "_windows")

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self._windows: dict[str, list[float | int]] = {}    # facility -> [interval start, lines held back]

    def log(self, level: int, msg: str, *args: Any) -> None:
        facility = str(args[0]) if args else msg
        now = self.clock()
        window = self._windows.get(facility)
        if window is not None and now - window[0] < self.interval_s:
            window[1] += 1
            self.logger.log(logging.DEBUG, msg, *args)
            return
        held = int(window[1]) if window is not None else 0
        self._windows[facility] = [now, 0]
        if held:
            self.logger.log(level, msg + " (%d similar %s lines held back in the last %.0f s)", *args, held,
                            facility, now - window[0])
        else:
            self.logger.log(level, msg, *args)


def await_brokers(client: Any, servers: str, timeout_s: float, component: str,
                  topics: Sequence[str] = (), pattern: str | None = None,
                  last_error: Callable[[], str | None] = lambda: None) -> None:
    """Return once the brokers answer and every topic in ``topics`` (or one matching
    ``pattern``) exists; raise :class:`KafkaStartupError` after ``timeout_s``.

    Blocks the caller for at most ``timeout_s`` (plus one metadata wait of at most
    1 s); serves the client's callbacks (``poll(0)``) between tries, so its
    ``error_cb`` reports the outage once meanwhile. A topic created while waiting is
    found. Internal topics (``__consumer_offsets``) never match ``pattern``.

    Args:
        client: a confluent-kafka ``Consumer`` (not subscribed yet) or ``Producer``.
        servers: the bootstrap string, for the message.
        timeout_s: how long to wait, seconds.
        component: who waits, for the message (``"KafkaSpout source[2]"``).
        topics: topics that must exist.
        pattern: a regular expression at least one topic name must match (at its start,
            as librdkafka matches subscriptions).
        last_error: the client's latest error text, if its ``error_cb`` kept one; said
            in the message instead of the less precise "failed to get metadata".

    Raises:
        KafkaStartupError: the brokers did not answer, or a topic did not appear, in time.
    """
    shown = mask_url(servers)
    deadline = time.monotonic() + timeout_s
    compiled = re.compile(pattern) if pattern else None
    while True:
        left = deadline - time.monotonic()
        try:
            metadata = client.list_topics(timeout=max(0.05, min(_STEP_S, left)))
        except KafkaException as exc:
            problem = f"Kafka {shown} unreachable: {last_error() or reason(exc)}"
        else:
            present = {name for name, t in metadata.topics.items() if t.error is None}
            if compiled is not None:
                if any(compiled.match(n) for n in present if not n.startswith("__")):
                    return
                problem = f"no topic on Kafka {shown} matches topic_pattern {pattern!r}"
            else:
                missing = [t for t in topics if t not in present]
                if not missing:
                    return
                have = sorted(n for n in present if not n.startswith("__"))
                problem = (f"topic {', '.join(map(repr, missing))} not found on Kafka {shown} (topics there: "
                           f"{', '.join(have[:10]) or 'none'}{', ...' if len(have) > 10 else ''})")
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        client.poll(0)
        if time.monotonic() >= deadline:
            raise KafkaStartupError(problem, component, servers, timeout_s)
