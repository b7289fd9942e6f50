"""DStream operations for Spark Streaming users, over columnar micro-batches.

A :class:`StreamingContext` has a batch interval (seconds); a :class:`DStream` is the
sequence of its batches, one per interval, transformed by the operations Spark
Streaming names (Pythonic spelling): ``map``, ``flat_map``, ``filter``, ``transform``,
``reduce_by_key``, ``window``, ``count_by_window``, ``reduce_by_key_and_window`` (with
an inverse function: incremental), ``update_state_by_key``, and the output operations
``foreach_batch`` and ``pprint``. Window and slide durations are seconds, multiples of
the batch interval, as Spark requires.

A batch is a polars ``DataFrame``. An element is its row: the value itself for a
one-column batch, a ``(key, value)`` pair for a batch of columns ``key`` and ``value``
(a pair DStream, on which the ``*_by_key`` operations work), a tuple otherwise.

Where the work runs:

* a polars expression given to ``map``/``flat_map``/``filter`` runs in polars' kernels
  (``lines.flat_map(pl.col("line").str.split(" "))``,
  ``words.map(key=pl.col("value"), value=pl.lit(1))``);
* a known reduce function (``operator.add`` or ``"sum"``, ``min``, ``max``, and
  ``operator.sub`` as the inverse of ``add``) runs as a polars group-by, per batch and
  across the window; ``update_state_by_key("sum" | "count" | "min" | "max")`` too;
* any other Python function is the fallback: a ``map``/``flat_map``/``filter`` function
  is called per element, as Spark calls it; a reduce or update function per key, on
  the batch's values grouped by polars; ``transform(fn)`` gets the whole batch.

Output ordering: rows of a ``*_by_key`` result come in no promised order (sort them).

Semantics: Spark Streaming programming guide ("Transformations on DStreams", "Window
Operations", "UpdateStateByKey Operation", "Output Operations on DStreams"); where
Squall differs: ``reduce_by_key_and_window`` with an inverse keeps keys whose value
went back to the start (0 for a count) unless ``filter_fn`` drops them, as Spark's; and
the batch id handed to output operations counts batches from 0 instead of a time.

>>> import operator, polars as pl
>>> from squall.microbatch import ListSource
>>> ssc = StreamingContext(batch_interval_s=1)
>>> lines = ssc.source(ListSource([pl.DataFrame({"line": ["a b", "b"]}), pl.DataFrame({"line": ["b c"]})]))
>>> counts = (lines.flat_map(pl.col("line").str.split(" ")).map(key=pl.col("value"), value=pl.lit(1))
...           .reduce_by_key_and_window(operator.add, operator.sub, window_s=2, slide_s=1))
>>> out = []
>>> counts.foreach_batch(lambda batch, batch_id: out.append(sorted(batch.rows())))
>>> ssc.run()
>>> out
[[('a', 1), ('b', 2)], [('a', 1), ('b', 3), ('c', 1)]]
"""

from __future__ import annotations

import functools
import math
import operator
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from ..extras import require
from .errors import MicroBatchError
from .socket_source import SocketSource
from .sources import Source, as_frame

pl = require("polars", "microbatch")

__all__ = ["DStream", "DStreamError", "StreamingContext"]

_KEY, _VALUE = "key", "value"

# Reduce functions polars runs, by the name of the aggregation that does their work.
_KERNELS: dict[Any, str] = {operator.add: "sum", "sum": "sum", min: "min", "min": "min", max: "max", "max": "max"}
_STATE_KERNELS = ("sum", "count", "min", "max")


class DStreamError(MicroBatchError, ValueError):
    """A DStream is built wrongly (durations, arguments) or a batch does not fit the operation.

    The message names the operation and what to change.
    """


def _is_expr(obj: Any) -> bool:
    return isinstance(obj, pl.Expr)


def _elements(frame: Any) -> list[Any]:
    """The Python elements of a batch (fallback path only)."""
    if frame.width == 1:
        return frame.to_series().to_list()
    return frame.rows()


