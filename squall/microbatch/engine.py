"""The local driver: runs a :class:`~squall.microbatch.plan.QueryPlan` over a source's batches.

Per micro-batch, Python runs a fixed handful of calls; the per-record work (expressions,
window assignment, partial aggregation, merging into the window state) runs in polars
kernels. Across batches the driver keeps only the watermark and the window state: one
row of partial aggregates per open window and key, never the records.

Watermark and emission follow Spark Structured Streaming, with two stated differences:

* the watermark (largest event time seen at the aggregation's input, minus the delay)
  is advanced at the end of a batch and windows it closes are emitted by that same
  batch, where Spark emits them in the next (possibly empty) micro-batch;
* at the end of a finite source the watermark moves to +infinity, so append mode
  emits every remaining window (Flink's end-of-input watermark; Spark leaves them).

A record's assignment to a window is late when that window ended at or before the
watermark in force when its batch arrived (``window_end <= watermark``). Late
assignments go to the late sink (the record's columns plus ``window_start`` and
``window_end``), never silently dropped; on-time ones of the same record (sliding
windows) still count.

Semantics: Spark Structured Streaming programming guide, "Window Operations on Event
Time", "Handling Late Data and Watermarking", "Output Modes".
"""

from __future__ import annotations

from typing import Any

from ..extras import require
from .errors import BatchError, BatchSchemaError
from .plan import Filter, QueryPlan, Select, Watermark, WindowAggregate, WithColumns
from .sinks import ListSink, Sink
from .sources import Source, as_frame

pl = require("polars", "microbatch", "the micro-batch mode (squall.microbatch)")

__all__ = ["StreamingQuery"]

_WS, _WE = "window_start", "window_end"


def _apply(frame: Any, operators: tuple, batch_id: int) -> Any:
    """``frame`` through the stateless operators, as one lazy polars query."""
    if not operators:
        return frame
    lf = frame.lazy()
    for op in operators:
        if isinstance(op, Select):
            lf = lf.select(*op.exprs)
        elif isinstance(op, Filter):
            lf = lf.filter(op.predicate)
        elif isinstance(op, WithColumns):
            lf = lf.with_columns(*op.exprs)
    try:
        return lf.collect()
    except pl.exceptions.PolarsError as exc:
        raise BatchError(batch_id, operators, str(exc)) from exc


