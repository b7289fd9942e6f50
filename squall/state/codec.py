"""How state values become bytes: msgpack with explicit extension types, never code.

A state value is stored as ``b"\\xc1\\x01"`` + msgpack. ``0xc1`` is the one byte msgpack
never uses, so the header cannot be mistaken for a bare msgpack or pickle payload, and
reading a value can only build data: nothing read back is unpickled or evaluated.

Supported natively: ``None``, ``bool``, ``int`` (any size), ``float``, ``str``,
``bytes``, ``list``, ``dict`` (keys of any supported hashable type). Through extension
types, restored as the same type: ``tuple``, ``set``, ``frozenset``, ints beyond 64
bits, ``collections.deque``, ``datetime.datetime`` (naive, fixed offset
or ``zoneinfo.ZoneInfo``), ``datetime.date``, ``datetime.time`` (naive),
``datetime.timedelta``, ``decimal.Decimal``. Exact types only: a subclass (a
namedtuple, an ``OrderedDict``) is not silently flattened into its base type; register
it. One exception: msgpack packs ``bytearray`` and ``memoryview`` as binary, so they
come back as ``bytes``.

Types of your own: register an encoder to supported data and a decoder back, under a
stable name (Storm registers Kryo serializers the same way)::

    codec = StateCodec().with_type(Point, "geo.Point", lambda p: (p.x, p.y),
                                   lambda xy: Point(*xy))

A backend takes them for every state (``MemoryStateBackend(types=[StateType(...)])``);
a bolt can add its own in ``init_state`` with :meth:`KeyValueState.register_type`.

Values pickled by Squall before this format (a pickle header, ``0x80 0x02..0x05``) are
refused with :class:`LegacyPickleStateError`, never unpickled, unless the backend was
opened with ``serializer="pickle"``: an explicit declaration that the store is
trusted, because unpickling runs whatever code the payload names.

Semantics: Storm "Serialization" (``topology.kryo.register``: types registered by
name, no Java serialization fallback unless ``topology.fall.back.on.java.serialization``).
"""

from __future__ import annotations

import collections
import datetime as _dt
import decimal
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgpack

from squall.state.errors import (LegacyPickleStateError, StateDecodeError, StateError,
                                 StateValueError)

__all__ = ["StateType", "StateCodec", "SERIALIZERS", "HEADER"]

HEADER = b"\xc1\x01"
SERIALIZERS = ("msgpack", "pickle")

# Extension codes. Stable: they are part of the on-disk format.
_TUPLE, _SET, _FROZENSET, _BIGINT, _DEQUE = 1, 2, 3, 4, 6
_DATETIME, _DATE, _TIME, _TIMEDELTA, _DECIMAL = 7, 8, 9, 10, 11
_REGISTERED = 64


@dataclass(frozen=True)
class StateType:
    """A user type state may hold: ``encode(obj)`` returns supported data (see the module
    docs), ``decode(data)`` rebuilds the object. ``name`` is what the stored bytes
    carry, so keep it stable across releases; the functions must be module-level to
    travel with a topology spec.
    """

    cls: type
    name: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]

    def __post_init__(self) -> None:
        if not isinstance(self.cls, type):
            raise TypeError(f"StateType cls must be a class, got {self.cls!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"StateType name must be a non-empty str, got {self.name!r}")
        if not callable(self.encode) or not callable(self.decode):
            raise TypeError(f"StateType {self.name!r}: encode and decode must be callable")


class _Unsupported(Exception):
    def __init__(self, obj: Any, reason: str = "") -> None:
        super().__init__(type(obj).__name__)
        self.obj = obj
        self.reason = reason


class _Undecodable(Exception):
    pass


def _int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)


