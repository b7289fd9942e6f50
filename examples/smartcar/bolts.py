"""The smart-car pipeline's own bolts: parse, speeding set, detection log."""

from __future__ import annotations

import json
import logging
import time
from collections import deque

from squall import BasicBolt, Bolt, Stateful
from squall.config import TICK_TUPLE_FREQ_SECS
from squall.connectors.outage import Outage
from squall.connectors.files import FileSinkBolt
from squall.errors import RecordError
from squall.store.errors import StoreError
from squall.store.kv import KeyValueStore
from squall.store.writers import single_writer_keys
from squall.tuple import is_tick

from .record import FIELDS, date_to_ms, ms_to_date, parse_line, row_key

__all__ = ["ParseBolt", "SpeedingBolt", "DetectionLogBolt", "RECORD_FIELDS", "ERROR_STREAM"]

log = logging.getLogger("squall.smartcar")

ERROR_STREAM = "error"
RECORD_FIELDS = ("row_key", *FIELDS, "event_time_ms")
MAX_RECORD_BYTES = 65536   # a feed line is ~60 bytes: anything this large is not a record


class ParseBolt(BasicBolt):
    """Feed line -> record fields on ``default``; a bad line -> ``error`` stream.

    Input ``(line, origin, error)``; a line the reader already rejected (``error`` set)
    goes to the error stream with that reason. Output on ``default``:
    ``row_key, <the eight record fields>, event_time_ms``; on ``error``:
    ``record, reason, origin``. Either way the input is acked once the output is
    emitted (anchored), so a record counts as processed only when it is stored or
    dead-lettered.
    """

    def declare_output_fields(self, declarer):
        declarer.declare(RECORD_FIELDS)
        declarer.declare_stream(ERROR_STREAM, ["record", "reason", "origin"])

    def execute(self, tup, collector):
        line, origin, error = tup.values
        if error is not None:
            collector.emit([line, error, origin], ERROR_STREAM)
            return
        if line is None:
            collector.emit(["", "empty message (no value)", origin], ERROR_STREAM)
            return
        if len(line) > MAX_RECORD_BYTES:
            collector.emit([line[:MAX_RECORD_BYTES], f"record is {len(line):,} bytes; a record is at most "
                            f"{MAX_RECORD_BYTES:,} (stored truncated)", origin], ERROR_STREAM)
            return
        try:
            if isinstance(line, bytes):
                line = line.decode("utf-8")
            r = parse_line(line)
        except RecordError as exc:
            collector.emit([line, exc.reason, origin], ERROR_STREAM)
            return
        except UnicodeDecodeError as exc:
            collector.emit([line, f"not UTF-8: {exc.reason} at byte {exc.start}", origin], ERROR_STREAM)
            return
        collector.emit([row_key(r.date, r.car_number), r.date, r.car_number, r.speed_pedal, r.break_pedal,
                        r.steer_angle, r.direct_light, r.speed, r.area_number, date_to_ms(r.date)])


