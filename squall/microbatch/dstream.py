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

A context's graph runs as a Trident topology on Squall's runtime (see
:meth:`StreamingContext.build`): batches get transaction ids, a failed batch is
replayed, and with a state backend the source's position and the windows' and states'
contents are checkpointed together, so a job resumes after a crash.

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
>>> ssc.run().completed
True
>>> out
[[('a', 1), ('b', 2)], [('a', 1), ('b', 3), ('c', 1)]]
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..extras import require
from .errors import MicroBatchError
from .socket_source import SocketSource
from .sources import Source, as_frame
from .trident_runtime import Head, frame_from_bytes, frame_to_bytes

pl = require("polars", "microbatch")

__all__ = ["DStream", "DStreamError", "StreamingContext", "DStreamHead"]

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
    """The batch interval and the DStream graph over one source; :meth:`run` runs it as a topology.

    The graph compiles (:meth:`build`) to a Trident topology: Trident's coordinator spout
    takes the source's batches and gives each a transaction id; one bolt runs the
    DStream operations and the output operations on each batch, holding the windows'
    and the states' contents. So a DStream job runs on the local runtime (and wherever
    topologies run), a failed batch is replayed with its txid, and with a state backend
    the source's position and the operations' state are checkpointed together.

    Args:
        batch_interval_s: seconds per batch (Spark's ``batchDuration``). A source given
            to :meth:`source` is taken to yield one batch per interval; the socket source
            of :meth:`socket_text_stream` cuts its batches at this interval.
        max_attempts: a batch failing this many times (an operation or an output raising
            on it every time) stops the input, and :meth:`run` raises.

    Raises:
        DStreamError: a non-positive interval.

    Semantics: Spark Streaming ``StreamingContext(sparkContext, batchDuration)``; Storm
    "Trident State" for the batches' transaction ids and replays.
    """

    def __init__(self, batch_interval_s: float = 1.0, max_attempts: int = 4) -> None:
        if not batch_interval_s > 0:
            raise DStreamError(f"batch_interval_s must be > 0, got {batch_interval_s!r}")
        self.batch_interval_s = batch_interval_s
        self.max_attempts = max_attempts
        self._source: Source | None = None
        self._root: DStream | None = None

    def source(self, source: Source) -> DStream:
        """The input DStream of ``source``'s batches (one per batch interval).

        Raises:
            DStreamError: the context has a source already (one input per context).
        """
        if self._source is not None:
            raise DStreamError("a StreamingContext reads one source; build another context for another input")
        self._source = source
        self._root = DStream(self, None, _Stateless(_identity), "source")
        return self._root

    def socket_text_stream(self, host: str, port: int, **options: Any) -> DStream:
        """Lines from ``host:port`` (column ``line``), batched at the batch interval.

        ``options`` go to :class:`~squall.microbatch.socket_source.SocketSource`
        (``max_retries``, ``delimiter``, ...).

        Semantics: Spark Streaming ``StreamingContext.socketTextStream``.
        """
        return self.source(SocketSource(host, port, batch_interval_s=self.batch_interval_s, **options))

    def build(self, max_batches: int | None = None) -> Any:
        """Compile the graph to a :class:`~squall.microbatch.trident.TridentTopology` (not yet built).

        Each call compiles afresh: the operations' state starts empty in each topology.

        Args:
            max_batches: process at most this many batches, and then flush no window.

        Raises:
            DStreamError: no source.
        """
        from .trident import TridentTopology
        if self._source is None or self._root is None:
            raise DStreamError("a DStream job needs a source: call ssc.source(...) or ssc.socket_text_stream(...) first")
        source = self._source if max_batches is None else _FirstBatches(self._source, max_batches)
        topo = TridentTopology(name="dstream", max_attempts=self.max_attempts)
        stream = topo.new_stream("dstream-source", source, fields=())
        stream._through(DStreamHead(_compile(self._root), max_batches), "dstream", (), keep_empty=True)
        return topo

    def run(self, max_batches: int | None = None, *, state_backend: Any = None,
            conf: Mapping[str, Any] | None = None, timeout_s: float | None = None) -> Any:
        """Run the graph on the local runtime until the source ends (or ``max_batches``).

        When the source ends, each window that took batches since its last slide emits
        once more, over its last ``window_s`` seconds (Flink fires its windows at the end
        of input; Spark's streams do not end). Stopping at ``max_batches`` does not.

        Args:
            max_batches: stop after this many batches.
            state_backend: e.g. ``RocksDBStateBackend(dir)``: the source's position and
                the operations' state (windows, ``update_state_by_key``) are checkpointed
                every ``topology.state.checkpoint.interval.ms``; a run after a crash
                resumes from the last checkpoint (the source must give the same batches
                again; the values a Python update function keeps must be data: None,
                numbers, str, bytes, lists, dicts).
            conf: topology configuration.
            timeout_s: stop after this long (the result says it did not complete).

        Returns:
            the :class:`~squall.runtime.local.RunResult`.

        Raises:
            DStreamError: no source, or a batch failed ``max_attempts`` times (a batch
                that does not fit an operation, an output raising, the source raising);
                the message carries the errors reported.

        Output operations run at least once per batch: a batch replayed after a failure
        (or after a crash, from the last checkpoint) calls them again.
        """
        result = self.build(max_batches).run(conf, timeout_s, state_backend=state_backend)
        errors = result.errors()
        if errors:
            raise DStreamError(f"the DStream job stopped on an error: {errors[0]}"
                               + (f" (and {len(errors) - 1} more: {errors[1:]})" if len(errors) > 1 else ""))
        return result