class _WindowState:
    """Partial aggregates per (window start, keys) for one :class:`WindowAggregate`."""

    def __init__(self, spec: WindowAggregate) -> None:
        self.spec = spec
        self.group = [_WS, *spec.keys]
        self.frame: Any = None            # DataFrame of group columns + partial columns
        partial, combine, final = [], [], []
        for i, a in enumerate(spec.aggs):
            c = None if a.column is None else pl.col(a.column)
            n, s, m = f"__{i}_n", f"__{i}_s", f"__{i}_m"
            if a.kind == "count":
                partial.append((pl.len() if c is None else c.count()).alias(n))
                combine.append(pl.col(n).sum())
                final.append(pl.col(n).alias(a.name))
            elif a.kind == "sum":
                partial.append(c.sum().alias(s))
                combine.append(pl.col(s).sum())
                final.append(pl.col(s).alias(a.name))
            elif a.kind == "avg":
                partial += [c.sum().alias(s), c.count().alias(n)]
                combine += [pl.col(s).sum(), pl.col(n).sum()]
                final.append(pl.when(pl.col(n) > 0).then(pl.col(s) / pl.col(n)).otherwise(None).alias(a.name))
            elif a.kind in ("min", "max"):
                partial.append(getattr(c, a.kind)().alias(m))
                combine.append(getattr(pl.col(m), a.kind)())
                final.append(pl.col(m).alias(a.name))
            else:
                raise ValueError(f"unknown aggregate kind {a.kind!r}")
        self.partial, self.combine = partial, combine
        self.final = [(pl.col(_WS) + spec.window.size_ms).alias(_WE), *final]
        self.out_columns = [_WS, _WE, *spec.keys, *(a.name for a in spec.aggs)]

    def assign(self, frame: Any, batch_id: int) -> Any:
        """``frame`` with a ``window_start`` column: one row per (record, window holding it)."""
        w = self.spec.window
        dtype = frame.schema.get(w.column)
        if dtype is None:
            raise BatchSchemaError("window", w.column, f"not in the batch (columns: {frame.columns})")
        if not dtype.is_integer():
            raise BatchSchemaError("window", w.column, f"event time must be integer epoch ms, got {dtype}")
        ts = pl.col(w.column)
        last = ((ts - w.offset_ms) // w.slide_ms) * w.slide_ms + w.offset_ms
        if w.tumbling:
            return frame.with_columns(last.alias(_WS))
        parts = [frame.with_columns((last - k * w.slide_ms).alias(_WS)) for k in range(w.windows_per_record)]
        # With a size that is not a multiple of the slide the oldest start may not hold ts.
        return pl.concat(parts).filter(pl.col(w.column) < pl.col(_WS) + w.size_ms)

    def add(self, assigned: Any) -> Any:
        """Merge the batch's assignments into the state; returns the batch's partials."""
        partials = assigned.group_by(self.group).agg(self.partial)
        if self.frame is None or self.frame.height == 0:
            self.frame = partials
        else:
            self.frame = pl.concat([self.frame, partials]).group_by(self.group).agg(self.combine)
        return partials

    def take_closed(self, watermark_ms: float) -> Any:
        """Remove and return the state rows of windows that ended at or before the watermark."""
        if self.frame is None:
            return None
        closed = pl.col(_WS) + self.spec.window.size_ms <= watermark_ms
        out = self.frame.filter(closed)
        self.frame = self.frame.filter(~closed)
        return out

    def finalize(self, rows: Any) -> Any:
        """Output rows (window_start, window_end, keys, aggregates) for state rows."""
        return rows.with_columns(self.final).select(self.out_columns).sort(self.group)


class StreamingQuery:
    """A running query: the plan's state, the watermark, and where output goes.

    Built by :meth:`StreamingDataFrame.write_stream`; :meth:`run` drains a finite
    source. Not thread-safe: one driver thread calls :meth:`process`/:meth:`finish`.

    Attributes:
        plan: the :class:`QueryPlan` it runs.
        sink: receives each non-empty output batch.
        late: receives late window assignments (a :class:`ListSink` unless one was given).
        watermark_ms: the watermark in force (epoch ms), ``None`` before the first record.
        batch_id: the id the next input batch will get.
    """

    def __init__(self, plan: QueryPlan, source: Source, sink: Sink, late_sink: Sink | None = None) -> None:
        self.plan, self.source, self.sink = plan, source, sink
        self.late = late_sink if late_sink is not None else ListSink()
        self.watermark_ms: float | None = None
        self.batch_id = 0
        self._mark: Watermark | None = plan.watermark
        i = plan.aggregate_index
        ops = tuple(op for op in plan.operators if not isinstance(op, Watermark))
        if i is None:
            self._pre, self._post, self._state = ops, (), None
        else:
            agg = plan.operators[i]
            j = ops.index(agg)
            self._pre, self._post, self._state = ops[:j], ops[j + 1:], _WindowState(agg)
        self._finished = False

    @property
    def state_rows(self) -> int:
        """Rows of window state held (open windows x keys)."""
        return 0 if self._state is None or self._state.frame is None else self._state.frame.height

    def process(self, batch: Any) -> None:
        """Run one micro-batch through the query and write what it emits.

        Raises:
            BatchError: polars rejected an operator on this batch.
            BatchSchemaError: the event-time column is missing or not an integer.
        """
        bid = self.batch_id
        self.batch_id += 1
        frame = _apply(as_frame(batch), self._pre, bid)
        before = self.watermark_ms
        if self._mark is not None and frame.height:
            col = self._mark.column
            if col not in frame.columns:
                raise BatchSchemaError("with_watermark", col, f"not in the batch (columns: {frame.columns})")
            newest = frame.get_column(col).max()
            if newest is not None:
                candidate = newest - self._mark.delay_ms
                if before is None or candidate > before:
                    self.watermark_ms = candidate
        if self._state is None:
            if frame.height:
                self.sink.write(frame, bid)
            return
        st = self._state
        if frame.height:
            assigned = st.assign(frame, bid)
            if before is not None:
                late = pl.col(_WS) + st.spec.window.size_ms <= before
                late_rows = assigned.filter(late)
                if late_rows.height:
                    self.late.write(late_rows.with_columns((pl.col(_WS) + st.spec.window.size_ms).alias(_WE)), bid)
                    assigned = assigned.filter(~late)
            partials = st.add(assigned)
        else:
            partials = None
        if self.plan.output_mode == "append":
            out = st.take_closed(self.watermark_ms) if self.watermark_ms is not None else None
        else:
            out = None
            if partials is not None and partials.height:
                out = st.frame.join(partials.select(st.group), on=st.group, how="semi", nulls_equal=True)
            if self.watermark_ms is not None:
                st.take_closed(self.watermark_ms)    # Spark drops the state of closed windows
        self._emit(out, bid)

    def _emit(self, rows: Any, bid: int) -> None:
        if rows is None or rows.height == 0:
            return
        out = _apply(self._state.finalize(rows), self._post, bid)
        if out.height:
            self.sink.write(out, bid)

    def finish(self) -> None:
        """End of input: the watermark goes to +infinity; append mode emits every open window."""
        if self._finished:
            return
        self._finished = True
        if self._state is not None:
            closed = self._state.take_closed(float("inf"))
            if self.plan.output_mode == "append":
                self._emit(closed, self.batch_id)
        self.batch_id += 1

    def run(self) -> StreamingQuery:
        """Process every batch of the source, then :meth:`finish`; returns ``self``."""
        for batch in self.source.batches():
            self.process(batch)
        self.finish()
        return self
