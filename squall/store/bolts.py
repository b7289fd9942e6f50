"""Bolts that write tuples into a store, whichever backend is behind it.

The table bolt takes a :class:`~squall.store.table.TableStore` configuration (embedded
RocksDB, or HBase through the same interface), so a topology moves from the embedded
store to a real one by passing another store object. The bolt opens its connection in
``prepare`` (on the worker) and closes it in ``cleanup``.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from squall.component import Bolt
from squall.connectors.outage import Outage
from squall.store.errors import TableExistsError
from squall.store.table import Columns, TableStore
from squall.store.writers import single_writer_keys
from squall.tuple import Tuple, is_tick

log = logging.getLogger("squall.store")

__all__ = ["FieldsTableMapper", "TableWriterBolt", "DeadLetterBolt", "DEAD_LETTER_FIELDS"]

DEAD_LETTER_FIELDS = ("record", "reason", "origin")


class FieldsTableMapper:
    """Maps a tuple to one row: the row key from a field, named fields as columns.

    Args:
        row_key_field: the field holding the row key (str).
        family: the column family every column goes to.
        column_fields: the fields stored, each as ``family:field``; None values are skipped.

    Semantics: storm-hbase ``SimpleHBaseMapper`` (row key field + column fields).
    """

    def __init__(self, row_key_field: str, family: str, column_fields: Sequence[str]) -> None:
        self.row_key_field = row_key_field
        self.family = family
        self.column_fields = tuple(column_fields)
        self._plans: dict[Any, tuple[int, tuple[tuple[str, int], ...]]] = {}

    def _plan(self, fields) -> tuple[int, tuple[tuple[str, int], ...]]:
        plan = self._plans[fields] = (
            fields.index(self.row_key_field),
            tuple((f"{self.family}:{f}", fields.index(f)) for f in self.column_fields))
        return plan

    def row(self, tup: Tuple) -> tuple[str, Columns]:
        # Field positions are looked up once per source stream, not per tuple.
        fields = tup.source.fields
        plan = self._plans.get(fields) or self._plan(fields)
        values = tup.values
        return values[plan[0]], {col: values[i] for col, i in plan[1] if values[i] is not None}


class TableWriterBolt(Bolt):
    """Writes each drained batch of tuples as one ``put_many``, then acks the batch.

    A tuple is acked only after its row was written; if the write raises, every tuple
    of the batch fails and is replayed (puts are keyed, so a replay rewrites the same
    row: idempotent). Ticks are ignored. The table is opened on the first write, so a
    store that is down at start is an outage like any other, not a crash.

    With ``background`` (the default for stores whose ``blocking_io`` is true: remote
    ones; an in-process store's writes are CPU work, which a thread would only contend
    for) the writes run on ``writers`` threads: the
    worker loop hands each batch over and goes on with other executors while the store
    answers (a remote store spends most of a write waiting on the network; more writers
    keep more writes in flight, which helps only when the store has cores to spare); ``poll`` acks or fails finished batches on
    the worker thread. Puts are keyed, so the order of concurrent batches does not matter. At most ``max_batches_in_flight``
    batches wait; beyond that ``process_batch`` waits for the writer (backpressure).
    An outage is reported once, when writes start failing, and logged when they recover;
    meanwhile batches fail at once, without a write, for a backoff that doubles from
    0.1 s to 5 s (:class:`~squall.connectors.outage.Outage`).

    Args:
        store: the table store configuration; ``prepare`` opens it on the worker.
        table: table name; created with ``families`` when missing and ``create_if_missing``.
        mapper: anything with ``row(tup) -> (row_key, {"cf:q": value})``.

    Semantics: storm-hbase ``HBaseBolt`` (mapper, batch writes, ack after flush).
    """

    def __init__(self, store: TableStore, table: str, families: Sequence[str], mapper: Any,
                 create_if_missing: bool = True, background: bool | None = None,
                 max_batches_in_flight: int = 8, writers: int = 1) -> None:
        self.store = store
        self.table_name = table
        self.families = list(families)
        self.mapper = mapper
        self.create_if_missing = create_if_missing
        self.background = getattr(store, "blocking_io", False) if background is None else background
        self.max_batches_in_flight = max_batches_in_flight
        self.writers = writers

    def single_writer_keys(self) -> frozenset[str]:
        """The store's ``single_writer_key``, if it has one: executors writing the same
        embedded directory must share a worker process."""
        return single_writer_keys(self.store)

    def prepare(self, config, context, collector):
        self.collector = collector
        self.connection = self.store.open()
        self.table = None       # opened on the first batch: the store may be down now
        self._open_lock = threading.Lock()
        self.written = 0
        # On the worker thread only (process_batch and _settle), so the writer threads
        # never touch it.
        self._outage = Outage(f"{context.component_id}[{context.task_id}]",
                              f"table {self.table_name} in {self.store}", log=log)
        self._waiting = 0       # tuples handed to the writer, not yet settled
        if self.background:
            self._todo: queue.Queue = queue.Queue(self.max_batches_in_flight)
            self._done: deque = deque()
            self._writer_threads = [
                threading.Thread(target=self._write_loop, daemon=True,
                                 name=f"squall-{context.component_id}-{context.task_id}-writer{i}")
                for i in range(self.writers)]
            for t in self._writer_threads:
                t.start()

    def _open(self):
        with self._open_lock:
            return self.table or self._open_table()

    def _open_table(self):
        connection = self.connection
        if self.create_if_missing and self.table_name not in connection.tables():
            try:
                connection.create_table(self.table_name, self.families)
            except TableExistsError:  # another task created it first
                pass
        self.table = connection.open_table(self.table_name)
        return self.table

    def _write(self, rows) -> None:
        (self.table or self._open()).put_many(rows)

    def process(self, tup: Tuple) -> None:
        self.process_batch([tup])

    def process_batch(self, tuples: list[Tuple]) -> None:
        row = self.mapper.row
        data = [t for t in tuples if not is_tick(t)]
        if not data:
            return
        if self._outage.backing_off():
            # The store was unreachable a moment ago: fail at once (the spout replays)
            # instead of sending each batch to wait on a dead server.
            self._outage.failed_during += len(data)
            fail = self.collector.fail
            for t in data:
                fail(t)
            return
        rows = [row(t) for t in data]
        if self.background:
            self._waiting += len(data)
            self._todo.put((rows, data))
            return
        self._write(rows)
        self._settle(data, None)

    # -- background writes --------------------------------------------------------------

    def _write_loop(self) -> None:
        todo, done = self._todo, self._done
        while True:
            item = todo.get()
            if item is None:
                return
            rows, tuples = item
            # Batches that queued while the last write was out go as one write: small
            # writes would each pay a round trip, and the queue would only grow.
            stop = False
            while True:
                try:
                    more = todo.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                rows = rows + more[0]
                tuples = tuples + more[1]
            try:
                self._write(rows)
                done.append((tuples, None))
            except Exception as exc:  # handed to the worker thread, which fails the batch
                done.append((tuples, exc))
            if stop:
                return

    def poll(self) -> int:
        if not self.background:
            return 0
        done = self._done
        n = 0
        while done:
            tuples, exc = done.popleft()
            self._waiting -= len(tuples)
            self._settle(tuples, exc)
            n += len(tuples)
        return n

    def in_flight(self) -> int:
        return self._waiting if self.background else 0

    def _settle(self, tuples: list[Tuple], exc: BaseException | None) -> None:
        if exc is None:
            self._outage.succeeded()
            self.written += len(tuples)
            ack = self.collector.ack
            for t in tuples:
                ack(t)
            return
        if self._outage.failed(len(tuples)):
            self.collector.report_error(exc)
        fail = self.collector.fail
        for t in tuples:
            fail(t)

    def cleanup(self) -> None:
        if self.background:
            for _ in self._writer_threads:
                self._todo.put(None)
            for t in self._writer_threads:
                t.join(30)
        self.connection.close()


class DeadLetterBolt(TableWriterBolt):
    """Stores rejected records with their reason; input fields ``record, reason, origin``.

    Row key: ``origin`` when given (a file position, a Kafka offset: stable under
    replay, so a replayed rejection overwrites its own row), else a SHA-1 of the record.
    Columns ``d:record``, ``d:reason``, ``d:origin``, ``d:component`` (the rejecting
    component).

    Args:
        store: the table store configuration (opened in ``prepare``).
        table: the table name; created with the family ``d`` when missing.
    """

    def __init__(self, store: TableStore, table: str = "DeadLetters") -> None:
        super().__init__(store, table, ["d"], mapper=None)

    def prepare(self, config, context, collector):
        super().prepare(config, context, collector)
        self.mapper = self

    def row(self, tup: Tuple) -> tuple[str, Mapping[str, Any]]:
        record, reason, origin = tup.values[:3]
        raw = record if isinstance(record, (bytes, str)) else repr(record)
        key = origin or hashlib.sha1(raw.encode() if isinstance(raw, str) else raw).hexdigest()
        return key, {"d:record": raw, "d:reason": reason, "d:origin": origin or "",
                     "d:component": tup.source_component}
