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

Complete mode writes the whole result table (every window and key) after each batch
that had records, and keeps every window's state.

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
from .plan import (Agg, Explode, Filter, PythonStep, QueryPlan, Select, StaticJoin, Watermark, WindowAggregate,
                   WithColumns)
from .sinks import ListSink, Sink
from .sources import Source, as_frame

pl = require("polars", "microbatch")

__all__ = ["StreamingQuery", "AggKernels", "run_chain"]

_WS, _WE = "window_start", "window_end"


def _chain(lf: Any, operators: tuple) -> Any:
    """Lazy ``lf`` through the stateless operators."""
    for op in operators:
        if isinstance(op, Select):
            lf = lf.select(*op.exprs)
        elif isinstance(op, Filter):
            lf = lf.filter(op.predicate)
        elif isinstance(op, WithColumns):
            lf = lf.with_columns(*op.exprs)
        elif isinstance(op, StaticJoin):
            lf = lf.join(op.table.lazy(), on=list(op.on), how=op.how, nulls_equal=False, maintain_order="left")
        elif isinstance(op, Explode):
            # polars turns an empty or null list into one null row; a function that
            # emits nothing for a tuple drops it (Trident), so those rows go first.
            cols = list(op.columns)
            if not op.keep_empty:
                lf = lf.filter(pl.all_horizontal([pl.col(c).list.len() > 0 for c in cols]))
            lf = lf.explode(cols)
    return lf


def _frame_of(out: Any, fields: tuple[str, ...], step: PythonStep) -> Any:
    """A Python step's result as a DataFrame with columns ``fields``."""
    if isinstance(out, pl.Series):
        out = out.to_frame(fields[0] if fields else out.name)
    elif isinstance(out, dict):
        out = pl.DataFrame(out)
    elif not isinstance(out, pl.DataFrame):
        out = as_frame(out)
    if fields:
        if out.width != len(fields):
            raise ValueError(f"{step.name or step.fn!r} returned {out.width} columns {out.columns}, "
                             f"expected {len(fields)}: {list(fields)}")
        out = out.rename(dict(zip(out.columns, fields)))
    return out


def _python_step(frame: Any, step: PythonStep) -> Any:
    """Run one :class:`PythonStep` on an eager frame."""
    fn, fields = step.fn, step.output_fields
    if step.kind == "peek":
        fn(frame)
        return frame
    inputs = frame.select(step.input_fields) if step.input_fields else frame
    if step.kind == "batch":
        out = _frame_of(fn(inputs), fields, step)
        if not step.append:
            return out
        if out.height != frame.height:
            raise ValueError(f"{step.name or fn!r} returned {out.height} rows for a batch of {frame.height}; "
                             f"each needs one output row per input row (use flat_map to change the count)")
        return frame.hstack(out.get_columns())
    if step.kind == "keep":
        return frame.filter(pl.Series([bool(fn(*row)) for row in inputs.iter_rows()], dtype=pl.Boolean))
    # "rows": Storm's Function.execute, one call per tuple, any number of output tuples.
    taken, rows = [], []
    for i, row in enumerate(inputs.iter_rows()):
        for out in fn(*row) or ():
            taken.append(i)
            rows.append(out)
    out = pl.DataFrame(rows, schema=list(fields), orient="row") if rows else \
        pl.DataFrame(schema={f: pl.Null for f in fields})
    if not step.append:
        return out
    return frame[taken].hstack(out.get_columns()) if rows else frame.clear().hstack(out.get_columns())


def run_chain(frame: Any, operators: tuple, batch_id: int, tail: Any = None) -> Any:
    """Eager ``frame`` through stateless operators: runs of kernels in one polars call each,
    :class:`PythonStep` functions in between.

    ``tail`` (a function from a polars LazyFrame to a LazyFrame, e.g. a partial group-by)
    runs after the operators, in the same polars call as the last run of kernels, so
    their output is never materialized.

    Raises:
        BatchError: polars rejected an operator or the tail, or a user's function raised (chained).
    """
    i, n = 0, len(operators)
    while i < n:
        j = i
        while j < n and not isinstance(operators[j], PythonStep):
            j += 1
        if j > i:
            lf = _chain(frame.lazy(), operators[i:j])
            if j == n and tail is not None:
                lf, tail = tail(lf), None
            [frame] = _collect([lf], batch_id, operators[i:j])
        if j < n:
            step = operators[j]
            try:
                frame = _python_step(frame, step)
            except Exception as exc:
                raise BatchError(batch_id, step.name or step.fn, f"{type(exc).__name__}: {exc}") from exc
            j += 1
        i = j
    if tail is not None:
        [frame] = _collect([tail(frame.lazy())], batch_id, tail)
    return frame


