"""Tuples, fields and stream ids: the data model every component shares.

Semantics: Storm "Concepts" (Streams, Tuples) and ``org.apache.storm.tuple``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["DEFAULT_STREAM", "Fields", "Values", "Tuple", "TupleSource",
           "SYSTEM_COMPONENT", "TICK_STREAM", "is_tick"]

DEFAULT_STREAM = "default"
SYSTEM_COMPONENT = "__system"
TICK_STREAM = "__tick"


class Fields(Sequence[str]):
    """An ordered, immutable list of field names with O(1) name -> index lookup.

    >>> f = Fields(["car", "speed"])
    >>> f.index("speed"), len(f), list(f)
    (1, 2, ['car', 'speed'])
    >>> f.select(Fields(["speed"]), ["c1", 92.0])
    [92.0]

    Raises:
        ValueError: duplicate names, or an unknown name in ``index``/``select``.
    """

    __slots__ = ("_names", "_index")

    def __init__(self, names: Iterable[str] = ()) -> None:
        if isinstance(names, str):
            names = (names,)
        self._names = tuple(names)
        self._index = {n: i for i, n in enumerate(self._names)}
        if len(self._index) != len(self._names):
            raise ValueError(f"duplicate field names in {list(self._names)}")

    def __getitem__(self, i):  # type: ignore[override]
        return self._names[i]

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self):
        return iter(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Fields):
            return self._names == other._names
        if isinstance(other, (list, tuple)):
            return self._names == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._names)

    def __repr__(self) -> str:
        return f"Fields({list(self._names)!r})"

    def __reduce__(self):
        return (Fields, (self._names,))

    def index(self, name: str) -> int:  # type: ignore[override]
        try:
            return self._index[name]
        except KeyError:
            raise ValueError(f"unknown field {name!r}; fields are {list(self._names)}") from None

    def select(self, selector: Iterable[str], values: Sequence[Any]) -> list[Any]:
        """Values of the ``selector`` fields, in selector order."""
        return [values[self.index(n)] for n in selector]


class Values(list):
    """The values of one tuple, in declared field order (Storm's ``Values``)."""


class TupleSource:
    """What every tuple from one (component, task, stream) shares.

    Kept apart from :class:`Tuple` so creating a tuple sets three slots, not seven.
    """

    __slots__ = ("component", "task", "stream", "fields")

    def __init__(self, component: str, task: int, stream: str, fields: Fields) -> None:
        self.component = component
        self.task = task
        self.stream = stream
        self.fields = fields

    def __repr__(self) -> str:
        return f"TupleSource({self.component!r}, task={self.task}, stream={self.stream!r})"


class Tuple:
    """One tuple: values with named fields, on a stream, from a source task.

    Access by index (``t[0]``) or by field name (``t["speed"]``).

    Attributes:
        values: the values, in the order of ``fields``.
        message_id: the acking ids (Storm's ``MessageId``): a ``(root_id, edge_id)``
            pair for a tuple in one tree, ``{root_id: edge_id}`` for a tuple anchored
            to several trees, or None when it is not tracked (no anchors, acking off).

    >>> src = TupleSource("parse", 3, "default", Fields(["car", "speed"]))
    >>> t = Tuple(["c1", 92.0], src, None)
    >>> t["speed"], t[0], t[-1], t[:1], t.stream, t.source_component, t.source_task
    (92.0, 'c1', 92.0, ['c1'], 'default', 'parse', 3)
    >>> t["rpm"]
    Traceback (most recent call last):
    ...
    ValueError: unknown field 'rpm'; fields are ['car', 'speed']
    """

    __slots__ = ("values", "source", "message_id", "out_ack")

    def __init__(self, values: list[Any], source: TupleSource, message_id: dict[int, int] | None) -> None:
        self.values = values
        self.source = source
        self.message_id = message_id
        # XOR of the edge ids of tuples anchored to this one; sent to the acker on ack.
        self.out_ack = 0

    def __getitem__(self, key):
        if key.__class__ is str:
            # Names first, so a field-name access never raises and catches an exception.
            i = self.source.fields._index.get(key)
            return self.values[self.source.fields.index(key) if i is None else i]
        try:
            return self.values[key]
        except TypeError:   # a str subclass names a field too
            return self.values[self.source.fields.index(key)]

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self):
        return iter(self.values)

    def get(self, name: str, default: Any = None) -> Any:
        """The value of field ``name``, or ``default`` when the stream lacks it."""
        i = self.source.fields._index.get(name)
        return default if i is None else self.values[i]

    def select(self, fields: Iterable[str]) -> list[Any]:
        """The values of ``fields``, in that order."""
        return self.source.fields.select(fields, self.values)

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(self.source.fields, self.values))

    @property
    def fields(self) -> Fields:
        return self.source.fields

    @property
    def stream(self) -> str:
        return self.source.stream

    @property
    def source_component(self) -> str:
        return self.source.component

    @property
    def source_task(self) -> int:
        return self.source.task

    def __repr__(self) -> str:
        s = self.source
        return f"Tuple({s.component}:{s.task} {s.stream} {self.values!r})"


def is_tick(tup: Tuple) -> bool:
    """True for the tick tuples the runtime sends (``topology.tick.tuple.freq.secs``)."""
    return tup.source.stream == TICK_STREAM and tup.source.component == SYSTEM_COMPONENT
