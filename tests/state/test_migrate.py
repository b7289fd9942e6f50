"""migrate_pickled_state: a trusted store pickled by an older Squall becomes data, once."""

from __future__ import annotations

import pytest

from squall.state import (LegacyPickleStateError, StateCodec, StateError, StateValueError, TxStatus,
                          migrate_pickled_state)
from tests.state.test_codec import POINT, Point


def _pickling(new_backend, types=()):
    """A backend over the shared storage that reads and writes pickle (as old releases did)."""
    backend = new_backend()
    backend.codec = StateCodec(types, serializer="pickle")
    return backend


def _data(new_backend, types=()):
    """A backend over the shared storage in the data format (the memory factory hands
    out one shared object, so the codec is set either way)."""
    backend = new_backend()
    backend.codec = StateCodec(types)
    return backend


def _commit(backend, component, task, items, txid):
    state = backend.state(component, task)
    for k, v in items.items():
        state.put(k, v)
    state.prepare_commit(txid)
    state.commit(txid)
    state.close()


def test_a_pickled_store_is_migrated_once_and_keeps_its_txids(new_backend):
    old = _pickling(new_backend, [POINT])
    values = {"window": {"buf": [(1, "car-7"), {2, 3}]}, ("car", 7): Point(1, 2)}
    _commit(old, "bolt", 0, values, 3)
    _commit(old, "bolt", 1, {"n": 1}, 2)
    old.close()
    with _data(new_backend).state("bolt", 0) as state, pytest.raises(LegacyPickleStateError):
        state.get("window")

    assert migrate_pickled_state(_pickling(new_backend, [POINT])) == {("bolt", 0): 2, ("bolt", 1): 1}
    state = _data(new_backend, [POINT]).state("bolt", 0)
    assert state.committed_txid == 3 and dict(state.items()) == values
    state.close()
    assert migrate_pickled_state(_pickling(new_backend, [POINT])) == {}


def test_migration_needs_the_trusted_declaration(new_backend):
    with pytest.raises(StateError, match="serializer='pickle'"):
        migrate_pickled_state(_data(new_backend))


def test_an_unregistered_type_stops_the_namespace_untouched(new_backend):
    old = _pickling(new_backend, [POINT])
    _commit(old, "geo", 0, {"a": 1, "p": Point(0, 0)}, 1)
    old.close()
    with pytest.raises(StateValueError) as err:
        migrate_pickled_state(_pickling(new_backend))        # Point not registered
    assert err.value.key == "p" and err.value.type_name.endswith("Point")
    with _data(new_backend).state("geo", 0) as state, pytest.raises(LegacyPickleStateError):
        state.get("a")                                     # nothing rewritten


def test_a_prepared_transaction_is_refused(new_backend):
    old = _pickling(new_backend)
    state = old.state("bolt", 0)
    state.put("a", 1)
    state.prepare_commit(1)
    state.close()
    old.close()
    with pytest.raises(StateError, match="prepared"):
        migrate_pickled_state(_pickling(new_backend))
    assert _data(new_backend).state("bolt", 0).status is TxStatus.RECOVERING


def test_namespaces_lists_what_the_storage_holds(new_backend):
    backend = new_backend()
    assert backend.namespaces() == []
    _commit(backend, "a*b[c]", 2, {"x": 1}, 1)
    _commit(backend, "bolt", 10, {"x": 1}, 1)
    backend.state("opened-only", 0).close()
    assert backend.namespaces() == [("a*b[c]", 2), ("bolt", 10)]

