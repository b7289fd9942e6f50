"""Trident state: map states keyed by the group's values, updated once per batch, exactly once.

A :class:`MapState` holds one value per key over a :class:`MapBacking` (a dict in the
task, or the embedded key-value store) and applies a batch's partial aggregates with
the batch's transaction id, as Trident's ``NonTransactionalMap``, ``TransactionalMap``
and ``OpaqueMap``:

* non-transactional: the value alone; every update applies, a replayed batch counts
  twice (at-least-once);
* transactional: ``[txid, value]``; an update whose txid equals the stored one was
  already applied and is skipped. Exactly once when a replayed batch is the same batch
  (a transactional spout: Squall's Trident spout replays the batch it kept);
* opaque transactional: ``[txid, value, prev]``; an update whose txid equals the stored
  one is recomputed from ``prev``, the value before that batch, so it is exactly once
  even when a replayed batch differs (an opaque spout).

A stored txid above the batch's means that batch was applied before a rollback to a
checkpoint (with a state backend, the spout replays every batch since the checkpoint,
identical): the update is skipped. Squall differs from Trident here, whose coordinator
never goes back more than one batch.

Reads for queries (``state_query``) follow ``OpaqueMap.multiGet``: under the batch
being processed, a key that batch already updated reads its previous value.

Values are stored as JSON (never pickled: a store is read from outside the process);
keys are the group's values as a JSON array. Keys and values must be JSON types (str,
int, float, bool, None).

Semantics: Storm "Trident State" (transactional and opaque transactional state,
``MapState``, ``TransactionalValue``, ``OpaqueValue``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .errors import MicroBatchError

__all__ = ["StateType", "MapBacking", "MemoryBacking", "KeyValueBacking", "MapState", "FrameMapState",
           "StateFactory", "MemoryMapState", "KeyValueMapState", "TridentStateError"]


class TridentStateError(MicroBatchError):
    """A Trident state could not read or write a key (a value that is not JSON, a store error).

    Attributes:
        state: the state's name.
        key: the key at fault (a tuple of the group's values), or ``None``.
        reason: what went wrong.
    """

    def __init__(self, state: str, key: Any, reason: str) -> None:
        super().__init__(f"Trident state {state!r}, key {key!r}: {reason}")
        self.state, self.key, self.reason = state, key, reason


class StateType(str, Enum):
    """How a map state makes a replayed batch count once (Storm's ``StateType``)."""

    NON_TRANSACTIONAL = "non-transactional"
    TRANSACTIONAL = "transactional"
    OPAQUE = "opaque"


class MapBacking:
    """Where a map state's records live: ``multi_get``/``multi_put`` of whole records.

    Storm's ``IBackingMap``. A record is what the state type stores (a value, or a
    list with the txid). Called on the task's thread only.
    """

    def multi_get(self, keys: Sequence[tuple]) -> list[Any]:
        """The records of ``keys``, ``None`` for an absent key."""
        raise NotImplementedError

    def multi_put(self, keys: Sequence[tuple], records: Sequence[Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the backing opened."""


class MemoryBacking(MapBacking):
    """A dict in the task: lost when the process ends (Storm's ``MemoryMapState``).

    >>> b = MemoryBacking(); b.multi_put([("a",)], [[1, 3]]); b.multi_get([("a",), ("b",)])
    [[1, 3], None]
    """

    def __init__(self) -> None:
        self.data: dict[tuple, Any] = {}

    def multi_get(self, keys):
        get = self.data.get
        return [get(k) for k in keys]

    def multi_put(self, keys, records):
        self.data.update(zip(keys, records))


class KeyValueBacking(MapBacking):
    """Records as JSON strings in a key-value store under ``trident:<name>:<key>``.

    Args:
        store: a :class:`~squall.store.KeyValueStore` configuration (the embedded one,
            Redis, ...), opened here, or an open connection.
        name: the state's name; it namespaces the keys.
    """

    def __init__(self, store: Any, name: str) -> None:
        self.store = store.open() if hasattr(store, "open") else store
        self.name = name
        self._prefix = f"trident:{name}:"

    def _key(self, key: tuple) -> str:
        try:
            return self._prefix + json.dumps(list(key), separators=(",", ":"))
        except TypeError as exc:
            raise TridentStateError(self.name, key, f"a key must hold JSON values: {exc}") from exc

    def multi_get(self, keys):
        get = self.store.get
        out = []
        for k in keys:
            raw = get(self._key(k))
            out.append(None if raw is None else json.loads(raw))
        return out

    def multi_put(self, keys, records):
        put = self.store.set
        for k, r in zip(keys, records):
            try:
                text = json.dumps(r, separators=(",", ":"))
            except TypeError as exc:
                raise TridentStateError(self.name, k, f"a value must be JSON: {exc}") from exc
            put(self._key(k), text)

    def close(self) -> None:
        self.store.close()


class MapState:
    """A map state of one :class:`StateType` over a :class:`MapBacking`.

    Lifecycle per batch (Storm's ``State``): ``begin_commit(txid)``, then
    :meth:`multi_get` (queries) and :meth:`multi_update` (the batch's partials), then
    ``commit(txid)``.
    """

    def __init__(self, backing: MapBacking, state_type: StateType, name: str = "state") -> None:
        self.backing, self.state_type, self.name = backing, StateType(state_type), name
        self.txid: int | None = None

    def begin_commit(self, txid: int) -> None:
        self.txid = txid

    def commit(self, txid: int) -> None:
        self.txid = None

    def _value(self, record: Any) -> Any:
        """The value a record holds under the current txid (``OpaqueValue.get``)."""
        if record is None:
            return None
        kind = self.state_type
        if kind is StateType.NON_TRANSACTIONAL:
            return record
        if kind is StateType.TRANSACTIONAL:
            return record[1]
        txid, curr, prev = record
        return prev if self.txid is not None and txid == self.txid else curr

    def multi_get(self, keys: Sequence[tuple]) -> list[Any]:
        """The values of ``keys`` (``None`` when absent), as a query in the current batch reads them."""
        return [self._value(r) for r in self.backing.multi_get(keys)]

    def multi_update(self, keys: Sequence[tuple], updates: Sequence[Any],
                     combine: Callable[[Any, Any], Any]) -> list[Any]:
        """Fold each key's update into its value with ``combine(old_or_None, update)``.

        Returns:
            the keys' values after the batch, in ``keys`` order.

        Raises:
            TridentStateError: no ``begin_commit`` (transactional types need the txid).
        """
        kind, txid = self.state_type, self.txid
        if txid is None and kind is not StateType.NON_TRANSACTIONAL:
            raise TridentStateError(self.name, None, "multi_update outside begin_commit/commit")
        records = self.backing.multi_get(keys)
        values, put_keys, put_records = [], [], []
        for key, rec, upd in zip(keys, records, updates):
            if kind is StateType.NON_TRANSACTIONAL:
                new = combine(rec, upd)
                put_keys.append(key)
                put_records.append(new)
            elif kind is StateType.TRANSACTIONAL:
                if rec is not None and rec[0] >= txid:
                    # Applied already: this batch (a replay), or, after a rollback to a
                    # checkpoint, a later one too (the spout replays identical batches).
                    values.append(rec[1])
                    continue
                new = combine(None if rec is None else rec[1], upd)
                put_keys.append(key)
                put_records.append([txid, new])
            else:
                if rec is not None and rec[0] > txid:
                    values.append(rec[1])     # after a rollback to a checkpoint: applied already
                    continue
                if rec is None:
                    prev = None
                elif rec[0] == txid:
                    prev = rec[2]             # a replay: recompute from the value before this txid
                else:
                    prev = rec[1]
                new = combine(prev, upd)
                put_keys.append(key)
                put_records.append([txid, new, prev])
            values.append(new)
        if put_keys:
            self.backing.multi_put(put_keys, put_records)
        return values

    def close(self) -> None:
        self.backing.close()


class StateFactory:
    """A spec that builds a task's :class:`MapState` (Storm's ``StateFactory``); picklable."""

    state_type: StateType

    def make(self, name: str) -> MapState:
        raise NotImplementedError

    def single_writer_keys(self) -> frozenset[str]:
        """Resources only one OS process may open for writing."""
        return frozenset()


@dataclass(frozen=True)
class MemoryMapState(StateFactory):
    """A map state in the task's memory; opaque by default, as Storm's ``MemoryMapState``.

    The state lives as long as the task (the run): replays within a run count once;
    a new run starts empty.
    """

    state_type: StateType = StateType.OPAQUE

    def make(self, name: str) -> MapState:
        return MapState(MemoryBacking(), self.state_type, name)


@dataclass(frozen=True)
class KeyValueMapState(StateFactory):
    """A map state in a key-value store (the embedded one by default), kept across runs.

    Args:
        store: a :class:`~squall.store.KeyValueStore` configuration (e.g.
            ``EmbeddedKeyValueStore(data_dir)``); each task opens it.
        name: the state's name in the store (keys ``trident:<name>:<json key>``).
        state_type: opaque by default.
    """

    store: Any
    name: str
    state_type: StateType = StateType.OPAQUE

    def make(self, name: str) -> MapState:
        return MapState(KeyValueBacking(self.store, self.name), self.state_type, self.name)

    def single_writer_keys(self) -> frozenset[str]:
        from ..store.writers import single_writer_keys
        return single_writer_keys(self.store)


class FrameMapState:
    """A map state in memory as one polars DataFrame, updated by a join per batch.

    The vectorized form of :class:`MapState` over :class:`MemoryBacking`, for built-in
    aggregators (whose records are columns of partials that merge by ``"sum"``,
    ``"min"`` or ``"max"``): the same three state types, the txid and the previous
    value held as columns, no Python call per key. Its table has the keys (``__k0``,
    ...), ``__txid``, the record columns and ``__prev_<column>``.

    Args:
        state_type: how a replay counts.
        n_keys: the number of key fields.
        columns: the record's columns; ``kinds`` says how each merges.
    """

    def __init__(self, state_type: StateType, n_keys: int, columns: Sequence[str], kinds: Sequence[str]) -> None:
        import polars as pl
        self._pl = pl
        self.state_type = StateType(state_type)
        self.keys = [f"__k{i}" for i in range(n_keys)]
        self.columns, self.kinds = list(columns), list(kinds)
        self.table: Any = None
        self.txid: int | None = None

    def begin_commit(self, txid: int) -> None:
        self.txid = txid

    def commit(self, txid: int) -> None:
        self.txid = None

    def _merge(self, kind: str, a: Any, b: Any) -> Any:
        pl = self._pl
        if kind == "sum":
            return pl.when(a.is_null()).then(b).when(b.is_null()).then(a).otherwise(a + b)
        return pl.min_horizontal(a, b) if kind == "min" else pl.max_horizontal(a, b)

    def _current(self, c: str) -> Any:
        """A record column as a query under the current txid reads it (``OpaqueValue.get``)."""
        pl = self._pl
        if self.state_type is StateType.OPAQUE and self.txid is not None:
            return pl.when(pl.col("__txid") == self.txid).then(pl.col(f"__prev_{c}")).otherwise(pl.col(c))
        return pl.col(c)

    def get(self, keys: Any) -> Any:
        """``keys`` (a frame of the key columns, named ``__k0``...) with the record columns (null when absent)."""
        pl = self._pl
        if self.table is None:
            return keys.with_columns([pl.lit(None).alias(c) for c in self.columns])
        got = keys.join(self.table, on=self.keys, how="left", nulls_equal=True, maintain_order="left")
        return got.select([*self.keys, *(self._current(c).alias(c) for c in self.columns)])

    def update(self, partials: Any) -> Any:
        """Fold a batch's partial rows (key columns ``__k0``..., record columns) into the table.

        Returns:
            the updated keys with their new record columns, in ``partials`` order.
        """
        pl = self._pl
        kind, txid = self.state_type, self.txid
        if txid is None and kind is not StateType.NON_TRANSACTIONAL:
            raise TridentStateError("memory", None, "update outside begin_commit/commit")
        cols = self.columns
        if self.table is None:
            self.table = partials.select(self.keys).with_columns(
                pl.lit(None, pl.Int64).alias("__txid"),
                *(pl.lit(None, partials.schema[c]).alias(c) for c in cols),
                *(pl.lit(None, partials.schema[c]).alias(f"__prev_{c}") for c in cols)).clear()
        old = self.table.rename({c: f"__old_{c}" for c in cols})
        j = partials.lazy().join(old.lazy(), on=self.keys, how="left", nulls_equal=True, maintain_order="left")
        seen = pl.col("__txid") == txid
        if kind is StateType.NON_TRANSACTIONAL:
            base = {c: pl.col(f"__old_{c}") for c in cols}
            new = {c: self._merge(k, base[c], pl.col(c)) for c, k in zip(cols, self.kinds)}
        elif kind is StateType.TRANSACTIONAL:
            base = {c: pl.col(f"__old_{c}") for c in cols}
            # a key this txid updated already keeps its value (the batch was applied)
            new = {c: pl.when(seen).then(base[c]).otherwise(self._merge(k, base[c], pl.col(c)))
                   for c, k in zip(cols, self.kinds)}
        else:
            base = {c: pl.when(seen).then(pl.col(f"__prev_{c}")).otherwise(pl.col(f"__old_{c}")) for c in cols}
            new = {c: self._merge(k, base[c], pl.col(c)) for c, k in zip(cols, self.kinds)}
        rows = j.select([*self.keys, pl.lit(txid, pl.Int64).alias("__txid"),
                         *(new[c].cast(self.table.schema[c]).alias(c) for c in cols),
                         *(base[c].cast(self.table.schema[c]).alias(f"__prev_{c}") for c in cols)])
        kept = self.table.lazy().join(partials.lazy().select(self.keys), on=self.keys, how="anti", nulls_equal=True)
        rows, kept = pl.collect_all([rows, kept])
        self.table = pl.concat([kept, rows], how="vertical_relaxed")
        return rows.select([*self.keys, *cols])

    def close(self) -> None:
        self.table = None
