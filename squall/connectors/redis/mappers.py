"""What the Redis bolts write, look up and test: data types and tuple mappers.

A mapper turns a tuple into Redis commands queued on a pipeline. Field positions are
resolved once per input stream (the first tuple from it), so the per-tuple path is a
few index reads and one queued command.

Semantics: storm-redis ``RedisDataTypeDescription`` (data type + additional key),
``RedisStoreMapper``, ``RedisLookupMapper``, ``RedisFilterMapper``; command semantics
from redis.io/commands (SET, HSET, SADD, ZADD, RPUSH, EXPIRE, GET, HGET, HGETALL,
SMEMBERS, SISMEMBER, ZSCORE, ZRANGE, LRANGE, EXISTS, HEXISTS).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from squall.tuple import Fields, Tuple

from .errors import RedisConfigError

__all__ = ["RedisDataType", "RedisStoreMapper", "RedisLookupMapper", "RedisFilterMapper"]


class RedisDataType(enum.Enum):
    """The Redis data type a mapper writes or reads (storm-redis ``RedisDataType``)."""

    STRING = "string"
    HASH = "hash"
    SET = "set"
    SORTED_SET = "zset"
    LIST = "list"


class _KeyedMapper:
    """Where a tuple's key comes from: a constant, a field, or a function of the tuple."""

    def __init__(self, data_type: RedisDataType, key_field: str | None, key: str | None,
                 key_fn: Callable[[Tuple], Any] | None) -> None:
        if not isinstance(data_type, RedisDataType):
            raise RedisConfigError(f"data_type must be a RedisDataType, got {data_type!r}")
        if sum(x is not None for x in (key_field, key, key_fn)) != 1:
            raise RedisConfigError(f"{type(self).__name__}: give exactly one of key_field= (a tuple field), "
                                   "key= (a constant key) or key_fn= (a picklable function of the tuple)")
        self.data_type = data_type
        self.key_field = key_field
        self.key = key
        self.key_fn = key_fn
        self._plans: dict[Fields, Callable] = {}

    def _key_getter(self, fields: Fields) -> Callable[[Tuple], Any]:
        if self.key_field is not None:
            return partial(_key_at, _index(fields, self.key_field, "key_field"))
        if self.key is not None:
            return partial(_constant, self.key)
        return self.key_fn  # type: ignore[return-value]

    def _plan(self, tup: Tuple) -> Callable:
        fields = tup.source.fields
        plan = self._plans.get(fields)
        if plan is None:
            plan = self._plans[fields] = self._build(fields)
        return plan

    def _build(self, fields: Fields) -> Callable:
        raise NotImplementedError



# Plans are partials of these module-level functions (not closures), so a mapper that
# has cached plans still pickles and copies as plain data.

def _key_at(i: int, tup: Tuple) -> Any:
    return tup.values[i]


def _constant(key: Any, tup: Tuple) -> Any:
    return key


def _index(fields: Fields, name: str, setting: str) -> int:
    try:
        return fields.index(name)
    except ValueError:
        raise RedisConfigError(f"{setting}={name!r} is not a field of the input stream "
                               f"(fields: {list(fields)})") from None


