"""Bolts that write to, read from and filter by Redis, one pipelined round trip per batch.

All three share one contract (:class:`RedisBolt`):

* the runtime hands ``process_batch`` each drained batch; the bolt queues one command
  (two with a TTL) per tuple on a non-transactional pipeline and sends the whole batch
  in ONE round trip;
* a tuple is acked (or, for lookup/filter, its output emitted anchored to it and then
  acked) only after the pipeline returned; a command the server rejected (e.g.
  ``WRONGTYPE``) fails only its own tuple and is reported once per batch;
* when Redis cannot be reached (connection refused, timeout, failover in progress) the
  batch's tuples are FAILED, so the spouts replay them, and the bolt backs off
  exponentially (``backoff_initial_s`` doubling up to ``backoff_max_s``): until the
  backoff expires it fails incoming tuples at once without touching Redis, so the
  worker loop never waits on a dead server; the next batch after it is the probe.
  The outage is reported through ``collector.report_error`` once (when it starts, not
  per tuple or per probe: "Redis at ... is unreachable (...): ...; retrying with
  backoff") and its end is logged once with its length and the number of tuples
  failed meanwhile. This is the connectors' shared policy,
  :class:`squall.connectors.outage.Outage`.

Semantics: storm-redis ``AbstractRedisBolt``, ``RedisStoreBolt``, ``RedisLookupBolt``,
``RedisFilterBolt`` (there one command per tuple; here one pipeline per batch); Storm
"Guaranteeing Message Processing" (fail -> replay); Redis "Pipelining" (redis.io/docs/
manual/pipelining) and redis-py ``Pipeline(transaction=False)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from squall.component import Bolt
from squall.tuple import Tuple, is_tick

from ..outage import RETRYING, Outage, check_backoff
from .config import RedisConfig, from_url
from .errors import RedisCommandError, RedisConfigError, RedisConnectionError
from .mappers import RedisFilterMapper, RedisLookupMapper, RedisStoreMapper
from .store import CONNECTION_ERRORS, RedisKeyValueStore

__all__ = ["RedisBolt", "RedisStoreBolt", "RedisLookupBolt", "RedisFilterBolt"]

log = logging.getLogger(__name__)


class RedisBolt(Bolt):
    """Base of the Redis bolts: the connection, batching, outage detection and backoff.

    Args:
        config: a :class:`RedisConfig` or a URL (see :func:`from_url`).
        mapper: the bolt's mapper.
        backoff_initial_s: seconds to stay away from Redis after the first failed batch.
        backoff_max_s: the longest backoff; each failed probe doubles it up to this.
        clock: monotonic seconds (inject a test clock); must pickle for Ray (module-level).

    Attributes (per task, for tests and metrics):
        outages: how many outages began.
        outage_failed: tuples failed because Redis was unreachable, in the current
            outage (0 once it ended).
        round_trips: pipelines sent (successful or not).

    Subclasses implement ``_queue(pipe, tup)`` and ``_settle(tuples, replies)``.
    """

    def __init__(self, config: RedisConfig | str, mapper: Any, backoff_initial_s: float = 0.1,
                 backoff_max_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        problem = check_backoff(backoff_initial_s, backoff_max_s)
        if problem is not None:
            raise RedisConfigError(problem)
        self.config = from_url(config) if isinstance(config, str) else config
        self.mapper = mapper
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock

    # -- lifecycle ---------------------------------------------------------------------

    def single_writer_keys(self) -> frozenset[str]:
        """Empty: any number of processes may write to Redis."""
        return frozenset()

    def prepare(self, config, context, collector):
        self.collector = collector
        self.component = f"{context.component_id}[{context.task_id}]"
        self.server = self.config.describe()
        # The client is built at the first batch: a dead server must not fail prepare.
        self._connection = RedisKeyValueStore(self.config).open()
        self._outage = Outage(self.component, f"Redis at {self.server}", initial_s=self.backoff_initial_s,
                              max_s=self.backoff_max_s, clock=self.clock, log=log)
        self.round_trips = 0

    def cleanup(self):
        self._connection.close()

    @property
    def down(self) -> bool:
        """True while the bolt considers Redis unreachable."""
        return self._outage.down

    @property
    def outages(self) -> int:
        """How many outages began."""
        return self._outage.outages

    @property
    def outage_failed(self) -> int:
        """Tuples failed because Redis was unreachable, in the current outage."""
        return self._outage.failed_during

    # -- the batch path ------------------------------------------------------------------

    def process(self, tup: Tuple) -> None:
        self.process_batch([tup])

    def process_batch(self, tuples: list[Tuple]) -> None:
        collector = self.collector
        outage = self._outage
        if outage.backing_off():
            fail = collector.fail
            for t in tuples:
                fail(t)
            outage.failed_during += len(tuples)
            return
        data = [t for t in tuples if not is_tick(t)]
        if len(data) != len(tuples):
            for t in tuples:
                if is_tick(t):
                    collector.ack(t)
        if not data:
            return
        try:
            pipe = self._connection.client.pipeline(transaction=False)
            queue = self._queue
            for t in data:
                queue(pipe, t)
            self.round_trips += 1
            replies = pipe.execute(raise_on_error=False)
        except CONNECTION_ERRORS as exc:
            if outage.failed(len(data)):
                err = RedisConnectionError(self.server, f"pipeline of {len(data)}",
                                           f"{str(exc) or type(exc).__name__}; {RETRYING}")
                err.__cause__ = exc
                collector.report_error(err)
            fail = collector.fail
            for t in data:
                fail(t)
            return
        if outage.since is not None:
            outage.succeeded()
        self._settle(data, replies)

    def _reject(self, tup: Tuple, reply: BaseException, first: list) -> None:
        """Fail ``tup`` whose command the server rejected; remember the batch's first error."""
        if not first:
            first.append(reply)
        self.collector.fail(tup)

    def _report_rejects(self, first: list, n_failed: int) -> None:
        """Report a batch's rejected commands once: how many, and the first reply."""
        if first:
            err = RedisCommandError(self.server, f"{type(self).__name__} {self.component}",
                                    f"{n_failed} tuple(s) of a batch failed; first reply: {first[0]}")
            err.__cause__ = first[0]
            self.collector.report_error(err)

    def _queue(self, pipe: Any, tup: Tuple) -> None:
        raise NotImplementedError

    def _settle(self, tuples: list[Tuple], replies: list[Any]) -> None:
        """One reply per tuple: a rejected command fails its tuple, any other reply goes
        to ``_on_reply`` (which may emit, anchored) and the tuple is acked."""
        ack, on_reply = self.collector.ack, self._on_reply
        first: list = []
        failed = 0
        for t, r in zip(tuples, replies):
            if isinstance(r, Exception):
                self._reject(t, r, first)
                failed += 1
                continue
            on_reply(t, r)
            ack(t)
        self._report_rejects(first, failed)

    def _on_reply(self, tup: Tuple, reply: Any) -> None:
        """What a successful reply means for ``tup`` (emit or nothing); acked after."""


