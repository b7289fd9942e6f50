"""Per-task counters and their per-component roll-up, with Storm UI's names.

Counting is per batch, not per tuple where it can be: execute latency is a drained
batch's time divided by its size, so the per-tuple path never reads a clock. Complete
latency is measured on a sample of spout tuples (``topology.stats.sample.rate``).

Semantics: Storm UI "Component summary" (emitted, transferred, acked, failed,
execute/process/complete latency, capacity).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from statistics import quantiles
from typing import Any

__all__ = ["LatencySample", "ComponentStats", "TaskCounters"]


class LatencySample:
    """A bounded reservoir of latencies in seconds: mean over all, percentiles over the last ``size``."""

    __slots__ = ("recent", "count", "total_s")

    def __init__(self, size: int = 100_000) -> None:
        self.recent: deque[float] = deque(maxlen=size)
        self.count = 0
        self.total_s = 0.0

    def add(self, seconds: float) -> None:
        self.recent.append(seconds)
        self.count += 1
        self.total_s += seconds

    def mean_ms(self) -> float | None:
        return self.total_s / self.count * 1000.0 if self.count else None

    def percentile_ms(self, p: float) -> float | None:
        """The ``p``-th percentile (0-100) of the recent samples, in milliseconds."""
        data = list(self.recent)
        if not data:
            return None
        if len(data) == 1:
            return data[0] * 1000.0
        cuts = quantiles(data, n=1000, method="inclusive")
        idx = min(len(cuts) - 1, max(0, round(p * 10) - 1))
        return cuts[idx] * 1000.0


class TaskCounters:
    """Counters one task updates; plain attributes so increments stay cheap."""

    __slots__ = ("emitted", "transferred", "acked", "failed", "executed", "exec_s",
                 "process_latency", "complete_latency", "errors")

    def __init__(self) -> None:
        self.emitted: dict[str, int] = {}
        self.transferred = 0
        self.acked = 0
        self.failed = 0
        self.executed = 0
        self.exec_s = 0.0
        self.process_latency = LatencySample(10_000)
        self.complete_latency = LatencySample()
        self.errors: deque[tuple[float, str]] = deque(maxlen=20)


@dataclass
class ComponentStats:
    """One component's figures, summed over its tasks (latencies in ms).

    ``capacity`` is the share of the last ``window_s`` its busiest executor spent
    executing (1.0 = saturated), as Storm UI computes it.
    """

    component: str
    kind: str
    tasks: int
    executors: int
    emitted: int = 0
    transferred: int = 0
    acked: int = 0
    failed: int = 0
    executed: int = 0
    execute_latency_ms: float | None = None
    process_latency_ms: float | None = None
    complete_latency_ms: float | None = None
    complete_latency_p50_ms: float | None = None
    complete_latency_p99_ms: float | None = None
    capacity: float | None = None
    emitted_by_stream: dict[str, int] = field(default_factory=dict)
    last_errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