class _FirstBatches(Source):
    """The first ``n`` batches of a source."""

    def __init__(self, source: Source, n: int) -> None:
        self.source, self.n = source, n

    def batches(self) -> Iterator[Any]:
        return itertools.islice(self.source.batches(), self.n)


def _identity(frame: Any, batch_id: int) -> Any:
    return frame


class DStream:
    """A discretized stream: one batch (``DataFrame``) per interval, or per slide for a window.

    Built by :class:`StreamingContext` and the methods below, never directly; a DStream
    only declares: its operation runs when the context's topology runs.
    """

    def __init__(self, ctx: StreamingContext, parent: DStream | None, op: _Op, name: str) -> None:
        self._ctx, self._parent, self._op, self._name = ctx, parent, op, name
        self._children: list[DStream] = []
        self._outputs: list[Callable[[Any, int], None]] = []
        self._windowed = isinstance(op, _Windowed) or (parent is not None and parent._windowed)
        if parent is not None:
            parent._children.append(self)

    def __repr__(self) -> str:
        return f"DStream({self._name})"

    def _then(self, op: _Op, name: str) -> DStream:
        return DStream(self._ctx, self, op, name)

    def _stateless(self, step: Callable[[Any, int], Any], name: str) -> DStream:
        return self._then(_Stateless(step), name)

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
            return self._stateless(lambda f, _: f.select(exprs), "map")
        if _is_expr(fn):
            return self._stateless(lambda f, _: f.select(fn.alias(_VALUE)), "map")
        return self._stateless(lambda f, _: _from_elements([fn(e) for e in _elements(f)], "map"), "map")

    def flat_map(self, fn: Callable[[Any], Iterable[Any]] | Any) -> DStream:
        """Each element to zero or more: a Python function returning an iterable, or a polars
        expression giving a list per row (exploded into the ``value`` column)."""
        if _is_expr(fn):
            # An empty or null list gives no element, as an empty iterable does in Spark.
            return self._stateless(lambda f, _: f.select(fn.alias(_VALUE)).explode(_VALUE, empty_as_null=False,
                                                                                    keep_nulls=False), "flat_map")
        return self._stateless(lambda f, _: _from_elements([x for e in _elements(f) for x in fn(e)], "flat_map"),
                               "flat_map")

    def filter(self, predicate: Callable[[Any], bool] | Any) -> DStream:
        """The elements for which ``predicate`` (Python function or boolean polars expression) holds."""
        if _is_expr(predicate):
            return self._stateless(lambda f, _: f.filter(predicate), "filter")

        def keep(frame: Any, _: int) -> Any:
            return frame.filter(pl.Series([bool(predicate(e)) for e in _elements(frame)], dtype=pl.Boolean))
        return self._stateless(keep, "filter")

    def transform(self, fn: Callable[[Any], Any]) -> DStream:
        """Each batch through ``fn(DataFrame) -> DataFrame`` (Spark's ``transform``)."""
        return self._stateless(lambda f, _: as_frame(fn(f)), "transform")

    def reduce_by_key(self, fn: Callable[[Any, Any], Any] | str) -> DStream:
        """Per batch, one ``(key, value)`` per key: its values reduced by ``fn``.

        ``fn`` is associative; ``operator.add``/``"sum"``, ``min``/``"min"``, ``max``/``"max"``
        run as polars aggregations, any other function per key in Python.
        """
        reducer = _Reducer(fn, "reduce_by_key")
        return self._stateless(lambda f, _: reducer.reduce(_pairs(f, "reduce_by_key")), "reduce_by_key")

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
        return self._then(_Window(*self._window_sizes(window_s, slide_s, "window")), "window")

    def count_by_window(self, window_s: float, slide_s: float | None = None) -> DStream:
        """Every ``slide_s`` seconds, one row ``count``: the elements of the last ``window_s`` seconds.

        Incremental, as Spark's: the count of the entering batches is added to the last
        window's, the count of the leaving ones subtracted.
        """
        return self._then(_CountByWindow(*self._window_sizes(window_s, slide_s, "count_by_window")),
                          "count_by_window")

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
        w, s = self._window_sizes(window_s, slide_s, op)
        return self._then(_ReduceByKeyAndWindow(w, s, _Reducer(fn, op), inv_fn, filter_fn), op)

    # ------------------------------------------------------------ state

    def update_state_by_key(self, update_fn: Callable[[list[Any], Any], Any] | str) -> DStream:
        """Per batch, every key's state: ``update_fn(new_values, state)`` (``state`` ``None`` for a
        new key; a result ``None`` removes the key), for every key with state or new values.

        ``"sum"``, ``"count"``, ``"min"``, ``"max"`` keep that running aggregate of the
        values in polars (no key is ever removed); a Python function runs per key.

        Semantics: Spark Streaming ``updateStateByKey(updateFunc)``.
        """
        op = "update_state_by_key"
        if isinstance(update_fn, str):
            if update_fn not in _STATE_KERNELS:
                raise DStreamError(f"{op}: a kernel name is one of {_STATE_KERNELS}, got {update_fn!r}")
            return self._then(_KernelState(update_fn), op)
        if not callable(update_fn):
            raise DStreamError(f"{op}: update_fn must be callable or a kernel name, got {update_fn!r}")
        return self._then(_PythonState(update_fn), op)

    # ------------------------------------------------------------ output

    def foreach_batch(self, fn: Callable[[Any, int], None]) -> None:
        """Call ``fn(batch, batch_id)`` with each batch of this DStream, empty ones included
        (a windowed DStream: at each slide). Spark's ``foreachRDD``: at least once per
        batch (a replayed batch calls it again).

        It runs in the topology's task: where that task is another process, a pickled copy.
        """
        self._outputs.append(fn)

    def pprint(self, num: int = 10, print_fn: Callable[[str], None] = print) -> None:
        """Print the first ``num`` elements of each batch under a header with the batch's time
        (seconds since the start), as Spark's ``pprint``."""
        self._outputs.append(_Pprint(num, print_fn, self._ctx.batch_interval_s))


