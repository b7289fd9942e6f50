"""The frozen operator specs a streaming query is made of.

A query is a :class:`QueryPlan`: a tuple of operator specs and an output mode, validated
when it is built. Specs hold only column names, numbers and polars expressions (which
pickle), nothing live, so a later runtime step can ship a plan to workers and run it as
a topology whose tuples are batches; :mod:`squall.microbatch.engine` executes one in
process now.

Event time is epoch milliseconds (an integer column) everywhere in this package.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

from .errors import PlanError

__all__ = ["Window", "window", "Agg", "Select", "Filter", "WithColumns", "Watermark", "WindowAggregate",
           "QueryPlan", "OutputMode", "to_ms", "Explode", "PythonStep", "StaticJoin"]

OutputMode = Literal["append", "update", "complete"]


def to_ms(duration: int | timedelta, what: str) -> int:
    """A duration given as integer milliseconds or a ``timedelta``, in milliseconds.

    Raises:
        PlanError: not an int or timedelta, or not a whole number of milliseconds.

    >>> to_ms(timedelta(seconds=30), "size")
    30000
    """
    if isinstance(duration, timedelta):
        ms = duration / timedelta(milliseconds=1)
        if ms != int(ms):
            raise PlanError(f"{what} must be a whole number of milliseconds, got {duration!r}")
        return int(ms)
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise PlanError(f"{what} must be integer milliseconds or a timedelta, got {duration!r}")
    return duration


@dataclass(frozen=True)
class Window:
    """An event-time window over ``column`` (epoch ms): tumbling when ``slide_ms == size_ms``.

    Windows are ``[start, start + size_ms)`` with ``start = offset_ms + k * slide_ms``
    for integer ``k``: aligned to the epoch (plus ``offset_ms``), not to the first
    record, as Spark's ``window(timeColumn, windowDuration, slideDuration, startTime)``.

    Semantics: Spark Structured Streaming programming guide, "Window Operations on Event Time".
    """

    column: str
    size_ms: int
    slide_ms: int
    offset_ms: int = 0

    @property
    def tumbling(self) -> bool:
        return self.slide_ms == self.size_ms

    @property
    def windows_per_record(self) -> int:
        """How many windows can hold one record: ``ceil(size / slide)``."""
        return -(-self.size_ms // self.slide_ms)


def window(column: str, size: int | timedelta, slide: int | timedelta | None = None,
           start: int | timedelta = 0) -> Window:
    """An event-time window for :meth:`StreamingDataFrame.group_by`.

    Args:
        column: the event-time column, integer epoch milliseconds.
        size: window length (ms or ``timedelta``).
        slide: distance between window starts (default ``size``: tumbling windows);
            at most ``size``.
        start: offset of the window starts from the epoch (Spark's ``startTime``), in
            ``[0, slide)``; e.g. the replay start modulo the size aligns the windows to it.

    Raises:
        PlanError: a non-positive size or slide, a slide above the size, an offset
            outside ``[0, slide)``.

    Semantics: Spark Structured Streaming programming guide, "Window Operations on Event
    Time" (``window()``); a window's start and end are the output columns
    ``window_start`` and ``window_end`` here, not a struct column ``window``.

    >>> window("ts", timedelta(seconds=30))
    Window(column='ts', size_ms=30000, slide_ms=30000, offset_ms=0)
    >>> window("ts", 10_000, 5_000).windows_per_record
    2
    """
    size_ms = to_ms(size, "window size")
    slide_ms = size_ms if slide is None else to_ms(slide, "window slide")
    offset_ms = to_ms(start, "window start")
    if size_ms <= 0 or slide_ms <= 0:
        raise PlanError(f"window on {column!r}: size and slide must be positive, got {size_ms} ms and {slide_ms} ms")
    if slide_ms > size_ms:
        raise PlanError(f"window on {column!r}: a slide of {slide_ms} ms above the size {size_ms} ms would leave "
                        f"records in no window; use a slide <= size")
    if not 0 <= offset_ms < slide_ms:
        raise PlanError(f"window on {column!r}: start offset must be in [0, {slide_ms}) ms, got {offset_ms}; "
                        f"take it modulo the slide")
    return Window(column, size_ms, slide_ms, offset_ms)


_AGG_KINDS = ("count", "sum", "avg", "min", "max")


@dataclass(frozen=True)
class Agg:
    """One aggregate of a windowed group-by: ``kind`` over ``column`` (``None``: count rows).

    Only aggregates whose partial results merge are offered (count, sum, avg, min, max):
    window state across batches is one row of partials per window and key, never the
    records. Build them with :mod:`squall.microbatch.functions`.
    """

    kind: str
    column: str | None
    name: str

    def alias(self, name: str) -> Agg:
        """The same aggregate under output column ``name``."""
        return replace(self, name=name)


@dataclass(frozen=True)
class Select:
    """Keep/compute these columns (polars expressions or column names)."""

    exprs: tuple[Any, ...]


@dataclass(frozen=True)
class Filter:
    """Keep the rows where ``predicate`` (a boolean polars expression) holds."""

    predicate: Any


@dataclass(frozen=True)
class WithColumns:
    """Add or replace columns (polars expressions)."""

    exprs: tuple[Any, ...]


@dataclass(frozen=True)
class Explode:
    """One row per element of the list columns ``columns`` (an empty list drops the row).

    What a Trident function that emits several tuples per input tuple becomes: the
    function's kernel yields a list per row, and the rows are exploded in polars.
    ``keep_empty``: leave the null row polars makes for an empty list, for a caller
    whose next filter drops nulls anyway (one pass fewer).
    """

    columns: tuple[str, ...]
    keep_empty: bool = False


@dataclass(frozen=True)
class PythonStep:
    """A user's Python function, the fallback where no kernel exists; run eagerly.

    Attributes:
        fn: the function (module level or a closure; it travels by pickle to other processes).
        kind: ``"batch"``: ``fn(frame) -> frame`` once per batch (the whole batch as
            columns); ``"rows"``: ``fn(*values) -> iterable of output tuples`` once per row
            of ``input_fields`` (Storm's ``Function.execute``); ``"keep"``:
            ``fn(*values) -> bool`` per row (Storm's ``Filter.isKeep``); ``"peek"``:
            ``fn(frame)`` once per batch, the batch passing on unchanged.
        input_fields: the columns ``fn`` reads.
        output_fields: the columns it makes (``"batch"``, ``"rows"``).
        append: the outputs are appended to the input row (Trident's ``each``), not
            replacing it (``map``/``flat_map``).
        name: the step as the user wrote it, for error messages.
    """

    fn: Any
    kind: str
    input_fields: tuple[str, ...] = ()
    output_fields: tuple[str, ...] = ()
    append: bool = False
    name: str = ""


@dataclass(frozen=True)
class StaticJoin:
    """A join of each batch with a static table (a polars DataFrame) on key columns.

    Semantics: Spark Structured Streaming programming guide, "Stream-static Joins".
    """

    table: Any
    on: tuple[str, ...]
    how: str = "inner"


@dataclass(frozen=True)
class Watermark:
    """Event-time watermark on ``column``: the largest event time seen minus ``delay_ms``.

    Semantics: Spark Structured Streaming programming guide, "Handling Late Data and Watermarking".
    """

    column: str
    delay_ms: int


@dataclass(frozen=True)
class WindowAggregate:
    """``group_by(window, *keys).agg(*aggs)``: partial aggregates per window and key."""

    window: Window
    keys: tuple[str, ...]
    aggs: tuple[Agg, ...]


@dataclass(frozen=True)
class QueryPlan:
    """A validated streaming query: its operators in order and its output mode.

    Operators before the :class:`WindowAggregate` run on every input batch; those after
    it run on the rows the aggregate emits (SQL's ``HAVING`` is a ``Filter`` there).

    Raises (from :meth:`build`):
        PlanError: more than one aggregation or watermark, a watermark after the
            aggregation, append mode over an aggregation without a watermark on the
            window's column, complete mode without an aggregation, duplicate aggregate
            names, an unknown output mode.

    Semantics: Spark Structured Streaming programming guide, "Output Modes" and
    "Conditions for watermarking to clean aggregation state".
    """

    operators: tuple[Any, ...]
    output_mode: OutputMode

    @classmethod
    def build(cls, operators: tuple[Any, ...], output_mode: str) -> QueryPlan:
        if output_mode not in ("append", "update", "complete"):
            raise PlanError(f"output mode must be 'append', 'update' or 'complete', got {output_mode!r}")
        aggs = [i for i, op in enumerate(operators) if isinstance(op, WindowAggregate)]
        if output_mode == "complete" and not aggs:
            raise PlanError("complete mode needs an aggregation (group_by(...).agg(...)): it writes the whole "
                            "result table after every batch (Spark: 'Output Modes')")
        marks = [i for i, op in enumerate(operators) if isinstance(op, Watermark)]
        if len(aggs) > 1:
            raise PlanError("a streaming query may hold one windowed aggregation; chain a second one as "
                            "another query fed by this one's sink")
        if len(marks) > 1:
            raise PlanError("with_watermark was called twice; keep one watermark per query")
        if aggs:
            agg: WindowAggregate = operators[aggs[0]]
            if marks and marks[0] > aggs[0]:
                raise PlanError("with_watermark must come before group_by(...).agg(...)")
            mark = operators[marks[0]] if marks else None
            if output_mode == "append" and (mark is None or mark.column != agg.window.column):
                raise PlanError(f"append mode over a windowed aggregation needs "
                                f"with_watermark({agg.window.column!r}, delay) before group_by: without it "
                                f"no window could ever be final (Spark: 'Output Modes')")
            names = [a.name for a in agg.aggs]
            taken = {"window_start", "window_end", *agg.keys}
            dup = sorted({n for n in names if names.count(n) > 1 or n in taken})
            if dup:
                raise PlanError(f"aggregate output names collide: {dup}; rename with .alias(name)")
            if not agg.aggs:
                raise PlanError("agg() needs at least one aggregate (functions.count(), avg(col), ...)")
        return cls(tuple(operators), output_mode)

    @property
    def aggregate_index(self) -> int | None:
        """Position of the :class:`WindowAggregate` in :attr:`operators`, or ``None``."""
        for i, op in enumerate(self.operators):
            if isinstance(op, WindowAggregate):
                return i
        return None

    @property
    def watermark(self) -> Watermark | None:
        return next((op for op in self.operators if isinstance(op, Watermark)), None)