class SpeedingBolt(Stateful, Bolt):
    """Flags speeding cars: ``SADD yyyyMMdd car_number`` then ``EXPIRE yyyyMMdd ttl``.

    The key is the UTC date of the detection window's start. Input fields:
    ``carNumber`` and ``window_start`` (epoch ms). SADD is idempotent, so a replay
    changes nothing. A detection is acked once both commands succeeded.

    Detections come unanchored from the CEP bolt (nothing upstream would replay them),
    so when the store is unreachable this bolt keeps them and retries on its own:
    exponential backoff from ``retry_initial_s`` to ``retry_max_s``, driven by tick
    tuples, never blocking the worker; the outage is reported once. At most
    ``max_buffered`` detections wait (beyond that the oldest is reported and dropped).
    Checkpointed, the waiting detections are state: a crash during an outage loses none.

    The store is a configuration (embedded or Redis): ``prepare`` opens it on the worker,
    ``cleanup`` closes it.

    Semantics: the book's Redis sink (a set per day, expiring after a week by default).
    """

    def __init__(self, store: KeyValueStore, ttl_s: int = 604800, retry_initial_s: float = 0.1,
                 retry_max_s: float = 5.0, max_buffered: int = 100_000) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.max_buffered = max_buffered

    def component_configuration(self):
        return {TICK_TUPLE_FREQ_SECS: 0.2}

    def single_writer_keys(self) -> frozenset[str]:
        """The store's ``single_writer_key`` (an embedded store's directory), if any."""
        return single_writer_keys(self.store)

    def prepare(self, config, context, collector):
        self.collector = collector
        self.connection = self.store.open()
        self._waiting: deque = deque()
        self._outage = Outage(f"{context.component_id}[{context.task_id}]", "the speeding store",
                              initial_s=self.retry_initial_s, max_s=self.retry_max_s, log=log)

    def process(self, tup):
        self.process_batch([tup])

    def init_state(self, state):
        self.state = state
        self._waiting = deque((car, start, None) for car, start in state.get("waiting", ()))

    def pre_prepare(self, txid):
        self.state.put("waiting", [(car, start) for car, start, _ in self._waiting])

    def process_batch(self, tuples):
        waiting = self._waiting
        # Ticks only wake the retry.
        waiting.extend((t["carNumber"], t["window_start"], t) for t in tuples if not is_tick(t))
        while len(waiting) > self.max_buffered:
            car, start, lost = waiting.popleft()
            self.collector.report_error(RuntimeError(
                f"speeding store unreachable: dropped detection of {car} in the window from {start}"))
            if lost is not None:
                self.collector.fail(lost)
        if not waiting or self._outage.backing_off():
            return
        store = self.connection
        while waiting:
            car, start, t = waiting[0]
            key = ms_to_date(start)[:8]
            try:
                store.sadd(key, car)
                store.expire(key, self.ttl_s)
            except (StoreError, OSError) as exc:
                if self._outage.failed():
                    self.collector.report_error(exc)
                return
            waiting.popleft()
            if t is not None:
                self.collector.ack(t)
        self._outage.succeeded()

    def end_of_input(self, deadline_s: float = 60.0) -> None:
        # The run ends after this returns: keep retrying what waits, for a while.
        end = time.monotonic() + deadline_s
        while self._waiting and time.monotonic() < end:
            time.sleep(max(0.0, self._outage.retry_at - time.monotonic()))
            self.process_batch([])
        if self._waiting:
            self.collector.report_error(RuntimeError(
                f"speeding store still unreachable at end of input: {len(self._waiting)} detections not written"))

    def cleanup(self) -> None:
        self.connection.close()


class DetectionLogBolt(FileSinkBolt):
    """Appends one JSON line per (car, batch) detection: car_number, window_start and
    window_end (14-digit dates), avg_speed, events. Exactly-once under checkpoints in
    exactly-once mode (see :class:`~squall.connectors.files.FileSinkBolt`); otherwise
    flushed per drained batch.

    The rule's columns are looked up by name: ``avgSpeed`` or ``avg(speed)``, ``events``
    or ``count(*)`` (null when the rule selects neither). A rule that outputs a row per
    event (the book's form, selecting the eight fields) still logs one line per car
    and batch.
    """

    def restore_extra(self, extra):
        self._window, logged = extra if extra is not None else (None, ())
        self._logged = set(logged)

    def save_extra(self):
        return (self._window, sorted(self._logged))

    def prepare(self, config, context, collector):
        super().prepare(config, context, collector)
        self.restore_extra(None)

    def format(self, t):
        car, start = t["carNumber"], t["window_start"]
        if start != self._window:      # batches end in order: forget the previous one
            self._window, self._logged = start, set()
        if car in self._logged:
            return None
        self._logged.add(car)
        return json.dumps({"car_number": car, "window_start": ms_to_date(start),
                           "window_end": ms_to_date(t["window_end"]),
                           "avg_speed": t.get("avgSpeed", t.get("avg(speed)")),
                           "events": t.get("events", t.get("count(*)"))})