def _from_elements(values: list[Any], op: str) -> Any:
    """A batch from Python results: pairs -> key/value columns, anything else -> ``value``."""
    if values and all(isinstance(v, tuple) and len(v) == 2 for v in values):
        try:
            return pl.DataFrame(values, schema=[_KEY, _VALUE], orient="row")
        except (TypeError, pl.exceptions.PolarsError) as exc:
            raise DStreamError(f"{op}: the pairs returned do not make one column type per side: {exc}") from exc
    try:
        return pl.DataFrame({_VALUE: values}, strict=False)
    except (TypeError, pl.exceptions.PolarsError) as exc:
        raise DStreamError(f"{op}: the values returned do not make one column type: {exc}") from exc


def _pairs(frame: Any, op: str) -> Any:
    if frame.height == 0 and _KEY not in frame.columns:
        return pl.DataFrame(schema={_KEY: pl.Null, _VALUE: pl.Null})
    if _KEY not in frame.columns or _VALUE not in frame.columns:
        raise DStreamError(f"{op} needs a pair DStream (columns 'key' and 'value'), got columns {frame.columns}; "
                           f"map to pairs first, e.g. .map(key=pl.col('value'), value=pl.lit(1))")
    return frame.select(_KEY, _VALUE)


def _batches_of(seconds: float, interval_s: float, what: str) -> int:
    n = seconds / interval_s
    if seconds <= 0 or not math.isclose(n, round(n), rel_tol=0, abs_tol=1e-9) or round(n) < 1:
        raise DStreamError(f"{what} {seconds!r} s must be a positive multiple of the batch interval "
                           f"{interval_s!r} s (Spark's rule)")
    return round(n)


class _Reducer:
    """``reduce_by_key``'s function: a polars aggregation when known, else Python per key."""

    def __init__(self, fn: Any, op: str) -> None:
        self.fn, self.op = fn, op
        self.kernel = _KERNELS.get(fn) if isinstance(fn, Hashable) else None
        if self.kernel is None and not callable(fn):
            raise DStreamError(f"{op}: the reduce function must be callable or one of 'sum', 'min', 'max', got {fn!r}")

    def reduce(self, pairs: Any) -> Any:
        """One row per key: the key's values reduced."""
        if pairs.height == 0:
            return pairs
        if self.kernel is not None:
            return pairs.group_by(_KEY, maintain_order=True).agg(getattr(pl.col(_VALUE), self.kernel)())
        grouped = pairs.group_by(_KEY, maintain_order=True).agg(pl.col(_VALUE))
        reduced = [functools.reduce(self.fn, vs) for vs in grouped.get_column(_VALUE).to_list()]
        return _from_keys(grouped.get_column(_KEY), reduced)


def _from_keys(keys: Any, values: list[Any]) -> Any:
    return pl.DataFrame({_KEY: keys, _VALUE: pl.Series(_VALUE, values, strict=False)})


