"""The streaming DataFrame API: a query over a source of columnar batches.

A :class:`StreamingDataFrame` is immutable: each method returns a new one with one more
operator spec. Nothing runs until :meth:`StreamingDataFrame.write_stream` builds a
:class:`~squall.microbatch.engine.StreamingQuery` and its ``run()`` pulls batches.

Semantics: Spark Structured Streaming programming guide ("Basic Operations - Selection,
Projection, Aggregation", "Window Operations on Event Time", "Handling Late Data and
Watermarking", "Output Modes"), with Pythonic names (``with_watermark`` for
``withWatermark``, ``write_stream(sink, output_mode=...)`` for
``writeStream.outputMode(...).foreachBatch(...).start()``).

>>> import polars as pl
>>> from squall.microbatch import StreamingDataFrame, ListSource, ListSink, window, functions as F
>>> src = ListSource([pl.DataFrame({"ts": [1_000, 2_000, 11_000], "car": ["a", "a", "a"], "v": [1.0, 3.0, 5.0]})])
>>> q = (StreamingDataFrame(src).with_watermark("ts", 0)
...      .group_by(window("ts", 10_000), "car").agg(F.avg("v")))
>>> sink = ListSink()
>>> _ = q.write_stream(sink).run()
>>> sink.rows()
[(0, 10000, 'a', 2.0), (10000, 20000, 'a', 5.0)]
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .engine import StreamingQuery
from .errors import PlanError
from .plan import (Agg, Filter, QueryPlan, Select, StaticJoin, Watermark, Window, WindowAggregate, WithColumns,
                   to_ms, window as _window)
from .sinks import CallbackSink, Sink
from .sources import Source

__all__ = ["StreamingDataFrame", "GroupedStream"]

_GLOBAL = "__squall_global"


def _lit_zero() -> Any:
    import polars as pl
    return pl.lit(0, pl.Int64)


class StreamingDataFrame:
    """An unbounded table fed by ``source``, transformed by polars expressions.

    Args:
        source: a :class:`~squall.microbatch.sources.Source` of batches.
    """

    def __init__(self, source: Source, operators: tuple = ()) -> None:
        self.source = source
        self.operators = tuple(operators)

    def _then(self, op: Any) -> StreamingDataFrame:
        if any(isinstance(o, WindowAggregate) for o in self.operators) and isinstance(op, Watermark):
            raise PlanError("with_watermark must come before group_by(...).agg(...)")
        return StreamingDataFrame(self.source, self.operators + (op,))

    def select(self, *exprs: Any) -> StreamingDataFrame:
        """Keep or compute these columns (names or polars expressions), as ``DataFrame.select``."""
        return self._then(Select(exprs))

    def filter(self, predicate: Any) -> StreamingDataFrame:
        """Keep rows where the boolean polars expression holds; after ``agg`` it filters
        the emitted window rows (SQL's ``HAVING``)."""
        return self._then(Filter(predicate))

    def with_columns(self, *exprs: Any) -> StreamingDataFrame:
        """Add or replace columns (polars expressions), as ``DataFrame.with_columns``."""
        return self._then(WithColumns(exprs))

    def with_watermark(self, column: str, delay: int | timedelta) -> StreamingDataFrame:
        """Track event time on ``column`` (integer epoch ms), tolerating ``delay`` of lateness.

        The watermark is the largest event time seen minus ``delay``; a window is final
        once the watermark reaches its end, and a record for a final window is late.

        Raises:
            PlanError: a negative delay, or called after ``group_by(...).agg(...)``.

        Semantics: Spark Structured Streaming programming guide, "Handling Late Data and
        Watermarking" (``withWatermark``).
        """
        delay_ms = to_ms(delay, "watermark delay")
        if delay_ms < 0:
            raise PlanError(f"with_watermark({column!r}): delay must be >= 0 ms, got {delay_ms}")
        return self._then(Watermark(column, delay_ms))

    def group_by(self, window: Window | str, *keys: str) -> GroupedStream:
        """Group by an event-time window (see :func:`~squall.microbatch.plan.window`) and key
        columns, or by key columns alone (``group_by("word")``: one group per key over the
        whole stream, rows without ``window_start``/``window_end``; in append mode they are
        written at the end of input, in update and complete modes after each batch).

        Raises:
            PlanError: a key is not a column name; a key-only grouping after a watermark.
        """
        if isinstance(window, str):
            if any(isinstance(o, Watermark) for o in self.operators):
                raise PlanError("group_by without a window takes no watermark; group by window(...) for "
                                "event-time windows")
            keys = (window, *keys)
            window = None
        elif not isinstance(window, Window):
            raise PlanError(f"group_by needs window(column, size[, slide]) or key columns, got {window!r}")
        bad = [k for k in keys if not isinstance(k, str)]
        if bad:
            raise PlanError(f"group_by keys must be column names, got {bad!r}")
        return GroupedStream(self, window, keys)

    def join(self, table: Any, on: str | list[str] | tuple[str, ...], how: str = "inner",
             window: int | timedelta | None = None, start: int | timedelta = 0) -> StreamingDataFrame:
        """Join each batch with a static table, or join two streams per key and event-time window.

        Args:
            table: a polars DataFrame (the static side, kept in the plan), or another
                :class:`StreamingDataFrame` (a stream-stream join: see
                :mod:`squall.microbatch.stream_join`).
            on: the key column(s), named alike on both sides.
            how: ``"inner"`` or ``"left"`` (Spark's stream-static left outer join); a
                stream-stream join is inner.
            window: for two streams: the tumbling event-time window (ms or timedelta)
                both sides' records must share, on each side's watermark column.
            start: the windows' offset from the epoch.

        Returns: a query over the joined rows (for two streams: ``window_start``,
        ``window_end``, the keys, the left's columns, the right's).

        Raises:
            PlanError: a static table that is not a polars DataFrame or lacks a key; another
                ``how``; two streams without ``window`` or a side without a watermark.

        Semantics: Spark Structured Streaming programming guide, "Stream-static Joins" and
        "Stream-stream Joins".
        """
        import polars as pl
        keys = (on,) if isinstance(on, str) else tuple(on)
        if isinstance(table, StreamingDataFrame):
            from .stream_join import StreamJoinSource
            if window is None or how != "inner":
                raise PlanError("a stream-stream join is inner and needs window= (the event-time window both "
                                "sides' records share)")
            return StreamingDataFrame(StreamJoinSource(self, table, keys, to_ms(window, "join window"),
                                                       to_ms(start, "join window start")))
        if not isinstance(table, pl.DataFrame):
            raise PlanError(f"join takes a static polars DataFrame, got {type(table).__name__}")
        missing = [k for k in keys if k not in table.columns]
        if missing or not keys:
            raise PlanError(f"join: the static table lacks key column(s) {missing} (it has {table.columns})")
        if how not in ("inner", "left"):
            raise PlanError(f"join: how must be 'inner' or 'left' for a stream-static join, got {how!r}")
        return self._then(StaticJoin(table, keys, how))

    def write_stream(self, sink: Sink | Any, output_mode: str = "append",
                     late_sink: Sink | None = None) -> StreamingQuery:
        """Validate the query and return it ready to run.

        Args:
            sink: a :class:`~squall.microbatch.sinks.Sink`, or a callable
                ``fn(batch, batch_id)`` (wrapped in a ``CallbackSink``).
            output_mode: ``"append"`` (a window's row once, when the watermark passes its
                end), ``"update"`` (after each batch, the rows of the windows it changed)
                or ``"complete"`` (after each batch, every row of the result).
            late_sink: receives late window assignments; default a ``ListSink`` kept as
                the query's ``late`` attribute.

        Raises:
            PlanError: the plan is inconsistent (see :meth:`QueryPlan.build`).

        Semantics: Spark Structured Streaming programming guide, "Output Modes".
        """
        if not isinstance(sink, Sink):
            if not callable(sink):
                raise PlanError(f"sink must be a Sink or a callable fn(batch, batch_id), got {sink!r}")
            sink = CallbackSink(sink)
        return StreamingQuery(QueryPlan.build(self.operators, output_mode), self.source, sink, late_sink)

    def plan(self, output_mode: str = "append") -> QueryPlan:
        """The validated, frozen plan of this query (what a runtime would ship)."""
        return QueryPlan.build(self.operators, output_mode)


class GroupedStream:
    """``group_by(window, *keys)`` awaiting its aggregates."""

    def __init__(self, frame: StreamingDataFrame, window: Window, keys: tuple[str, ...]) -> None:
        self._frame, self._window, self._keys = frame, window, keys

    def agg(self, *aggs: Agg) -> StreamingDataFrame:
        """One output row per window and key: ``window_start``, ``window_end`` (epoch ms), the
        keys, then each aggregate under its name.

        Raises:
            PlanError: an argument is not a :mod:`~squall.microbatch.functions` aggregate.
        """
        bad = [a for a in aggs if not isinstance(a, Agg)]
        if bad:
            raise PlanError(f"agg takes squall.microbatch.functions aggregates (count, sum, avg, min, max), "
                            f"whose partials merge across batches; got {bad!r}")
        if self._window is not None:
            return self._frame._then(WindowAggregate(self._window, self._keys, aggs))
        # Key-only: one window that never closes on a constant hidden column, dropped again.
        frame = self._frame._then(WithColumns((_lit_zero().alias(_GLOBAL),)))
        frame = frame._then(Watermark(_GLOBAL, 0))
        frame = frame._then(WindowAggregate(_window(_GLOBAL, 1), self._keys, aggs))
        return frame._then(Select(tuple([*self._keys, *(a.name for a in aggs)])))
