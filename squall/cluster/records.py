"""Where the cluster keeps each submitted topology: Ray's internal key-value store (GCS).

A record holds the pickled spec, the config, the assignment and the status. Nimbus
writes it; a worker actor reads its own part from it when it starts (and when Ray
restarts it), so a worker never depends on arguments held in another process's memory
(a restarted Nimbus, or the object store's copy of a large spec, may be gone).

Beside the record, under its own key, are the topology's *debug settings*: the event
sampling and the log levels set from the UI (Storm keeps both in the topology's
``StormBase`` in ZooKeeper, which its workers read). Nimbus rewrites the whole record
from its memory, so the settings, which the UI's side writes, have a key of their own
(removed with the record): a worker reads them when it starts, so a worker Ray
restarts, or a rebalance's new one, samples and logs as its predecessor did. They are
plain data, kept as JSON: ``{"sampling": [[component or null, percent], ...] (applied in
order), "log_levels": {logger: [level, expiry epoch seconds or 0]}}``.

Semantics: Storm "Dynamic Log Level Settings" (levels kept by Nimbus, applied by each
worker, with a timeout), Storm's topology event logger (``debug`` with a sampling
percentage, kept in the topology's base).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "DebugSettings",
    "delete_record",
    "list_records",
    "load_debug",
    "load_record",
    "save_debug",
    "save_record",
    "count_restart",
    "restarts",
]

_PREFIX = b"squall:topology:"
_DEBUG_PREFIX = b"squall:debug:"
_RESTARTS_PREFIX = b"squall:restarts:"

DebugSettings = dict[str, Any]
"""``{"sampling": [[component | None, pct], ...], "log_levels": {logger: [level, expiry_epoch_s]},
"apply": "module:function" | None}``: ``apply`` names the code that set them, which a
starting worker calls with (its actor, the settings), as Storm's worker hooks
(``topology.worker.hooks``): the cluster layer runs it without depending on it."""


def _kv():
    from ray.experimental import internal_kv
    return internal_kv


def _pickle():
    from ray import cloudpickle
    return cloudpickle


def save_record(record: dict[str, Any]) -> None:
    _kv()._internal_kv_put(_PREFIX + record["name"].encode(), _pickle().dumps(record), overwrite=True)


def load_record(name: str) -> dict[str, Any] | None:
    blob = _kv()._internal_kv_get(_PREFIX + name.encode())
    return None if blob is None else _pickle().loads(blob)


def delete_record(name: str) -> None:
    """Forget topology ``name``: its record and its debug settings."""
    kv = _kv()
    kv._internal_kv_del(_PREFIX + name.encode())
    kv._internal_kv_del(_DEBUG_PREFIX + name.encode())
    kv._internal_kv_del(_RESTARTS_PREFIX + name.encode() + b":", del_by_prefix=True)


def count_restart(name: str, worker: int) -> None:
    """Count one restart of worker ``worker`` of topology ``name``, from the restarted
    process itself: a coordinator polling heartbeats misses a process that dies again
    before it looks. Only one process of a worker runs at a time, so the read and the
    write do not race."""
    kv = _kv()
    key = _RESTARTS_PREFIX + f"{name}:{worker}".encode()
    kv._internal_kv_put(key, str(int(kv._internal_kv_get(key) or 0) + 1).encode(), overwrite=True)


def restarts(name: str) -> int:
    """How many times Ray restarted a worker process of topology ``name``."""
    kv = _kv()
    return sum(int(kv._internal_kv_get(key) or 0)
               for key in kv._internal_kv_list(_RESTARTS_PREFIX + name.encode() + b":"))


def list_records() -> list[dict[str, Any]]:
    kv = _kv()
    return [_pickle().loads(kv._internal_kv_get(key)) for key in kv._internal_kv_list(_PREFIX)]


def load_debug(name: str) -> DebugSettings:
    """The debug settings of topology ``name`` (empty lists/maps when none were set)."""
    blob = _kv()._internal_kv_get(_DEBUG_PREFIX + name.encode())
    settings = json.loads(blob) if blob else {}
    return {"sampling": [list(e) for e in settings.get("sampling", [])],
            "log_levels": dict(settings.get("log_levels", {})),
            "apply": settings.get("apply")}


def save_debug(name: str, settings: DebugSettings) -> bool:
    """Keep ``settings`` (see :data:`DebugSettings`) for topology ``name``'s workers;
    False (nothing kept) when ``name`` has no record: a setting must not outlive its
    topology and reach the next one submitted under that name."""
    kv = _kv()
    if not kv._internal_kv_exists(_PREFIX + name.encode()):
        return False
    kv._internal_kv_put(_DEBUG_PREFIX + name.encode(), json.dumps(settings).encode(), overwrite=True)
    return True