class AggKernels:
    """Polars expressions for aggregates whose partial results merge (count, sum, avg, min, max).

    Attributes:
        partial: expressions computing the partial columns over a group's rows.
        partial_names: their names, in order; ``partial_kinds`` says how each merges
            (``"sum"``, ``"min"``, ``"max"``).
        combine: expressions merging several partial rows of a group into one.
        final: expressions from the partial columns to each aggregate's output column.

    Partials are keyed by what they compute, so ``avg(x)`` and ``count(x)`` share one count.
    """

    def __init__(self, aggs: tuple[Agg, ...]) -> None:
        partial, final = {}, []
        for a in aggs:
            c = None if a.column is None else pl.col(a.column)
            tag = a.column or ""
            n, s, m = f"__n_{tag}", f"__s_{tag}", f"__{a.kind}_{tag}"
            if a.kind == "count":
                n = "__len" if c is None else n
                partial[n] = (pl.len() if c is None else c.count(), "sum")
                final.append(pl.col(n).cast(pl.Int64).alias(a.name))    # Spark's count is a long
            elif a.kind == "sum":
                partial[s] = (c.sum(), "sum")
                final.append(pl.col(s).alias(a.name))
            elif a.kind == "avg":
                partial[s], partial[n] = (c.sum(), "sum"), (c.count(), "sum")
                final.append(pl.when(pl.col(n) > 0).then(pl.col(s) / pl.col(n)).otherwise(None).alias(a.name))
            elif a.kind in ("min", "max"):
                partial[m] = (getattr(c, a.kind)(), a.kind)
                final.append(pl.col(m).alias(a.name))
            else:
                raise ValueError(f"unknown aggregate kind {a.kind!r}")
        self.partial_names = list(partial)
        self.partial_kinds = [how for _, how in partial.values()]
        # Each partial merges across batches by its own kind: counts and sums add up.
        self.combine = [getattr(pl.col(name), how)() for name, (_, how) in partial.items()]
        self.partial = [e.alias(name) for name, (e, _) in partial.items()]
        self.final = final


def _collect(queries: list, batch_id: int, operators: object) -> list:
    """Run lazy queries together (one call into polars); polars errors become :class:`BatchError`."""
    try:
        return pl.collect_all(queries)
    except pl.exceptions.PolarsError as exc:
        raise BatchError(batch_id, operators, str(exc)) from exc


