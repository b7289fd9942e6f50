"""HBase bolts: a buffered writer (:class:`HBaseBolt`) and a lookup (:class:`HBaseLookupBolt`).

Both take an :class:`~squall.connectors.hbase.table.HBaseTableStore` (a frozen
configuration; each task opens it in ``prepare``, connects on first use and closes it
in ``cleanup``) and share one failure policy:

* a call that fails (Thrift server down, connection broken, table missing) FAILS every
  tuple it concerned, so the spout replays them - nothing is acked that was not
  written;
* the bolt then backs off exponentially (``backoff_initial_s`` doubling up to
  ``backoff_max_s``); during a backoff it fails incoming tuples at once instead of
  calling HBase, so the worker loop never blocks or sleeps;
* the outage is reported once through ``collector.report_error`` (again only after
  a call succeeded in between), and its end is logged once with its length and the
  tuples failed meanwhile: the connectors' shared policy,
  :class:`squall.connectors.outage.Outage`.

Semantics: storm-hbase ``HBaseBolt`` / ``AbstractHBaseBolt`` / ``BatchHelper`` and
``HBaseLookupBolt`` (Storm 2.x external/storm-hbase).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from squall.component import Bolt, OutputFieldsDeclarer
from squall.config import TICK_TUPLE_FREQ_SECS
from squall.connectors.hbase.errors import HBaseConnectionError
from squall.connectors.hbase.mappers import SimpleHBaseMapper
from squall.connectors.hbase.table import HBaseTable, HBaseTableStore
from squall.connectors.outage import RETRYING, Outage, check_backoff
from squall.store.errors import InvalidArgumentError, StoreError, TableExistsError
from squall.tuple import Fields, Tuple, is_tick

__all__ = ["HBaseBolt", "HBaseLookupBolt"]

log = logging.getLogger(__name__)


def _check_backoff(initial_s: float, max_s: float) -> None:
    problem = check_backoff(initial_s, max_s)
    if problem is not None:
        raise InvalidArgumentError(f"backoff: {problem}")


def _outage(bolt: Bolt, context) -> Outage:
    store = bolt.store
    return Outage(f"{context.component_id}[{context.task_id}]", f"HBase Thrift {store.host}:{store.port}",
                  initial_s=bolt.backoff_initial_s, max_s=bolt.backoff_max_s, log=log)


def _report_once(outage: Outage, collector, exc: BaseException, n_failed: int) -> None:
    """Count a failed call; report it when it starts an outage (a lost server says it retries)."""
    if not outage.failed(n_failed):
        return
    if isinstance(exc, HBaseConnectionError):
        err = HBaseConnectionError(f"{exc.reason}; {RETRYING}", exc.host, exc.port, exc.operation)
        err.__cause__ = exc.__cause__ or exc
        exc = err
    collector.report_error(exc)


class HBaseBolt(Bolt):
    """Writes tuples to an HBase table in batches; acks each tuple once its batch is flushed.

    Args:
        store: the HBase store configuration (opened in ``prepare``).
        table: the table written.
        mapper: a :class:`SimpleHBaseMapper` (or anything with ``mutation(tup) ->
            (row, {"cf:q": value}, [(row, "cf:q", amount)])``).
        batch_size: flush once this many tuples are buffered (Storm's default 15000).
        flush_interval_s: also flush on every tick tuple; the bolt asks for ticks at
            this frequency through ``component_configuration`` (Storm's default 1 s).
        create_if_missing: create ``table`` with the mapper's column family before the
            first write when it does not exist.
        backoff_initial_s, backoff_max_s: the backoff after a failed flush.

    A flush sends the batch's puts as one ``mutateRows`` call and its counter
    increments as one ``incrementRows`` call. Buffered tuples are also flushed at end
    of input. A tuple the mapper cannot map (missing field, non-integer counter) is
    reported and failed on its own.

    Delivery: at least once. A replayed put rewrites the same cells (idempotent); a
    replayed increment counts again, exactly as in storm-hbase.

    Threading: all methods run on the bolt's executor thread; no call blocks longer
    than one flush (bounded by the store's ``timeout_ms``).

    Semantics: storm-hbase ``HBaseBolt`` (``withBatchSize``, ``withFlushIntervalSecs``,
    tick-tuple flush, ack after ``batchMutate``, fail the whole batch on error).
    """

    def __init__(self, store: HBaseTableStore, table: str, mapper: SimpleHBaseMapper, *,
                 batch_size: int = 15000, flush_interval_s: float = 1.0, create_if_missing: bool = False,
                 backoff_initial_s: float = 0.1, backoff_max_s: float = 5.0) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"HBaseBolt: batch_size must be an int >= 1, got {batch_size!r}")
        if not isinstance(flush_interval_s, (int, float)) or not flush_interval_s > 0:
            raise InvalidArgumentError(
                f"HBaseBolt: flush_interval_s must be > 0 (buffered tuples wait for it), "
                f"got {flush_interval_s!r}")
        _check_backoff(backoff_initial_s, backoff_max_s)  # at build time
        self.store = store
        self.table_name = table
        self.mapper = mapper
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.create_if_missing = create_if_missing
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s

    def component_configuration(self) -> dict[str, Any]:
        return {TICK_TUPLE_FREQ_SECS: self.flush_interval_s}

    def single_writer_keys(self) -> frozenset[str]:
        """Empty: any number of processes may write to HBase."""
        return frozenset()

    def prepare(self, config, context, collector):
        self.collector = collector
        self._connection = self.store.open()
        self._table: HBaseTable | None = None
        self._tuples: list[Tuple] = []
        self._rows: list[tuple[str, dict[str, Any]]] = []
        self._increments: list[tuple[str, str, int]] = []
        self._outage = _outage(self, context)
        self.flushes = 0
        self.written = 0

    def _open(self) -> HBaseTable:
        # Lazily, inside a flush: HBase being down at start is an outage like any other.
        if self.create_if_missing:
            try:
                self._connection.create_table(self.table_name, [self.mapper.column_family])
            except TableExistsError:
                pass
        table = self._table = self._connection.open_table(self.table_name)
        return table

    def process(self, tup: Tuple) -> None:
        self.process_batch([tup])

    def process_batch(self, tuples: list[Tuple]) -> None:
        collector = self.collector
        outage = self._outage
        mutation = self.mapper.mutation
        buf_tuples, buf_rows, buf_incs = self._tuples, self._rows, self._increments
        waiting = outage.backing_off()
        for t in tuples:
            if is_tick(t):
                if buf_tuples:
                    self.flush()  # swaps in fresh buffers
                    buf_tuples, buf_rows, buf_incs = self._tuples, self._rows, self._increments
                waiting = outage.backing_off()
                continue
            if waiting:
                collector.fail(t)
                outage.failed_during += 1
                continue
            try:
                row, cells, incs = mutation(t)
            except Exception as exc:  # a bad record fails alone, not its batch
                collector.report_error(exc)
                collector.fail(t)
                continue
            buf_tuples.append(t)
            if cells:
                buf_rows.append((row, cells))
            if incs:
                buf_incs.extend(incs)
            if len(buf_tuples) >= self.batch_size:
                self.flush()
                buf_tuples, buf_rows, buf_incs = self._tuples, self._rows, self._increments
                waiting = outage.backing_off()

    def flush(self) -> bool:
        """Write the buffered batch; ack its tuples, or fail them all. True if written."""
        tuples = self._tuples
        if not tuples:
            return True
        rows, incs = self._rows, self._increments
        self._tuples, self._rows, self._increments = [], [], []
        try:
            table = self._table or self._open()
            table.mutate(rows, incs)
        except Exception as exc:
            fail = self.collector.fail
            for t in tuples:
                fail(t)
            _report_once(self._outage, self.collector, exc, len(tuples))
            return False
        if self._outage.since is not None:
            self._outage.succeeded()
        self.flushes += 1
        self.written += len(tuples)
        ack = self.collector.ack
        for t in tuples:
            ack(t)
        return True

    def end_of_input(self) -> None:
        self.flush()

    def cleanup(self) -> None:
        self._connection.close()


class HBaseLookupBolt(Bolt):
    """Looks up a row per tuple and emits the tuple's fields plus the requested columns.

    Args:
        store: the HBase store configuration (opened in ``prepare``).
        table: the table read.
        row_key_field: the input field holding the row key (non-str values are str()-ed).
        columns: the ``"cf:q"`` cells fetched, one output value each.
        input_fields: the input fields copied to the output, first, in this order.
        output_fields: names of the column values in the output; default the qualifiers.
        decode: applied to each found cell's bytes (e.g. ``bytes.decode``, or
            :func:`~squall.connectors.hbase.table.decode_counter`); a missing cell is None.
        emit_missing: emit tuples whose row does not exist (their columns None); else
            such tuples are acked without output.
        backoff_initial_s, backoff_max_s: as :class:`HBaseBolt`.

    Declares ``input_fields + output_fields`` on the default stream. Every drained
    batch of tuples is looked up with one ``getRowsWithColumns`` call (pipelined, not a
    call per tuple); each output is anchored to its input, which is acked after its
    emit. If the lookup fails, the whole batch fails and the bolt backs off.

    Semantics: storm-hbase ``HBaseLookupBolt`` (row key from the tuple, projection
    criteria, emit values anchored to the input, then ack).
    """

    def __init__(self, store: HBaseTableStore, table: str, row_key_field: str, columns: Sequence[str],
                 input_fields: Sequence[str], output_fields: Sequence[str] | None = None, *,
                 decode: Callable[[bytes], Any] | None = None, emit_missing: bool = True,
                 backoff_initial_s: float = 0.1, backoff_max_s: float = 5.0) -> None:
        columns = [columns] if isinstance(columns, str) else list(columns)
        bad = [c for c in columns if not isinstance(c, str) or ":" not in c]
        if not columns or bad:
            raise InvalidArgumentError(
                f"HBaseLookupBolt: columns must be 'family:qualifier' names, got {columns!r}")
        outs = [c.partition(":")[2] for c in columns] if output_fields is None else list(output_fields)
        if len(outs) != len(columns):
            raise InvalidArgumentError(
                f"HBaseLookupBolt: {len(outs)} output_fields for {len(columns)} columns")
        _check_backoff(backoff_initial_s, backoff_max_s)
        self.store = store
        self.table_name = table
        self.row_key_field = row_key_field
        self.columns = columns
        self.input_fields = list(input_fields)
        self.output_fields = outs
        self.decode = decode
        self.emit_missing = emit_missing
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        Fields([*self.input_fields, *outs])  # duplicate names fail here, at build time

    def declare_output_fields(self, declarer: OutputFieldsDeclarer) -> None:
        declarer.declare([*self.input_fields, *self.output_fields])

    def prepare(self, config, context, collector):
        self.collector = collector
        self._connection = self.store.open()
        self._table: HBaseTable | None = None
        self._plans: dict[Fields, tuple[int, tuple[int, ...]]] = {}
        self._outage = _outage(self, context)
        self.lookups = 0

    def _plan(self, fields: Fields) -> tuple[int, tuple[int, ...]]:
        try:
            plan = (fields.index(self.row_key_field), tuple(fields.index(f) for f in self.input_fields))
        except ValueError as exc:
            raise InvalidArgumentError(
                f"HBaseLookupBolt: input fields {list(fields)} lack {self.row_key_field!r} or one of "
                f"{self.input_fields}") from exc
        self._plans[fields] = plan
        return plan

    def process(self, tup: Tuple) -> None:
        self.process_batch([tup])

    def process_batch(self, tuples: list[Tuple]) -> None:
        collector = self.collector
        data = [t for t in tuples if not is_tick(t)]
        if not data:
            return
        if self._outage.backing_off():
            for t in data:
                collector.fail(t)
            self._outage.failed_during += len(data)
            return
        keys, kept, ok = [], [], []
        for t in data:
            try:
                key_i, idx = self._plans.get(t.source.fields) or self._plan(t.source.fields)
                key = t.values[key_i]
                keys.append(key if type(key) is str else
                            key.decode() if type(key) is bytes else str(key))
            except Exception as exc:
                collector.report_error(exc)
                collector.fail(t)
                continue
            values = t.values
            kept.append([values[i] for i in idx])
            ok.append(t)
        if not ok:
            return
        try:
            table = self._table or self._open()
            found = table.get_many(keys, self.columns)
        except StoreError as exc:
            for t in ok:
                collector.fail(t)
            _report_once(self._outage, collector, exc, len(ok))
            return
        if self._outage.since is not None:
            self._outage.succeeded()
        self.lookups += len(ok)
        columns, decode, emit, ack = self.columns, self.decode, collector.emit, collector.ack
        for t, head, cells in zip(ok, kept, found):
            if cells or self.emit_missing:
                if decode is None:
                    head.extend(cells.get(c) for c in columns)
                else:
                    for c in columns:
                        v = cells.get(c)
                        head.append(None if v is None else decode(v))
                emit(head, anchors=(t,))
            ack(t)

    def _open(self) -> HBaseTable:
        table = self._table = self._connection.open_table(self.table_name)
        return table

    def cleanup(self) -> None:
        self._connection.close()
