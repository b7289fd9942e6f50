"""The Kafka spout's configuration: a frozen, picklable spec.

Semantics: storm-kafka-client ``KafkaSpoutConfig``, ``FirstPollOffsetStrategy``,
``KafkaSpoutRetryExponentialBackoff``. Defaults are Storm's, except where noted.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import SquallError
from ..urls import mask_config, mask_url
from .translator import DefaultRecordTranslator, RecordTranslator

__all__ = ["FirstPollOffsetStrategy", "RetryBackoff", "KafkaSpoutConfig", "KafkaConfigError"]


class KafkaConfigError(SquallError, ValueError):
    """A Kafka connector setting is missing or out of range."""


class FirstPollOffsetStrategy(enum.Enum):
    """Where a partition starts when the spout is first assigned it.

    EARLIEST / LATEST: the beginning / the end of the partition, ignoring committed
    offsets, on the first assignment of that partition in this spout task's run (a
    later reassignment in the same run, e.g. after a rebalance, resumes from the
    committed offset). UNCOMMITTED_EARLIEST / UNCOMMITTED_LATEST: the group's
    committed offset; the beginning / the end when there is none.

    Storm decides "first" by commit metadata naming the topology deployment; Squall
    by the spout task's run, so a restarted process with EARLIEST re-reads from the
    beginning (as a redeployment does in Storm).
    """

    EARLIEST = "EARLIEST"
    LATEST = "LATEST"
    UNCOMMITTED_EARLIEST = "UNCOMMITTED_EARLIEST"
    UNCOMMITTED_LATEST = "UNCOMMITTED_LATEST"

    @property
    def reset(self) -> str:
        """The ``auto.offset.reset`` that goes with it."""
        return "earliest" if self in (FirstPollOffsetStrategy.EARLIEST,
                                      FirstPollOffsetStrategy.UNCOMMITTED_EARLIEST) else "latest"

    @property
    def ignores_commits(self) -> bool:
        return self in (FirstPollOffsetStrategy.EARLIEST, FirstPollOffsetStrategy.LATEST)


@dataclass(frozen=True)
class RetryBackoff:
    """Exponential backoff for failed tuples.

    The n-th failure of a record (n = 1, 2, ...) schedules its re-emit after
    ``min(initial_delay_s + delay_period_s * 2 ** (n - 1), max_delay_s)``. After
    ``max_retries`` re-emits a further failure gives the record up: it counts as done
    for commits and is counted and logged as dropped. ``max_retries=None``: forever.

    Defaults are Storm's: 0 s, 2 ms, unlimited, 10 s.

    >>> b = RetryBackoff(initial_delay_s=0.1, delay_period_s=0.1, max_delay_s=1.0)
    >>> [round(b.delay_s(n), 3) for n in (1, 2, 3, 10)]
    [0.2, 0.3, 0.5, 1.0]

    Semantics: storm-kafka-client ``KafkaSpoutRetryExponentialBackoff``.
    """

    initial_delay_s: float = 0.0
    delay_period_s: float = 0.002
    max_retries: int | None = None
    max_delay_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("initial_delay_s", "delay_period_s", "max_delay_s"):
            if getattr(self, name) < 0:
                raise KafkaConfigError(f"RetryBackoff.{name} must not be negative, got {getattr(self, name)!r}")
        if self.max_retries is not None and self.max_retries < 0:
            raise KafkaConfigError(f"RetryBackoff.max_retries must be >= 0 or None, got {self.max_retries!r}")

    def delay_s(self, failures: int) -> float:
        """Seconds to wait before re-emitting after the ``failures``-th failure."""
        # Exponent capped: past 2**62 periods every delay is max_delay_s anyway.
        return min(self.initial_delay_s + self.delay_period_s * 2.0 ** min(failures - 1, 62), self.max_delay_s)


@dataclass(frozen=True)
class KafkaSpoutConfig:
    """What a :class:`~squall.connectors.kafka.KafkaSpout` reads and how.

    Args:
        bootstrap_servers: ``"host:port[,host:port...]"``.
        group_id: the consumer group; spout tasks of one group split the partitions.
        topics: topic names to subscribe to; or
        topic_pattern: a regular expression (Python/PCRE subset as librdkafka reads
            it) matched against whole topic names; new matching topics are picked up
            every ``partition_refresh_period_s``.
        first_poll_offset_strategy: see :class:`FirstPollOffsetStrategy`.
        offset_commit_period_s: seconds between asynchronous commits (Storm: 30).
        max_uncommitted_offsets: per partition, offsets emitted but not yet committed
            at most; the partition is paused until commits catch up (Storm: 10,000,000).
        retry: backoff for failed tuples.
        translator: record -> tuple values and stream.
        max_poll_records: records taken from the client per poll (Storm's
            ``max.poll.records`` role; default 500).
        partition_refresh_period_s: metadata refresh for patterns (Storm: 2).
        stop_at_end: a bounded run: ``exhausted()`` becomes True once every assigned
            partition was read to the end it had when reached and every tuple is done.
        consumer_config: more librdkafka properties (e.g. ``session.timeout.ms``);
            the spout's own settings (group, offsets, commits) win over them.
        static_membership: each spout task joins the group as a static member
            (KIP-345), ``group.instance.id`` = ``squall-<component>-<task>``: a task
            restarted after a crash (even ``kill -9``) takes its partitions back at
            once instead of after the dead member's ``session.timeout.ms``, and a clean
            stop does not rebalance the group. Without it, a bounded run
            (``stop_at_end``) restarted right after a kill may be given only some
            partitions (the dead member still holds the rest) and end having read only
            those. Two topologies in one group must then not share component names.
        startup_timeout_s: a bounded run (``stop_at_end``) only: ``open`` waits at most
            this long for the brokers to answer and the topics to exist, then raises
            :class:`~squall.connectors.kafka.KafkaStartupError`, which ends the run
            (default 30 s, Kafka's ``request.timeout.ms``). None: never give up. An
            unbounded run never waits at start: it reports the outage once and the
            client keeps reconnecting.

    Raises:
        KafkaConfigError: neither or both of ``topics``/``topic_pattern``, a bad
            pattern, or a number out of range.
    """

    bootstrap_servers: str
    group_id: str
    topics: tuple[str, ...] = ()
    topic_pattern: str | None = None
    first_poll_offset_strategy: FirstPollOffsetStrategy = FirstPollOffsetStrategy.UNCOMMITTED_EARLIEST
    offset_commit_period_s: float = 30.0
    max_uncommitted_offsets: int = 10_000_000
    retry: RetryBackoff = field(default_factory=RetryBackoff)
    translator: RecordTranslator = field(default_factory=DefaultRecordTranslator)
    max_poll_records: int = 500
    partition_refresh_period_s: float = 2.0
    stop_at_end: bool = False
    consumer_config: Mapping[str, Any] = field(default_factory=dict)
    static_membership: bool = False
    startup_timeout_s: float | None = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.topics, str):
            object.__setattr__(self, "topics", (self.topics,))
        else:
            object.__setattr__(self, "topics", tuple(self.topics))
        if bool(self.topics) == bool(self.topic_pattern):
            raise KafkaConfigError("KafkaSpoutConfig needs exactly one of topics=[...] or topic_pattern='regex'")
        if self.topic_pattern:
            try:
                re.compile(self.topic_pattern)
            except re.error as exc:
                raise KafkaConfigError(f"topic_pattern {self.topic_pattern!r} is not a regular expression: "
                                       f"{exc}") from exc
        if not self.bootstrap_servers:
            raise KafkaConfigError("KafkaSpoutConfig.bootstrap_servers is empty; give 'host:port'")
        if not self.group_id:
            raise KafkaConfigError("KafkaSpoutConfig.group_id is empty; offsets are committed for a group")
        if isinstance(self.first_poll_offset_strategy, str):
            try:
                object.__setattr__(self, "first_poll_offset_strategy",
                                   FirstPollOffsetStrategy[self.first_poll_offset_strategy.upper()])
            except KeyError:
                raise KafkaConfigError(
                    f"unknown first_poll_offset_strategy {self.first_poll_offset_strategy!r}; one of "
                    f"{', '.join(s.name for s in FirstPollOffsetStrategy)}") from None
        if self.offset_commit_period_s <= 0:
            raise KafkaConfigError(f"offset_commit_period_s must be positive, got {self.offset_commit_period_s!r}")
        if self.max_uncommitted_offsets < 1:
            raise KafkaConfigError(f"max_uncommitted_offsets must be >= 1, got {self.max_uncommitted_offsets!r}")
        if self.max_poll_records < 1:
            raise KafkaConfigError(f"max_poll_records must be >= 1, got {self.max_poll_records!r}")
        if self.partition_refresh_period_s <= 0:
            raise KafkaConfigError("partition_refresh_period_s must be positive")
        if self.startup_timeout_s is not None and not self.startup_timeout_s > 0:
            raise KafkaConfigError(f"startup_timeout_s must be positive seconds or None (wait forever), got "
                                   f"{self.startup_timeout_s!r}")

    def __repr__(self) -> str:
        # The generated repr would show sasl.password & co. (configs end up in logs).
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["bootstrap_servers"] = mask_url(self.bootstrap_servers)
        shown["consumer_config"] = mask_config(self.consumer_config)
        return "KafkaSpoutConfig(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    def subscription(self) -> list[str]:
        """What ``Consumer.subscribe`` takes: the topics, or ``["^pattern"]``."""
        if self.topic_pattern:
            p = self.topic_pattern
            return [p if p.startswith("^") else "^" + p]
        return list(self.topics)

    def consumer_properties(self) -> dict[str, Any]:
        """librdkafka properties for the spout's consumer (callbacks not included)."""
        props = dict(self.consumer_config)
        props.update({
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": self.first_poll_offset_strategy.reset,
            "enable.partition.eof": self.stop_at_end,
            "topic.metadata.refresh.interval.ms": int(self.partition_refresh_period_s * 1000),
        })
        return props
