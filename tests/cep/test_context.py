"""Contexts (squall.cep.context): one statement instance per partition, snapshots of the
partitions with their timers, removal. Agreement with Esper:
tests/cep/esper/test_esper_contexts.py."""

import pytest

from squall.cep import EPLEngine, ExternalClock

RULE = ("create context PerCar partition by car from Car; "
        "@Name('s') context PerCar select context.key1 as k, context.id as id, count(*) as n, "
        "avg(speed) as a from Car#time_batch(10 sec)")

EVENTS = [(1000, {"car": "A", "speed": 90.0}), (4000, {"car": "B", "speed": 40.0}),
          (6000, {"car": "A", "speed": 70.0}), (12000, {"car": "B", "speed": 20.0}),
          (13000, {"car": "C", "speed": 10.0}), (25000, {"car": "A", "speed": 30.0})]


def started():
    engine = EPLEngine(ExternalClock(0))
    out = []
    st = [s for s in engine.compile(RULE) if s.name == "s"][0]
    st.add_listener(lambda new, old: out.extend((engine.current_time_ms, r) for r in new))
    return engine, out


def run(engine, events, end=None):
    for ts, ev in events:
        engine.advance_time(ts)
        engine.send("Car", ev)
    if end is not None:
        engine.advance_time(end)


def test_each_partition_batches_from_its_own_first_event():
    engine, out = started()
    run(engine, EVENTS, end=40_000)
    assert out == [(11000, {"k": "A", "id": 0, "n": 2, "a": 80.0}),
                   (14000, {"k": "B", "id": 1, "n": 2, "a": 30.0}),
                   (21000, {"k": "A", "id": 0, "n": 0, "a": None}),
                   (23000, {"k": "C", "id": 2, "n": 1, "a": 10.0}),
                   (24000, {"k": "B", "id": 1, "n": 0, "a": None}),
                   (31000, {"k": "A", "id": 0, "n": 1, "a": 30.0}),
                   (33000, {"k": "C", "id": 2, "n": 0, "a": None})]


@pytest.mark.parametrize("cut", range(1, len(EVENTS)))
def test_a_restored_engine_continues_every_partition(cut):
    whole_engine, whole = started()
    run(whole_engine, EVENTS, end=40_000)
    first, out = started()
    run(first, EVENTS[:cut])
    second, rest = started()
    second.restore(first.snapshot())
    run(second, EVENTS[cut:], end=40_000)
    assert out + rest == whole


def test_removing_the_statement_stops_every_partition():
    engine, out = started()
    run(engine, EVENTS[:3])
    engine.remove(engine.statements[1])
    engine.advance_time(40_000)
    assert out == []
