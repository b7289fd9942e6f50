"""Incremental sliding aggregation: reduce by key and window with an inverse function.

Per key a running value is kept; when the window slides, entering tuples are folded in
with ``f`` and leaving ones taken out with ``inv_f``, so a slide costs O(new + expired)
calls, i.e. O(slide), not O(window). It is a :class:`~squall.windowing.WindowedBolt`
fed by the executor's ``get_new``/``get_expired``.

Semantics: Spark Streaming programming guide, "Window Operations"
(``reduceByKeyAndWindow(func, invFunc, windowLength, slideInterval)``); windows,
watermarks and late tuples as Storm docs: Windowing Support in Core Storm.

Contract: ``inv_f(f(a, b), b) == a`` for every ``a, b`` (exact for ints; floats may
drift). A key whose tuples all left the window is dropped (Spark's ``filterFunc``
case), so only keys present in the window are emitted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from squall.component import OutputFieldsDeclarer

from .bolt import WindowedBolt, WindowedBoltExecutor
from .spec import Count, Duration, sliding
from .window import TupleWindow

__all__ = ["ReduceByKeyAndWindowBolt", "reduce_by_key_and_window"]


class ReduceByKeyAndWindowBolt(WindowedBolt):
    """Emits ``(key, value, start_ms, end_ms)`` per key in each fired window.

    Args:
        f: ``f(acc, value) -> acc``, associative and commutative.
        inv_f: ``inv_f(acc, value) -> acc``, undoing ``f``.
        key_field, value_field: input fields.
        output_fields: names of the four output fields.

    Each output is anchored to the window's new tuples of its key (not the whole window,
    which would cost O(window)); ``start_ms``/``end_ms`` are None for count windows.
    ``calls`` counts ``f`` + ``inv_f`` applications (to check the cost).
    """

    def __init__(self, f: Callable[[Any, Any], Any], inv_f: Callable[[Any, Any], Any], *,
                 key_field: str = "key", value_field: str = "value",
                 output_fields: tuple[str, str, str, str] = ("key", "value", "start_ms", "end_ms")) -> None:
        self.f = f
        self.inv_f = inv_f
        self.key_field = key_field
        self.value_field = value_field
        self.output_fields = output_fields

    def declare_output_fields(self, declarer: OutputFieldsDeclarer) -> None:
        declarer.declare(list(self.output_fields))

    def prepare(self, config: Mapping[str, Any], context, collector) -> None:
        self.collector = collector
        self.values: dict[Any, Any] = {}
        self.counts: dict[Any, int] = {}
        self.calls = 0

    def execute_window(self, window: TupleWindow) -> None:
        f, inv_f = self.f, self.inv_f
        values, counts = self.values, self.counts
        kf, vf = self.key_field, self.value_field
        for t in window.get_expired():
            k = t[kf]
            n = counts[k] - 1
            if n:
                counts[k] = n
                values[k] = inv_f(values[k], t[vf])
                self.calls += 1
            else:
                del counts[k], values[k]
        anchors: dict[Any, list] = {}
        for t in window.get_new():
            k = t[kf]
            v = t[vf]
            if k in counts:
                counts[k] += 1
                values[k] = f(values[k], v)
                self.calls += 1
            else:
                counts[k] = 1
                values[k] = v
            anchors.setdefault(k, []).append(t)
        emit = self.collector.emit
        start, end = window.start_ms, window.end_ms
        for k, v in values.items():
            emit([k, v, start, end], anchors=anchors.get(k, ()))


def reduce_by_key_and_window(f: Callable[[Any, Any], Any], inv_f: Callable[[Any, Any], Any],
                             window: Count | Duration | timedelta, slide: Count | Duration | timedelta,
                             *, key_field: str = "key", value_field: str = "value",
                             timestamp_field: str | None = None, lag: timedelta | int = 0,
                             watermark_interval: timedelta | int = 1000, late_stream: str = "late",
                             output_fields: tuple[str, str, str, str] = ("key", "value", "start_ms", "end_ms"),
                             ) -> WindowedBoltExecutor:
    """A bolt reducing values by key over a sliding window, incrementally.

    Args:
        f, inv_f: reduce and inverse reduce (see the module contract).
        window, slide: ``Count``, ``Duration`` or ``timedelta``, of one kind.
        key_field, value_field, timestamp_field, lag, watermark_interval, late_stream:
            as :func:`squall.windowing.sliding`.

    Returns:
        a :class:`WindowedBoltExecutor` to pass to ``TopologyBuilder.set_bolt``; it emits
        ``[key, value, start_ms, end_ms]`` per key per window, late tuples on ``late_stream``.

    Raises:
        WindowConfigError: an inconsistent window (see :class:`WindowSpec`).

    >>> import operator
    >>> b = reduce_by_key_and_window(operator.add, operator.sub, Duration(10_000), Duration(5_000),
    ...                              timestamp_field="ts")
    >>> b.spec.length, b.spec.slide
    (Duration(ms=10000), Duration(ms=5000))
    """
    spec = sliding(window, slide, timestamp_field=timestamp_field, lag=lag,
                   watermark_interval=watermark_interval, late_stream=late_stream)
    return WindowedBoltExecutor(ReduceByKeyAndWindowBolt(f, inv_f, key_field=key_field, value_field=value_field,
                                                         output_fields=output_fields), spec)