class StateCodec:
    """Encodes state values to bytes and back; immutable (``with_type`` returns a new codec).

    Args:
        types: the user types this codec knows (:class:`StateType`).
        serializer: ``"msgpack"`` (default, data only) or ``"pickle"``: write pickle and
            read pickle. **Pickle runs code named by the stored bytes**: choose it only
            for a store no one else can write (a private RocksDB directory), never for
            a shared Redis.

    Raises:
        StateError: two types share a name, a class is registered twice, or an unknown
            serializer.
    """

    def __init__(self, types: Iterable[StateType] = (), serializer: str = "msgpack") -> None:
        if serializer not in SERIALIZERS:
            raise StateError(f"unknown state serializer {serializer!r}; use one of {SERIALIZERS}")
        self.serializer = serializer
        self.types: tuple[StateType, ...] = ()
        self._by_cls: dict[type, StateType] = {}
        self._by_name: dict[str, StateType] = {}
        for t in types:
            self._add(t)

    def _add(self, t: StateType) -> None:
        if not isinstance(t, StateType):
            raise StateError(f"state types must be StateType(cls, name, encode, decode), got {t!r}")
        # The same class under the same name again (init_state runs again after a
        # rollback) replaces the functions; a name or class meaning two things is refused.
        if t.name in self._by_name and self._by_name[t.name].cls is not t.cls:
            raise StateError(f"state type name {t.name!r} is registered twice "
                             f"({self._by_name[t.name].cls.__qualname__} and {t.cls.__qualname__})")
        if t.cls in self._by_cls and self._by_cls[t.cls].name != t.name:
            raise StateError(f"class {t.cls.__qualname__} is registered twice as a state type "
                             f"({self._by_cls[t.cls].name!r} and {t.name!r})")
        self._by_cls[t.cls] = t
        self._by_name[t.name] = t
        self.types = tuple(x for x in self.types if x.cls is not t.cls) + (t,)

    def with_type(self, cls: type, name: str, encode: Callable[[Any], Any],
                  decode: Callable[[Any], Any]) -> StateCodec:
        """Return a codec that also stores ``cls`` under ``name`` (see :class:`StateType`)."""
        return StateCodec((*self.types, StateType(cls, name, encode, decode)), self.serializer)

    # -- encoding ---------------------------------------------------------------------

    def _default(self, obj: Any) -> msgpack.ExtType:
        pack = self._pack
        cls = type(obj)
        if cls is tuple:
            return msgpack.ExtType(_TUPLE, pack(list(obj)))
        if cls is set:
            return msgpack.ExtType(_SET, pack(list(obj)))
        if cls is frozenset:
            return msgpack.ExtType(_FROZENSET, pack(list(obj)))
        if cls is int:
            return msgpack.ExtType(_BIGINT, _int_bytes(obj))
        if cls is collections.deque:
            return msgpack.ExtType(_DEQUE, pack([list(obj), obj.maxlen]))
        if cls is _dt.datetime:
            tz = obj.tzinfo
            zone = getattr(tz, "key", None)  # zoneinfo.ZoneInfo keeps its IANA name
            if tz is not None and zone is None and not isinstance(tz, _dt.timezone):
                raise _Unsupported(obj, f"its tzinfo {tz!r} is neither a datetime.timezone nor a "
                                        f"zoneinfo.ZoneInfo")
            iso = obj.replace(tzinfo=None).isoformat() if zone else obj.isoformat()
            return msgpack.ExtType(_DATETIME, pack([iso, zone, obj.fold]))
        if cls is _dt.date:
            return msgpack.ExtType(_DATE, pack(obj.toordinal()))
        if cls is _dt.time:
            if obj.tzinfo is not None:
                raise _Unsupported(obj, "a time with a tzinfo has no stable meaning; store a datetime")
            return msgpack.ExtType(_TIME, pack(obj.isoformat()))
        if cls is _dt.timedelta:
            return msgpack.ExtType(_TIMEDELTA, pack([obj.days, obj.seconds, obj.microseconds]))
        if cls is decimal.Decimal:
            return msgpack.ExtType(_DECIMAL, pack(str(obj)))
        t = self._by_cls.get(cls)
        if t is not None:
            return msgpack.ExtType(_REGISTERED, pack([t.name, t.encode(obj)]))
        raise _Unsupported(obj)

    def _pack(self, obj: Any) -> bytes:
        # strict_types: a subclass (bool aside) goes to _default instead of being
        # packed as its base type, so a namedtuple is refused, not turned into a list.
        return msgpack.packb(obj, default=self._default, use_bin_type=True, strict_types=True,
                             datetime=False)

    def encode(self, value: Any) -> bytes:
        """Return the stored bytes of ``value``.

        Raises:
            StateValueError: ``value`` holds an object of a type state cannot store
                (``.path`` says where, ``.type_name`` what); the key is added by the caller.
        """
        if self.serializer == "pickle":
            return pickle.dumps(value, protocol=5)
        try:
            return HEADER + self._pack(value)
        except _Unsupported as exc:
            bad = exc.obj
            raise StateValueError(_where(value, bad), _qualname(type(bad)), exc.reason) from None
        except (ValueError, OverflowError, TypeError, UnicodeError) as exc:
            # msgpack's own limits: nesting deeper than 512, a str with lone surrogates
            raise StateValueError("", type(value).__name__, str(exc)) from exc

    # -- decoding ---------------------------------------------------------------------

    def _ext(self, code: int, data: bytes) -> Any:
        unpack = self._unpack
        if code == _TUPLE:
            return tuple(unpack(data))
        if code == _SET:
            return set(unpack(data))
        if code == _FROZENSET:
            return frozenset(unpack(data))
        if code == _BIGINT:
            return int.from_bytes(data, "big", signed=True)
        if code == _DEQUE:
            items, maxlen = unpack(data)
            return collections.deque(items, maxlen)
        if code == _DATETIME:
            iso, zone, fold = unpack(data)
            value = _dt.datetime.fromisoformat(iso)
            if zone is not None:
                import zoneinfo
                value = value.replace(tzinfo=zoneinfo.ZoneInfo(zone))
            return value.replace(fold=fold)
        if code == _DATE:
            return _dt.date.fromordinal(unpack(data))
        if code == _TIME:
            return _dt.time.fromisoformat(unpack(data))
        if code == _TIMEDELTA:
            days, seconds, micros = unpack(data)
            return _dt.timedelta(days, seconds, micros)
        if code == _DECIMAL:
            return decimal.Decimal(unpack(data))
        if code == _REGISTERED:
            name, payload = unpack(data)
            t = self._by_name.get(name)
            if t is None:
                raise _Undecodable(f"it holds a value of state type {name!r}, which is not registered "
                                   f"here: register it (StateType(cls, {name!r}, encode, decode)) "
                                   f"on the backend or with state.register_type")
            return t.decode(payload)
        raise _Undecodable(f"unknown extension type {code}")

    def _unpack(self, data: bytes) -> Any:
        return msgpack.unpackb(data, ext_hook=self._ext, raw=False, use_list=True,
                               strict_map_key=False, timestamp=0)

    def decode(self, data: bytes) -> Any:
        """Return the value stored as ``data``.

        Raises:
            LegacyPickleStateError: ``data`` is a pickle and this codec is not ``"pickle"``.
            StateDecodeError: ``data`` is not a value this codec wrote (key added by caller).
        """
        if data[:2] == HEADER:
            try:
                return self._unpack(data[2:])
            except _Undecodable as exc:
                raise StateDecodeError(str(exc)) from None
            except Exception as exc:  # malformed bytes: msgpack, int/iso parsing, a user decoder
                raise StateDecodeError(f"it does not decode ({type(exc).__name__}: {exc})") from exc
        if is_pickle(data):
            if self.serializer == "pickle":
                return pickle.loads(data)
            raise LegacyPickleStateError()
        raise StateDecodeError(f"it is not a Squall state value (starts with {bytes(data[:8])!r}, "
                               f"not the header {HEADER!r})")


def is_pickle(data: bytes) -> bool:
    """Whether ``data`` starts like a pickle of protocol 2 to 5 (what Squall wrote before)."""
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__qualname__


def _where(value: Any, bad: Any) -> str:
    """The path from ``value`` to the object ``bad`` (``['engine'][2]``), for messages."""
    stack: list[tuple[Any, str]] = [(value, "")]
    seen: set[int] = set()
    while stack:
        obj, path = stack.pop()
        if obj is bad:
            return path
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, dict):
            for k, v in obj.items():
                stack.append((k, f"{path} (a key)"))
                stack.append((v, f"{path}[{k!r}]"))
        elif isinstance(obj, (list, tuple, collections.deque)):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(obj))
        elif isinstance(obj, (set, frozenset)):
            stack.extend((v, f"{path} (an element)") for v in obj)
    return ""