class RedisStoreBolt(RedisBolt):
    """Writes each tuple as its :class:`RedisStoreMapper` says, acking after the write.

    A sink: declares no output. Each drained batch is one pipeline (``transaction=False``:
    writes are not atomic as a group, and each tuple is acked or failed on its own
    command's reply).

    >>> from squall.connectors.redis.mappers import RedisDataType
    >>> bolt = RedisStoreBolt("redis://127.0.0.1:6379/0",
    ...                       RedisStoreMapper(RedisDataType.SET, key_field="day", value_field="car", ttl_s=604800))
    >>> bolt.mapper.commands_per_tuple
    2

    Semantics: storm-redis ``RedisStoreBolt``; see the module docstring.
    """

    def __init__(self, config: RedisConfig | str, mapper: RedisStoreMapper, **kwargs: Any) -> None:
        if not isinstance(mapper, RedisStoreMapper):
            raise RedisConfigError(f"RedisStoreBolt needs a RedisStoreMapper, got {type(mapper).__name__}")
        super().__init__(config, mapper, **kwargs)

    def prepare(self, config, context, collector):
        super().prepare(config, context, collector)
        self._queue = self.mapper.queue  # type: ignore[method-assign]
        self._k = self.mapper.commands_per_tuple
        self.written = 0

    def _settle(self, tuples, replies):
        ack = self.collector.ack
        first: list = []
        failed = 0
        if self._k == 1:
            for t, r in zip(tuples, replies):
                if isinstance(r, Exception):
                    self._reject(t, r, first)
                    failed += 1
                else:
                    ack(t)
        else:
            k = self._k
            for i, t in enumerate(tuples):
                rs = replies[i * k:(i + 1) * k]
                bad = next((r for r in rs if isinstance(r, Exception)), None)
                if bad is not None:
                    self._reject(t, bad, first)
                    failed += 1
                else:
                    ack(t)
        self.written += len(tuples) - failed
        self._report_rejects(first, failed)


class RedisLookupBolt(RedisBolt):
    """Reads one value per tuple and emits the input's ``output_fields`` plus that value.

    Declares ``mapper.declared_fields()`` on the default stream; each output is anchored
    to its input, which is acked after the emit.

    Semantics: storm-redis ``RedisLookupBolt``; see the module docstring.
    """

    def __init__(self, config: RedisConfig | str, mapper: RedisLookupMapper, **kwargs: Any) -> None:
        if not isinstance(mapper, RedisLookupMapper):
            raise RedisConfigError(f"RedisLookupBolt needs a RedisLookupMapper, got {type(mapper).__name__}")
        super().__init__(config, mapper, **kwargs)

    def declare_output_fields(self, declarer):
        declarer.declare(self.mapper.declared_fields())

    def prepare(self, config, context, collector):
        super().prepare(config, context, collector)
        self._queue = self.mapper.queue  # type: ignore[method-assign]

    def _on_reply(self, tup, reply):
        self.collector.emit(self.mapper.values(tup, reply), anchors=(tup,))


class RedisFilterBolt(RedisBolt):
    """Emits a tuple (all its values, anchored) only when its Redis test passes; acks every input.

    Declares ``mapper.output_fields`` on the default stream (the input's fields).

    Semantics: storm-redis ``RedisFilterBolt``; see the module docstring.
    """

    def __init__(self, config: RedisConfig | str, mapper: RedisFilterMapper, **kwargs: Any) -> None:
        if not isinstance(mapper, RedisFilterMapper):
            raise RedisConfigError(f"RedisFilterBolt needs a RedisFilterMapper, got {type(mapper).__name__}")
        if not mapper.output_fields:
            raise RedisConfigError("RedisFilterMapper needs output_fields= (the input stream's fields) "
                                   "for the filter bolt to declare")
        super().__init__(config, mapper, **kwargs)

    def declare_output_fields(self, declarer):
        declarer.declare(self.mapper.output_fields)

    def prepare(self, config, context, collector):
        super().prepare(config, context, collector)
        self._queue = self.mapper.queue  # type: ignore[method-assign]

    def _on_reply(self, tup, reply):
        if self.mapper.passes(reply):
            self.collector.emit(list(tup.values), anchors=(tup,))