@dataclass(frozen=True)
class _Pprint:
    num: int
    print_fn: Callable[[str], None]
    interval_s: float

    def __call__(self, frame: Any, batch_id: int) -> None:
        lines = ["-------------------------------------------",
                 f"Time: {(batch_id + 1) * self.interval_s:g} s",
                 "-------------------------------------------"]
        lines += [repr(e) for e in _elements(frame.head(self.num))]
        if frame.height > self.num:
            lines.append("...")
        self.print_fn("\n".join(lines) + "\n")


# ---------------------------------------------------------------- operations and their state

class _Op:
    """One DStream operation: ``step`` per batch, ``flush`` at the end of input.

    State lives in the object, never in closures, so the task can roll a failed batch
    back (``state``/``set_state``: cheap references, frames are immutable) and
    checkpoint it (``snapshot``/``restore``: data a state backend stores; ``None``
    restores the empty state).
    """

    def step(self, frame: Any, batch_id: int) -> Any:
        """The output batch for ``frame``, or ``None`` (a window between two slides)."""
        raise NotImplementedError

    def flush(self) -> Any:
        return None

    def state(self) -> Any:
        return None

    def set_state(self, state: Any) -> None:
        pass

    def snapshot(self) -> Any:
        return None

    def restore(self, snapshot: Any) -> None:
        pass