class RedisStoreMapper(_KeyedMapper):
    """Maps a tuple to one write: which key, which data type, which value.

    Commands per data type (``value`` = the ``value_field`` of the tuple):

    ========== ======================================= ==============================
    type       command                                 needs
    ========== ======================================= ==============================
    STRING     ``SET key value [EX ttl_s]``            value_field
    HASH       ``HSET key <hash_field> value``         value_field, hash_field
    HASH       ``HSET key f1 v1 f2 v2 ...``            value_fields (fields as names)
    SET        ``SADD key value``                      value_field
    SORTED_SET ``ZADD key score value``                value_field, score_field
    LIST       ``RPUSH key value``                     value_field
    ========== ======================================= ==============================

    With ``ttl_s`` every write but STRING's is followed by ``EXPIRE key ttl_s`` in the
    same pipeline (STRING uses ``SET ... EX``). SET, HASH, SORTED_SET and STRING
    writes are idempotent, so a replayed tuple changes nothing; a replayed LIST write
    appends again (at-least-once).

    Args:
        data_type: the :class:`RedisDataType` written.
        key_field: the tuple field holding the key; or
        key: a constant key (one hash/set/sorted set/list for every tuple); or
        key_fn: a function ``tuple -> key`` (module-level, so the spec pickles).
        value_field: the tuple field holding the value (member for SET/SORTED_SET).
        hash_field: HASH only: the tuple field whose value names the hash field.
        value_fields: HASH only, instead of ``value_field``/``hash_field``: these tuple
            fields are written as hash fields of the same names (None values skipped).
        score_field: SORTED_SET only: the tuple field holding the score (a number).
        ttl_s: seconds to live set on the key after each write; None keeps whatever TTL
            the key has (SET without EX clears it, as Redis).

    Raises:
        RedisConfigError: a setting the data type needs is missing, or one it cannot use
            is given; a named field is not in the input stream (at the first tuple).

    Semantics: storm-redis ``RedisStoreMapper`` with ``RedisDataTypeDescription``
    (there the hash/sorted-set name is the "additional key"; here it is ``key``).
    """

    def __init__(self, data_type: RedisDataType, key_field: str | None = None, *, key: str | None = None,
                 key_fn: Callable[[Tuple], Any] | None = None, value_field: str | None = None,
                 hash_field: str | None = None, value_fields: Sequence[str] | None = None,
                 score_field: str | None = None, ttl_s: int | None = None) -> None:
        super().__init__(data_type, key_field, key, key_fn)
        self.value_field = value_field
        self.hash_field = hash_field
        self.value_fields = tuple(value_fields) if value_fields is not None else None
        self.score_field = score_field
        if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or ttl_s <= 0):
            raise RedisConfigError(f"ttl_s must be a positive int (seconds) or None, got {ttl_s!r}")
        self.ttl_s = ttl_s
        t = data_type
        if t is RedisDataType.HASH:
            if (self.value_fields is None) == (value_field is None):
                raise RedisConfigError("HASH: give value_field= with hash_field=, or value_fields=[...]")
            if value_field is not None and hash_field is None:
                raise RedisConfigError("HASH with value_field= needs hash_field= (the field naming the hash field)")
        elif value_field is None:
            raise RedisConfigError(f"{t.name} needs value_field= (the tuple field holding the value)")
        if t is not RedisDataType.HASH and (hash_field is not None or value_fields is not None):
            raise RedisConfigError(f"hash_field/value_fields apply to HASH only, not {t.name}")
        if (t is RedisDataType.SORTED_SET) != (score_field is not None):
            raise RedisConfigError("score_field= is needed by SORTED_SET and only by it")

    @property
    def commands_per_tuple(self) -> int:
        """How many commands one tuple queues (1, or 2 with an EXPIRE)."""
        return 1 if self.ttl_s is None or self.data_type is RedisDataType.STRING else 2

    def queue(self, pipe: Any, tup: Tuple) -> None:
        """Queue this tuple's write (and EXPIRE) on ``pipe``; exactly ``commands_per_tuple`` commands."""
        self._plan(tup)(pipe, tup)

    def _build(self, fields: Fields) -> Callable:
        key_of = self._key_getter(fields)
        ttl = self.ttl_s
        t = self.data_type
        vi = _index(fields, self.value_field, "value_field") if self.value_field is not None else -1
        if t is RedisDataType.STRING:
            return partial(_write_string, key_of, vi, ttl)
        if t is RedisDataType.HASH:
            if self.value_fields is not None:
                cols = tuple((f, _index(fields, f, "value_fields")) for f in self.value_fields)
                one = partial(_write_hash_fields, key_of, cols)
            else:
                one = partial(_write_hash_field, key_of, _index(fields, self.hash_field, "hash_field"), vi)
        elif t is RedisDataType.SET:
            one = partial(_write_set, key_of, vi)
        elif t is RedisDataType.SORTED_SET:
            one = partial(_write_sorted_set, key_of, vi, _index(fields, self.score_field, "score_field"))
        else:
            one = partial(_write_list, key_of, vi)
        return one if ttl is None else partial(_write_then_expire, one, key_of, ttl)


def _write_string(key_of, vi, ttl, p, tup):
    p.set(key_of(tup), tup.values[vi], ex=ttl)


def _write_hash_fields(key_of, cols, p, tup):
    v = tup.values
    p.hset(key_of(tup), mapping={f: v[i] for f, i in cols if v[i] is not None})


def _write_hash_field(key_of, hi, vi, p, tup):
    p.hset(key_of(tup), tup.values[hi], tup.values[vi])


