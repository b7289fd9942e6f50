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

Unknown keys (:func:`check_keys`): a typo of a known key or an unknown ``squall.``
key is a :class:`ConfigError` naming the key meant; a Storm setting of a feature
Squall does not have yet warns (:class:`ConfigWarning`) that it has no effect; keys
outside the reserved prefixes are the application's and pass silently.

Semantics: Storm ``Config`` / ``defaults.yaml``.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from typing import Any

from .errors import SquallError

__all__ = [
    "MESSAGE_TIMEOUT_SECS", "MAX_SPOUT_PENDING", "ACKER_EXECUTORS", "TICK_TUPLE_FREQ_SECS",
    "STATS_SAMPLE_RATE", "ERROR_THROTTLE_INTERVAL_SECS", "MAX_ERROR_REPORT_PER_INTERVAL",
    "SPOUT_BATCH_SIZE", "SPOUT_TURN_MAX_MS", "CHECKPOINT_INTERVAL_MS", "CHECKPOINT_MODE",
    "EXACTLY_ONCE", "AT_LEAST_ONCE", "SUBPROCESS_TIMEOUT_SECS", "WORKER_TIMEOUT_SECS", "TOPOLOGY_WORKERS",
    "SHELLBOLT_MAX_PENDING", "MULTILANG_SERIALIZER", "DEFAULTS", "ConfigError", "ConfigWarning", "resolve",
    "check_keys",
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
# Storm's multilang settings (squall.multilang): how long a child may stay silent (unset:
# supervisor.worker.timeout.secs), and how many tuples may wait in a ShellBolt's child.
SUBPROCESS_TIMEOUT_SECS = "topology.subprocess.timeout.secs"
WORKER_TIMEOUT_SECS = "supervisor.worker.timeout.secs"
# Worker processes of a topology on the Ray runtime (squall.cluster); 1 = one process.
TOPOLOGY_WORKERS = "topology.workers"
SHELLBOLT_MAX_PENDING = "topology.shellbolt.max.pending"
# The wire format of shell components not given serializer= (squall.multilang.serializer_named).
MULTILANG_SERIALIZER = "topology.multilang.serializer"

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
    SUBPROCESS_TIMEOUT_SECS: None,
    WORKER_TIMEOUT_SECS: 30,
    SHELLBOLT_MAX_PENDING: 100,
    MULTILANG_SERIALIZER: "org.apache.storm.multilang.JsonSerializer",
    TOPOLOGY_WORKERS: 1,
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
    SUBPROCESS_TIMEOUT_SECS: (int, float, type(None)),
    WORKER_TIMEOUT_SECS: (int, float),
    SHELLBOLT_MAX_PENDING: (int,),
    MULTILANG_SERIALIZER: (str,),
    TOPOLOGY_WORKERS: (int,),
}


# Storm settings of features Squall does not have yet: accepted with a ConfigWarning
# (a Storm user's config still runs), never silently. Keys by name, then by prefix.
_NOT_YET_KEYS: dict[str, str] = {
    "topology.tasks": "give num_tasks to set_spout/set_bolt",
    "topology.max.task.parallelism": "",
    "topology.debug": "",
    "topology.name": "the name is submit_topology's argument",
    "topology.enable.message.timeouts": "",
    "topology.eventlogger.executors": "",
    "topology.environment": "",
    "topology.state.provider": "pass state_backend= to submit_topology or run_topology",
    "topology.state.provider.config": "pass state_backend= to submit_topology or run_topology",
    "topology.sleep.spout.wait.strategy.time.ms": "see squall.spout.turn.max.ms",
    "topology.fall.back.on.java.serialization": "",
    "topology.skip.missing.kryo.registrations": "",
    "topology.testing.always.try.serialize": "",
    "topology.builtin.metrics.bucket.size.secs": "",
    "topology.producer.batch.size": "",
    "topology.batch.flush.interval.millis": "",
    "topology.priority": "",
    "topology.isolate.machines": "",
    "topology.users": "",
    "topology.groups": "",
    "topology.version": "",
    "topology.classpath": "",
    "topology.classpath.beginning": "",
    "topology.spread.components": "",
    "topology.disable.loadaware.messaging": "",
    "java.library.path": "",
}
_CLUSTER_HINT = "Storm cluster settings; Squall's cluster is Ray's (docs/cluster.md: topology.workers, ray start)"
_NOT_YET_PREFIXES: dict[str, str] = {
    "topology.multilang.": "of Storm's multilang keys Squall reads topology.multilang.serializer",
    "topology.kryo.": "tuples stay Python objects inside a worker",
    "topology.bolts.": "Squall's windowed bolts take a window spec (squall.windowing)",
    "topology.trident.": "",
    "topology.metrics.": "",
    "topology.worker.": "",
    "topology.executor.": "",
    "topology.transfer.": "",
    "topology.disruptor.": "",
    "topology.backpressure.": "",
    "topology.spout.wait.": "see squall.spout.turn.max.ms",
    "topology.bolt.wait.": "",
    "topology.acker.": "",
    "topology.component.": "",
    "topology.ras.": "",
    "topology.scheduler.": "",
    "topology.localityaware.": "",
    "topology.auto-credentials": "",
    "topology.submitter.": "",
    "storm.": _CLUSTER_HINT,
    "nimbus.": _CLUSTER_HINT,
    "supervisor.": _CLUSTER_HINT,
    "worker.": _CLUSTER_HINT,
    "ui.": "Storm UI settings; Squall's UI takes --ui / --ui-token or squall ui (docs/ui.md)",
    "logviewer.": "",
    "drpc.": "",
    "pacemaker.": "",
    "dev.zookeeper.": "",
    "transactional.zookeeper.": "",
    "blobstore.": "",
}
# Close enough to a known key to be a typo of it (difflib ratio): "topology.message.
# timeout.sec" scores 0.98 against the real key, unrelated user keys under topology.
# score below 0.8.
_TYPO_RATIO = 0.85


