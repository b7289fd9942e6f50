"""Bolts that write tuples into a store, whichever backend is behind it.

The table bolt takes a :class:`~squall.store.table.TableStore` (embedded RocksDB
today, HBase through the same interface), so a topology moves from the embedded store
to a real one by passing another store object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from squall.component import Bolt
from squall.store.errors import TableExistsError
from squall.store.table import Columns, TableStore
from squall.tuple import Tuple, is_tick

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
    row: idempotent). Ticks are ignored.

    Args:
        store: the table store (picklable spec, opened in ``prepare``).
        table: table name; created with ``families`` when missing and ``create_if_missing``.
        mapper: anything with ``row(tup) -> (row_key, {"cf:q": value})``.

    Semantics: storm-hbase ``HBaseBolt`` (mapper, batch writes, ack after flush).
    """

    def __init__(self, store: TableStore, table: str, families: Sequence[str], mapper: Any,
                 create_if_missing: bool = True) -> None:
        self.store = store
        self.table_name = table
        self.families = list(families)
        self.mapper = mapper
        self.create_if_missing = create_if_missing

    def prepare(self, config, context, collector):
        self.collector = collector
        self.table = None       # opened on the first batch: the store may be down now
        self.written = 0

    def _open(self):
        if self.create_if_missing and self.table_name not in self.store.tables():
            try:
                self.store.create_table(self.table_name, self.families)
            except TableExistsError:  # another task created it first
                pass
        self.table = self.store.open_table(self.table_name)
        return self.table

    def process(self, tup: Tuple) -> None:
        self.process_batch([tup])

    def process_batch(self, tuples: list[Tuple]) -> None:
        row = self.mapper.row
        data = [t for t in tuples if not is_tick(t)]
        (self.table or self._open()).put_many([row(t) for t in data])
        self.written += len(data)
        ack = self.collector.ack
        for t in tuples:
            ack(t)


class DeadLetterBolt(TableWriterBolt):
    """Stores rejected records with their reason; input fields ``record, reason, origin``.

    Row key: ``origin`` when given (a file position, a Kafka offset: stable under
    replay, so a replayed rejection overwrites its own row), else a SHA-1 of the record.
    Columns ``d:record``, ``d:reason``, ``d:origin``, ``d:component`` (the rejecting
    component).
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
