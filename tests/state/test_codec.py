"""State values are data: every supported type round-trips, user types are registered
by name, and nothing read back from a backend is unpickled or evaluated."""

from __future__ import annotations

import collections
import datetime as dt
import pickle
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.state import (LegacyPickleStateError, MemoryStateBackend, StateCodec, StateDecodeError,
                          StateError, StateType, StateValueError)
from squall.state.base import encode_key
from squall.state.codec import HEADER


# -- round trips -------------------------------------------------------------------------

def same(a, b) -> bool:
    """Equal and of the same types all the way down (``1 == 1.0 == True`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple, collections.deque)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b)) and \
            getattr(a, "maxlen", None) == getattr(b, "maxlen", None)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items()) and \
            all(same(k, next(k2 for k2 in b if k2 == k)) for k in a)
    if isinstance(a, (set, frozenset)):
        return a == b and {type(x) for x in a} == {type(x) for x in b}
    if isinstance(a, dt.datetime):
        return a == b and a.tzinfo == b.tzinfo and a.fold == b.fold and a.isoformat() == b.isoformat()
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


zones = st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=-5, minutes=-30)),
                         zoneinfo.ZoneInfo("Europe/Paris"), zoneinfo.ZoneInfo("America/New_York")])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-2**200, max_value=2**200),
    st.floats(allow_nan=True), st.text(), st.binary(),
    st.datetimes(timezones=zones), st.dates(), st.timedeltas(), st.times(),
    st.decimals(allow_nan=False))
hashables = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**100, max_value=2**100), st.text(),
              st.binary(), st.dates(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.tuples(inner, inner), st.frozensets(inner, max_size=3)), max_leaves=6)
values = st.recursive(
    st.one_of(scalars, hashables),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
        st.sets(hashables, max_size=4), st.frozensets(hashables, max_size=4),
        st.dictionaries(hashables, inner, max_size=4),
        st.lists(inner, max_size=4).map(lambda xs: collections.deque(xs, maxlen=len(xs) + 1))),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(values)
def test_every_supported_type_round_trips_with_its_type(value):
    codec = StateCodec()
    data = codec.encode(value)
    assert data[:2] == HEADER
    assert same(codec.decode(data), value)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=5), values, max_size=4))
def test_values_round_trip_through_a_backend(value):
    backend = MemoryStateBackend().open()
    state = backend.state("bolt", 0)
    state.put("k", value)
    state.prepare_commit(1)
    state.commit(1)
    state.close()
    assert same(backend.state("bolt", 0).get("k"), value)


def test_bytearray_comes_back_as_bytes():
    assert same(StateCodec().decode(StateCodec().encode([bytearray(b"ab")])), [b"ab"])


def test_the_shapes_the_runtime_keeps_in_state_round_trip():
    """What the windowed bolt, CEP bolt, Kafka spout and smart-car source put, by shape."""
    codec = StateCodec()
    shapes = [
        {"manager": {"win": [([1, "car-7", 80.5], "spout", 0, "default")], "next": 3},
         "latest": [(["car-7"], 1_700_000_000_000)]},
        {"engine": {"version": 1, "time_ms": 12, "schedules": [(30_000, "rule", (0, 1), "fire")],
                    "statements": {"rule": {"events": ({"car": "a", "speed": 81.0},), "ids": {3: (0, -1)}}}},
         "seen": {("a", 5): 12}, "started": True},
        {("cars", 0): 17, ("cars", 1): None},
        (120, {7: [1_700_000_000_000, "car-7", 0.0, 1.5, None]}, 8),
    ]
    for value in shapes:
        assert same(codec.decode(codec.encode(value)), value)


# -- registered user types ----------------------------------------------------------------

class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)

    __hash__ = None


def _enc_point(p):
    return (p.x, p.y)


def _dec_point(xy):
    return Point(*xy)


POINT = StateType(Point, "tests.Point", _enc_point, _dec_point)


def test_a_registered_type_round_trips_on_the_backend_and_per_state(new_backend):
    backend = new_backend()
    state = backend.state("geo", 0)
    state.register_type(Point, "tests.Point", _enc_point, _dec_point)
    value = {"where": [Point(1, 2.5), (Point(-3, 4), {"nested": Point("a", b"b")})]}
    state.put("p", value)
    state.prepare_commit(1)
    state.commit(1)
    state.close()
    with pytest.raises(StateDecodeError, match="'tests.Point'.*not registered"):
        backend.state("geo", 0).get("p")   # a state that did not register it cannot read it
    backend.close()
    fresh = new_backend()
    fresh.codec = StateCodec([POINT])
    assert fresh.state("geo", 0).get("p") == value


def test_types_given_to_a_backend_reach_every_state():
    backend = MemoryStateBackend(types=[POINT]).open()
    for task in (0, 1):
        s = backend.state("geo", task)
        s.put("p", Point(task, task))
        assert s.get("p") == Point(task, task)


def test_an_unregistered_type_fails_at_put_naming_key_path_and_type(backend):
    state = backend.state("geo", 3)
    with pytest.raises(StateValueError) as err:
        state.put("window", {"buffer": [1, Point(0, 0)]})
    e = err.value
    assert (e.key, e.namespace, e.path, e.type_name) == ("window", ("geo", 3), "['buffer'][1]",
                                                         f"{__name__}.Point")
    assert "'window'" in str(e) and "Point" in str(e) and "register" in str(e)
    assert "window" not in dict(state.items())


def test_subclasses_of_supported_types_are_refused_not_flattened():
    Pair = collections.namedtuple("Pair", "a b")
    with pytest.raises(StateValueError, match="Pair"):
        StateCodec().encode([Pair(1, 2)])
    with pytest.raises(StateValueError, match="OrderedDict"):
        StateCodec().encode(collections.OrderedDict(a=1))


def test_conflicting_registrations_are_refused():
    codec = StateCodec([POINT])
    with pytest.raises(StateError, match="registered twice"):
        codec.with_type(dict, "tests.Point", _enc_point, _dec_point)
    with pytest.raises(StateError, match="registered twice"):
        codec.with_type(Point, "tests.Other", _enc_point, _dec_point)


def test_registering_again_as_init_state_does_after_a_rollback_is_allowed():
    state = MemoryStateBackend().open().state("geo", 0)
    for _ in range(3):
        state.register_type(Point, "tests.Point", lambda p: [p.x, p.y], lambda xy: Point(*xy))
    assert len(state._codec.types) == 1
    state.put("p", Point(1, 2))
    assert state.get("p") == Point(1, 2)


def test_a_registered_decoder_that_fails_names_the_key():
    def bad_decode(_):
        raise ValueError("corrupt point")
    backend = MemoryStateBackend(types=[StateType(Point, "tests.Point", _enc_point, bad_decode)]).open()
    state = backend.state("geo", 0)
    state.put("p", Point(1, 2))
    with pytest.raises(StateDecodeError, match="'p'.*corrupt point"):
        state.get("p")


# -- nothing read back runs code ----------------------------------------------------------

class _OpensAFile:
    """Unpickling this creates the file at ``path`` (``open(path, "w")``)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _committed_state(backend, value=1):
    state = backend.state("victim", 0)
    state.put("k", value)
    state.prepare_commit(1)
    state.commit(1)
    return state


