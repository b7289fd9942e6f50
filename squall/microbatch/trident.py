"""Trident on columnar batches: Storm's Trident API, Pythonic names, polars kernels underneath.

A :class:`TridentTopology` declares streams of batches; ``build()`` compiles it to an
ordinary Squall :class:`~squall.topology.Topology` (a coordinator spout emitting
batches as tuples, one bolt per step that needs its own task, see
:mod:`squall.microbatch.trident_runtime`), so it runs on the local runtime and
wherever topologies run. Per batch, Python runs a few calls per step; the records go
through polars kernels (expressions, group-bys, joins, windows) unless a step is a
Python function, which is the fallback (per batch with :func:`batch_function`, or per
tuple, Storm's way).

Storm's WordCount (storm-starter ``TridentWordCount``):

>>> import polars as pl
>>> from squall.microbatch import ListSource
>>> from squall.microbatch.trident import TridentTopology, Split, Count, MemoryMapState
>>> topo = TridentTopology()
>>> sentences = ListSource([pl.DataFrame({"sentence": ["the cow", "the moon"]})])
>>> counts = (topo.new_stream("spout1", sentences, fields=["sentence"])
...           .each(["sentence"], Split(), ["word"])
...           .group_by(["word"])
...           .persistent_aggregate(MemoryMapState(), Count(), ["count"]))
>>> seen = []
>>> _ = counts.new_values_stream().peek(lambda batch: seen.extend(batch.rows()))
>>> topo.run().completed
True
>>> sorted(seen)
[('cow', 1), ('moon', 1), ('the', 2)]

Semantics: Storm "Trident tutorial", "Trident API Overview", "Trident State",
"Trident Windowing". Where Squall differs it says so in the method's docstring and
in docs/microbatch.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from ..extras import require
from ..topology import Topology, TopologyBuilder
from .errors import PlanError
from .plan import Explode, Filter, PythonStep, Select, WithColumns, to_ms, window
from .sources import Source
from .trident_aggregators import AggregationKernel, Aggregator, Avg, Combiner, Count, Max, Min, Sum
from .trident_runtime import (CountWindow, Edge, GroupAggregate, Join, Merge, PartitionPersist, Passthrough, Persist,
                              SourceSpec, TimeWindow, TridentBolt, TridentSpout)
from .trident_state import KeyValueMapState, MemoryMapState, StateFactory, StateType

pl = require("polars", "microbatch")

__all__ = ["TridentTopology", "Stream", "GroupedStream", "TridentState", "Split", "BatchFunction",
           "batch_function", "Count", "Sum", "Min", "Max", "Avg", "Combiner", "MemoryMapState",
           "KeyValueMapState", "StateType", "SPOUT_NAME"]

SPOUT_NAME = "trident-spout"


@dataclass(frozen=True)
class Split:
    """The function of storm-starter's WordCount as a kernel: one tuple per ``sep``-separated
    word of the (single) input field; empty words are dropped."""

    sep: str = " "


@dataclass(frozen=True)
class BatchFunction:
    """A Python function over the whole batch: it takes the input fields as a polars
    DataFrame and returns a DataFrame (or a Series, or a dict of columns) of the outputs;
    for ``filter``, a boolean Series. Build with :func:`batch_function`."""

    fn: Callable[[Any], Any]


def batch_function(fn: Callable[[Any], Any]) -> BatchFunction:
    """Mark ``fn`` as taking the batch's columns (called once per batch, not per tuple).

    >>> double = batch_function(lambda cols: cols["x"] * 2)
    """
    return BatchFunction(fn)


def _fields(value: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    out = tuple(value)
    bad = [f for f in out if not isinstance(f, str)]
    if bad:
        raise PlanError(f"{what} must be field names, got {bad!r}")
    return out


def _is_expr(x: Any) -> bool:
    return isinstance(x, pl.Expr) or (isinstance(x, (list, tuple)) and bool(x)
                                      and all(isinstance(e, pl.Expr) for e in x))


class _OneRow:
    """A per-tuple ``map`` function returning one value or one tuple, as a function emitting one tuple."""

    def __init__(self, fn: Callable, width: int) -> None:
        self.fn, self.width = fn, width

    def __call__(self, *values):
        out = self.fn(*values)
        return [out if self.width > 1 else (out,)]


class _BatchFilter:
    """A :class:`BatchFunction` predicate: keeps the rows where its boolean Series is true."""

    def __init__(self, fn: Callable, input_fields: tuple[str, ...]) -> None:
        self.fn, self.input_fields = fn, input_fields

    def __call__(self, frame):
        mask = self.fn(frame.select(self.input_fields) if self.input_fields else frame)
        return frame.filter(mask)


def _check_inputs(what: str, fields: tuple[str, ...], stream_fields: tuple[str, ...]) -> None:
    missing = [f for f in fields if f not in stream_fields]
    if missing:
        raise PlanError(f"{what}: fields {missing} are not in the stream (its fields: {list(stream_fields)})")


def _aggregators(aggregators: Aggregator | Sequence[Aggregator], out_fields: str | Sequence[str],
                 fields: tuple[str, ...], what: str) -> tuple[tuple[Aggregator, ...], tuple[str, ...]]:
    aggs = (aggregators,) if isinstance(aggregators, Aggregator) else tuple(aggregators)
    outs = _fields(out_fields, f"{what} output fields")
    for a in aggs:
        if isinstance(a, Aggregator):
            _check_inputs(f"{what}({a!r})", tuple(a.input_fields), fields)
    return aggs, outs


class _Node:
    """A step that runs in its own bolt (or, for a source, in the spout)."""

    def __init__(self, name: str, head: Any = None, source: SourceSpec | None = None,
                 parallelism: int = 1, fixed: bool = False) -> None:
        self.name, self.head, self.source = name, head, source
        self.parallelism, self.fixed = parallelism, fixed
        self.inputs: list[tuple[Any, tuple[str, ...] | None, int]] = []   # (stream or resolved, key, port)
        self.keep_empty = False       # empty batches reach the head as empty frames, not None


class Stream:
    """A stream of batches with named fields (Trident's ``Stream``). Immutable: each
    operation returns a new stream."""

    def __init__(self, topology: TridentTopology, fields: tuple[str, ...], node: _Node | None = None,
                 port: str = "out", parent: Stream | None = None, op: Any = None) -> None:
        self._topo, self.fields = topology, tuple(fields)
        self._node, self._port, self._parent, self._op = node, port, parent, op
        self._uses = 0
        self._hint: int | None = None
        topology._streams.append(self)

    def __repr__(self) -> str:
        return f"Stream(fields={list(self.fields)})"

    def _chain_hint(self) -> int:
        """The parallelism hint given on this stream or one it derives from (default 1)."""
        s: Stream | None = self
        while s is not None:
            if s._hint is not None:
                return s._hint
            s = s._parent
        return 1

    def _root(self) -> Stream:
        s = self
        while s._parent is not None:
            s = s._parent
        return s

    def _then(self, ops: tuple, fields: tuple[str, ...]) -> Stream:
        self._topo._check_open()
        out = self
        for op in ops:
            out._uses += 1
            out = Stream(self._topo, fields, parent=out, op=op)
        return out

    # -- partition-local operations ---------------------------------------------------

    def each(self, input_fields: str | Sequence[str], function: Any, function_fields: str | Sequence[str]) -> Stream:
        """Append ``function_fields`` computed from ``input_fields`` to each tuple.

        ``function`` is one of:

        * a polars expression (or a list, one per function field): a kernel, one output
          per tuple;
        * :class:`Split` (``sep``): one tuple per word of the input field (a tuple with
          no words is dropped);
        * a :class:`BatchFunction`: called once per batch with the input columns, returns
          the function fields, one row per input row;
        * any other callable: called once per tuple with the input values, returns an
          iterable of output tuples (Storm's ``Function.execute``; none drops the tuple,
          several duplicate it). The slow fallback.

        Raises:
            PlanError: unknown input fields, a function field already in the stream, or
                a number of expressions other than the function fields'.

        Semantics: Storm "Trident API Overview", Functions (``each``).
        """
        ins = _fields(input_fields, "each input fields")
        outs = _fields(function_fields, "each function fields")
        _check_inputs("each", ins, self.fields)
        dup = [f for f in outs if f in self.fields]
        if dup:
            raise PlanError(f"each: function fields {dup} are already in the stream {list(self.fields)}; "
                            f"name them differently or project first")
        return self._then(self._function_ops(ins, function, outs, "each"), self.fields + outs)

    def _function_ops(self, ins: tuple[str, ...], function: Any, outs: tuple[str, ...], mode: str) -> tuple:
        if isinstance(function, Split):
            if len(ins) != 1 or len(outs) != 1:
                raise PlanError(f"{mode}: Split takes one input field and makes one field, got {list(ins)} -> "
                                f"{list(outs)}")
            words = pl.col(ins[0]).str.split(function.sep).alias(outs[0])
            # Empty words go after the explode (a filter inside each list costs more);
            # the filter also drops the null row of a null sentence.
            nonempty = Filter(pl.col(outs[0]) != "")
            if mode == "each":
                return WithColumns((words,)), Explode(outs, keep_empty=True), nonempty
            return Select((words,)), Explode(outs, keep_empty=True), nonempty
        if _is_expr(function):
            exprs = (function,) if isinstance(function, pl.Expr) else tuple(function)
            if len(exprs) != len(outs):
                raise PlanError(f"{mode}: {len(exprs)} expressions for {len(outs)} fields {list(outs)}; "
                                f"give one expression per field")
            named = tuple(e.alias(f) for e, f in zip(exprs, outs))
            if mode == "each":
                return (WithColumns(named),)
            if mode == "map":
                return (Select(named),)
            return Select(named), Explode(outs)
        name = getattr(function, "__name__", None) or repr(function)
        if isinstance(function, BatchFunction):
            return (PythonStep(function.fn, "batch", ins, outs, append=mode == "each", name=name),)
        if not callable(function):
            raise PlanError(f"{mode}: {function!r} is not a function, a polars expression, Split or a "
                            f"batch_function")
        fn = _OneRow(function, len(outs)) if mode == "map" else function
        return (PythonStep(fn, "rows", ins, outs, append=mode == "each", name=name),)

    def map(self, function: Any, output_fields: str | Sequence[str] | None = None,
            input_fields: str | Sequence[str] | None = None) -> Stream:
        """Replace each tuple with ``function``'s output, one tuple per tuple.

        ``function``: polars expression(s) (one per output field; default output fields:
        the expressions' names), a :class:`BatchFunction`, or a per-tuple callable
        returning a value (one output field) or a tuple. ``input_fields``: what a callable
        receives (default: every field). ``output_fields`` default to the input's.

        Semantics: Storm "Trident API Overview", map.
        """
        ins = _fields(input_fields, "map input fields") or self.fields
        _check_inputs("map", ins, self.fields)
        outs = self._out_names(function, output_fields, ins)
        return self._then(self._function_ops(ins, function, outs, "map"), outs)

    def flat_map(self, function: Any, output_fields: str | Sequence[str] | None = None,
                 input_fields: str | Sequence[str] | None = None) -> Stream:
        """Replace each tuple with zero or more tuples.

        ``function``: :class:`Split`, polars expression(s) yielding a list per tuple
        (exploded), a :class:`BatchFunction` returning the output rows, or a per-tuple
        callable returning an iterable of tuples.

        Semantics: Storm "Trident API Overview", flatMap.
        """
        ins = _fields(input_fields, "flat_map input fields") or self.fields
        _check_inputs("flat_map", ins, self.fields)
        outs = self._out_names(function, output_fields, ins)
        return self._then(self._function_ops(ins, function, outs, "flat_map"), outs)

    @staticmethod
    def _out_names(function: Any, output_fields: Any, ins: tuple[str, ...]) -> tuple[str, ...]:
        outs = _fields(output_fields, "output fields")
        if outs:
            return outs
        if _is_expr(function):
            exprs = (function,) if isinstance(function, pl.Expr) else tuple(function)
            return tuple(e.meta.output_name() for e in exprs)
        return ins

    def filter(self, predicate: Any, input_fields: str | Sequence[str] | None = None) -> Stream:
        """Keep the tuples for which ``predicate`` holds.

        ``predicate``: a boolean polars expression (a kernel), a :class:`BatchFunction`
        returning a boolean Series for the batch, or a per-tuple callable taking the
        values of ``input_fields`` (Storm's ``Filter.isKeep``).

        Semantics: Storm "Trident API Overview", Filters.
        """
        ins = _fields(input_fields, "filter input fields")
        _check_inputs("filter", ins, self.fields)
        if isinstance(predicate, pl.Expr):
            op = Filter(predicate)
        elif isinstance(predicate, BatchFunction):
            op = PythonStep(_BatchFilter(predicate.fn, ins), "batch", name=repr(predicate.fn))
        elif callable(predicate):
            op = PythonStep(predicate, "keep", ins or self.fields, name=getattr(predicate, "__name__", ""))
        else:
            raise PlanError(f"filter: {predicate!r} is not a polars expression, batch_function or function")
        return self._then((op,), self.fields)

    def peek(self, action: Callable[[Any], None]) -> Stream:
        """Call ``action(batch)`` with each batch (a polars DataFrame) as it passes.

        Squall differs from Storm: the action sees the whole batch once (iterate
        ``batch.iter_rows()`` for tuples), not one tuple per call. The action runs in
        the bolt's task: in another process it is a pickled copy.

        Semantics: Storm "Trident API Overview", peek.
        """
        return self._then((PythonStep(action, "peek", name=getattr(action, "__name__", "peek")),), self.fields)

    def project(self, fields: str | Sequence[str]) -> Stream:
        """Keep only ``fields``, in that order.

        Semantics: Storm "Trident API Overview", projection.
        """
        keep = _fields(fields, "project fields")
        _check_inputs("project", keep, self.fields)
        return self._then((Select(keep),), keep)

    def partition_persist(self, state_factory: Any, updater: Callable[[Any, Any, int], Any],
                          input_fields: str | Sequence[str] | None = None, name: str = "persist") -> TridentState:
        """Write each batch to a state (a sink): ``updater(state, batch, txid)`` per task and batch.

        Args:
            state_factory: has ``make(name)`` building the task's state (an object with
                ``begin_commit(txid)``, ``commit(txid)``, ``close()``), built on the
                worker; ``single_writer_keys()`` when it opens an embedded store.
            updater: called with the state, the task's part of the batch (a polars
                DataFrame of ``input_fields``) and the txid; may return a DataFrame, the
                state's ``new_values_stream``.
            input_fields: default: every field.
            name: names the bolt (``b-<n>-<name>``), where the ``written`` metric (rows
                given to the updater) is reported.

        The updater runs again for a replayed batch (same txid): keyed writes, or a
        check of the txid, make it exactly once.

        Semantics: Storm "Trident State" (``partitionPersist`` with a ``StateUpdater``).
        """
        ins = _fields(input_fields, "partition_persist input fields") or self.fields
        _check_inputs("partition_persist", ins, self.fields)
        if not callable(updater) or not hasattr(state_factory, "make"):
            raise PlanError(f"partition_persist needs a state factory with make(name) and a callable updater, "
                            f"got {state_factory!r}, {updater!r}")
        stream = self if ins == self.fields else self.project(ins)
        node = self._topo._node(name, PartitionPersist(state_factory, updater))
        stream._use(node, None, 0)
        return TridentState(self._topo, node, ins)

    def parallelism_hint(self, n: int) -> Stream:
        """Run the steps since the last repartition in ``n`` tasks.

        Raises:
            PlanError: ``n`` below 1, or above 1 for a global aggregation.
        """
        if not isinstance(n, int) or n < 1:
            raise PlanError(f"parallelism_hint needs an int >= 1, got {n!r}")
        root = self._root()
        node = root._node
        if node is not None and node.source is None:
            if node.fixed and n != 1:
                raise PlanError(f"{node.name}: a global aggregation runs in one task; parallelism_hint({n}) "
                                f"cannot apply (group_by first to spread it)")
            node.parallelism = n
        else:
            self._hint = n
        return self

    # -- repartitioning and aggregation -------------------------------------------------

    def partition_by(self, fields: str | Sequence[str]) -> Stream:
        """Repartition: the following steps run in tasks that each get the tuples of some keys.

        Semantics: Storm "Trident API Overview", Repartitioning operations (partitionBy).
        """
        keys = _fields(fields, "partition_by fields")
        _check_inputs("partition_by", keys, self.fields)
        node = self._topo._node("partition", Passthrough())
        self._use(node, keys, 0)
        return Stream(self._topo, self.fields, node)

    def _through(self, head: Any, kind: str, fields: Sequence[str], keep_empty: bool = False) -> Stream:
        """The stream out of ``head`` (a :class:`~squall.microbatch.trident_runtime.Head`) run on
        this stream in one task of its own; how the other micro-batch APIs compile onto
        Trident's runtime. ``keep_empty``: the head gets empty batches as empty frames."""
        node = self._topo._node(kind, head, fixed=True)
        node.keep_empty = keep_empty
        self._use(node, None, 0)
        return Stream(self._topo, tuple(fields), node)

    def _use(self, node: _Node, key: tuple[str, ...] | None, port: int) -> None:
        self._topo._check_open()
        self._uses += 1
        node.inputs.append((self, key, port))

    def group_by(self, fields: str | Sequence[str]) -> GroupedStream:
        """Group by ``fields`` for ``aggregate``, ``persistent_aggregate`` and windows.

        Semantics: Storm "Trident API Overview", Operations on grouped streams.
        """
        keys = _fields(fields, "group_by fields")
        _check_inputs("group_by", keys, self.fields)
        if not keys:
            raise PlanError("group_by needs at least one field")
        return GroupedStream(self, keys)

    def aggregate(self, aggregators: Aggregator | Sequence[Aggregator], out_fields: str | Sequence[str]) -> Stream:
        """Aggregate each batch as a whole: one tuple per batch with ``out_fields``
        (none for an empty batch). Runs in one task.

        Semantics: Storm "Trident API Overview", Aggregation operations (aggregate).
        """
        return GroupedStream(self, ())._aggregate(aggregators, out_fields)

    def persistent_aggregate(self, state_factory: StateFactory, aggregators: Aggregator | Sequence[Aggregator],
                             out_fields: str | Sequence[str]) -> TridentState:
        """Aggregate every batch into one global value kept in a state (key ``()``).

        Semantics: Storm "Trident State", persistentAggregate.
        """
        return GroupedStream(self, ())._persist(state_factory, aggregators, out_fields)

    def state_query(self, state: TridentState, input_fields: str | Sequence[str],
                    out_fields: str | Sequence[str]) -> Stream:
        """Append the state's values for the key in ``input_fields`` (Trident's ``MapGet``);
        ``None`` for a key the state lacks.

        The query runs in the state's task (the stream is partitioned by its key as the
        state is) and, in a batch, reads what the batches before it left: a state
        updated by the same batch is updated after the queries.

        Raises:
            PlanError: a key of another width than the state's, or an out field count
                other than the state's aggregators'.

        Semantics: Storm "Trident State", stateQuery with ``MapGet``.
        """
        keys = _fields(input_fields, "state_query input fields")
        outs = _fields(out_fields, "state_query output fields")
        _check_inputs("state_query", keys, self.fields)
        head = state._node.head
        if len(keys) != len(head.kernel.keys):
            raise PlanError(f"state_query: the state is keyed by {list(head.kernel.keys)}; give as many input "
                            f"fields, got {list(keys)}")
        if len(outs) != len(head.kernel.out_fields):
            raise PlanError(f"state_query: the state holds {list(head.kernel.out_fields)}; name one output "
                            f"field for each, got {list(outs)}")
        dup = [f for f in outs if f in self.fields]
        if dup:
            raise PlanError(f"state_query: output fields {dup} are already in the stream")
        head.queries = head.queries + ((keys, outs),)
        port = len(head.queries)
        self._use(state._node, keys, port)
        return Stream(self._topo, self.fields + outs, state._node, port=f"q{port}")

    def tumbling_window(self, size: int | timedelta, aggregators: Aggregator | Sequence[Aggregator],
                        out_fields: str | Sequence[str], *, time_field: str | None = None,
                        delay: int | timedelta = 0, start: int | timedelta = 0) -> WindowedStream:
        """Aggregate windows of ``size`` tuples (``time_field`` None) or of ``size`` event time.

        See :meth:`GroupedStream.tumbling_window`.
        """
        return GroupedStream(self, ()).tumbling_window(size, aggregators, out_fields, time_field=time_field,
                                                        delay=delay, start=start)

    def sliding_window(self, size: int | timedelta, slide: int | timedelta,
                       aggregators: Aggregator | Sequence[Aggregator], out_fields: str | Sequence[str], *,
                       time_field: str | None = None, delay: int | timedelta = 0,
                       start: int | timedelta = 0) -> WindowedStream:
        """Aggregate windows of ``size`` fired every ``slide`` (tuples, or event time with ``time_field``).

        See :meth:`GroupedStream.sliding_window`.
        """
        return GroupedStream(self, ()).sliding_window(size, slide, aggregators, out_fields,
                                                       time_field=time_field, delay=delay, start=start)


class WindowedStream(Stream):
    """The output of a window: aggregated windows; ``late_stream()`` holds the late records."""

    def __init__(self, topology: TridentTopology, fields: tuple[str, ...], node: _Node,
                 input_fields: tuple[str, ...]) -> None:
        super().__init__(topology, fields, node)
        self._late_fields = input_fields

    def late_stream(self) -> Stream:
        """Records that came for event-time windows already fired (their fields plus
        ``window_start``, ``window_end``): never dropped silently."""
        node = self._root()._node
        return Stream(self._topo, (*self._late_fields, "window_start", "window_end"), node, port="late")


class GroupedStream:
    """A stream grouped by key fields (Trident's ``GroupedStream``)."""

    def __init__(self, stream: Stream, keys: tuple[str, ...]) -> None:
        self._stream, self.keys = stream, keys

    def _kernel(self, aggregators, out_fields, what: str) -> AggregationKernel:
        aggs, outs = _aggregators(aggregators, out_fields, self._stream.fields, what)
        return AggregationKernel(self.keys, aggs, outs)

    def aggregate(self, aggregators: Aggregator | Sequence[Aggregator], out_fields: str | Sequence[str]) -> Stream:
        """Per batch, one tuple per group: the group fields, then ``out_fields``.

        ``aggregators``: one aggregator or a list (Trident's ``chainedAgg``), one output
        field each. The built-ins run as one polars group-by; a :class:`Combiner` is
        called once per group.

        Semantics: Storm "Trident API Overview", Operations on grouped streams.
        """
        return self._aggregate(aggregators, out_fields)

    def _aggregate(self, aggregators, out_fields) -> Stream:
        kernel = self._kernel(aggregators, out_fields, "aggregate")
        node = self._stream._topo._node("aggregate", GroupAggregate(kernel), fixed=not self.keys)
        self._stream._use(node, self.keys or None, 0)
        return Stream(self._stream._topo, self.keys + kernel.out_fields, node)

    def state_query(self, state: TridentState, input_fields: str | Sequence[str],
                    out_fields: str | Sequence[str]) -> Stream:
        """:meth:`Stream.state_query` on the grouped stream (Storm's ``GroupedStream.stateQuery``)."""
        return self._stream.state_query(state, input_fields, out_fields)

    def persistent_aggregate(self, state_factory: StateFactory, aggregators: Aggregator | Sequence[Aggregator],
                             out_fields: str | Sequence[str]) -> TridentState:
        """Aggregate each batch per group and fold it into ``state_factory``'s state, exactly once.

        The built-ins keep their partials (a count, a sum, min or max; sum and count for
        Avg); a :class:`Combiner` needs its ``combine``. Returns a :class:`TridentState`
        for ``state_query`` and ``new_values_stream``.

        Raises:
            PlanError: a Combiner without ``combine``, or ``state_factory`` is not one.

        Semantics: Storm "Trident State" (persistentAggregate over a MapState).
        """
        return self._persist(state_factory, aggregators, out_fields)

    def _persist(self, state_factory, aggregators, out_fields) -> TridentState:
        if not isinstance(state_factory, StateFactory):
            raise PlanError(f"persistent_aggregate needs a state factory (MemoryMapState(), KeyValueMapState(...)), "
                            f"got {state_factory!r}")
        kernel = self._kernel(aggregators, out_fields, "persistent_aggregate")
        if not kernel.mergeable:
            raise PlanError("persistent_aggregate: a Combiner needs combine=fn(a, b) to fold a batch into the state")
        topo = self._stream._topo
        name = getattr(state_factory, "name", None) or f"state-{len(topo._nodes)}"
        node = topo._node("persistent_aggregate", Persist(kernel, state_factory, (), name), fixed=not self.keys)
        self._stream._use(node, self.keys or None, 0)
        topo._factories.append(state_factory)
        return TridentState(topo, node, self.keys + kernel.out_fields)

    def tumbling_window(self, size: int | timedelta, aggregators: Aggregator | Sequence[Aggregator],
                        out_fields: str | Sequence[str], *, time_field: str | None = None,
                        delay: int | timedelta = 0, start: int | timedelta = 0) -> WindowedStream:
        """Tumbling windows, aggregated per group.

        Without ``time_field``: windows of ``size`` tuples in arrival order (Storm's
        count windows); output: the group fields and ``out_fields``. With it: windows of
        ``size`` (ms or ``timedelta``) of event time on ``time_field`` (epoch ms),
        starting at ``start`` modulo ``size`` from the epoch (Spark's ``startTime``), fired when the largest event time seen minus ``delay``
        passes their end (and at the end of input); output: ``window_start``,
        ``window_end``, the group fields and ``out_fields``; event-time windows take the
        built-in aggregators only.

        Squall differs from Storm: Storm's duration windows are processing time; here
        they are event time (a record's own timestamp), so a replay gives the same
        windows. The window state lives in the task (a replayed batch is not counted
        twice in a run); with a state backend it is checkpointed and survives a crash.

        Semantics: Storm "Trident Windowing" (tumblingWindow), with Spark's event-time
        windows (``squall.microbatch.plan.window``) for durations.
        """
        return self._window(size, None, aggregators, out_fields, time_field, delay, start)

    def sliding_window(self, size: int | timedelta, slide: int | timedelta,
                       aggregators: Aggregator | Sequence[Aggregator], out_fields: str | Sequence[str], *,
                       time_field: str | None = None, delay: int | timedelta = 0,
                       start: int | timedelta = 0) -> WindowedStream:
        """Sliding windows of ``size`` fired every ``slide`` (tuples, or event time with
        ``time_field``), aggregated per group; see :meth:`tumbling_window`. A count window
        fires every ``slide`` tuples over the last ``size`` (fewer at the start, as Storm's).

        Semantics: Storm "Trident Windowing" (slidingWindow).
        """
        return self._window(size, slide, aggregators, out_fields, time_field, delay, start)

    def _window(self, size, slide, aggregators, out_fields, time_field, delay, start=0) -> WindowedStream:
        stream, topo = self._stream, self._stream._topo
        kernel = self._kernel(aggregators, out_fields, "window")
        if time_field is None:
            for v, what in ((size, "size"), (slide if slide is not None else size, "slide")):
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise PlanError(f"count window: {what} must be a number of tuples >= 1, got {v!r} "
                                    f"(give time_field= for a window of event time)")
            head = CountWindow(kernel, size, size if slide is None else slide)
            fields = self.keys + kernel.out_fields
        else:
            _check_inputs("window time_field", (time_field,), stream.fields)
            if kernel.combiners:
                raise PlanError("an event-time window takes Count, Sum, Min, Max, Avg (their partials merge "
                                "across batches); a Combiner works with count windows")
            w = window(time_field, size, slide, start=start)
            aggs = tuple(a for _, a in kernel.builtins)
            head = TimeWindow(w, self.keys, aggs, to_ms(delay, "window delay"))
            fields = ("window_start", "window_end", *self.keys, *kernel.out_fields)
        node = topo._node("window", head, fixed=not self.keys)
        stream._use(node, self.keys or None, 0)
        return WindowedStream(topo, fields, node, stream.fields)


class TridentState:
    """What ``persistent_aggregate`` and ``partition_persist`` return: query the first with
    ``Stream.state_query``."""

    def __init__(self, topology: TridentTopology, node: _Node, fields: tuple[str, ...]) -> None:
        self._topo, self._node, self.fields = topology, node, fields

    def new_values_stream(self) -> Stream:
        """After each batch, the groups it updated with their new values (keys, then out fields),
        in no particular order (the groups are hashed by the partial aggregation).

        Semantics: Storm "Trident State", ``TridentState.newValuesStream``.
        """
        return Stream(self._topo, self.fields, self._node)

    def parallelism_hint(self, n: int) -> TridentState:
        """Run the state in ``n`` tasks, each holding the keys its hash gives it."""
        self.new_values_stream().parallelism_hint(n)
        return self


class TridentTopology:
    """Declare Trident streams, then :meth:`build` a topology or :meth:`run` it locally.

    Args:
        txid_store: a key-value store (spec) keeping the last committed transaction id
            across runs. Default: the store of the first :class:`KeyValueMapState`, so a
            state kept across runs never sees a txid twice; without one, txids start at 1.
        name: namespaces the txid key (``trident:<name>:txid``).
        max_attempts: a batch that fails this many times (a step raising on it every
            time) stops the input, reported as an error, and a bounded run ends; ``None``
            replays it forever, as Trident does.

    Semantics: Storm ``TridentTopology``.
    """

    def __init__(self, txid_store: Any = None, name: str = "trident", max_attempts: int | None = 10) -> None:
        self.name, self.txid_store, self.max_attempts = name, txid_store, max_attempts
        self._sources: list[SourceSpec] = []
        self._nodes: list[_Node] = []
        self._streams: list[Stream] = []
        self._factories: list[StateFactory] = []
        self._built: Topology | None = None

    def _check_open(self) -> None:
        if self._built is not None:
            raise PlanError("this TridentTopology was built already; declare every stream before build()/run()")

    def _node(self, kind: str, head: Any, fixed: bool = False) -> _Node:
        self._check_open()
        node = _Node(f"b-{len(self._nodes)}-{kind}", head, fixed=fixed)
        self._nodes.append(node)
        return node

    def new_stream(self, name: str, source: Any, fields: Sequence[str] | None = None,
                   batch_rows: int = 65_536, batch_interval_s: float = 1.0, opaque: bool = False) -> Stream:
        """A stream of batches from ``source``.

        Args:
            name: the stream's name (unique in the topology).
            source: a :class:`~squall.microbatch.sources.Source` (a polars or Arrow reader,
                ``ListSource``, ``ObdReplaySource``; each of its batches is one batch), or
                a Squall :class:`~squall.component.Spout` (a batch is the tuples it emitted
                since the last batch, at most ``batch_rows`` or ``batch_interval_s``
                seconds' worth; its tuples are acked when their batch is committed).
            fields: the stream's fields; default: the spout's declared fields. Needed for
                a Source, whose columns are known only when it runs.
            opaque: replay a failed batch with what the source gave since added (Trident's
                opaque spout; pair it with an opaque state). Default: the batch is replayed
                exactly as it was (a transactional spout).

        Raises:
            PlanError: a duplicate name, a source of another kind, unknown fields.

        Semantics: Storm ``TridentTopology.newStream``; "Trident State" (transactional
        and opaque transactional spouts).
        """
        from ..component import OutputFieldsDeclarer, Spout
        self._check_open()
        if any(s.name == name for s in self._sources):
            raise PlanError(f"new_stream: a stream named {name!r} exists already")
        if isinstance(source, Spout):
            declarer = OutputFieldsDeclarer()
            source.declare_output_fields(declarer)
            declared = declarer.streams.get("default")
            if declared is None:
                raise PlanError(f"new_stream({name!r}): the spout declares no default stream")
            fields = tuple(fields) if fields is not None else tuple(declared.fields)
        elif isinstance(source, Source):
            if fields is None:
                raise PlanError(f"new_stream({name!r}): give fields=[...] for a Source (its columns)")
            fields = tuple(fields)
        else:
            raise PlanError(f"new_stream({name!r}): {source!r} is neither a squall Spout nor a micro-batch Source")
        if batch_rows < 1 or batch_interval_s <= 0:
            raise PlanError(f"new_stream({name!r}): batch_rows must be >= 1 and batch_interval_s > 0")
        spec = SourceSpec(name, source, fields, batch_rows, batch_interval_s, opaque)
        self._sources.append(spec)
        return Stream(self, fields, _Node(name, source=spec))

    def merge(self, *streams: Stream) -> Stream:
        """The union of streams with the same number of fields, named as the first's.

        Semantics: Storm "Trident API Overview", Merges and joins (merge).
        """
        if len(streams) < 2:
            raise PlanError("merge needs at least two streams")
        width = len(streams[0].fields)
        bad = [list(s.fields) for s in streams if len(s.fields) != width]
        if bad:
            raise PlanError(f"merge: every stream needs {width} fields like {list(streams[0].fields)}; got {bad}")
        node = self._node("merge", Merge(tuple(s.fields for s in streams)))
        for i, s in enumerate(streams):
            s._use(node, None, i)
        return Stream(self, streams[0].fields, node)

    def join(self, left: Stream, left_fields: str | Sequence[str], right: Stream, right_fields: str | Sequence[str],
             out_fields: str | Sequence[str], how: str = "inner") -> Stream:
        """Join two streams within each batch on equal key fields.

        The output has the join fields, then ``left``'s other fields, then ``right``'s,
        named ``out_fields``. ``how``: ``"inner"`` or ``"left"`` (Trident's ``OUTER`` on
        the right stream: left tuples without a match get nulls).

        Raises:
            PlanError: key lists of different widths, unknown fields, a wrong number of
                out fields, an unknown ``how``.

        Semantics: Storm "Trident API Overview", Merges and joins (join): a join is per
        batch, not across batches.
        """
        lk, rk = _fields(left_fields, "join fields"), _fields(right_fields, "join fields")
        outs = _fields(out_fields, "join output fields")
        _check_inputs("join (left)", lk, left.fields)
        _check_inputs("join (right)", rk, right.fields)
        if len(lk) != len(rk) or not lk:
            raise PlanError(f"join: key fields {list(lk)} and {list(rk)} must be as many, at least one")
        if how not in ("inner", "left"):
            raise PlanError(f"join: how must be 'inner' or 'left', got {how!r}")
        want = len(lk) + len(left.fields) - len(lk) + len(right.fields) - len(rk)
        if len(outs) != want or len(set(outs)) != len(outs):
            raise PlanError(f"join: name {want} distinct output fields (the join fields, then the left stream's "
                            f"others, then the right's), got {list(outs)}")
        node = self._node("join", Join(left.fields, lk, right.fields, rk, outs, how))
        left._use(node, lk, 0)
        right._use(node, rk, 1)
        return Stream(self, outs, node)

    # -- compile ------------------------------------------------------------------------

    def build(self) -> Topology:
        """Compile to a validated :class:`~squall.topology.Topology` (once; later calls return it).

        Raises:
            PlanError: no stream was declared.
        """
        if self._built is not None:
            return self._built
        if not self._sources:
            raise PlanError("a Trident topology needs new_stream(...) first")
        for s in list(self._streams):
            if s._uses == 0 and s._op is not None:
                node = self._node("each", Passthrough())
                s._use(node, None, 0)
        memo: dict[int, tuple[_Node, str, tuple]] = {}
        edges: dict[str, list[Edge]] = {}
        wiring: dict[str, list[tuple[tuple[str, str], int]]] = {}
        i = 0
        while i < len(self._nodes):
            node = self._nodes[i]
            i += 1
            for s, key, port in node.inputs:
                src, src_port, chain = s if isinstance(s, tuple) else self._resolve(s, memo)
                if src.source is not None and chain:
                    # Steps on a spout's stream run in a bolt of their own (on its way out),
                    # not in the spout.
                    via = self._node("each", Passthrough())
                    via.parallelism = s._chain_hint() if not isinstance(s, tuple) else 1
                    via.inputs.append(((src, src_port, ()), None, 0))
                    src, src_port = via, "out"
                stream_id = f"s{sum(len(v) for v in edges.values())}"
                producer = SPOUT_NAME if src.source is not None else src.name
                edges.setdefault(src.name, []).append(Edge(src_port, stream_id, chain, node.name, key,
                                                           keep_empty=node.keep_empty))
                wiring.setdefault(node.name, []).append(((producer, stream_id), port))
        self._pre_aggregate(edges, wiring)
        b = TopologyBuilder()
        txid_store = self.txid_store
        if txid_store is None:
            txid_store = next((f.store for f in self._factories if isinstance(f, KeyValueMapState)), None)
        spout_edges = {s.name: tuple(edges.get(s.name, ())) for s in self._sources}
        b.set_spout(SPOUT_NAME, TridentSpout(tuple(self._sources), spout_edges, txid_store,
                                             f"trident:{self.name}:txid", self.max_attempts))
        for node in self._nodes:
            ins = wiring.get(node.name, [])
            bolt = TridentBolt(node.head, tuple(src for src, _ in ins), tuple(p for _, p in ins),
                               tuple(edges.get(node.name, ())))
            par = 1 if node.fixed else node.parallelism
            d = b.set_bolt(node.name, bolt, par)
            for (producer, stream_id), _ in ins:
                d.direct_grouping(producer, stream_id)
        self._built = b.build()
        return self._built

    def _pre_aggregate(self, edges: dict[str, list[Edge]], wiring: dict[str, list]) -> None:
        """Aggregations of built-ins get partial aggregates from their producers, not rows.

        Each producing bolt runs its steps and the group-by in one polars call and sends
        one row per group (Trident's partial aggregation before a repartition); the
        aggregating task merges the few rows per group its producers sent. Skipped when
        the spout feeds the aggregation directly: the spout sends batches as taken (a
        failure there would not be a batch's failure to replay), so the aggregating task
        groups the rows itself.
        """
        for node in self._nodes:
            head = node.head
            if not isinstance(head, (Persist, GroupAggregate)) or not head.kernel.vectorized:
                continue
            port0 = {stream_id: producer for (producer, stream_id), port in wiring.get(node.name, ()) if port == 0}
            if not port0 or SPOUT_NAME in port0.values():
                continue
            for out in edges.values():
                for i, e in enumerate(out):
                    if e.stream in port0:
                        out[i] = replace(e, partial=head.kernel)
            head.pre_aggregated = True

    def _resolve(self, s: Stream, memo: dict) -> tuple[_Node, str, tuple]:
        """Where ``s`` comes from: (producing node, its port, the steps to run on the way).

        A stream with steps that feeds several consumers runs them once, in a bolt of its
        own, so a ``peek`` or a Python function is not run once per consumer.
        """
        got = memo.get(id(s))
        if got is not None:
            return got
        if s._parent is None:
            out = (s._node, s._port, ())
        else:
            node, port, chain = self._resolve(s._parent, memo)
            out = (node, port, chain + (s._op,))
            if s._uses > 1:
                via = self._node("each", Passthrough())
                via.parallelism = s._chain_hint()
                via.inputs.append((out, None, 0))
                out = (via, "out", ())
        memo[id(s)] = out
        return out

    def run(self, conf: Mapping[str, Any] | None = None, timeout_s: float | None = None,
            state_backend: Any = None) -> Any:
        """Build and run on the calling thread until every source is used up (a bounded run).

        Returns the :class:`~squall.runtime.local.RunResult`; ``completed`` is False after
        ``timeout_s``. With ``state_backend`` (e.g. ``RocksDBStateBackend(dir)``) the
        spout's txid and source positions and the bolts' memory states and windows are
        checkpointed (``topology.state.checkpoint.interval.ms``); a rerun after a crash
        resumes from the last checkpoint and counts every batch once.

        Raises:
            PlanError: ``conf`` turns acking off (``topology.acker.executors`` 0): a batch
                commits when acked.
        """
        from ..config import ACKER_EXECUTORS
        from ..runtime.local import run_topology
        if conf and conf.get(ACKER_EXECUTORS) == 0:
            raise PlanError(f"Trident commits a batch when its tuples are acked and replays it when one fails; "
                            f"{ACKER_EXECUTORS}=0 turns acking off: leave it unset")
        return run_topology(self.build(), conf, timeout_s, state_backend=state_backend)

