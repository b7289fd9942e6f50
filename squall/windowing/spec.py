"""Window specs: length and slide by count or by duration, and the time they run on.

Event time is epoch milliseconds taken from a tuple field; without a timestamp field
windows run on processing time (the bolt's clock when a tuple arrives).

Semantics: Storm docs: Windowing Support in Core Storm (``BaseWindowedBolt.withWindow``,
``withTumblingWindow``, ``Count``, ``Duration``, ``withTimestampField``, ``withLag``,
``withWatermarkInterval``, ``withLateTupleStream``).

>>> from datetime import timedelta
>>> s = sliding(timedelta(seconds=10), timedelta(seconds=5), timestamp_field="ts", lag=timedelta(seconds=2))
>>> s.length, s.slide, s.lag_ms, s.is_count, s.event_time
(Duration(ms=10000), Duration(ms=5000), 2000, False, True)
>>> tumbling(Count(3)).slide
Count(n=3)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Union

from .errors import WindowConfigError

__all__ = ["Count", "Duration", "WindowSpec", "sliding", "tumbling", "to_duration_ms"]


@dataclass(frozen=True)
class Count:
    """A window length or slide as a number of tuples (Storm's ``BaseWindowedBolt.Count``)."""

    n: int

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or isinstance(self.n, bool) or self.n < 1:
            raise WindowConfigError(f"Count needs a positive int of tuples, got {self.n!r}")


@dataclass(frozen=True)
class Duration:
    """A window length or slide in milliseconds (Storm's ``BaseWindowedBolt.Duration``)."""

    ms: int

    def __post_init__(self) -> None:
        if not isinstance(self.ms, int) or isinstance(self.ms, bool) or self.ms < 1:
            raise WindowConfigError(f"Duration needs a positive int of milliseconds, got {self.ms!r}; "
                                    f"pass a timedelta for other units")


Extent = Union[Count, Duration, timedelta]


def to_duration_ms(value: timedelta | int | Duration, what: str, allow_zero: bool = True) -> int:
    """Milliseconds of a ``timedelta``, a :class:`Duration` or an int of ms.

    Raises:
        WindowConfigError: negative (or zero when not allowed), or another type.
    """
    if isinstance(value, Duration):
        ms = value.ms
    elif isinstance(value, timedelta):
        ms = round(value.total_seconds() * 1000)
    elif isinstance(value, int) and not isinstance(value, bool):
        ms = value
    else:
        raise WindowConfigError(f"{what} must be a timedelta or an int of milliseconds, got {value!r}")
    if ms < 0 or (ms == 0 and not allow_zero):
        raise WindowConfigError(f"{what} must be {'>= 0' if allow_zero else '> 0'} ms, got {ms}")
    return ms


def _extent(value: Extent, what: str) -> Count | Duration:
    if isinstance(value, (Count, Duration)):
        return value
    if isinstance(value, timedelta):
        return Duration(to_duration_ms(value, what, allow_zero=False))
    raise WindowConfigError(f"{what} must be Count(n), Duration(ms) or a timedelta, got {value!r} "
                            f"(a bare int is ambiguous: wrap it in Count or Duration)")


@dataclass(frozen=True)
class WindowSpec:
    """What a windowed bolt groups by, and on which clock. Frozen and picklable.

    Attributes:
        length: window length, :class:`Count` or :class:`Duration`.
        slide: sliding interval, of the same kind; ``slide == length`` is a tumbling window.
        timestamp_field: the input field holding event time (epoch ms, int); None for
            processing time.
        lag_ms: maximum out-of-orderness of event time (Storm's ``withLag``).
        watermark_interval_ms: how often watermarks are emitted, through tick tuples
            (Storm's ``withWatermarkInterval``, default 1 s). 0 advances the watermark
            after every input tuple, which makes lateness independent of scheduling.
        late_stream: the stream late tuples go to, with one field ``late_tuple`` holding
            the late tuple's values (Storm's ``withLateTupleStream``). Late tuples are
            never dropped, so a stream is always declared.

    Raises:
        WindowConfigError: mixed kinds, ``slide > length`` (tuples would belong to no
            window), lag or interval on processing time, or a bad stream name.
    """

    length: Count | Duration
    slide: Count | Duration
    timestamp_field: str | None = None
    lag_ms: int = 0
    watermark_interval_ms: int = 1000
    late_stream: str = "late"

    def __post_init__(self) -> None:
        if type(self.length) is not type(self.slide):
            raise WindowConfigError(f"length {self.length} and slide {self.slide} must both be Count or both "
                                    f"Duration; mixed windows are not supported")
        big = self.length.n if isinstance(self.length, Count) else self.length.ms
        step = self.slide.n if isinstance(self.slide, Count) else self.slide.ms
        if step > big:
            raise WindowConfigError(f"slide {self.slide} is longer than length {self.length}: tuples between "
                                    f"windows would belong to none; use slide <= length")
        if self.timestamp_field is None and self.lag_ms:
            raise WindowConfigError("lag applies to event time only: set timestamp_field or drop lag")
        if not self.late_stream or self.late_stream.startswith("__"):
            raise WindowConfigError(f"late_stream must be a non-empty, non-reserved stream id, "
                                    f"got {self.late_stream!r}")

    @property
    def is_count(self) -> bool:
        return isinstance(self.length, Count)

    @property
    def event_time(self) -> bool:
        return self.timestamp_field is not None

    @property
    def tumbling(self) -> bool:
        return self.length == self.slide


def sliding(length: Extent, slide: Extent, *, timestamp_field: str | None = None,
            lag: timedelta | int = 0, watermark_interval: timedelta | int = 1000,
            late_stream: str = "late") -> WindowSpec:
    """A sliding window (Storm's ``withWindow(length, slide)``).

    Args:
        length, slide: ``Count(n)``, ``Duration(ms)`` or a ``timedelta``, both of one kind.
        timestamp_field: event-time field (epoch ms); None for processing time.
        lag: max out-of-orderness, ``timedelta`` or ms.
        watermark_interval: ``timedelta`` or ms; 0 = after every tuple.
        late_stream: stream for late tuples.

    Raises:
        WindowConfigError: see :class:`WindowSpec`.
    """
    return WindowSpec(_extent(length, "length"), _extent(slide, "slide"), timestamp_field,
                      to_duration_ms(lag, "lag"), to_duration_ms(watermark_interval, "watermark_interval"),
                      late_stream)


def tumbling(length: Extent, *, timestamp_field: str | None = None, lag: timedelta | int = 0,
             watermark_interval: timedelta | int = 1000, late_stream: str = "late") -> WindowSpec:
    """A tumbling window: ``sliding(length, length, ...)`` (Storm's ``withTumblingWindow``)."""
    return sliding(length, length, timestamp_field=timestamp_field, lag=lag,
                   watermark_interval=watermark_interval, late_stream=late_stream)