def _write_set(key_of, vi, p, tup):
    p.sadd(key_of(tup), tup.values[vi])


def _write_sorted_set(key_of, vi, si, p, tup):
    p.zadd(key_of(tup), {tup.values[vi]: tup.values[si]})


def _write_list(key_of, vi, p, tup):
    p.rpush(key_of(tup), tup.values[vi])


def _write_then_expire(one, key_of, ttl, p, tup):
    one(p, tup)
    p.expire(key_of(tup), ttl)


class RedisLookupMapper(_KeyedMapper):
    """Maps a tuple to one read, and the reply to the emitted values.

    Reads per data type (``member`` = the ``member_field`` of the tuple, optional):

    ========== ===================== ================================= ===================
    type       without member_field  with member_field                  value emitted
    ========== ===================== ================================= ===================
    STRING     ``GET key``           -                                  str or None
    HASH       ``HGETALL key``       ``HGET key member``                dict / str or None
    SET        ``SMEMBERS key``      ``SISMEMBER key member``           set / bool
    SORTED_SET ``ZRANGE key 0 -1     ``ZSCORE key member``              [(m, score)] / float or None
               WITHSCORES``
    LIST       ``LRANGE key 0 -1``   -                                  list
    ========== ===================== ================================= ===================

    The bolt emits the values of ``output_fields`` from the input, then the value read,
    declared as ``(*output_fields, value_field)``; an absent key gives None (STRING,
    HGET, ZSCORE) or an empty collection, and the tuple is still emitted, as
    storm-redis's lookup bolt emits a null.

    Without ``member_field`` the whole collection is one reply and one emitted value
    (the lookup's contract, as in storm-redis), so it is meant for small collections;
    a large one is read by member (``member_field``), or off the tuple path with
    :meth:`RedisKeyValueStore.sscan_iter <squall.connectors.redis.RedisKeyValueStore.sscan_iter>`.

    Args:
        data_type, key_field, key, key_fn: as :class:`RedisStoreMapper`.
        output_fields: the input fields passed through to the output, in order.
        value_field: the name of the output field holding what was read.
        member_field: the tuple field naming a hash field / set or sorted-set member.

    Semantics: storm-redis ``RedisLookupMapper`` / ``RedisLookupBolt``.
    """

    def __init__(self, data_type: RedisDataType, key_field: str | None = None, *, key: str | None = None,
                 key_fn: Callable[[Tuple], Any] | None = None, output_fields: Sequence[str] = (),
                 value_field: str = "value", member_field: str | None = None) -> None:
        super().__init__(data_type, key_field, key, key_fn)
        self.output_fields = tuple(output_fields)
        self.value_field = value_field
        self.member_field = member_field
        if member_field is not None and data_type in (RedisDataType.STRING, RedisDataType.LIST):
            raise RedisConfigError(f"member_field applies to HASH, SET and SORTED_SET, not {data_type.name}")
        if value_field in self.output_fields:
            raise RedisConfigError(f"value_field {value_field!r} is also in output_fields; name it differently")

    def declared_fields(self) -> tuple[str, ...]:
        return (*self.output_fields, self.value_field)

    def queue(self, pipe: Any, tup: Tuple) -> None:
        """Queue this tuple's read on ``pipe`` (one command)."""
        self._plan(tup)[0](pipe, tup)

    def values(self, tup: Tuple, reply: Any) -> list[Any]:
        """The output values for ``tup`` given its read's reply."""
        return self._plan(tup)[1](tup, reply)

    def _build(self, fields: Fields):
        key_of = self._key_getter(fields)
        t = self.data_type
        mi = _index(fields, self.member_field, "member_field") if self.member_field is not None else -1
        if mi >= 0:
            read = partial(_BY_MEMBER[t], key_of, mi)
        else:
            read = partial(_WHOLE[t], key_of)
        idx = tuple(_index(fields, f, "output_fields") for f in self.output_fields)
        return read, partial(_lookup_values, idx, _CONVERT.get((t, mi >= 0)))


def _read_get(key_of, p, tup):
    p.get(key_of(tup))


def _read_hgetall(key_of, p, tup):
    p.hgetall(key_of(tup))


def _read_smembers(key_of, p, tup):
    p.smembers(key_of(tup))


def _read_zrange(key_of, p, tup):
    p.zrange(key_of(tup), 0, -1, withscores=True)


