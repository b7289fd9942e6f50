"""The smart-car dashboard of ``squall smartcar run --ui``: a :mod:`squall.ui.dashboards` provider.

``SmartcarDashboard(handle, stores, source, day)`` answers with the run's figures as
the summary line counts them (records read, rows stored, dead letters, speeding
detections acked), the day's speeding cars read from the speeding store (an embedded one through a
read-only view, so workers in other processes may hold it), and, when the
run writes a speeding log, its latest detections. Register it as
``dashboards={"smartcar": board}`` and close it after the run.

Semantics: the reference pipeline's outputs (DESIGN.md, "Reference data").
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from squall.store.errors import StoreError

__all__ = ["LATEST", "SmartcarDashboard"]

LATEST = 10
"""Detections shown from the end of the speeding log."""

_TAIL_BYTES = 64 * 1024
"""Bytes read from the end of the speeding log: a page refresh must stay quick."""


class SmartcarDashboard:
    """The dashboard of a running smart-car pipeline; calling it answers (on a UI thread,
    about once a second while its page is open).

    Args:
        handle: the run's topology handle (``stats()`` per component).
        stores: the run's :class:`~examples.smartcar.topology.Stores`.
        source: the run's spout (a replay's ``read`` metric counts records read).
        day: the speeding set to show, ``yyyyMMdd`` (the feed's first day).
        speeding_log: the run's ``--speeding-log``, whose last :data:`LATEST` lines are shown.

    A call returns ``title``, ``counters`` (cumulative: read, stored, dead letters,
    speeding), ``figures`` (the same, and the day's set size or why it cannot be read
    now) and ``lists`` (the day's speeding cars; the latest detections).

    The connection to the speeding store stays open between calls (an embedded store's
    read-only view catches up with its writer at each read): opening the view costs
    tens of milliseconds, which the topology's process would pay every second.
    :meth:`close` closes it.
    """

    def __init__(self, handle: Any, stores: Any, source: Any, day: str,
                 speeding_log: str | os.PathLike | None = None) -> None:
        self.handle, self.source, self.day = handle, source, day
        self.speeding_log = Path(speeding_log) if speeding_log is not None else None
        kv_store = stores.kv
        if dataclasses.is_dataclass(kv_store) and "read_only" in {f.name for f in dataclasses.fields(kv_store)}:
            # An embedded store has one writing process (a Ray worker's, maybe): read through a read-only view.
            kv_store = dataclasses.replace(kv_store, read_only=True)
        self._kv_store = kv_store
        self._kv: Any = None

    def __call__(self) -> dict[str, Any]:
        from .cli import _progress

        p = _progress(self.handle.stats(), self.source)
        counters = {"records read": p["read"], "rows stored": p["stored"], "dead letters": p["errors"],
                    "speeding detections": p["speeding"]}
        figures: dict[str, Any] = dict(counters)
        lists: dict[str, list[str]] = {}
        day = self.day
        try:
            if self._kv is None:
                self._kv = self._kv_store.open()
            cars = sorted(self._kv.smembers(day))
            figures[f"speeding cars on {day}"] = len(cars)
            lists[f"speeding cars on {day}"] = cars
        except StoreError as exc:
            self.close()        # opened again at the next call
            figures[f"speeding cars on {day}"] = f"cannot read the speeding store now: {exc}"
        if self.speeding_log is not None:
            lists["latest detections"] = _tail(self.speeding_log, LATEST)
        return {"title": "Smart car", "counters": counters, "figures": figures, "lists": lists}

    def close(self) -> None:
        if self._kv is not None:
            kv, self._kv = self._kv, None
            kv.close()


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
