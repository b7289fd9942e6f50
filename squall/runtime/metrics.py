"""Per-task counters and their per-component roll-up, with Storm UI's names.

Counting is per batch, not per tuple where it can be: the mean execute latency is a
drained batch's time divided by its size, so the per-tuple path never reads a clock.
Latency *distributions* are recorded only for timed samples, each into bounded buckets
(:class:`LatencyHistogram`, bounds :data:`LATENCY_BUCKETS_S`): complete latency on a
sample of spout trees and execute latency on a sample of bolt tuples (both at
``topology.stats.sample.rate``, Storm's default 0.05), process latency on the first tuple
of each drained batch. Buckets add, so workers' histograms merge exactly.

Errors are all counted and kept (the last ones, for stats) but logged as Storm
throttles its error reports: :class:`ErrorLogThrottle`.

Semantics: Storm UI "Component summary" (emitted, transferred, acked, failed,
execute/process/complete latency, capacity, last error); Storm ``ReportError``
(``topology.error.throttle.interval.secs``, ``topology.max.error.report.per.interval``).
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LATENCY_BUCKETS_S", "LatencyHistogram", "LatencySample", "ComponentStats", "TaskCounters",
           "ErrorLogThrottle", "roll_up", "merge_stats"]

log = logging.getLogger("squall.runtime")

_PERCENTILE_REFRESH_S = 2.0     # how long one sort of the recent latencies is reused...
_SORT_ALWAYS = 10_000           # ...when there are more of them than this (a sort < 1 ms)

LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                     1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds, inclusive) of the latency histograms' buckets; ``+Inf`` besides."""


class LatencyHistogram:
    """Latencies in seconds counted into the fixed buckets of :data:`LATENCY_BUCKETS_S`.

    ``buckets[i]`` counts the samples ``s`` with ``LATENCY_BUCKETS_S[i-1] < s <=
    LATENCY_BUCKETS_S[i]`` (not cumulative); the last one counts those above every
    bound. Memory is fixed (18 ints), :meth:`add` is one bisection, and histograms of
    several tasks or workers merge exactly by adding their buckets (:meth:`merge`).

    Threading: one task thread adds; a reader on another thread may see a sample in
    ``count`` before it is in ``buckets`` (one sample, for one read).

    Semantics: Prometheus "Histograms and summaries" (cumulative ``le`` buckets, ``_count``,
    ``_sum``); Storm's ``__execute-latency``/``__complete-latency`` on sampled tuples.
    """

    __slots__ = ("buckets", "count", "total_s")

    def __init__(self) -> None:
        self.count = 0
        self.total_s = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS_S) + 1)

    def add(self, seconds: float) -> None:
        """Count one latency of ``seconds``."""
        self.count += 1
        self.total_s += seconds
        self.buckets[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s samples to this histogram."""
        self.count += other.count
        self.total_s += other.total_s
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets)]

    def copy(self) -> LatencyHistogram:
        out = LatencyHistogram()
        out.count, out.total_s, out.buckets = self.count, self.total_s, list(self.buckets)
        return out

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus buckets: ``(le, samples at or below it)``, ``+Inf`` last (its count
        is the sum of the buckets, so the buckets never disagree with ``+Inf``)."""
        out, running = [], 0
        for bound, n in zip(LATENCY_BUCKETS_S, self.buckets):
            running += n
            out.append((repr(bound), float(running)))
        out.append(("+Inf", float(running + self.buckets[-1])))
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LatencyHistogram) and (self.count, self.total_s, self.buckets) == (
            other.count, other.total_s, other.buckets)

    def __repr__(self) -> str:
        return f"<LatencyHistogram count={self.count} sum={self.total_s:.6f}s>"


class LatencySample:
    """A bounded reservoir of latencies in seconds: mean and :attr:`histogram` over all,
    percentiles over the last ``size``."""

    __slots__ = ("recent", "count", "total_s", "histogram", "_sorted")

    def __init__(self, size: int = 100_000) -> None:
        self._sorted: tuple[int, float, list[float]] | None = None    # (count, when, sorted recent)
        self.recent: deque[float] = deque(maxlen=size)
        self.count = 0
        self.total_s = 0.0
        self.histogram = LatencyHistogram()

    def add(self, seconds: float) -> None:
        self.recent.append(seconds)
        self.count += 1
        self.total_s += seconds
        self.histogram.add(seconds)

    def mean_ms(self) -> float | None:
        return self.total_s / self.count * 1000.0 if self.count else None

    def percentiles_ms(self, *ps: float) -> tuple[float | None, ...]:
        """The ``ps``-th percentiles (0-100) of the recent samples, in milliseconds
        (linear between the two nearest samples); None for each without samples.

        One sort serves every ``p``; past 10,000 samples it is reused for up to 2 s
        while samples keep arriving: sorting 100,000 costs about 10 ms, and stats are
        read about every second while a run is watched.
        """
        now = time.monotonic()
        cached = self._sorted
        if cached is None or (cached[0] != self.count and (
                now - cached[1] >= _PERCENTILE_REFRESH_S or len(self.recent) <= _SORT_ALWAYS)):
            cached = self._sorted = (self.count, now, sorted(self.recent))
        data = cached[2]
        if not data:
            return tuple(None for _ in ps)
        out = []
        last = len(data) - 1
        for p in ps:
            pos = last * p / 100.0
            lo = int(pos)
            hi = min(lo + 1, last)
            out.append((data[lo] + (data[hi] - data[lo]) * (pos - lo)) * 1000.0)
        return tuple(out)