def _read_lrange(key_of, p, tup):
    p.lrange(key_of(tup), 0, -1)


def _read_hget(key_of, mi, p, tup):
    p.hget(key_of(tup), tup.values[mi])


def _read_sismember(key_of, mi, p, tup):
    p.sismember(key_of(tup), tup.values[mi])


def _read_zscore(key_of, mi, p, tup):
    p.zscore(key_of(tup), tup.values[mi])


def _read_hexists(key_of, mi, p, tup):
    p.hexists(key_of(tup), tup.values[mi])


def _read_exists(key_of, p, tup):
    p.exists(key_of(tup))


_WHOLE = {RedisDataType.STRING: _read_get, RedisDataType.HASH: _read_hgetall,
          RedisDataType.SET: _read_smembers, RedisDataType.SORTED_SET: _read_zrange,
          RedisDataType.LIST: _read_lrange}
_BY_MEMBER = {RedisDataType.HASH: _read_hget, RedisDataType.SET: _read_sismember,
              RedisDataType.SORTED_SET: _read_zscore}


def _lookup_values(idx, convert, tup, reply):
    v = tup.values
    out = [v[i] for i in idx]
    out.append(convert(reply) if convert is not None else reply)
    return out


def _to_bool(reply: Any) -> bool:
    return bool(reply)


def _to_set(reply: Any) -> set:
    return set(reply)


def _to_pairs(reply: Any) -> list:
    return [tuple(x) for x in reply]


_CONVERT = {(RedisDataType.SET, True): _to_bool, (RedisDataType.SET, False): _to_set,
            (RedisDataType.SORTED_SET, False): _to_pairs}


class RedisFilterMapper(_KeyedMapper):
    """Maps a tuple to an existence test: the tuple passes when the test is true.

    Tests per data type (``member`` = the ``member_field`` of the tuple):

    ========== ========================= ==================================
    type       without member_field      with member_field
    ========== ========================= ==================================
    STRING     ``EXISTS key``            -
    HASH       ``EXISTS key``            ``HEXISTS key member``
    SET        ``EXISTS key``            ``SISMEMBER key member``
    SORTED_SET ``EXISTS key``            ``ZSCORE key member`` is not nil
    LIST       ``EXISTS key``            -
    ========== ========================= ==================================

    Args:
        data_type, key_field, key, key_fn: as :class:`RedisStoreMapper`.
        member_field: the tuple field naming the hash field / member tested.
        output_fields: the fields the bolt declares; a passing tuple is emitted with
            all its values, so they must be the input stream's fields.
        negate: pass the tuples whose test is false instead (a deny-list filter).

    Semantics: storm-redis ``RedisFilterMapper`` / ``RedisFilterBolt``.
    """

    def __init__(self, data_type: RedisDataType, key_field: str | None = None, *, key: str | None = None,
                 key_fn: Callable[[Tuple], Any] | None = None, member_field: str | None = None,
                 output_fields: Sequence[str] = (), negate: bool = False) -> None:
        super().__init__(data_type, key_field, key, key_fn)
        if member_field is not None and data_type in (RedisDataType.STRING, RedisDataType.LIST):
            raise RedisConfigError(f"member_field applies to HASH, SET and SORTED_SET, not {data_type.name}")
        self.member_field = member_field
        self.output_fields = tuple(output_fields)
        self.negate = negate

    def queue(self, pipe: Any, tup: Tuple) -> None:
        """Queue this tuple's test on ``pipe`` (one command)."""
        self._plan(tup)(pipe, tup)

    def passes(self, reply: Any) -> bool:
        """Whether a tuple whose test replied ``reply`` is emitted."""
        # EXISTS/HEXISTS/SISMEMBER reply a count or a bool; ZSCORE a score (0.0 is a hit) or nil.
        hit = bool(reply) if isinstance(reply, int) else reply is not None
        return hit is not self.negate

    def _build(self, fields: Fields):
        key_of = self._key_getter(fields)
        if self.member_field is None:
            return partial(_read_exists, key_of)
        mi = _index(fields, self.member_field, "member_field")
        return partial(_MEMBER_TESTS[self.data_type], key_of, mi)


_MEMBER_TESTS = {RedisDataType.HASH: _read_hexists, RedisDataType.SET: _read_sismember,
                 RedisDataType.SORTED_SET: _read_zscore}
