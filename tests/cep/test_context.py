"""Contexts (squall.cep.context): one statement instance per partition, snapshots of the
partitions with their timers, removal. Agreement with Esper:
tests/cep/esper/test_esper_contexts.py."""

import pytest

from squall.cep import EPLEngine, ExternalClock
from squall.cep.errors import EPLCompileError

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


TEMPORAL = [
    "create context S start @now end after 4 sec",
    "create context S start pattern [every g=Go] end pattern [timer:interval(3 sec)]",
    "create context S initiated by pattern [every g=Go -> c=Car] terminated by pattern [s=Stop]",
    "create context S context A partition by car from Car, context B start @now end after 4 sec",
    "create context S context A partition by car from Car, context B initiated by Car terminated after 3 sec",
    "create context S initiated by Go as g terminated after 5 sec",
    "create context S start Go end Stop",
]
MIXED = [(500, "Go", {"k": "a"}), (1000, "Car", {"car": "A", "speed": 90.0}),
         (2500, "Go", {"k": "b"}), (3000, "Car", {"car": "B", "speed": 40.0}),
         (4500, "Stop", {}), (6000, "Car", {"car": "A", "speed": 70.0}),
         (6500, "Go", {"k": "c"}), (8000, "Car", {"car": "C", "speed": 10.0}),
         (9500, "Car", {"car": "A", "speed": 30.0})]


def temporal(decl):
    engine = EPLEngine(ExternalClock(0))
    out = []
    ident = "context.A.key1" if " context A " in decl else "context.id"
    engine.compile(decl + f"; @Name('s') context S select {ident} as id, count(*) as n, "
                          "sum(speed) as s from Car#time_batch(2 sec)")[1].add_listener(
        lambda new, old: out.extend((engine.current_time_ms, r) for r in new))
    return engine, out


def feed(engine, events, end=None):
    for ts, type_name, ev in events:
        engine.advance_time(ts)
        engine.send(type_name, ev)
    if end is not None:
        engine.advance_time(end)


@pytest.mark.parametrize("decl", TEMPORAL)
@pytest.mark.parametrize("cut", range(1, len(MIXED)))
def test_a_restored_engine_continues_start_end_partitions(decl, cut):
    whole_engine, whole = temporal(decl)
    feed(whole_engine, MIXED, end=30_000)
    assert whole   # the case outputs something to compare
    first, out = temporal(decl)
    feed(first, MIXED[:cut])
    second, rest = temporal(decl)
    second.restore(first.snapshot())
    feed(second, MIXED[cut:], end=30_000)
    assert out + rest == whole


def test_an_idle_periodic_context_makes_no_partitions():
    engine, out = temporal(TEMPORAL[0])
    feed(engine, [(1000, "Car", {"car": "A", "speed": 1.0})], end=10 * 24 * 3600 * 1000)
    feed(engine, [(10 * 24 * 3600 * 1000 + 1, "Car", {"car": "A", "speed": 2.0})], end=10 ** 9)
    assert [r["id"] for _, r in out] == [0, 216_000]
    assert len(engine.statements[1]._operator.active) == 0


@pytest.mark.parametrize("cut", range(1, len(MIXED)))
def test_a_restored_engine_continues_crontab_partitions(cut):
    decl = "create context S start (*, *, *, *, *, *) end after 3 sec"
    test_a_restored_engine_continues_start_end_partitions(decl, cut)


def test_crontab_schedules():
    from squall.cep.crontab import Crontab

    every_2_min_at_30s = Crontab((frozenset(range(0, 60, 2)), None, None, None, None, frozenset([30])))
    assert every_2_min_at_30s.next_after(0) == 30_000
    assert every_2_min_at_30s.next_after(30_000) == 150_000
    monday_9 = Crontab((frozenset([0]), frozenset([9]), None, None, frozenset([1]), frozenset([0])))
    assert monday_9.next_after(0) == (4 * 24 + 9) * 3600 * 1000   # 1970-01-05, a Monday
    feb_31 = Crontab((None, None, frozenset([31]), frozenset([2]), None, frozenset([0])))
    assert feb_31.next_after(0) is None


def test_contexts_have_their_own_namespace():
    engine = EPLEngine(ExternalClock(0))
    engine.compile("create context Car partition by car from Car; "
                   "create window W#keepall as (car string)")
    engine.compile("create context W partition by car from Car")   # a window's name: allowed
    with pytest.raises(EPLCompileError, match="context by name 'Car' has already been created"):
        engine.compile("create context Car group by speed > 1 as fast from Car")
    with pytest.raises(EPLCompileError, match=r"\(named windows and tables: W\)"):
        engine.execute_query("select * from Car")