class _Stateless(_Op):
    def __init__(self, fn: Callable[[Any, int], Any]) -> None:
        self.fn = fn

    def step(self, frame, batch_id):
        return self.fn(frame, batch_id)


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


class _Windowed(_Op):
    """An operation over the last ``w`` batches' items, emitting every ``s`` batches."""

    def __init__(self, w: int, s: int) -> None:
        self.slider = _Slider(w, s)

    def item(self, frame: Any) -> Any:
        """What the window keeps of a batch."""
        raise NotImplementedError

    def emit(self) -> Any:
        raise NotImplementedError

    def step(self, frame, batch_id):
        return self.emit() if self.slider.add(self.item(frame)) else None

    def flush(self):
        return self.emit() if self.slider.pending else None

    def state(self):
        return list(self.slider.held), self.slider.pending

    def set_state(self, state):
        held, self.slider.pending = state
        self.slider.held = deque(held)

    def snapshot(self):
        return {"held": [frame_to_bytes(f) for f in self.slider.held], "pending": self.slider.pending}

    def restore(self, snapshot):
        held = [frame_from_bytes(b) for b in snapshot["held"]] if snapshot else []
        _Windowed.set_state(self, (held, snapshot["pending"] if snapshot else 0))


class _Window(_Windowed):
    def item(self, frame):
        return frame

    def emit(self):
        return pl.concat(self.slider.take()[0], how="vertical_relaxed")


class _CountByWindow(_Windowed):
    def __init__(self, w: int, s: int) -> None:
        super().__init__(w, s)
        self.total = 0

    def item(self, frame):
        return frame.height

    def emit(self):
        _, entering, leaving = self.slider.take()
        self.total += sum(entering) - sum(leaving)
        return pl.DataFrame({"count": [self.total]}, schema={"count": pl.Int64})

    def state(self):
        return super().state(), self.total

    def set_state(self, state):
        inner, self.total = state
        super().set_state(inner)

    def snapshot(self):
        return {"held": list(self.slider.held), "pending": self.slider.pending, "total": self.total}

    def restore(self, snapshot):
        _Windowed.set_state(self, (list(snapshot["held"]), snapshot["pending"]) if snapshot else ([], 0))
        self.total = snapshot["total"] if snapshot else 0


