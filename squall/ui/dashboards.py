"""Application dashboards: a page per JSON provider that an application registers.

An application passes ``dashboards={"smartcar": provider}`` to :func:`squall.ui.serve`;
``provider()`` returns a mapping (called on a web server thread, about once a second
while a page is open, so it must be quick and thread-safe):

=============  ==========================================================  ===============
key            value                                                       shown as
=============  ==========================================================  ===============
``title``      str                                                         the heading
``counters``   ``{name: int}``, cumulative (records read, rows stored)     a rate chart
                                                                           (per second)
``figures``    ``{label: number or str}``                                  figures
``lists``      ``{title: [str, ...]}``                                     lists
``tables``     ``{title: {"columns": [str, ...], "rows": [[...], ...]}}``  tables
=============  ==========================================================  ===============

Every key is optional. :class:`Dashboard` keeps each counter's samples (at most one a
``min_interval_s``, the last ``keep`` of them) and answers with the rates between
them, so a page opened later still shows the recent curve.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import Any

__all__ = ["Dashboard", "DashboardError", "Provider"]

Provider = Callable[[], Mapping[str, Any]]


class DashboardError(ValueError):
    """A dashboard provider failed or answered with something that is not a dashboard."""


class Dashboard:
    """One registered dashboard: its provider, and the counters' recent samples.

    Args:
        name: its name in the paths (``/api/v1/dashboard/{name}``).
        provider: the application's callable (see the module docs).
        keep: samples kept per counter (points of the chart).
        min_interval_s: the least time between two kept samples (seconds).
        clock: ``time.monotonic`` by default; tests pass their own.
    """

    def __init__(self, name: str, provider: Provider, keep: int = 300, min_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.provider = provider
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._samples: deque[tuple[float, float, dict[str, float]]] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        """Call the provider, keep its counters as a sample, and answer with the
        dashboard: ``name``, ``title``, ``figures``, ``lists``, ``tables``, ``counters``
        (now) and ``series``: per counter, ``[[epoch ms, per second], ...]``.

        Raises:
            DashboardError: the provider raised, or answered with a wrong shape.
        """
        try:
            data = self.provider()
        except DashboardError:
            raise           # already says which dashboard and why (the UI process's relay)
        except Exception as exc:
            raise DashboardError(f"dashboard {self.name!r}: its provider raised "
                                 f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(data, Mapping):
            raise DashboardError(f"dashboard {self.name!r}: its provider answered with a "
                                 f"{type(data).__name__}, not a mapping")
        counters = _counters(self.name, data.get("counters") or {})
        now, epoch = self._clock(), time.time()
        with self._lock:
            if not self._samples or now - self._samples[-1][0] >= self.min_interval_s:
                self._samples.append((now, epoch, counters))
            samples = list(self._samples)
        series: dict[str, list[list[float]]] = {name: [] for name in counters}
        for (t0, _, c0), (t1, e1, c1) in pairwise(samples):
            for name, points in series.items():
                if name in c0 and name in c1 and t1 > t0:
                    points.append([int(e1 * 1000), round(max(0.0, c1[name] - c0[name]) / (t1 - t0), 3)])
        return {"name": self.name, "title": str(data.get("title") or self.name),
                "figures": _plain(data.get("figures") or {}), "lists": _plain(data.get("lists") or {}),
                "tables": _plain(data.get("tables") or {}), "counters": counters, "series": series}


def _counters(name: str, counters: Any) -> dict[str, float]:
    if not isinstance(counters, Mapping):
        raise DashboardError(f"dashboard {name!r}: counters must be a mapping of name to number")
    out = {}
    for key, value in counters.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DashboardError(f"dashboard {name!r}: counter {key!r} is {value!r}, not a number")
        out[str(key)] = value
    return out


def _plain(value: Any) -> Any:
    """A JSON-safe copy: mappings, lists and primitives as they are, the rest as text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_plain(v) for v in items]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