class StreamingContext:
    """The batch interval and the DStream graph over one source; :meth:`run` drives it.

    Args:
        batch_interval_s: seconds per batch (Spark's ``batchDuration``). A source given
            to :meth:`source` is taken to yield one batch per interval; the socket source
            of :meth:`socket_text_stream` cuts its batches at this interval.

    Raises:
        DStreamError: a non-positive interval.

    Semantics: Spark Streaming ``StreamingContext(sparkContext, batchDuration)``.
    """

    def __init__(self, batch_interval_s: float = 1.0) -> None:
        if not batch_interval_s > 0:
            raise DStreamError(f"batch_interval_s must be > 0, got {batch_interval_s!r}")
        self.batch_interval_s = batch_interval_s
        self._source: Source | None = None
        self._root: DStream | None = None
        self.batch_id = 0

    def source(self, source: Source) -> DStream:
        """The input DStream of ``source``'s batches (one per batch interval).

        Raises:
            DStreamError: the context has a source already (one input per context).
        """
        if self._source is not None:
            raise DStreamError("a StreamingContext reads one source; build another context for another input")
        self._source = source
        self._root = DStream(self, None, lambda frame, _: frame, "source")
        return self._root

    def socket_text_stream(self, host: str, port: int, **options: Any) -> DStream:
        """Lines from ``host:port`` (column ``line``), batched at the batch interval.

        ``options`` go to :class:`~squall.microbatch.socket_source.SocketSource`
        (``max_retries``, ``delimiter``, ...).

        Semantics: Spark Streaming ``StreamingContext.socketTextStream``.
        """
        return self.source(SocketSource(host, port, batch_interval_s=self.batch_interval_s, **options))

    def run(self, max_batches: int | None = None) -> None:
        """Pull the source's batches through the graph until it ends (or ``max_batches``).

        When the source ends, each window that took batches since its last slide emits
        once more, over its last ``window_s`` seconds (Flink fires its windows at the end
        of input; Spark's streams do not end). Stopping at ``max_batches`` does not.

        Raises:
            DStreamError: no source, or a batch that does not fit an operation.
        """
        if self._source is None or self._root is None:
            raise DStreamError("run() needs a source: call ssc.source(...) or ssc.socket_text_stream(...) first")
        for batch in self._source.batches():
            self._root._push(as_frame(batch), self.batch_id)
            self.batch_id += 1
            if max_batches is not None and self.batch_id >= max_batches:
                return
        if self.batch_id:
            self._root._finish(self.batch_id - 1)


