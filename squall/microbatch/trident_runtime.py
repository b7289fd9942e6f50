"""Trident's runtime: a coordinator spout emitting batches as tuples, and one bolt class for every step.

A Trident topology compiles (:mod:`squall.microbatch.trident`) to an ordinary Squall
topology, so it runs wherever topologies run:

* :class:`TridentSpout` (one task) holds every ``new_stream`` source. Per transaction
  id (txid: from 1, or after the last one committed in its txid store) it takes one
  batch from each source and emits it as tuples
  ``(txid, attempt, batch, last)``: one tuple per subscribing task (a part of the
  batch, or ``None`` for an empty part), each with a message id, on a direct stream.
  One batch is in flight at a time, so state updates happen in txid order. When
  every part is acked, the batch is committed (the wrapped spout's tuples are acked);
  when one fails or times out, the spout emits the same batch again with the same
  txid and the next attempt number (Trident's transactional spout; an opaque source
  adds what it gave since).
* :class:`TridentBolt` waits until it has one part of a txid from every task of every
  input, runs its head operation (merge, join, aggregation, state, window, or none)
  on the assembled batch, then each outgoing edge's stateless steps, and emits one
  part per task of each consumer (split by the consumer's key hash, or in slices),
  anchored to every input part; then acks them. A failure fails every input part,
  so the batch is replayed; parts of an older attempt are dropped.
* After the sources are used up, a last batch (``last=True``, every part empty) lets
  windows emit what they still hold, inside a tracked batch.

With a state backend (``run_topology(..., state_backend=...)``) both are
:class:`~squall.component.Stateful`: at each checkpoint the spout records the next
txid and every source's position (batches taken), each bolt its head's state (memory
map states, windows, the last batch applied); after a crash (even ``kill -9``) a rerun
restores them and the spout emits again from the checkpoint with the same txids, so
state counts every batch once. Sources must be replayable from a position: a
micro-batch :class:`~squall.microbatch.sources.Source` whose ``batches()`` gives the
same batches again (a wrapped Squall spout is refused).

Semantics: Storm "Trident tutorial" and "Trident State" (batches with transaction
ids, replays with the same txid, state updates in txid order). Squall differs: one
batch is processed at a time (Trident pipelines the processing of several batches and
orders only their commits); a batch is the whole topology's unit (Trident's master
batch coordinator) with parts on every stream.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..component import Bolt, CountMetric, OutputFieldsDeclarer, Spout, SpoutOutputCollector, Stateful
from ..extras import require
from .engine import StreamingQuery, run_chain
from .errors import BatchError, PlanError
from .plan import QueryPlan, Watermark, WindowAggregate
from .sinks import ListSink
from .sources import Source, as_frame
from .trident_state import FrameMapState, MemoryBacking

pl = require("polars", "microbatch")

__all__ = ["PART_FIELDS", "Edge", "TridentSpout", "TridentBolt", "split_frame", "SourceSpec", "PartitionPersist",
           "frame_to_bytes", "frame_from_bytes"]

PART_FIELDS = ("txid", "attempt", "batch", "last")
_HASH_SEED = 0x5C0A11


@dataclass(frozen=True)
class Edge:
    """One subscription leaving a component: the producer's output ``port``, the stream id
    it is emitted on, the stateless steps run before emitting, the consumer and its key.

    ``key`` (field names) splits a batch among the consumer's tasks by the hash of the
    keys' values; ``None`` splits it in slices of rows. ``partial`` (an aggregation
    kernel of built-ins, for a consumer that aggregates) turns the output into one row
    of partial aggregates per group, computed in the same polars call as the steps, so
    neither the steps' rows nor a second group-by cost anything downstream.
    ``keep_empty``: an empty batch travels as an empty frame (its columns known), not
    as ``None``, for a consumer to whom an empty batch is still a batch (a DStream).
    """

    port: str
    stream: str
    chain: tuple
    consumer: str
    key: tuple[str, ...] | None
    partial: Any = None
    keep_empty: bool = False

    def output(self, frame: Any, txid: int) -> Any:
        """What this edge sends for the producer's ``frame`` (``None``: nothing), before splitting.

        Raises:
            BatchError: a step or the partial aggregation failed on this batch.
        """
        if frame is None:
            return None
        if self.partial is not None:
            return run_chain(frame, self.chain, txid, tail=self.partial.partials_lazy)
        return run_chain(frame, self.chain, txid) if self.chain else frame


def split_frame(frame: Any, n: int, key: tuple[str, ...] | None, keep_empty: bool = False) -> list[Any]:
    """``frame`` as ``n`` parts (``None`` for an empty one): by the key's hash, or in slices.

    The hash reads the key columns by position, so two streams whose key columns have
    other names but the same values and types send a key to the same task. With
    ``keep_empty`` an empty frame goes to every task as it is.
    """
    if frame is None:
        return [None] * n
    if frame.height == 0:
        return [frame] * n if keep_empty else [None] * n
    if n == 1:
        return [frame]
    if key:
        h = pl.struct([pl.col(f).alias(f"k{i}") for i, f in enumerate(key)]).hash(_HASH_SEED) % n
        parts = frame.with_columns(h.alias("__task")).partition_by("__task", as_dict=True, include_key=False)
        return [parts.get((i,)) for i in range(n)]
    size = -(-frame.height // n)
    return [frame.slice(i * size, size) if i * size < frame.height else None for i in range(n)]


def frame_to_bytes(frame: Any) -> bytes | None:
    """A frame as Arrow IPC bytes for a checkpoint (data only: nothing read back is evaluated)."""
    if frame is None:
        return None
    buf = io.BytesIO()
    frame.write_ipc(buf)
    return buf.getvalue()


def frame_from_bytes(data: bytes | None) -> Any:
    return None if data is None else pl.read_ipc(io.BytesIO(data))


# ------------------------------------------------------------------------ sources

@dataclass(frozen=True)
class SourceSpec:
    """A ``new_stream``'s source: a micro-batch :class:`Source`, or a Squall spout cut into batches.

    Attributes:
        name: the stream's name.
        source: a :class:`~squall.microbatch.sources.Source` (each of its batches is
            one Trident batch) or a :class:`~squall.component.Spout` (a batch is what it
            emitted since the last batch, up to ``batch_rows`` tuples or
            ``batch_interval_s`` seconds).
        fields: the stream's fields.
        opaque: a replayed batch also takes what the source gave since (an opaque
            spout, as a Kafka spout re-reading from the batch's offset); otherwise the
            batch is replayed as it was (a transactional spout).
    """

    name: str
    source: Any
    fields: tuple[str, ...]
    batch_rows: int = 65_536
    batch_interval_s: float = 1.0
    opaque: bool = False


class _CaptureCollector(SpoutOutputCollector):
    """Collects a wrapped spout's emits (default stream) as rows and message ids."""

    def __init__(self) -> None:
        self.rows: list[Sequence[Any]] = []
        self.ids: list[Any] = []

    def emit(self, values, stream="default", message_id=None, direct_task=None):
        self.rows.append(values)
        if message_id is not None:
            self.ids.append(message_id)
        return []

    def report_error(self, error):
        raise error


class _Feed:
    """One source's live side in the spout: ``next_batch()`` -> (frame or None, ack ids) or ``done``."""

    def __init__(self, spec: SourceSpec, config, context) -> None:
        self.spec = spec
        self.done = False
        self.position = 0            # batches taken (a Source's position)
        src = spec.source
        if isinstance(src, Source):
            self._batches = iter(src.batches())
            self._spout = None
        else:
            self._spout: Spout | None = src
            self._capture = _CaptureCollector()
            src.open(config, context, self._capture)
            src.activate()

    def next_batch(self) -> tuple[Any, list]:
        if self.done:
            return None, []
        if self._spout is None:
            try:
                frame = as_frame(next(self._batches))
            except StopIteration:
                self.done = True
                return None, []
            self.position += 1
            return frame, []
        spout, cap, spec = self._spout, self._capture, self.spec
        deadline = time.monotonic() + spec.batch_interval_s
        while len(cap.rows) < spec.batch_rows:
            before = len(cap.rows)
            spout.next_tuple()
            if len(cap.rows) == before:
                if spout.emitted_all():
                    self.done = True
                break
            if time.monotonic() >= deadline:
                break
        rows, ids = cap.rows, cap.ids
        cap.rows, cap.ids = [], []
        frame = pl.DataFrame([list(r) for r in rows], schema=list(spec.fields), orient="row") if rows else None
        return frame, ids

    def seek(self, position: int) -> None:
        """Start again after the first ``position`` batches (a checkpoint's position).

        Raises:
            PlanError: the source is a wrapped spout (it has no position to go back to).
        """
        if self._spout is not None:
            raise PlanError(f"new_stream({self.spec.name!r}): a wrapped spout cannot rewind to a checkpoint; "
                            f"give a micro-batch Source to run Trident with a state backend")
        if position == self.position and not self.done:
            return
        self._batches = iter(self.spec.source.batches())
        self.position, self.done = 0, False
        for _ in range(position):
            if next(self._batches, None) is None:
                self.done = True
                break
            self.position += 1

    def ack(self, ids: list) -> None:
        for i in ids:
            self._spout.ack(i)

    def close(self) -> None:
        if self._spout is not None:
            self._spout.close()


class TridentSpout(Stateful, Spout):
    """The coordinator: one batch of every source per txid, replayed with its txid until acked.

    Checkpointed (with a state backend): the next txid and each source's position; a
    batch still waiting for its replay at a checkpoint is recorded as its txid and the
    positions before it, so a recovery emits it again under the same txid.

    Args:
        sources: the ``new_stream`` sources.
        edges: per source name, the edges to its consumers.
        txid_store: a key-value store configuration where the last committed txid is kept, so
            a new run continues the sequence (what Trident keeps in ZooKeeper); needed
            when a state outlives the run. ``None``: txids start at 1.
        txid_key: the key in ``txid_store``.
        max_attempts: a batch failing this many times stops the input (reported as a
            :class:`~squall.microbatch.errors.BatchError`); ``None``: replay forever, as
            Trident does.
    """

    def __init__(self, sources: tuple[SourceSpec, ...], edges: dict[str, tuple[Edge, ...]],
                 txid_store: Any = None, txid_key: str = "trident:txid", max_attempts: int | None = 10) -> None:
        self.sources, self.edges = sources, edges
        self.txid_store, self.txid_key = txid_store, txid_key
        self.max_attempts = max_attempts

    def declare_output_fields(self, declarer: OutputFieldsDeclarer) -> None:
        for edges in self.edges.values():
            for e in edges:
                declarer.declare_stream(e.stream, PART_FIELDS, direct=True)

    def open(self, config, context, collector):
        self.collector = collector
        self._context = context
        self._feeds = [_Feed(s, config, context) for s in self.sources]
        self._txids = self.txid_store.open() if self.txid_store is not None else None
        last = self._txids.get(self.txid_key) if self._txids is not None else None
        self.txid = self._first_txid = (json.loads(last) if last is not None else 0) + 1
        self.attempt = 0
        self._batch: list[Any] | None = None     # frames of the batch in flight, per source
        self._acks: list[list] = []
        self._parts_left = 0
        self._replay = False
        self._last_sent = False
        self._finished = False
        self._starts = [0] * len(self._feeds)    # positions before the batch in flight
        self.committed: list[int] = []
        self._read = {s.name: context.register_metric(f"read.{s.name}", CountMetric()) for s in self.sources}

    def init_state(self, state):
        self.state = state
        saved = state.get("trident")
        if saved is None:        # no checkpoint yet (a rollback before the first goes back to the start)
            saved = {"txid": self._first_txid, "positions": [0] * len(self._feeds), "finished": False}
        self.txid, positions, self._finished = saved["txid"], saved["positions"], saved["finished"]
        for feed, pos in zip(self._feeds, positions):
            feed.seek(pos)
        self._last_sent = self._finished
        self._batch, self._acks, self._replay, self._parts_left, self.attempt = None, [], False, 0, 0

    def pre_prepare(self, txid):
        in_flight = self._batch is not None
        self.state.put("trident", {
            "txid": self.txid,
            "positions": list(self._starts) if in_flight else [f.position for f in self._feeds],
            "finished": self._finished and not in_flight})

    def _emit(self, frames: list[Any], last: bool) -> None:
        n = 0
        msg = (self.txid, self.attempt)
        for spec, frame in zip(self.sources, frames):
            for e in self.edges.get(spec.name, ()):
                tasks = self._context.tasks_of(e.consumer)
                for task, part in zip(tasks, split_frame(frame, len(tasks), e.key, e.keep_empty)):
                    n += 1
                    self._parts_left += 1
                    self.collector.emit([self.txid, self.attempt, part, last], e.stream, message_id=msg,
                                        direct_task=task)
        if n == 0:
            self._commit()

    def next_tuple(self):
        if self._finished or (self._batch is not None and not self._replay):
            return
        if self._replay:
            self._replay = False
            if self.max_attempts is not None and self.attempt + 1 >= self.max_attempts:
                # A batch that fails every time (a bug in a step) would replay forever.
                self.collector.report_error(BatchError(
                    self.txid, "trident-spout", f"failed {self.attempt + 1} times (max_attempts); the topology "
                    f"takes no more input, the state holds the batches before txid {self.txid}"))
                self._finished = True
                return
            self.attempt += 1
            self._parts_left = 0
            if not self._last_sent:
                self._grow_opaque()
            self._emit(self._batch, self._last_sent)
            return
        starts = [f.position for f in self._feeds]
        taken = [f.next_batch() for f in self._feeds]
        frames = [f for f, _ in taken]
        for spec, frame in zip(self.sources, frames):
            if frame is not None:
                self._read[spec.name].incr(frame.height)
        self._acks = [ids for _, ids in taken]
        if all(f is None for f in frames):
            if not all(f.done for f in self._feeds):
                return                         # a wrapped spout has nothing right now
            self._last_sent = True             # the closing batch: windows flush in it
        self._batch, self.attempt, self._parts_left, self._starts = frames, 0, 0, starts
        self._emit(frames, self._last_sent)

    def _grow_opaque(self) -> None:
        """Opaque sources add what they have now to the batch being replayed: the same txid
        with other contents, which only an opaque state counts exactly once."""
        for i, (spec, feed) in enumerate(zip(self.sources, self._feeds)):
            if not spec.opaque:
                continue
            more, ids = feed.next_batch()
            if more is not None:
                old = self._batch[i]
                self._batch[i] = more if old is None else pl.concat([old, more], how="vertical_relaxed")
                self._acks[i] = self._acks[i] + ids

    def _commit(self) -> None:
        for feed, ids in zip(self._feeds, self._acks):
            if ids:
                feed.ack(ids)
        if self._txids is not None:
            self._txids.set(self.txid_key, str(self.txid))
        self.committed.append(self.txid)
        self._batch, self._acks = None, []
        if self._last_sent:
            self._finished = True
        self.txid += 1

    def ack(self, msg_id):
        txid, attempt = msg_id
        if txid != self.txid or attempt != self.attempt or self._batch is None:
            return
        self._parts_left -= 1
        if self._parts_left == 0 and not self._replay:
            self._commit()

    def fail(self, msg_id):
        txid, attempt = msg_id
        if txid == self.txid and attempt == self.attempt and self._batch is not None:
            self._replay = True

    def exhausted(self):
        return self._finished

    def close(self):
        for f in self._feeds:
            f.close()
        if self._txids is not None:
            self._txids.close()

    def single_writer_keys(self) -> frozenset[str]:
        if self.txid_store is None:
            return frozenset()
        from ..store.writers import single_writer_keys
        return single_writer_keys(self.txid_store)


# ------------------------------------------------------------------------ head operations

class Head:
    """What a bolt does with an assembled batch: ``run(txid, frames_by_port, last)`` ->
    ``{output port: frame or None}``. ``prepare`` builds live state; ``close`` releases it.

    A head with state in the task returns it from ``snapshot()`` (data a state backend
    stores: None, numbers, str, bytes, lists, dicts) and takes it back in
    ``restore(snapshot)`` (None: back to the empty state), for checkpoints."""

    ports_in = 1

    def prepare(self, name: str) -> None:
        pass

    def bind(self, context: Any) -> None:
        """Register metrics with the task's context (after ``prepare``)."""

    def snapshot(self) -> Any:
        return None

    def restore(self, snapshot: Any) -> None:
        pass

    def assemble(self, parts: list[list[Any]]) -> list[Any]:
        """One frame (or ``None``) per input port from the parts the input tasks sent."""
        return [_concat(fs) for fs in parts]

    def run(self, txid: int, frames: list[Any], last: bool) -> dict[str, Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _concat(frames: list[Any]) -> Any:
    frames = [f for f in frames if f is not None and f.height]
    if not frames:
        return None
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical_relaxed")


@dataclass
class Passthrough(Head):
    """No head: the stream's stateless steps run on the edges (a repartition, a fused chain, a sink)."""

    def run(self, txid, frames, last):
        return {"out": _concat(frames)}


@dataclass
class Merge(Head):
    """Trident's ``merge``: the union of the streams, under the first stream's field names."""

    fields: tuple[tuple[str, ...], ...]

    @property
    def ports_in(self):
        return len(self.fields)

    def run(self, txid, frames, last):
        names = list(self.fields[0])
        parts = [f.select(list(fs)).rename(dict(zip(fs, names))) for f, fs in zip(frames, self.fields)
                 if f is not None and f.height]
        return {"out": _concat(parts)}


@dataclass
class Join(Head):
    """Trident's ``join`` of two streams within a batch: the join fields, then the first
    stream's other fields, then the second's, renamed to ``out_fields``."""

    left_fields: tuple[str, ...]
    left_keys: tuple[str, ...]
    right_fields: tuple[str, ...]
    right_keys: tuple[str, ...]
    out_fields: tuple[str, ...]
    how: str = "inner"
    ports_in = 2

    def run(self, txid, frames, last):
        left, right = frames
        if left is None or (right is None and self.how == "inner"):
            return {"out": None}
        lk, rk = list(self.left_keys), list(self.right_keys)
        lrest = [f for f in self.left_fields if f not in lk]
        rrest = [f for f in self.right_fields if f not in rk]
        lnames = [f"__l{i}" for i in range(len(lrest))]
        rnames = [f"__r{i}" for i in range(len(rrest))]
        knames = [f"__k{i}" for i in range(len(lk))]
        lf = left.select([*(pl.col(a).alias(b) for a, b in zip(lk, knames)),
                          *(pl.col(a).alias(b) for a, b in zip(lrest, lnames))])
        if right is None:
            right = pl.DataFrame(schema={**{k: lf.schema[k] for k in knames}, **{r: pl.Null for r in rnames}})
        else:
            right = right.select([*(pl.col(a).alias(b) for a, b in zip(rk, knames)),
                                  *(pl.col(a).alias(b) for a, b in zip(rrest, rnames))])
        out = lf.join(right, on=knames, how=self.how, nulls_equal=False, maintain_order="left_right")
        out = out.select([*knames, *lnames, *rnames])
        return {"out": out.rename(dict(zip(out.columns, self.out_fields)))}


def _combined_partials(kernel: Any, parts: list[Any]) -> Any:
    """Port 0 of a pre-aggregated head: the producers' partial rows, one per group."""
    parts = [f for f in parts if f is not None and f.height]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return kernel.combine_partials(pl.concat(parts, how="vertical_relaxed"))


@dataclass
class GroupAggregate(Head):
    """``group_by(keys).aggregate(...)`` or a global ``aggregate``: per batch, no state.

    ``pre_aggregated``: the input edges carry partial aggregates (``Edge.partial``), not rows.
    """

    kernel: Any
    pre_aggregated: bool = False

    def assemble(self, parts):
        if self.pre_aggregated:
            return [_combined_partials(self.kernel, parts[0])]
        return super().assemble(parts)

    def run(self, txid, frames, last):
        frame = _concat(frames)
        if frame is None:
            return {"out": None}
        if self.pre_aggregated:
            return {"out": self.kernel.finalize(frame)}
        return {"out": self.kernel.aggregate(frame)}


@dataclass
class Persist(Head):
    """``persistent_aggregate``: port 0 updates the state; ports 1.. are ``state_query`` streams.

    Per batch the queries run first (they read the state as batches before this one
    left it, as Trident's queries run before the batch's commit), then the update;
    output ports: ``"out"`` (the new values stream: keys and updated values) and
    ``"q<i>"`` (each query stream with its result fields appended). ``pre_aggregated``:
    port 0's edges carry partial aggregates (``Edge.partial``), not rows.
    """

    kernel: Any
    factory: Any
    queries: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()   # (key fields, result fields)
    state_name: str = "state"
    pre_aggregated: bool = False

    @property
    def ports_in(self):
        return 1 + len(self.queries)

    def prepare(self, name):
        self.state = self.factory.make(self.state_name)
        k = self.kernel
        # A memory state of built-in aggregators lives as one DataFrame updated by joins;
        # the others (a key-value store, Python combiners, one global key) go key by key.
        self.table = (FrameMapState(self.state.state_type, len(k.keys), k.record_columns, k.kernels.partial_kinds)
                      if isinstance(self.state.backing, MemoryBacking) and k.keys and not k.combiners else None)

    def close(self):
        self.state.close()

    def snapshot(self):
        # A state in a key-value store is its own record (txids per key); one in memory
        # is checkpointed with the task.
        if self.table is not None:
            return {"table": frame_to_bytes(self.table.table)}
        if isinstance(self.state.backing, MemoryBacking):
            return {"items": [[list(k), v] for k, v in self.state.backing.data.items()]}
        return None

    def restore(self, snapshot):
        if self.table is not None:
            self.table.table = frame_from_bytes(snapshot["table"]) if snapshot else None
        elif isinstance(self.state.backing, MemoryBacking):
            self.state.backing.data = {tuple(k): v for k, v in snapshot["items"]} if snapshot else {}

    def _records(self, keys: Any) -> Any:
        """Rows of the state's key fields and record columns for the distinct keys in ``keys``
        (a frame with the state's key field names); null records for absent keys."""
        k = self.kernel
        if self.table is not None:
            got = self.table.get(keys.rename(dict(zip(k.keys, self.table.keys))))
            return got.rename(dict(zip(self.table.keys, k.keys)))
        values = self.state.multi_get([tuple(r) for r in keys.iter_rows()]) if k.keys else \
            self.state.multi_get([()])
        cols = k.record_columns
        rows = [v if v is not None else [None] * len(cols) for v in values]
        recs = pl.DataFrame(rows, schema=cols, orient="row")
        return pl.concat([keys, recs], how="horizontal") if k.keys else recs

    def _query(self, frame: Any, keys: tuple[str, ...], results: tuple[str, ...]) -> Any:
        k = self.kernel
        distinct = frame.select([pl.col(c).alias(s) for c, s in zip(keys, k.keys)]).unique(maintain_order=True)
        got = k.finalize(self._records(distinct))
        got = got.select([*(pl.col(s).alias(c) for c, s in zip(keys, k.keys)),
                          *(pl.col(o).alias(r) for o, r in zip(k.out_fields, results))])
        if not keys:
            return frame.join(got, how="cross")
        return frame.join(got, on=list(keys), how="left", nulls_equal=True, maintain_order="left")

    def assemble(self, parts):
        if self.pre_aggregated:
            return [_combined_partials(self.kernel, parts[0]), *super().assemble(parts[1:])]
        return super().assemble(parts)

    def _update(self, frame: Any) -> Any:
        k = self.kernel
        partials = frame if self.pre_aggregated else k.partials(frame)
        if self.table is not None:
            names = dict(zip(k.keys, self.table.keys))
            new = self.table.update(partials.rename(names)).rename({v: c for c, v in names.items()})
            return k.finalize(new)
        keys = [tuple(r) for r in partials.select(list(k.keys)).iter_rows()] if k.keys \
            else [()] * partials.height
        cols = k.record_columns
        new = self.state.multi_update(keys, [list(r) for r in partials.select(cols).rows()], k.merge_records)
        recs = pl.DataFrame(new, schema=cols, orient="row")
        rows = pl.concat([partials.select(list(k.keys)), recs], how="horizontal") if k.keys else recs
        return k.finalize(rows)

    def run(self, txid, frames, last):
        st = self.table if self.table is not None else self.state
        st.begin_commit(txid)
        out: dict[str, Any] = {}
        for i, (keys, results) in enumerate(self.queries, start=1):
            f = frames[i]
            out[f"q{i}"] = None if f is None or not f.height else self._query(f, keys, results)
        frame = frames[0]
        out["out"] = self._update(frame) if frame is not None and frame.height else None
        st.commit(txid)
        return out


class _Replayable(Head):
    """A head with state in the task: a replay of the txid it applied last re-emits its
    output instead of applying the batch again (one batch in flight, replayed identical)."""

    def prepare(self, name):
        self._applied: int | None = None
        self._output: dict[str, Any] = {}

    def run(self, txid, frames, last):
        if txid == self._applied:
            return self._output
        out = self.apply(txid, _concat(frames), last)
        self._applied, self._output = txid, out
        return out

    def apply(self, txid: int, frame: Any, last: bool) -> dict[str, Any]:
        raise NotImplementedError

    def snapshot(self):
        return {"applied": self._applied, "output": {k: frame_to_bytes(v) for k, v in self._output.items()}}

    def restore(self, snapshot):
        self._applied = snapshot["applied"] if snapshot else None
        self._output = {k: frame_from_bytes(v) for k, v in snapshot["output"].items()} if snapshot else {}


@dataclass
class CountWindow(_Replayable):
    """A window of ``length`` tuples fired every ``slide`` tuples (tumbling: slide = length),
    aggregated per group; Storm's count windows (the first windows of a sliding window
    hold fewer tuples)."""

    kernel: Any
    length: int
    slide: int

    def prepare(self, name):
        super().prepare(name)
        self._buffer: Any = None
        self._seen = 0            # tuples received
        self._fired = 0           # tuples up to the last firing

    def apply(self, txid, frame, last):
        if frame is None:
            return {"out": None}
        buf = frame if self._buffer is None else pl.concat([self._buffer, frame], how="vertical_relaxed")
        start = self._seen - (0 if self._buffer is None else self._buffer.height)   # index of buf[0]
        self._seen += frame.height
        outs = []
        while self._fired + self.slide <= self._seen:
            end = self._fired + self.slide
            lo = max(0, end - self.length)
            rows = buf.slice(lo - start, end - lo)
            outs.append(self.kernel.aggregate(rows))
            self._fired = end
        keep_from = max(0, self._seen - self.length) if self.slide < self.length else self._fired
        self._buffer = buf.slice(keep_from - start)
        return {"out": _concat(outs)}

    def snapshot(self):
        return {**super().snapshot(), "buffer": frame_to_bytes(self._buffer), "seen": self._seen,
                "fired": self._fired}

    def restore(self, snapshot):
        super().restore(snapshot)
        self._buffer = frame_from_bytes(snapshot["buffer"]) if snapshot else None
        self._seen = snapshot["seen"] if snapshot else 0
        self._fired = snapshot["fired"] if snapshot else 0


@dataclass
class TimeWindow(_Replayable):
    """Tumbling or sliding windows of event time on a field (epoch ms), aggregated per group
    by the micro-batch engine's window state; a window fires when the watermark (the
    largest event time seen minus ``delay_ms``) passes its end, and at the last batch.

    Output port ``"out"``: ``window_start``, ``window_end``, the keys, the aggregates;
    port ``"late"``: records for windows already fired, with their window's bounds.
    """

    window: Any
    keys: tuple[str, ...]
    aggs: tuple
    delay_ms: int = 0

    def prepare(self, name):
        super().prepare(name)
        plan = QueryPlan.build((Watermark(self.window.column, self.delay_ms),
                                WindowAggregate(self.window, self.keys, self.aggs)), "append")
        self._sink, self._late = ListSink(), ListSink()
        self._query = StreamingQuery(plan, None, self._sink, self._late)

    def apply(self, txid, frame, last):
        self._sink.batches, self._late.batches = [], []
        q = self._query
        q.batch_id = txid
        if frame is not None:
            q.process(frame)
        if last:
            q.finish()
        return {"out": _concat(self._sink.batches), "late": _concat(self._late.batches)}

    def snapshot(self):
        q = self._query
        return {**super().snapshot(), "watermark_ms": q.watermark_ms, "finished": q._finished,
                "windows": frame_to_bytes(q._state.frame)}

    def restore(self, snapshot):
        super().restore(snapshot)
        q = self._query
        q.watermark_ms = snapshot["watermark_ms"] if snapshot else None
        q._finished = snapshot["finished"] if snapshot else False
        q._state.frame = frame_from_bytes(snapshot["windows"]) if snapshot else None


@dataclass
class PartitionPersist(Head):
    """``partition_persist``: each task's part of a batch goes to a state through an updater.

    ``factory.make(name)`` builds the task's state (anything with ``begin_commit(txid)``,
    ``commit(txid)`` and ``close()``); per batch ``updater(state, frame, txid)`` writes
    the part (a polars DataFrame of the input fields) between them and may return a
    frame: the new values stream. Metric ``written``: rows given to the updater
    (replays included). Exactly once when the updater's writes are keyed (a replay
    rewrites the same keys) or check the txid.

    Semantics: Storm "Trident State" (``partitionPersist``, ``StateUpdater``).
    """

    factory: Any
    updater: Any

    def prepare(self, name):
        self.state = self.factory.make(name)

    def bind(self, context):
        self._written = context.register_metric("written", CountMetric())

    def run(self, txid, frames, last):
        frame = _concat(frames)
        self.state.begin_commit(txid)
        out = None
        if frame is not None:
            out = self.updater(self.state, frame, txid)
            self._written.incr(frame.height)
        self.state.commit(txid)
        return {"out": out}

    def close(self):
        self.state.close()


# ------------------------------------------------------------------------ the bolt

class _Pending:
    __slots__ = ("attempt", "tuples", "frames")

    def __init__(self, attempt: int, ports: int) -> None:
        self.attempt = attempt
        self.tuples: list = []
        self.frames: list[list[Any]] = [[] for _ in range(ports)]


class TridentBolt(Stateful, Bolt):
    """Runs one Trident node: assembles a batch's parts, runs ``head``, then each edge's steps.

    Checkpointed (with a state backend): the head's :meth:`Head.snapshot`; a restore
    also forgets the parts and batches seen since, which the spout emits again.

    Args:
        head: the :class:`Head` operation.
        inputs: ``(component, stream)`` per input, in the head's port order (several
            inputs may feed one port: ``ports`` gives each input's port).
        ports: the head port of each input.
        edges: the outgoing edges.
    """

    def __init__(self, head: Head, inputs: tuple[tuple[str, str], ...], ports: tuple[int, ...],
                 edges: tuple[Edge, ...]) -> None:
        self.head, self.inputs, self.ports, self.edges = head, inputs, ports, edges

    def declare_output_fields(self, declarer: OutputFieldsDeclarer) -> None:
        for e in self.edges:
            declarer.declare_stream(e.stream, PART_FIELDS, direct=True)

    def prepare(self, config, context, collector):
        self.collector = collector
        self._port = {src: p for src, p in zip(self.inputs, self.ports)}
        self._expected = sum(len(context.tasks_of(c)) for c, _ in self.inputs)
        self._targets = {e.stream: context.tasks_of(e.consumer) for e in self.edges}
        self._n_ports = max(self.ports, default=0) + 1
        self._pending: dict[int, _Pending] = {}
        self._done = (0, 0)     # (txid, attempt) of the last batch run
        self.head.prepare(context.component_id)
        self.head.bind(context)

    def init_state(self, state):
        self.state = state
        self._pending, self._done = {}, (0, 0)
        self.head.restore(state.get("head"))

    def pre_prepare(self, txid):
        snap = self.head.snapshot()
        if snap is not None:
            self.state.put("head", snap)

    def process(self, tup):
        txid, attempt, frame, last = tup.values
        if (txid, attempt) <= self._done:
            self.collector.ack(tup)           # a finished attempt, or an older one
            return
        p = self._pending.get(txid)
        if p is None or p.attempt < attempt:
            if p is not None:
                for t in p.tuples:             # superseded: their tree has failed already
                    self.collector.ack(t)
            p = self._pending[txid] = _Pending(attempt, self._n_ports)
        elif attempt < p.attempt:
            self.collector.ack(tup)
            return
        p.tuples.append(tup)
        p.frames[self._port[(tup.source_component, tup.stream)]].append(frame)
        if len(p.tuples) == self._expected:
            del self._pending[txid]
            self._run(txid, attempt, p, last)

    def _run(self, txid: int, attempt: int, p: _Pending, last: bool) -> None:
        try:
            outs = self.head.run(txid, self.head.assemble(p.frames), last)
            emits = []
            for e in self.edges:
                frame = e.output(outs.get(e.port), txid)
                targets = self._targets[e.stream]
                emits.append((e, targets, split_frame(frame, len(targets), e.key, e.keep_empty)))
        except Exception as exc:
            err = exc
            if not isinstance(exc, BatchError):
                err = BatchError(txid, type(self.head).__name__, f"{type(exc).__name__}: {exc}")
                err.__cause__ = exc
            self.collector.report_error(err)
            for t in p.tuples:
                self.collector.fail(t)
            return
        anchors = p.tuples
        for e, targets, parts in emits:
            for task, part in zip(targets, parts):
                self.collector.emit([txid, attempt, part, last], e.stream, anchors, direct_task=task)
        for t in anchors:
            self.collector.ack(t)
        self._done = (txid, attempt)

    def cleanup(self):
        self.head.close()

    def single_writer_keys(self) -> frozenset[str]:
        keys = getattr(getattr(self.head, "factory", None), "single_writer_keys", None)
        return keys() if keys is not None else frozenset()