class _WindowState:
    """Partial aggregates per (window start, keys) for one :class:`WindowAggregate`."""

    def __init__(self, spec: WindowAggregate) -> None:
        self.spec = spec
        self.group = [_WS, *spec.keys]
        self.frame: Any = None            # DataFrame of group columns + partial columns
        kernels = AggKernels(spec.aggs)
        self.partial, self.combine = kernels.partial, kernels.combine
        self.final = [(pl.col(_WS) + spec.window.size_ms).alias(_WE), *kernels.final]
        self.out_columns = [_WS, _WE, *spec.keys, *(a.name for a in spec.aggs)]

    def check(self, frame: Any) -> None:
        """Raise :class:`BatchSchemaError` unless ``frame`` has an integer event-time column."""
        col = self.spec.window.column
        dtype = frame.schema.get(col)
        if dtype is None:
            raise BatchSchemaError("window", col, f"not in the batch (columns: {frame.columns})")
        if not dtype.is_integer():
            raise BatchSchemaError("window", col, f"event time must be integer epoch ms, got {dtype}")

    def assign(self, lf: Any) -> Any:
        """Lazy ``lf`` with a ``window_start`` column: one row per (record, window holding it)."""
        w = self.spec.window
        ts = pl.col(w.column)
        last = ((ts - w.offset_ms) // w.slide_ms) * w.slide_ms + w.offset_ms
        if w.tumbling:
            return lf.with_columns(last.alias(_WS))
        parts = [lf.with_columns((last - k * w.slide_ms).alias(_WS)) for k in range(w.windows_per_record)]
        # With a size that is not a multiple of the slide the oldest start may not hold ts.
        return pl.concat(parts).filter(ts < pl.col(_WS) + w.size_ms)

    def partials(self, assigned: Any) -> Any:
        """Lazy partial aggregates of (lazy) assignments, per window start and keys."""
        return assigned.group_by(self.group).agg(self.partial)

    def combined(self, rows: Any) -> Any:
        """Lazy: partial rows (several per window and key) folded into one per window and key."""
        return rows.group_by(self.group).agg(self.combine)

    def closed(self, watermark_ms: float) -> Any:
        """Predicate: the window ended at or before the watermark."""
        return pl.col(_WS) + self.spec.window.size_ms <= watermark_ms

    def finalize(self, rows: Any) -> Any:
        """Lazy output rows (window_start, window_end, keys, aggregates) for combined state rows."""
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
        frame = as_frame(batch)
        if self._pre:
            [frame] = _collect([_chain(frame.lazy(), self._pre)], bid, self._pre)
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
        st = self._state
        if st is None:
            if frame.height:
                self.sink.write(frame, bid)
            return
        if frame.height:
            st.check(frame)
            lf = frame.lazy()
            oldest = frame.get_column(st.spec.window.column).min()
            if before is not None and oldest is not None and oldest < before:
                # Only a record older than the watermark can fall in a closed window: the
                # late split costs a materialized assignment, so in-order batches skip it.
                assigned = st.assign(lf).collect()
                late_rows = assigned.filter(st.closed(before))
                if late_rows.height:
                    self.late.write(late_rows.with_columns((pl.col(_WS) + st.spec.window.size_ms).alias(_WE)), bid)
                lf = assigned.lazy().filter(~st.closed(before))
            else:
                lf = st.assign(lf)
            [partials] = _collect([st.partials(lf)], bid, st.spec)
            self._step(partials, bid)
        elif self.plan.output_mode == "append" and self.watermark_ms is not None and st.frame is not None:
            self._step(None, bid)

    def _step(self, partials: Any, bid: int) -> None:
        """Fold a batch's partials into the state, emit, and keep the open windows.

        One polars call: the state and the batch's partials are folded, split at the
        watermark, the closed windows finalized and filtered by the operators after the
        aggregation, the open ones kept, all in one ``collect_all``.
        """
        st, wm = self._state, self.watermark_ms
        parts = [p for p in (st.frame, partials) if p is not None]
        # relaxed: a sum of partial counts may widen their integer type between batches
        rows = (pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]).lazy()
        if self.plan.output_mode == "append":
            if wm is None:
                [st.frame] = _collect([st.combined(rows)], bid, self._post)
                return
            out = _chain(st.finalize(st.combined(rows.filter(st.closed(wm)))), self._post)
            out, st.frame = _collect([out, st.combined(rows.filter(~st.closed(wm)))], bid, self._post)
        elif self.plan.output_mode == "complete":
            # Spark keeps every window's row in complete mode (the watermark drops no state).
            state = st.combined(rows)
            out, st.frame = _collect([_chain(st.finalize(state), self._post), state], bid, self._post)
        else:
            state = st.combined(rows)
            changed = state.join(partials.lazy().select(st.group), on=st.group, how="semi", nulls_equal=True)
            out = _chain(st.finalize(changed), self._post)
            # Spark drops the state of windows the watermark has passed.
            keep = state if wm is None else state.filter(~st.closed(wm))
            out, st.frame = _collect([out, keep], bid, self._post)
        if out.height:
            self.sink.write(out, bid)

    def finish(self) -> None:
        """End of input: the watermark goes to +infinity; append mode emits every open window."""
        if self._finished:
            return
        self._finished = True
        st = self._state
        if st is not None and st.frame is not None and self.plan.output_mode == "append":
            self.watermark_ms = float("inf")
            self._step(None, self.batch_id)
        if st is not None:
            st.frame = None
        self.batch_id += 1

    def run(self) -> StreamingQuery:
        """Process every batch of the source, then :meth:`finish`; returns ``self``."""
        for batch in self.source.batches():
            self.process(batch)
        self.finish()
        return self
