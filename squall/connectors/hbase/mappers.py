"""Tuple -> HBase mutation mappers for :class:`~squall.connectors.hbase.bolts.HBaseBolt`.

Semantics: storm-hbase ``HBaseMapper`` / ``SimpleHBaseMapper`` (row key field, column
family, column fields, counter fields).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from squall.store.errors import InvalidArgumentError
from squall.store.table import validate_family_name
from squall.tuple import Fields, Tuple

__all__ = ["SimpleHBaseMapper"]

_Plan = tuple[tuple[int, ...], tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]


def _names(arg: str | Sequence[str], what: str) -> tuple[str, ...]:
    names = (arg,) if isinstance(arg, str) else tuple(arg)
    if not all(isinstance(n, str) and n for n in names):
        raise InvalidArgumentError(f"{what} must be field names (str), got {arg!r}")
    return names


class SimpleHBaseMapper:
    """Maps a tuple to one row: a row key, plain columns and counter increments.

    Args:
        row_key_fields: the field holding the row key, or several fields whose values
            are joined with ``row_key_separator`` (e.g. ``["rev_date", "car"]`` ->
            ``"7991-car7"``). Non-str values are turned into str (bytes as UTF-8).
        column_family: the family every column and counter goes to.
        column_fields: fields stored as ``family:field`` cells (values as
            :func:`~squall.store.table.encode_value` stores them); None values are skipped.
        counter_fields: fields whose int value is *added* to the HBase counter
            ``family:field`` (an 8-byte long cell); None values are skipped.
        row_key_separator: joins several row key fields.

    Raises:
        InvalidArgumentError: no row key field, a bad family, a field both a column
            and a counter, or neither columns nor counters.

    Field positions are resolved once per input stream, not per tuple.

    Semantics: storm-hbase ``SimpleHBaseMapper`` (``withRowKeyField``,
    ``withColumnFamily``, ``withColumnFields``, ``withCounterFields``); the composite
    row key is Squall's addition.

    >>> m = SimpleHBaseMapper("word", "cf", column_fields=["word"], counter_fields=["count"])
    >>> m.columns, m.counters
    (('cf:word',), ('cf:count',))
    """

    def __init__(self, row_key_fields: str | Sequence[str], column_family: str,
                 column_fields: Sequence[str] = (), counter_fields: Sequence[str] = (),
                 row_key_separator: str = "-") -> None:
        self.row_key_fields = _names(row_key_fields, "row_key_fields")
        if not self.row_key_fields:
            raise InvalidArgumentError("row_key_fields: name at least one field")
        self.column_family = validate_family_name(column_family)
        self.column_fields = _names(column_fields, "column_fields")
        self.counter_fields = _names(counter_fields, "counter_fields")
        both = set(self.column_fields) & set(self.counter_fields)
        if both:
            raise InvalidArgumentError(f"fields {sorted(both)} are both column and counter fields")
        if not self.column_fields and not self.counter_fields:
            raise InvalidArgumentError("a mapper needs column_fields and/or counter_fields")
        self.row_key_separator = row_key_separator
        self.columns = tuple(f"{column_family}:{f}" for f in self.column_fields)
        self.counters = tuple(f"{column_family}:{f}" for f in self.counter_fields)
        self._plans: dict[Fields, _Plan] = {}

    def _plan(self, fields: Fields) -> _Plan:
        try:
            plan = (tuple(fields.index(f) for f in self.row_key_fields),
                    tuple(zip(self.columns, (fields.index(f) for f in self.column_fields))),
                    tuple(zip(self.counters, (fields.index(f) for f in self.counter_fields))))
        except ValueError as exc:
            raise InvalidArgumentError(
                f"SimpleHBaseMapper: the input stream's fields {list(fields)} lack a mapped field "
                f"(row key {list(self.row_key_fields)}, columns {list(self.column_fields)}, "
                f"counters {list(self.counter_fields)})") from exc
        self._plans[fields] = plan
        return plan

    def mutation(self, tup: Tuple) -> tuple[str, dict[str, Any], list[tuple[str, str, int]]]:
        """Return ``(row key, {"cf:q": value}, [(row key, "cf:q", amount), ...])`` for a tuple.

        Raises:
            InvalidArgumentError: a mapped field is missing, the row key is None, or a
                counter value is not an integer.
        """
        fields = tup.source.fields
        keys, columns, counters = self._plans.get(fields) or self._plan(fields)
        values = tup.values
        if len(keys) == 1:
            row = _key_text(values[keys[0]])
        else:
            row = self.row_key_separator.join(_key_text(values[i]) for i in keys)
        cells = {col: values[i] for col, i in columns if values[i] is not None}
        incs = []
        for col, i in counters:
            v = values[i]
            if v is None:
                continue
            if type(v) is not int:
                try:
                    if isinstance(v, (bool, float)) and not float(v).is_integer():
                        raise ValueError(v)
                    v = int(v)
                except (TypeError, ValueError) as exc:
                    raise InvalidArgumentError(
                        f"counter field {col!r} of row {row!r}: {values[i]!r} is not an integer") from exc
            incs.append((row, col, v))
        return row, cells, incs


def _key_text(value: Any) -> str:
    t = type(value)
    if t is str:
        return value
    if value is None:
        raise InvalidArgumentError("a row key field is None")
    if t is bytes:
        return value.decode()
    return str(value)