class ConfigError(SquallError, ValueError):
    """A config value has the wrong type or range, or a key is a typo of a known key."""


class ConfigWarning(UserWarning):
    """A config key Squall accepts but does not act on (a Storm feature not in Squall
    yet, or an unknown key in Storm's ``topology.`` namespace). Shown once per key;
    ``python -W error::squall.config.ConfigWarning`` turns it into an error."""


def check_keys(conf: Mapping[str, Any], where: str = "config") -> None:
    """Report keys of ``conf`` that Squall does not know, as a Storm user expects.

    * Squall's keys (:data:`DEFAULTS`) pass.
    * Keys without a reserved prefix (``topology.``, ``squall.``, or a Storm daemon
      prefix such as ``nimbus.``) pass silently: as in Storm, a topology config also
      carries the application's own settings to its components.
    * A ``squall.`` key Squall does not know is a :class:`ConfigError` (the namespace
      is Squall's own, so it is a mistake), naming the closest known key.
    * A ``topology.`` key within a typo of a known one (Squall's or a Storm key Squall
      lacks) is a :class:`ConfigError` naming it: ``topology.message.timeout.sec``
      would otherwise leave the default timeout in force without a word.
    * A Storm key of a feature Squall does not have yet (``topology.kryo.register``,
      ``topology.multilang.log.handler``, ``nimbus.*``, ``supervisor.*`` but
      ``supervisor.worker.timeout.secs``, ``ui.*``, ...)
      is a :class:`ConfigWarning` saying so: the topology runs, as a Storm topology's
      config should, and the user learns the setting has no effect.
    * Any other ``topology.`` key is a :class:`ConfigWarning` and is passed on to the
      components (Storm passes unknown keys too, but a misspelled one there is likely).

    Warnings go through :mod:`warnings`, issued from this function, so the default
    filter shows each message once per process.

    Raises:
        ConfigError: an unknown ``squall.`` key, or a typo of a known key.

    Semantics: Storm ``Config`` (unknown keys are passed to components, known ones
    validated); Flink warns about configuration keys it does not use.
    """
    for key in conf:
        if key in DEFAULTS or not isinstance(key, str):
            continue
        if key.startswith("squall."):
            close = difflib.get_close_matches(key, _SQUALL_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"Squall's keys: {', '.join(_SQUALL_KEYS)}"
            raise ConfigError(f"{where}: unknown key {key!r}; {hint}")
        not_yet = _not_yet(key)
        if not_yet is not None:
            warnings.warn(f"{where}: {key!r} is a Storm setting Squall does not support yet; "
                          f"it has no effect{not_yet and f' ({not_yet})'}", ConfigWarning, stacklevel=1)
            continue
        if not key.startswith("topology."):
            continue
        close = difflib.get_close_matches(key, _TYPO_TARGETS, n=1, cutoff=_TYPO_RATIO)
        if close:
            what = "" if close[0] in DEFAULTS else " (a Storm setting Squall does not support yet)"
            raise ConfigError(f"{where}: unknown key {key!r}; did you mean {close[0]!r}{what}?")
        warnings.warn(f"{where}: {key!r} is not a Storm or Squall setting; it is passed to the "
                      f"components as is", ConfigWarning, stacklevel=1)


def _not_yet(key: str) -> str | None:
    hint = _NOT_YET_KEYS.get(key)
    if hint is not None:
        return hint
    for prefix, hint in _NOT_YET_PREFIXES.items():
        if key.startswith(prefix):
            return hint
    return None


def resolve(*layers: Mapping[str, Any] | None, check_unknown: bool = True) -> dict[str, Any]:
    """Merge config layers (later wins) over :data:`DEFAULTS` and validate known keys.

    >>> resolve({MAX_SPOUT_PENDING: 100})[MESSAGE_TIMEOUT_SECS]
    30

    Unknown keys are reported by :func:`check_keys` (an error for a typo of a known
    key, a :class:`ConfigWarning` for a Storm feature Squall lacks) unless
    ``check_unknown`` is False (layers checked before), and kept for the components
    to read.

    Raises:
        ConfigError: a known key with a value of the wrong type or out of range, or
            an unknown key that is a mistake (see :func:`check_keys`).
    """
    conf = dict(DEFAULTS)
    for layer in layers:
        if layer:
            if check_unknown:
                check_keys(layer, "topology config")
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


_SQUALL_KEYS = sorted(k for k in DEFAULTS if k.startswith("squall."))
_TYPO_TARGETS = [*DEFAULTS, *_NOT_YET_KEYS]