class TaskCounters:
    """Counters one task updates; plain attributes so increments stay cheap."""

    __slots__ = ("emitted", "transferred", "acked", "failed", "executed", "exec_s", "execute_latency",
                 "process_latency", "complete_latency", "errors", "error_count")

    def __init__(self) -> None:
        self.emitted: dict[str, int] = {}
        self.transferred = 0
        self.acked = 0
        self.failed = 0
        self.executed = 0
        self.exec_s = 0.0
        # The execute time of the sampled tuples (the executor times one in
        # topology.stats.sample.rate); exec_s covers every tuple, per batch.
        self.execute_latency = LatencyHistogram()
        self.process_latency = LatencySample(10_000)
        self.complete_latency = LatencySample()
        # The last errors as (epoch seconds, one-line text); error_count counts them all.
        self.errors: deque[tuple[float, str]] = deque(maxlen=20)
        self.error_count = 0


class ErrorLogThrottle:
    """Logs one task's errors as Storm throttles error reports.

    In each interval of ``interval_s`` (``topology.error.throttle.interval.secs``) the
    first ``max_per_interval`` errors (``topology.max.error.report.per.interval``) are
    logged with their traceback; the rest are counted, and the count is logged once the
    interval is over ("... N more errors from split[3] in the last 10.0 s"), by the
    next error or by :meth:`flush_due` (the worker calls it between passes) or
    :meth:`flush` (at shutdown). A poison tuple replaying in a loop thus logs a few
    tracebacks and then a line per interval, not one traceback per replay.

    ``interval_s`` 0 logs every error; ``max_per_interval`` 0 logs only counts.

    Semantics: Storm ``org.apache.storm.executor.error.ReportError``: Storm logs every
    error and throttles what it reports to the UI; Squall's UI figures (stats) see every
    error, and it is the log that is throttled, since that is where a flood hurts here.
    """

    __slots__ = ("label", "interval_s", "max_per_interval", "clock", "suppressed",
                 "_window_start", "_in_window")

    def __init__(self, label: str, interval_s: float, max_per_interval: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.interval_s = interval_s
        self.max_per_interval = max_per_interval
        self.clock = clock
        self.suppressed = 0
        self._window_start = float("-inf")
        self._in_window = 0

    def log(self, text: str, error: BaseException) -> None:
        """Log ``error`` (``text`` is its one-line form), or count it when over the limit."""
        now = self.clock()
        if now - self._window_start >= self.interval_s:
            self.flush(now)
            self._window_start = now
            self._in_window = 0
        self._in_window += 1
        if self._in_window > self.max_per_interval:
            self.suppressed += 1
            return
        note = ""
        if self._in_window == self.max_per_interval and self.interval_s > 0:
            note = (f" (further errors from {self.label} in the next {self.interval_s:g} s are "
                    f"counted, not logged: topology.max.error.report.per.interval)")
        # An error that was reported, not raised (a connector's outage), has no traceback:
        # logging one would only repeat the message line.
        trace = (type(error), error, error.__traceback__) if error.__traceback__ is not None else None
        log.warning("%s: %s%s", self.label, text, note, exc_info=trace)

    def flush_due(self, now: float) -> None:
        """Log the suppressed count if the interval it belongs to is over."""
        if self.suppressed and now - self._window_start >= self.interval_s:
            self.flush(now)
            self._window_start = now
            self._in_window = 0

    def flush(self, now: float | None = None) -> None:
        """Log how many errors were suppressed since the interval began, if any."""
        if self.suppressed:
            elapsed = (self.clock() if now is None else now) - self._window_start
            log.warning("... %d more error%s from %s in the last %.1f s", self.suppressed,
                        "" if self.suppressed == 1 else "s", self.label, elapsed)
            self.suppressed = 0


@dataclass
class ComponentStats:
    """One component's figures, summed over its tasks (latencies in ms).

    ``capacity`` is the share of the last ``window_s`` its busiest executor spent
    executing (1.0 = saturated), as Storm UI computes it. ``last_errors`` holds the
    last errors of each task (oldest first), ``error_count`` counts every error,
    whether or not the log throttled it. ``latency_histograms`` holds the timed
    samples' distributions, summed over the tasks: ``"execute"`` (bolts, sampled
    tuples), ``"process"`` (bolts, first tuple of a batch), ``"complete"`` (spouts,
    sampled trees); a kind without samples is absent.
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
    error_count: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    latency_histograms: dict[str, LatencyHistogram] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def roll_up(topology: Any, executors: Iterable[Any]) -> dict[str, ComponentStats]:
    """Per-component figures from the executors' task counters (Storm UI names).

    ``topology`` is the :class:`~squall.topology.Topology` (for each component's kind);
    ``executors`` are the worker's :class:`~squall.runtime.executor.Executor` objects.
    Safe to call while they run: each task publishes its hot counters first (``sync_counters``).
    """
    executors = list(executors)
    out: dict[str, ComponentStats] = {}
    for ex in executors:
        spec = topology.components[ex.component]
        st = out.get(ex.component)
        if st is None:
            st = out[ex.component] = ComponentStats(
                ex.component, "spout" if spec.is_spout else "bolt", 0, 0)
            st.capacity = 0.0
        st.executors += 1
        st.capacity = max(st.capacity or 0.0, ex.capacity)
        for task in ex.tasks:
            task.sync_counters()
            c = task.counters
            st.tasks += 1
            for stream, n in c.emitted.items():
                st.emitted_by_stream[stream] = st.emitted_by_stream.get(stream, 0) + n
            st.transferred += c.transferred
            st.acked += c.acked
            st.failed += c.failed
            st.executed += c.executed
            st.error_count += c.error_count
            for kind, hist in (("execute", c.execute_latency), ("process", c.process_latency.histogram),
                               ("complete", c.complete_latency.histogram)):
                if hist.count:
                    _merge_histogram(st.latency_histograms, kind, hist)
            st.last_errors.extend(text for _, text in list(c.errors))
            for name, metric in list(task.context.metrics.items()):
                _add_metric(st.metrics, name, metric.value)
    for st in out.values():
        st.emitted = sum(st.emitted_by_stream.values())
        tasks = [t for ex in executors if ex.component == st.component for t in ex.tasks]
        exec_s = sum(t.counters.exec_s for t in tasks)
        if st.executed:
            st.execute_latency_ms = exec_s / st.executed * 1000.0
        if st.kind == "bolt":
            samples = [t.counters.process_latency for t in tasks]
            count = sum(s.count for s in samples)
            if count:
                st.process_latency_ms = sum(s.total_s for s in samples) / count * 1000.0
        if st.kind == "spout":
            samples = [t.counters.complete_latency for t in tasks]
            count = sum(s.count for s in samples)
            if count:
                st.complete_latency_ms = sum(s.total_s for s in samples) / count * 1000.0
                merged = samples[0] if len(samples) == 1 else _merge(samples)
                st.complete_latency_p50_ms, st.complete_latency_p99_ms = merged.percentiles_ms(50, 99)
    return out


def _merge_histogram(into: dict[str, LatencyHistogram], kind: str, hist: LatencyHistogram) -> None:
    have = into.get(kind)
    if have is None:
        into[kind] = hist.copy()     # a copy: the task keeps adding to its own
    else:
        have.merge(hist)


def _add_metric(into: dict[str, Any], name: str, value: Any) -> None:
    have = into.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(have, (int, float, type(None))):
        into[name] = (have or 0) + value
    elif have is None:
        into[name] = value


def merge_stats(parts: Iterable[dict[str, ComponentStats]]) -> dict[str, ComponentStats]:
    """One topology's figures from several workers' roll-ups (counts summed, latencies
    weighted by their counts, histograms' buckets added, capacity the busiest executor's)."""
    out: dict[str, ComponentStats] = {}
    weights: dict[tuple[str, str], float] = {}
    for part in parts:
        for name, st in part.items():
            acc = out.get(name)
            if acc is None:
                acc = out[name] = ComponentStats(name, st.kind, 0, 0)
            acc.tasks += st.tasks
            acc.executors += st.executors
            for attr in ("emitted", "transferred", "acked", "failed", "executed", "error_count"):
                setattr(acc, attr, getattr(acc, attr) + getattr(st, attr))
            for stream, n in st.emitted_by_stream.items():
                acc.emitted_by_stream[stream] = acc.emitted_by_stream.get(stream, 0) + n
            acc.last_errors.extend(st.last_errors)
            for kind, hist in st.latency_histograms.items():
                _merge_histogram(acc.latency_histograms, kind, hist)
            if st.capacity is not None:
                acc.capacity = max(acc.capacity or 0.0, st.capacity)
            for name_, value in st.metrics.items():
                _add_metric(acc.metrics, name_, value)
            for attr, count in (("execute_latency_ms", st.executed), ("process_latency_ms", st.executed),
                                ("complete_latency_ms", st.acked), ("complete_latency_p50_ms", st.acked),
                                ("complete_latency_p99_ms", st.acked)):
                value = getattr(st, attr)
                if value is None:
                    continue
                w = max(count, 1)
                key = (name, attr)
                total = weights.get(key, 0.0)
                prev = getattr(acc, attr) or 0.0
                setattr(acc, attr, (prev * total + value * w) / (total + w))
                weights[key] = total + w
    return out


def _merge(samples: list[LatencySample]) -> LatencySample:
    merged = LatencySample(sum(len(s.recent) for s in samples) or 1)
    for s in samples:
        # list() copies under the GIL: the task appends on its own thread, and iterating
        # the live deque raised "deque mutated during iteration" mid-run.
        merged.recent.extend(list(s.recent))
        merged.count += s.count
        merged.total_s += s.total_s
        merged.histogram.merge(s.histogram)
    return merged
