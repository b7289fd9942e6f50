"""Where the cluster keeps each submitted topology: Ray's internal key-value store (GCS).

A record holds the pickled spec, the config, the assignment and the status. Nimbus
writes it; a worker actor reads its own part from it when it starts (and when Ray
restarts it), so a worker never depends on arguments held in another process's memory
(a restarted Nimbus, or the object store's copy of a large spec, may be gone).
"""

from __future__ import annotations

from typing import Any

__all__ = ["save_record", "load_record", "delete_record", "list_records"]

_PREFIX = b"squall:topology:"


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
    _kv()._internal_kv_del(_PREFIX + name.encode())


def list_records() -> list[dict[str, Any]]:
    kv = _kv()
    return [_pickle().loads(kv._internal_kv_get(key)) for key in kv._internal_kv_list(_PREFIX)]