class _ReduceByKeyAndWindow(_Windowed):
    """The per-batch reductions of the last ``w`` batches; with ``inv_fn``, also the last window's result."""

    def __init__(self, w: int, s: int, reducer: _Reducer, inv_fn: Any, filter_fn: Any) -> None:
        super().__init__(w, s)
        self.reducer, self.inv_fn, self.filter_fn = reducer, inv_fn, filter_fn
        self.vectorized = reducer.kernel == "sum" and inv_fn is operator.sub
        self.empty: Any = None        # an empty pair batch of the input's types
        self.last: Any = None         # with inv_fn: the last window's reduction

    def item(self, frame):
        pairs = _pairs(frame, "reduce_by_key_and_window")
        self.empty = pairs.clear()
        return self.reducer.reduce(pairs)

    def emit(self):
        if self.inv_fn is None:
            window = [p for p in self.slider.take()[0] if p.height]
            if not window:
                return self.empty
            return _filtered(self.reducer.reduce(pl.concat(window, how="vertical_relaxed")), self.filter_fn)
        _, entering, leaving = self.slider.take()
        entering = [p for p in entering if p.height]
        leaving = [p for p in leaving if p.height]
        if self.vectorized:
            pieces = ([self.last] if self.last is not None else []) + entering
            pieces += [p.with_columns(-pl.col(_VALUE)) for p in leaving]
            new = (pl.concat(pieces, how="vertical_relaxed").group_by(_KEY, maintain_order=True)
                   .agg(pl.col(_VALUE).sum()) if pieces else None)
        else:
            fn, inv_fn = self.reducer.fn, self.inv_fn
            acc = dict(self.last.iter_rows()) if self.last is not None else {}
            for part in entering:
                for k, v in part.iter_rows():
                    acc[k] = fn(acc[k], v) if k in acc else v
            for part in leaving:
                for k, v in part.iter_rows():
                    acc[k] = inv_fn(acc[k], v)
            new = _from_keys(list(acc), list(acc.values())) if acc else None
        if new is None:
            return self.empty
        self.last = _filtered(new, self.filter_fn)
        return self.last

    def state(self):
        return super().state(), self.empty, self.last

    def set_state(self, state):
        inner, self.empty, self.last = state
        super().set_state(inner)

    def snapshot(self):
        return {**super().snapshot(), "empty": frame_to_bytes(self.empty), "last": frame_to_bytes(self.last)}

    def restore(self, snapshot):
        super().restore(snapshot)
        self.empty = frame_from_bytes(snapshot["empty"]) if snapshot else None
        self.last = frame_from_bytes(snapshot["last"]) if snapshot else None


