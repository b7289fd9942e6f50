"""The smart-car dashboard of ``squall smartcar run --ui``: a :mod:`squall.ui.dashboards` provider.

``smartcar_dashboard(handle, stores, source, day)`` answers with the run's figures as
the summary line counts them (records read, rows stored, dead letters, speeding
detections acked), the day's speeding cars read from the speeding store (an embedded one through a
read-only view, so workers in other processes may hold it), and, when the
run writes a speeding log, its latest detections. Bind the arguments
(``functools.partial``) and register the result as ``dashboards={"smartcar": ...}``.

Semantics: the reference pipeline's outputs (DESIGN.md, "Reference data").
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from squall.store.errors import StoreError

__all__ = ["LATEST", "smartcar_dashboard"]

LATEST = 10
"""Detections shown from the end of the speeding log."""

_TAIL_BYTES = 64 * 1024
"""Bytes read from the end of the speeding log: a page refresh must stay quick."""


def smartcar_dashboard(handle: Any, stores: Any, source: Any, day: str,
                       speeding_log: str | os.PathLike | None = None) -> dict[str, Any]:
    """The dashboard of a running smart-car pipeline (called on a UI thread about once a second).

    Args:
        handle: the run's topology handle (``stats()`` per component).
        stores: the run's :class:`~examples.smartcar.topology.Stores`.
        source: the run's spout (a replay's ``read`` metric counts records read).
        day: the speeding set to show, ``yyyyMMdd`` (the feed's first day).
        speeding_log: the run's ``--speeding-log``, whose last :data:`LATEST` lines are shown.

    Returns:
        ``title``, ``counters`` (cumulative: read, stored, dead letters, speeding),
        ``figures`` (the same, and the day's set size or why it cannot be read now) and
        ``lists`` (the day's speeding cars; the latest detections).
    """
    from .cli import _progress

    p = _progress(handle.stats(), source)
    counters = {"records read": p["read"], "rows stored": p["stored"], "dead letters": p["errors"],
                "speeding detections": p["speeding"]}
    figures: dict[str, Any] = dict(counters)
    lists: dict[str, list[str]] = {}
    kv_store = stores.kv
    if dataclasses.is_dataclass(kv_store) and "read_only" in {f.name for f in dataclasses.fields(kv_store)}:
        # An embedded store has one writing process (a Ray worker's, maybe): read through a read-only view.
        kv_store = dataclasses.replace(kv_store, read_only=True)
    try:
        with kv_store.open() as kv:
            cars = sorted(kv.smembers(day))
        figures[f"speeding cars on {day}"] = len(cars)
        lists[f"speeding cars on {day}"] = cars
    except StoreError as exc:
        figures[f"speeding cars on {day}"] = f"cannot read the speeding store now: {exc}"
    if speeding_log is not None:
        lists["latest detections"] = _tail(Path(speeding_log), LATEST)
    return {"title": "Smart car", "counters": counters, "figures": figures, "lists": lists}


def _tail(path: Path, n: int) -> list[str]:
    """The last ``n`` JSON lines of ``path``, newest first, as ``car, average speed, window`` text."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            lines = fh.read().decode("utf-8", "replace").splitlines()[-n:]
    except FileNotFoundError:
        return []
    out = []
    for line in reversed(lines):
        try:
            d = json.loads(line)
        except ValueError:
            continue    # the first line of the chunk may be cut, the last one half written
        if isinstance(d, dict) and {"car_number", "avg_speed", "window_start"} <= d.keys():
            out.append(f"{d['car_number']} {d['avg_speed']:.1f} km/h in the window from {d['window_start']}")
        else:
            out.append(str(d))
    return out
