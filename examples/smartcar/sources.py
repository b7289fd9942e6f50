"""The pipeline's spouts: the fleet simulator and the OBD-II replay.

Both emit ``(line, origin, error)`` on the default stream, one tuple per record, with a
message id; a tuple whose tree fails or times out is emitted again (at-least-once),
after a backoff that doubles with each failure of that record.
``error`` is None for a record and the reason for a row the reader already knows is
malformed, so the parse bolt can dead-letter it with that reason.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections.abc import Iterator
from typing import Any

from squall import Spout, Stateful
from squall.component import AssignableMetric, CountMetric

from .obd import Reading, read_fleet
from .record import format_line, ms_to_date

__all__ = ["FeedSpout", "ReplaySpout", "SimulatorSpout", "simulate"]

REPLAY_BACKOFF_S = (0.002, 10.0)
"""A failed record is emitted again after 2 ms, doubling with each further failure of
that record up to 10 s (storm-kafka-client's ``KafkaSpoutRetryExponentialBackoff``
defaults): a sink that is down is not hammered by the same records in a hot loop."""


class FeedSpout(Stateful, Spout):
    """A reliable, optionally paced spout over an iterator of :class:`Reading`.

    Checkpointed, its position is the number of readings taken from the source plus
    the records emitted but not yet acked; a restored spout skips that many readings
    (re-reading the source, which is deterministic) and emits the unacked ones again.

    Args:
        start_ms: event time of second 0 (epoch ms).
        pace: None to emit as fast as downstream takes it; X to emit X times faster
            than event time (1 = real time).

    Metrics (``ComponentStats.metrics``, wherever the task runs): ``read`` (distinct
    records taken from the source), ``replayed``, ``resumed_at`` (the checkpointed
    position restored), and ``source_error`` set if the reader raised (the input was
    then not read to its end).
    """

    def __init__(self, name: str, start_ms: int, pace: float | None = None) -> None:
        self.name = name
        self.start_ms = start_ms
        self.pace = pace

    def readings(self) -> Iterator[Reading]:
        raise NotImplementedError

    def declare_output_fields(self, declarer):
        declarer.declare(["line", "origin", "error"])

    def open(self, config, context, collector):
        self.collector = collector
        self._source = self.readings()
        self._pending: dict[int, list[Any]] = {}
        self._replay: list[tuple[float, int]] = []     # heap of (due, msg_id)
        self._failures: dict[int, int] = {}
        self._next_id = 0
        self._done = False
        self._held: Reading | None = None
        self._wall0: float | None = None
        self._read = context.register_metric("read", CountMetric())
        self._replayed = context.register_metric("replayed", CountMetric())
        self._resumed_at = context.register_metric("resumed_at", AssignableMetric(0))
        self._source_error = context.register_metric("source_error", AssignableMetric())
        self._position = 0

    def init_state(self, state):
        self.state = state
        position, pending, next_id = state.get("position", (0, {}, 0))
        # Also a rollback: every in-memory position goes back to the checkpoint's.
        self._source = self.readings()
        if position:
            next(itertools.islice(self._source, position - 1, position), None)
        self._position = position
        self._pending = dict(pending)
        self._replay = [(0.0, msg_id) for msg_id in sorted(pending)]   # sorted: a valid heap
        self._failures = {}
        self._next_id = next_id
        self._done = False
        self._held = None
        self._wall0 = None
        self._resumed_at.value = position

    def pre_prepare(self, txid):
        self.state.put("position", (self._position, self._pending, self._next_id))

    def next_tuple(self):
        if self._replay and self._replay[0][0] <= time.monotonic():
            msg_id = heapq.heappop(self._replay)[1]
            self._replayed.value += 1
            self.collector.emit(self._pending[msg_id], message_id=msg_id)
            return
        if self._done:
            return
        reading = self._held
        if reading is None:
            try:
                reading = next(self._source, None)
            except Exception as exc:
                # A reader that breaks cannot be resumed: stop, and say so loudly (the
                # command exits non-zero) rather than end as if the input were complete.
                self._done = True
                self._source_error.value = f"{type(exc).__name__}: {exc}"
                raise
            if reading is None:
                self._done = True
                return
        if self.pace:
            now = time.monotonic()
            if self._wall0 is None:
                self._wall0 = now - reading.second / self.pace
            if now - self._wall0 < reading.second / self.pace:
                self._held = reading      # not due yet: emit nothing this call
                return
        self._held = None
        msg_id = self._next_id
        self._next_id += 1
        values = [reading.line, reading.origin, reading.error]
        self._pending[msg_id] = values
        self._position += 1
        self._read.value += 1
        self.collector.emit(values, message_id=msg_id)

    def ack(self, msg_id):
        self._pending.pop(msg_id, None)
        self._failures.pop(msg_id, None)

    def fail(self, msg_id):
        if msg_id in self._pending:
            n = self._failures[msg_id] = self._failures.get(msg_id, 0) + 1
            first, longest = REPLAY_BACKOFF_S
            heapq.heappush(self._replay, (time.monotonic() + min(first * 2 ** min(n - 1, 32), longest), msg_id))

    def exhausted(self):
        return self._done and not self._pending and not self._replay

    def emitted_all(self):
        return self._done and not self._replay


class ReplaySpout(FeedSpout):
    """Replays a directory of OBD-II trips as a fleet (one car per file)."""

    def __init__(self, directory: str, start_ms: int, pace: float | None = None,
                 duration_s: int | None = None) -> None:
        super().__init__("replay", start_ms, pace)
        self.directory = str(directory)
        self.duration_s = duration_s

    def readings(self):
        return read_fleet(self.directory, self.start_ms, self.duration_s)


def simulate(cars: int, duration_s: int, start_ms: int, seed: int) -> Iterator[Reading]:
    """A deterministic fleet: ``cars`` cars, one record per car per second.

    About one driver in five is a speeder cruising at 85-115 km/h; the others drive
    at 25-75 km/h. Speeds follow a mean-reverting random walk, so a speeder's
    30-second average stays above 80 km/h most of the time but not always.
    """
    rng = random.Random(seed)
    fleet = []
    for i in range(cars):
        speeder = rng.random() < 0.2
        target = rng.uniform(85, 115) if speeder else rng.uniform(25, 75)
        fleet.append([f"SIM{i:05d}", target, target, str(rng.randint(1, 20))])
    for second in range(duration_s):
        date = ms_to_date(start_ms + second * 1000)
        for car in fleet:
            number, target, speed, area = car
            new = max(0.0, speed + 0.2 * (target - speed) + rng.gauss(0, 6))
            brake = 1.0 if new < speed - 4 else 0.0
            pedal = round(min(100.0, max(0.0, new * 0.6 + rng.gauss(0, 3))), 1)
            steer = round(rng.gauss(0, 8), 1)
            light = rng.choices((0, 1, 2), (0.9, 0.05, 0.05))[0]
            car[2] = new
            yield Reading(second, number,
                          format_line(date, number, pedal, brake, steer, light, round(new, 1), area),
                          f"sim:{second}:{number}", None)


class SimulatorSpout(FeedSpout):
    """The simulated fleet of :func:`simulate` as a spout."""

    def __init__(self, cars: int, duration_s: int, start_ms: int, seed: int = 42,
                 pace: float | None = None) -> None:
        super().__init__("simulator", start_ms, pace)
        self.cars, self.duration_s, self.seed = cars, duration_s, seed

    def readings(self):
        return simulate(self.cars, self.duration_s, self.start_ms, self.seed)
