"""Rescaling keyed state: each key lands where the fields grouping now routes it."""

from __future__ import annotations

import pytest

from squall import TopologyBuilder
from squall.component import TopologyContext
from squall.grouping import FieldsGrouping, StreamId
from squall.state import (MemoryStateBackend, StateError, fields_key_to_task, load_redistributed,
                          redistribute)
from squall.testing import ListSpout

SRC = StreamId("src", "default")


def _grouping(fields, targets):
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([], ["car", "trip", "v"]))
    g = FieldsGrouping(fields)
    g.prepare(TopologyContext(b.build(), "src", 1, (1,), frozenset(targets)), SRC, list(targets))
    return g


def _fill(backend, component, tasks, keys, route):
    states = {t: backend.state(component, t) for t in tasks}
    for k in keys:
        states[route(k)].put(k, ("value of", k))
    for st in states.values():
        st.prepare_commit(1)
        st.commit(1)
    return states


@pytest.mark.parametrize("old,new", [((10, 11), (10, 11, 12)), ((10, 11, 12), (10, 11)), ((1,), (5, 6, 7, 8))])
def test_scale_moves_every_key_to_its_fields_grouping_task(new_backend, old, new):
    backend = new_backend()
    keys = [f"car-{i}" for i in range(500)]
    states = _fill(backend, "speed", old, keys, fields_key_to_task(old))
    # sanity: the old layout is the fields grouping's too
    g_old = _grouping(["car"], old)
    for t, st in states.items():
        for k in st.keys():
            assert g_old.choose_tasks([k, 0, 0]) == [t]

    moved = redistribute(states, new)
    g_new = _grouping(["car"], new)
    landed = [k for share in moved.values() for k in share]
    assert sorted(landed) == sorted(keys)  # nothing lost, nothing duplicated
    for t, share in moved.items():
        for k, v in share.items():
            assert g_new.choose_tasks([k, 0, 0]) == [t] and v == ("value of", k)

    # Load into the new tasks' namespaces (a reused id keeps exactly its new share).
    for st in states.values():
        st.close()
    new_states = {t: backend.state("speed", t) for t in new}
    for t, st in new_states.items():
        load_redistributed(st, moved[t], txid=2)
        assert dict(st.items()) == moved[t]


def test_multi_field_keys_follow_the_tuple_key():
    backend = MemoryStateBackend().open()
    keys = [(f"car-{i % 17}", i) for i in range(200)]
    states = _fill(backend, "trips", (0, 1), keys, fields_key_to_task([0, 1]))
    moved = redistribute(states, 3)
    g = _grouping(["car", "trip"], [0, 1, 2])
    for t, share in moved.items():
        for car, trip in share:
            assert g.choose_tasks([car, trip, 0]) == [t]
    assert sum(len(s) for s in moved.values()) == len(keys)


def test_uncommitted_or_overlapping_state_is_refused():
    backend = MemoryStateBackend().open()
    a, b = backend.state("c", 0), backend.state("c", 1)
    a.put("k", 1)
    with pytest.raises(StateError, match="uncommitted"):
        redistribute({0: a, 1: b}, 2)
    a.prepare_commit(1); a.commit(1)
    b.put("k", 2); b.prepare_commit(1); b.commit(1)
    with pytest.raises(StateError, match="both task 0 and task 1"):
        redistribute({0: a, 1: b}, 2)
