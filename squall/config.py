"""Topology configuration: Storm's key names, typed defaults, validation.

Keys keep Storm's spelling so a Storm user's config reads the same. A topology config
is a plain mapping; :func:`resolve` merges it over the defaults and checks types.

Spout scheduling (Squall's own knobs; Storm runs each spout on its own thread):

* ``squall.spout.batch.size`` (default 512): at most this many ``next_tuple`` calls
  in one turn of a spout task. Larger turns spread the per-turn cost of a worker pass
  over more tuples; the queues between components grow up to a turn's output times
  the fan-out.
* ``squall.spout.turn.max.ms`` (default 2): a spout's turn also ends once it has
  lasted this long, so bolts run within a few milliseconds of an emit even when
  ``next_tuple`` is slow or sleeps (Storm's idiom: storm-starter's spouts sleep
  100 ms). The clock is read after calls 1, 2, 4, ... 64 and then every 64 calls, so a
  sleeping spout ends its turn after one call and a fast one pays about 14 clock
  reads per 512 calls; with calls of even cost a turn lasts under twice the bound.
  0 gives one call per turn.

A turn also ends at the first ``next_tuple`` call that emits nothing and when
``topology.max.spout.pending`` trees are in flight.

Error reports (Storm's keys and defaults): every error a task reports (an exception
escaping ``process``/``next_tuple``, or ``collector.report_error``) is counted in the
stats, but per task and per ``topology.error.throttle.interval.secs`` (10) only the
first ``topology.max.error.report.per.interval`` (5) are logged with their
traceback; the others are logged as one count per interval.

Semantics: Storm ``Config`` / ``defaults.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import SquallError

__all__ = [
    "MESSAGE_TIMEOUT_SECS", "MAX_SPOUT_PENDING", "ACKER_EXECUTORS", "TICK_TUPLE_FREQ_SECS",
    "STATS_SAMPLE_RATE", "ERROR_THROTTLE_INTERVAL_SECS", "MAX_ERROR_REPORT_PER_INTERVAL",
    "SPOUT_BATCH_SIZE", "SPOUT_TURN_MAX_MS", "CHECKPOINT_INTERVAL_MS", "CHECKPOINT_MODE",
    "EXACTLY_ONCE", "AT_LEAST_ONCE", "DEFAULTS", "ConfigError", "resolve",
]

MESSAGE_TIMEOUT_SECS = "topology.message.timeout.secs"
MAX_SPOUT_PENDING = "topology.max.spout.pending"
ACKER_EXECUTORS = "topology.acker.executors"
TICK_TUPLE_FREQ_SECS = "topology.tick.tuple.freq.secs"
STATS_SAMPLE_RATE = "topology.stats.sample.rate"
ERROR_THROTTLE_INTERVAL_SECS = "topology.error.throttle.interval.secs"
MAX_ERROR_REPORT_PER_INTERVAL = "topology.max.error.report.per.interval"
# Squall's own: how many next_tuple calls, and how long, a spout task's turn may take.
SPOUT_BATCH_SIZE = "squall.spout.batch.size"
SPOUT_TURN_MAX_MS = "squall.spout.turn.max.ms"
# Storm 2's checkpoint interval; checkpoints run only when the topology has a state backend.
CHECKPOINT_INTERVAL_MS = "topology.state.checkpoint.interval.ms"
# Flink's checkpointing mode: with exactly-once, append-style sinks publish what they
# received only when the checkpoint covering it completes.
CHECKPOINT_MODE = "squall.checkpoint.mode"
EXACTLY_ONCE = "exactly-once"
AT_LEAST_ONCE = "at-least-once"

DEFAULTS: dict[str, Any] = {
    MESSAGE_TIMEOUT_SECS: 30,
    MAX_SPOUT_PENDING: None,      # None: unbounded, as Storm's default
    ACKER_EXECUTORS: None,        # None: acking on (Storm: one acker per worker); 0: off
    TICK_TUPLE_FREQ_SECS: None,
    STATS_SAMPLE_RATE: 0.05,
    ERROR_THROTTLE_INTERVAL_SECS: 10,
    MAX_ERROR_REPORT_PER_INTERVAL: 5,
    SPOUT_BATCH_SIZE: 512,
    SPOUT_TURN_MAX_MS: 2,
    CHECKPOINT_INTERVAL_MS: 1000,
    CHECKPOINT_MODE: AT_LEAST_ONCE,
}

_TYPES: dict[str, tuple[type, ...]] = {
    MESSAGE_TIMEOUT_SECS: (int, float),
    MAX_SPOUT_PENDING: (int, type(None)),
    ACKER_EXECUTORS: (int, type(None)),
    TICK_TUPLE_FREQ_SECS: (int, float, type(None)),
    STATS_SAMPLE_RATE: (int, float),
    ERROR_THROTTLE_INTERVAL_SECS: (int, float),
    MAX_ERROR_REPORT_PER_INTERVAL: (int,),
    SPOUT_BATCH_SIZE: (int,),
    SPOUT_TURN_MAX_MS: (int, float),
    CHECKPOINT_INTERVAL_MS: (int, float),
    CHECKPOINT_MODE: (str,),
}


class ConfigError(SquallError, ValueError):
    """A config value has the wrong type or range."""


def resolve(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge config layers (later wins) over :data:`DEFAULTS` and validate known keys.

    >>> resolve({MAX_SPOUT_PENDING: 100})[MESSAGE_TIMEOUT_SECS]
    30

    Raises:
        ConfigError: a known key with a value of the wrong type or out of range.
    """
    conf = dict(DEFAULTS)
    for layer in layers:
        if layer:
            conf.update(layer)
    for key, types in _TYPES.items():
        value = conf[key]
        if not isinstance(value, types) or isinstance(value, bool):
            raise ConfigError(f"{key} must be {' or '.join(t.__name__ for t in types)}, got {value!r}")
        if isinstance(value, (int, float)) and value < 0:
            raise ConfigError(f"{key} must not be negative, got {value!r}")
    if conf[MESSAGE_TIMEOUT_SECS] <= 0:
        raise ConfigError(f"{MESSAGE_TIMEOUT_SECS} must be positive")
    if conf[CHECKPOINT_MODE] not in (EXACTLY_ONCE, AT_LEAST_ONCE):
        raise ConfigError(f"{CHECKPOINT_MODE} must be {EXACTLY_ONCE!r} or {AT_LEAST_ONCE!r}, "
                          f"got {conf[CHECKPOINT_MODE]!r}")
    if conf[SPOUT_BATCH_SIZE] < 1:
        raise ConfigError(f"{SPOUT_BATCH_SIZE} must be at least 1")
    return conf


def acking_enabled(conf: Mapping[str, Any]) -> bool:
    """Acking is off only when ``topology.acker.executors`` is 0 (at-most-once)."""
    return conf.get(ACKER_EXECUTORS) != 0