class DStream:
    """A discretized stream: one batch (``DataFrame``) per interval, or per slide for a window.

    Built by :class:`StreamingContext` and the methods below, never directly.
    """

    def __init__(self, ctx: StreamingContext, parent: DStream | None, step: Callable[[Any, int], Any],
                 name: str, windowed: bool = False, flush: Callable[[], Any] | None = None) -> None:
        self._ctx, self._parent, self._step, self._name, self._flush = ctx, parent, step, name, flush
        self._children: list[DStream] = []
        self._outputs: list[Callable[[Any, int], None]] = []
        self._windowed = windowed or (parent is not None and parent._windowed)
        if parent is not None:
            parent._children.append(self)

    def __repr__(self) -> str:
        return f"DStream({self._name})"

    def _push(self, frame: Any, batch_id: int) -> None:
        out = self._step(frame, batch_id)
        if out is not None:          # None: a window between two slides
            self._deliver(out, batch_id)

    def _deliver(self, out: Any, batch_id: int) -> None:
        for emit in self._outputs:
            emit(out, batch_id)
        for child in self._children:
            child._push(out, batch_id)

    def _finish(self, batch_id: int) -> None:
        """End of input: a window with batches since its last slide emits them; then the children."""
        out = self._flush() if self._flush is not None else None
        if out is not None:
            self._deliver(out, batch_id)
        for child in self._children:
            child._finish(batch_id)

    def _then(self, step: Callable[[Any, int], Any], name: str, windowed: bool = False,
              slider: _Slider | None = None, emit: Callable[[], Any] | None = None) -> DStream:
        if slider is not None:
            def slide_step(frame: Any, batch_id: int) -> Any:
                return emit() if slider.add(step(frame, batch_id)) else None

            def flush() -> Any:
                return emit() if slider.pending else None
            return DStream(self._ctx, self, slide_step, name, True, flush)
        return DStream(self._ctx, self, step, name, windowed)

    # ------------------------------------------------------------ stateless

    def map(self, fn: Callable[[Any], Any] | Any = None, **columns: Any) -> DStream:
        """Each element through ``fn`` (a Python function per element, or a polars expression
        giving the ``value`` column), or the columns ``name=polars_expr`` (vectorized).

        A function returning 2-tuples makes a pair DStream (``key``, ``value``).

        Raises:
            DStreamError: both or neither of ``fn`` and ``columns``.
        """
        if (fn is None) == (not columns):
            raise DStreamError("map takes a function or polars expression, or name=expression columns; not both")
        if columns:
            exprs = [e.alias(n) if _is_expr(e) else pl.lit(e).alias(n) for n, e in columns.items()]
            return self._then(lambda f, _: f.select(exprs), "map")
        if _is_expr(fn):
            return self._then(lambda f, _: f.select(fn.alias(_VALUE)), "map")
        return self._then(lambda f, _: _from_elements([fn(e) for e in _elements(f)], "map"), "map")

    def flat_map(self, fn: Callable[[Any], Iterable[Any]] | Any) -> DStream:
        """Each element to zero or more: a Python function returning an iterable, or a polars
        expression giving a list per row (exploded into the ``value`` column)."""
        if _is_expr(fn):
            # An empty or null list gives no element, as an empty iterable does in Spark.
            return self._then(lambda f, _: f.select(fn.alias(_VALUE)).explode(_VALUE, empty_as_null=False,
                                                                               keep_nulls=False), "flat_map")
        return self._then(lambda f, _: _from_elements([x for e in _elements(f) for x in fn(e)], "flat_map"),
                          "flat_map")

    def filter(self, predicate: Callable[[Any], bool] | Any) -> DStream:
        """The elements for which ``predicate`` (Python function or boolean polars expression) holds."""
        if _is_expr(predicate):
            return self._then(lambda f, _: f.filter(predicate), "filter")

        def keep(frame: Any, _: int) -> Any:
            return frame.filter(pl.Series([bool(predicate(e)) for e in _elements(frame)], dtype=pl.Boolean))
        return self._then(keep, "filter")

    def transform(self, fn: Callable[[Any], Any]) -> DStream:
        """Each batch through ``fn(DataFrame) -> DataFrame`` (Spark's ``transform``)."""
        return self._then(lambda f, _: as_frame(fn(f)), "transform")

    def reduce_by_key(self, fn: Callable[[Any, Any], Any] | str) -> DStream:
        """Per batch, one ``(key, value)`` per key: its values reduced by ``fn``.

        ``fn`` is associative; ``operator.add``/``"sum"``, ``min``/``"min"``, ``max``/``"max"``
        run as polars aggregations, any other function per key in Python.
        """
        reducer = _Reducer(fn, "reduce_by_key")
        return self._then(lambda f, _: reducer.reduce(_pairs(f, "reduce_by_key")), "reduce_by_key")

    # ------------------------------------------------------------ windows

    def _window_sizes(self, window_s: float, slide_s: float | None, op: str) -> tuple[int, int]:
        if self._windowed:
            raise DStreamError(f"{op} over a windowed DStream is not supported; window the input once")
        interval = self._ctx.batch_interval_s
        w = _batches_of(window_s, interval, f"{op}: window")
        s = w if slide_s is None else _batches_of(slide_s, interval, f"{op}: slide")
        if s > w:
            raise DStreamError(f"{op}: a slide of {slide_s} s above the window {window_s} s would skip batches; "
                               f"use a slide <= window")
        return w, s

    def window(self, window_s: float, slide_s: float | None = None) -> DStream:
        """Every ``slide_s`` seconds, the union of the batches of the last ``window_s`` seconds.

        Raises:
            DStreamError: durations that are not multiples of the batch interval.
        """
        slider = _Slider(*self._window_sizes(window_s, slide_s, "window"))

        def emit() -> Any:
            return pl.concat(slider.take()[0], how="vertical_relaxed")
        return self._then(lambda frame, _: frame, "window", slider=slider, emit=emit)

    def count_by_window(self, window_s: float, slide_s: float | None = None) -> DStream:
        """Every ``slide_s`` seconds, one row ``count``: the elements of the last ``window_s`` seconds.

        Incremental, as Spark's: the count of the entering batches is added to the last
        window's, the count of the leaving ones subtracted.
        """
        slider = _Slider(*self._window_sizes(window_s, slide_s, "count_by_window"))
        total = [0]

        def emit() -> Any:
            _, entering, leaving = slider.take()
            total[0] += sum(entering) - sum(leaving)
            return pl.DataFrame({"count": [total[0]]}, schema={"count": pl.Int64})
        return self._then(lambda frame, _: frame.height, "count_by_window", slider=slider, emit=emit)

    def reduce_by_key_and_window(self, fn: Callable[[Any, Any], Any] | str,
                                 inv_fn: Callable[[Any, Any], Any] | None = None,
                                 window_s: float = 0.0, slide_s: float | None = None,
                                 filter_fn: Callable[[tuple[Any, Any]], bool] | Any = None) -> DStream:
        """Every ``slide_s`` seconds, per key, its values of the last ``window_s`` seconds reduced.

        Without ``inv_fn`` each window is reduced from the per-batch reductions it holds.
        With ``inv_fn`` (the inverse of ``fn``: ``inv_fn(fn(a, b), b) == a``) it is
        incremental, as Spark documents: the last window's values reduced with the
        entering batches' and "inverse reduced" with the leaving batches'. Then keys whose
        value went back to the neutral one stay (Spark's behaviour) unless ``filter_fn``
        (a Python function of ``(key, value)`` or a boolean polars expression on ``key``,
        ``value``) drops them. ``operator.add`` with ``operator.sub`` runs as polars
        aggregations; other functions per key in Python.

        Raises:
            DStreamError: durations that are not multiples of the batch interval, or an
                inverse whose function has no kernel together with a kernel function.

        Semantics: Spark Streaming ``reduceByKeyAndWindow(func, invFunc, windowLength,
        slideInterval, numPartitions, filterFunc)``.
        """
        op = "reduce_by_key_and_window"
        slider = _Slider(*self._window_sizes(window_s, slide_s, op))
        reducer = _Reducer(fn, op)
        empty = [None]                               # an empty pair batch of the input's types

        def reduce_batch(frame: Any, _: int) -> Any:
            pairs = _pairs(frame, op)
            empty[0] = pairs.clear()
            return reducer.reduce(pairs)
        if inv_fn is None:
            def emit() -> Any:
                window = [p for p in slider.take()[0] if p.height]
                if not window:
                    return empty[0]
                return _filtered(reducer.reduce(pl.concat(window, how="vertical_relaxed")), filter_fn)
            return self._then(reduce_batch, op, slider=slider, emit=emit)

        vectorized = reducer.kernel == "sum" and inv_fn is operator.sub
        state: list[Any] = [None]                  # the last window's reduction

        def incremental() -> Any:
            _, entering, leaving = slider.take()
            entering = [p for p in entering if p.height]
            leaving = [p for p in leaving if p.height]
            if vectorized:
                pieces = ([state[0]] if state[0] is not None else []) + entering
                pieces += [p.with_columns(-pl.col(_VALUE)) for p in leaving]
                new = (pl.concat(pieces, how="vertical_relaxed").group_by(_KEY, maintain_order=True)
                       .agg(pl.col(_VALUE).sum()) if pieces else None)
            else:
                acc = dict(state[0].iter_rows()) if state[0] is not None else {}
                for part in entering:
                    for k, v in part.iter_rows():
                        acc[k] = fn(acc[k], v) if k in acc else v
                for part in leaving:
                    for k, v in part.iter_rows():
                        acc[k] = inv_fn(acc[k], v)
                new = _from_keys(list(acc), list(acc.values())) if acc else None
            if new is None:
                return empty[0]
            state[0] = _filtered(new, filter_fn)
            return state[0]
        return self._then(reduce_batch, op, slider=slider, emit=incremental)

    # ------------------------------------------------------------ state

    def update_state_by_key(self, update_fn: Callable[[list[Any], Any], Any] | str) -> DStream:
        """Per batch, every key's state: ``update_fn(new_values, state)`` (``state`` ``None`` for a
        new key; a result ``None`` removes the key), for every key with state or new values.

        ``"sum"``, ``"count"``, ``"min"``, ``"max"`` keep that running aggregate of the
        values in polars (no key is ever removed); a Python function runs per key.

        Semantics: Spark Streaming ``updateStateByKey(updateFunc)``.
        """
        op = "update_state_by_key"
        state: list[Any] = [None]
        if isinstance(update_fn, str):
            if update_fn not in _STATE_KERNELS:
                raise DStreamError(f"{op}: a kernel name is one of {_STATE_KERNELS}, got {update_fn!r}")
            merge = "sum" if update_fn == "count" else update_fn

            def vectorized(frame: Any, _: int) -> Any:
                pairs = _pairs(frame, op)
                if pairs.height:
                    grouped = pairs.group_by(_KEY, maintain_order=True)
                    part = grouped.len(name=_VALUE).with_columns(pl.col(_VALUE).cast(pl.Int64)) \
                        if update_fn == "count" else grouped.agg(
                        getattr(pl.col(_VALUE), update_fn)())
                    rows = part if state[0] is None else pl.concat([state[0], part], how="vertical_relaxed")
                    state[0] = rows.group_by(_KEY, maintain_order=True).agg(getattr(pl.col(_VALUE), merge)())
                return state[0] if state[0] is not None else pairs.clear()
            return self._then(vectorized, op)
        if not callable(update_fn):
            raise DStreamError(f"{op}: update_fn must be callable or a kernel name, got {update_fn!r}")
        held: dict[Any, Any] = {}

        def python(frame: Any, _: int) -> Any:
            pairs = _pairs(frame, op)
            new = {}
            if pairs.height:
                grouped = pairs.group_by(_KEY, maintain_order=True).agg(pl.col(_VALUE))
                new = dict(zip(grouped.get_column(_KEY).to_list(), grouped.get_column(_VALUE).to_list()))
            for key in [*held, *(k for k in new if k not in held)]:
                value = update_fn(new.get(key, []), held.get(key))
                if value is None:
                    held.pop(key, None)
                else:
                    held[key] = value
            return _from_keys(list(held), list(held.values())) if held else pairs.clear()
        return self._then(python, op)

    # ------------------------------------------------------------ output

    def foreach_batch(self, fn: Callable[[Any, int], None]) -> None:
        """Call ``fn(batch, batch_id)`` with each batch of this DStream, empty ones included
        (a windowed DStream: at each slide). Spark's ``foreachRDD``."""
        self._outputs.append(fn)

    def pprint(self, num: int = 10, print_fn: Callable[[str], None] = print) -> None:
        """Print the first ``num`` elements of each batch under a header with the batch's time
        (seconds since the start), as Spark's ``pprint``."""
        interval = self._ctx.batch_interval_s

        def show(frame: Any, batch_id: int) -> None:
            lines = ["-------------------------------------------",
                     f"Time: {(batch_id + 1) * interval:g} s",
                     "-------------------------------------------"]
            lines += [repr(e) for e in _elements(frame.head(num))]
            if frame.height > num:
                lines.append("...")
            print_fn("\n".join(lines) + "\n")
        self._outputs.append(show)


class _Slider:
    """What a window operation holds: one item per batch, the last ``w`` plus those since its last slide.

    :meth:`add` says when the slide is due (every ``s`` batches); :meth:`take` returns
    the window, the items that entered it and those that left it since the last
    :meth:`take`, and forgets the latter.
    """

    def __init__(self, w: int, s: int) -> None:
        self.w, self.s = w, s
        self.held: deque = deque()
        self.pending = 0

    def add(self, item: Any) -> bool:
        self.held.append(item)
        self.pending += 1
        return self.pending >= self.s

    def take(self) -> tuple[list[Any], list[Any], list[Any]]:
        parts = list(self.held)
        entering = parts[len(parts) - self.pending:]
        leaving = parts[: max(0, len(parts) - self.w)]
        while len(self.held) > self.w:
            self.held.popleft()
        self.pending = 0
        return parts[-self.w:], entering, leaving


def _filtered(pairs: Any, filter_fn: Any) -> Any:
    if filter_fn is None or pairs.height == 0:
        return pairs
    if _is_expr(filter_fn):
        return pairs.filter(filter_fn)
    return pairs.filter(pl.Series([bool(filter_fn(kv)) for kv in pairs.iter_rows()], dtype=pl.Boolean))