class _KernelState(_Op):
    """``update_state_by_key`` with a kernel: the running aggregate per key as one frame."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.merge = "sum" if kind == "count" else kind
        self.table: Any = None

    def step(self, frame, batch_id):
        pairs = _pairs(frame, "update_state_by_key")
        if pairs.height:
            grouped = pairs.group_by(_KEY, maintain_order=True)
            part = grouped.len(name=_VALUE).with_columns(pl.col(_VALUE).cast(pl.Int64)) \
                if self.kind == "count" else grouped.agg(getattr(pl.col(_VALUE), self.kind)())
            rows = part if self.table is None else pl.concat([self.table, part], how="vertical_relaxed")
            self.table = rows.group_by(_KEY, maintain_order=True).agg(getattr(pl.col(_VALUE), self.merge)())
        return self.table if self.table is not None else pairs.clear()

    def state(self):
        return self.table

    def set_state(self, state):
        self.table = state

    def snapshot(self):
        return frame_to_bytes(self.table)

    def restore(self, snapshot):
        self.table = frame_from_bytes(snapshot)


class _PythonState(_Op):
    """``update_state_by_key`` with a Python function: a dict of key -> state."""

    def __init__(self, update_fn: Callable[[list[Any], Any], Any]) -> None:
        self.update_fn = update_fn
        self.held: dict[Any, Any] = {}

    def step(self, frame, batch_id):
        pairs = _pairs(frame, "update_state_by_key")
        new = {}
        if pairs.height:
            grouped = pairs.group_by(_KEY, maintain_order=True).agg(pl.col(_VALUE))
            new = dict(zip(grouped.get_column(_KEY).to_list(), grouped.get_column(_VALUE).to_list()))
        # A new dict per batch: a failed batch rolls back to the last one.
        held = dict(self.held)
        for key in [*held, *(k for k in new if k not in held)]:
            value = self.update_fn(new.get(key, []), held.get(key))
            if value is None:
                held.pop(key, None)
            else:
                held[key] = value
        self.held = held
        return _from_keys(list(held), list(held.values())) if held else pairs.clear()

    def state(self):
        return self.held

    def set_state(self, state):
        self.held = state

    def snapshot(self):
        return [[k, v] for k, v in self.held.items()]

    def restore(self, snapshot):
        self.held = {k: v for k, v in snapshot} if snapshot else {}


# ---------------------------------------------------------------- the compiled graph

@dataclass
class _Node:
    """A DStream as the task runs it: its operation, its outputs, the nodes it feeds."""

    op: _Op
    outputs: list[Callable[[Any, int], None]]
    children: list[_Node]


def _compile(stream: DStream) -> _Node:
    return _Node(stream._op, list(stream._outputs), [_compile(c) for c in stream._children])


def _nodes(root: _Node) -> list[_Node]:
    out, todo = [], [root]
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(reversed(node.children))
    return out


@dataclass
class DStreamHead(Head):
    """The bolt's operation for a DStream graph: each batch through every DStream, in one task.

    Batch ids count batches from 0 (the txid minus one: the DStream topology keeps no
    txid store). A replay of the batch applied last (its tree timed out) does nothing;
    a batch whose operations or outputs raised is rolled back (every operation's state
    as before it) and fails, so the spout replays it. At the closing batch (``last``)
    the windows flush, unless ``max_batches`` batches were taken.
    """

    root: _Node
    max_batches: int | None = None

    def prepare(self, name):
        self._nodes = _nodes(self.root)
        self._applied: int | None = None
        self._taken = 0
        self._last_id: int | None = None

    def assemble(self, parts):
        # An empty batch stays a frame with its columns: the operations read them.
        got = [f for f in parts[0] if f is not None]
        return [got[0] if len(got) == 1 else pl.concat(got, how="vertical_relaxed") if got else None]

    def run(self, txid, frames, last):
        if txid == self._applied:
            return {}
        saved = [n.op.state() for n in self._nodes]
        taken, last_id = self._taken, self._last_id
        try:
            if not last:
                frame = frames[0] if frames[0] is not None else pl.DataFrame()
                self._last_id = txid - 1
                self._taken += 1
                _push(self.root, frame, txid - 1)
            elif self._last_id is not None and (self.max_batches is None or self._taken < self.max_batches):
                _finish(self.root, self._last_id)
        except Exception:
            for n, st in zip(self._nodes, saved):
                n.op.set_state(st)
            self._taken, self._last_id = taken, last_id
            raise
        self._applied = txid
        return {}

    def snapshot(self):
        return {"applied": self._applied, "taken": self._taken, "last_id": self._last_id,
                "ops": [n.op.snapshot() for n in self._nodes]}

    def restore(self, snapshot):
        self._applied = snapshot["applied"] if snapshot else None
        self._taken = snapshot["taken"] if snapshot else 0
        self._last_id = snapshot["last_id"] if snapshot else None
        for i, n in enumerate(self._nodes):
            n.op.restore(snapshot["ops"][i] if snapshot else None)


def _push(node: _Node, frame: Any, batch_id: int) -> None:
    out = node.op.step(frame, batch_id)
    if out is not None:          # None: a window between two slides
        _deliver(node, out, batch_id)


def _deliver(node: _Node, out: Any, batch_id: int) -> None:
    for emit in node.outputs:
        emit(out, batch_id)
    for child in node.children:
        _push(child, out, batch_id)


def _finish(node: _Node, batch_id: int) -> None:
    """End of input: a window with batches since its last slide emits them; then the children."""
    out = node.op.flush()
    if out is not None:
        _deliver(node, out, batch_id)
    for child in node.children:
        _finish(child, batch_id)


def _filtered(pairs: Any, filter_fn: Any) -> Any:
    if filter_fn is None or pairs.height == 0:
        return pairs
    if _is_expr(filter_fn):
        return pairs.filter(filter_fn)
    return pairs.filter(pl.Series([bool(filter_fn(kv)) for kv in pairs.iter_rows()], dtype=pl.Boolean))