def _plant(kind, state, key, payload: bytes) -> None:
    """Write ``payload`` as the committed value of ``key`` directly into the storage, as
    another program with access to it could."""
    kb = encode_key(key)
    if kind == "memory":
        state._data.committed[kb] = payload
    elif kind == "rocksdb":
        state._db.put(state._c + kb, payload)
    else:
        state._r.hset(state._kc, kb, payload)


def test_the_planted_payload_does_run_code_when_unpickled(tmp_path):
    """The payload the next tests plant is live: pickle.loads creates the marker."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_OpensAFile(str(marker)), protocol=5)).close()
    assert marker.exists()


def test_a_planted_pickle_is_refused_and_runs_nothing(new_backend, tmp_path):
    marker = tmp_path / "pwned"
    backend = new_backend()
    state = _committed_state(backend)
    _plant(new_backend.kind, state, "k", pickle.dumps(_OpensAFile(str(marker)), protocol=5))
    _plant(new_backend.kind, state, "other", pickle.dumps(_OpensAFile(str(marker)), protocol=2))
    state.close()
    backend.close()
    reader = new_backend().state("victim", 0)
    with pytest.raises(LegacyPickleStateError) as err:
        reader.get("k")
    assert err.value.key == "k" and err.value.namespace == ("victim", 0)
    assert "--state-backend none" in str(err.value) and "serializer='pickle'" in str(err.value)
    with pytest.raises(LegacyPickleStateError):
        dict(reader.items())
    assert not marker.exists()


@pytest.mark.parametrize("payload", [b"garbage", HEADER + b"\xc1", HEADER + b"\x92\x01",
                                     HEADER + b"\xd4\x63\x00",          # unknown extension 99
                                     HEADER + b"\xc7\x05\x01\x93\x01\x02\xc1"])  # broken tuple
def test_a_value_that_does_not_decode_is_a_clear_error_naming_the_key(new_backend, payload):
    backend = new_backend()
    state = _committed_state(backend)
    _plant(new_backend.kind, state, ("car", 7), payload)
    with pytest.raises(StateDecodeError) as err:
        state.get(("car", 7))
    assert err.value.key == ("car", 7) and "('car', 7)" in str(err.value)
    assert not isinstance(err.value, LegacyPickleStateError)


def test_a_planted_staged_pickle_is_refused_after_recovery(new_backend, tmp_path):
    """A payload planted in the prepared transaction is committed as bytes on recovery,
    and refused when read."""
    marker = tmp_path / "pwned"
    backend = new_backend()
    state = _committed_state(backend)
    state.put("k", 2)
    state.prepare_commit(2)
    payload = pickle.dumps(_OpensAFile(str(marker)), protocol=5)
    kind = new_backend.kind
    kb = encode_key("k")
    if kind == "memory":
        state._data.staged[kb] = payload
    elif kind == "rocksdb":
        state._db.put(state._s + kb, b"v" + payload)
    else:
        state._r.hset(state._ks, kb, b"v" + payload)
    state.close()
    backend.close()
    again = new_backend().state("victim", 0)
    again.commit(2)
    with pytest.raises(LegacyPickleStateError):
        again.get("k")
    assert not marker.exists()


def test_pickle_is_read_only_when_the_backend_is_declared_trusted(tmp_path):
    from squall.state import RocksDBStateBackend
    with RocksDBStateBackend(tmp_path / "db", serializer="pickle").open() as trusted:
        state = _committed_state(trusted, value={"legacy": (1, 2)})
        assert state._db.get(state._c + encode_key("k"))[:1] == b"\x80"   # really pickled
        state.close()
    with RocksDBStateBackend(tmp_path / "db").open() as default:
        with pytest.raises(LegacyPickleStateError):
            default.state("victim", 0).get("k")
    with RocksDBStateBackend(tmp_path / "db", serializer="pickle").open() as trusted:
        assert trusted.state("victim", 0).get("k") == {"legacy": (1, 2)}


def test_an_undecodable_stored_key_is_a_clear_error(new_backend):
    backend = new_backend()
    state = _committed_state(backend)
    raw_key = b"\xc1not-a-key"
    value = StateCodec().encode(1)
    if new_backend.kind == "memory":
        state._data.committed[raw_key] = value
    elif new_backend.kind == "rocksdb":
        state._db.put(state._c + raw_key, value)
    else:
        state._r.hset(state._kc, raw_key, value)
    with pytest.raises(StateDecodeError, match="not a msgpack state key") as err:
        dict(state.items())
    assert err.value.key == raw_key


def test_unknown_serializer_is_refused():
    with pytest.raises(StateError, match="serializer"):
        MemoryStateBackend(serializer="marshal")

