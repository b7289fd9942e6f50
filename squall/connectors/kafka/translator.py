"""Record translators: a Kafka record -> the values of a tuple, and its stream.

A translator receives the ``confluent_kafka.Message`` itself (``.topic()``,
``.partition()``, ``.offset()``, ``.key()``, ``.value()``, ``.timestamp()``,
``.headers()``) so nothing is allocated per record beyond the tuple values.
``translate`` returns ``(stream, values)``, or None to skip the record (it then counts
as done and is committed past without being emitted, as Storm's translators returning
null with ``emitNullTuples`` off). Translators are specs: picklable, no live state.

Semantics: storm-kafka-client ``RecordTranslator``, ``DefaultRecordTranslator``,
``SimpleRecordTranslator``, ``ByTopicRecordTranslator``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...tuple import DEFAULT_STREAM

__all__ = ["RecordTranslator", "DefaultRecordTranslator", "SimpleRecordTranslator",
           "ByTopicRecordTranslator", "DEFAULT_FIELDS"]

DEFAULT_FIELDS = ("topic", "partition", "offset", "key", "value", "timestamp")


class RecordTranslator:
    """Maps a record to ``(stream, values)`` or None; declares the streams it emits on."""

    def streams(self) -> Mapping[str, Sequence[str]]:
        """Stream id -> the fields of its tuples."""
        raise NotImplementedError

    def translate(self, record: Any) -> tuple[str, list[Any]] | None:
        """The stream and values for ``record`` (a ``confluent_kafka.Message``), or None to skip it."""
        raise NotImplementedError


class DefaultRecordTranslator(RecordTranslator):
    """Fields ``topic, partition, offset, key, value, timestamp`` on one stream.

    Args:
        value_decoder: bytes -> value (e.g. ``bytes.decode``); None keeps raw bytes.
        key_decoder: the same for the key (None: raw bytes, or None when absent).
        stream: the stream to emit on.

    ``timestamp`` is the record's timestamp in epoch milliseconds, None if it has none.
    A value of None (a tombstone) is passed as None, without calling the decoder.

    >>> DefaultRecordTranslator().streams()
    {'default': ('topic', 'partition', 'offset', 'key', 'value', 'timestamp')}
    """

    def __init__(self, value_decoder: Callable[[bytes], Any] | None = None,
                 key_decoder: Callable[[bytes], Any] | None = None, stream: str = DEFAULT_STREAM) -> None:
        self.value_decoder = value_decoder
        self.key_decoder = key_decoder
        self.stream = stream

    def streams(self):
        return {self.stream: DEFAULT_FIELDS}

    def translate(self, record):
        value = record.value()
        if value is not None and self.value_decoder is not None:
            value = self.value_decoder(value)
        key = record.key()
        if key is not None and self.key_decoder is not None:
            key = self.key_decoder(key)
        ts_type, ts = record.timestamp()
        return self.stream, [record.topic(), record.partition(), record.offset(), key, value,
                             ts if ts_type else None]


class SimpleRecordTranslator(RecordTranslator):
    """A function ``record -> values`` (or None to skip) with declared fields, on one stream.

    >>> t = SimpleRecordTranslator(lambda r: [r.value()], ["line"])
    >>> t.streams()
    {'default': ('line',)}
    """

    def __init__(self, func: Callable[[Any], list[Any] | None], fields: Sequence[str],
                 stream: str = DEFAULT_STREAM) -> None:
        self.func = func
        self.fields = tuple(fields)
        self.stream = stream

    def streams(self):
        return {self.stream: self.fields}

    def translate(self, record):
        values = self.func(record)
        return None if values is None else (self.stream, values)


class ByTopicRecordTranslator(RecordTranslator):
    """A translator per topic (e.g. a stream per topic), with a default for the others.

    Args:
        by_topic: topic -> translator.
        default: for topics not in ``by_topic``; None skips their records.

    Raises:
        ValueError: two translators declare one stream with different fields.
    """

    def __init__(self, by_topic: Mapping[str, RecordTranslator], default: RecordTranslator | None = None) -> None:
        self.by_topic = dict(by_topic)
        self.default = default
        declared: dict[str, tuple[str, ...]] = {}
        for t in [*self.by_topic.values(), *([default] if default else [])]:
            for stream, fields in t.streams().items():
                fields = tuple(fields)
                if declared.setdefault(stream, fields) != fields:
                    raise ValueError(f"stream {stream!r} is declared with fields {declared[stream]} "
                                     f"and {fields} by two translators; use one field list per stream")
        self._streams = declared

    def streams(self):
        return dict(self._streams)

    def translate(self, record):
        t = self.by_topic.get(record.topic(), self.default)
        return None if t is None else t.translate(record)
