"""EPLEngine.snapshot / restore: a run cut anywhere, pickled and restored into a fresh
engine, gives exactly the outputs of the uninterrupted run."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.cep import EPLEngine, ExternalClock
from squall.cep.errors import EPLError

T = "DriverCarInfo"

# Every feature with state: one rule file per case (several statements each).
RULES = {
    "time_batch_models": ";\n".join([
        "select carNumber, avg(speed) from DriverCarInfo#time_batch(30 sec) group by carNumber "
        "having avg(speed) > 40",
        "select count(*) as n, sum(speed) as s, min(speed) as mn, max(speed) as mx "
        "from DriverCarInfo#time_batch(10 sec)",
        "select carNumber, speed, avg(speed) as a from DriverCarInfo#time_batch(20 sec) "
        "group by carNumber",
        "select carNumber, speed, max(speed) as m from DriverCarInfo#time_batch(15 sec)",
        "select carNumber, speed from DriverCarInfo#time_batch(5 sec) where speed > 20",
    ]),
    "sliding_windows": ";\n".join([
        "select irstream carNumber, speed from DriverCarInfo#time(5 sec)",
        "select irstream count(*) as n, min(speed) as mn, median(speed) as md, stddev(speed) as sd, "
        "avedev(speed) as ad, count(distinct carNumber) as dc from DriverCarInfo#length(4)",
        "select rstream carNumber, speed, sum(speed) as s from DriverCarInfo#ext_timed(ts, 8 sec)",
        "select irstream carNumber, max(speed) as mx from DriverCarInfo#unique(carNumber) group by carNumber",
        "select irstream carNumber, speed, avg(speed) as a from DriverCarInfo#keepall() group by carNumber",
        "select irstream * from DriverCarInfo#lastevent()",
        "select irstream * from DriverCarInfo#firstevent()",
        "select carNumber, avg(speed) from DriverCarInfo(speed > 20)#time_batch(10 sec) group by carNumber",
    ]),
    "intersections_and_groupwin": ";\n".join([
        "select irstream carNumber, speed from DriverCarInfo#unique(carNumber)#time(7 sec)",
        "select irstream count(*) as n from DriverCarInfo#time(6 sec)#length(3)",
        "select irstream carNumber, count(*) as n from DriverCarInfo#groupwin(carNumber)#time(4 sec) "
        "group by carNumber",
        "select irstream carNumber, speed from DriverCarInfo#groupwin(carNumber, fuel)#length(2)",
        "select irstream count(*) as n, sum(speed) as s from DriverCarInfo#groupwin(carNumber)#time_batch(5 sec)",
    ]),
    "generic_batches": ";\n".join([
        "select irstream carNumber, speed from DriverCarInfo#time_batch(5 sec)",
        "select irstream count(*) as n, avg(speed) as a from DriverCarInfo#length_batch(3)",
        "select irstream carNumber, count(*) as n from DriverCarInfo#ext_timed_batch(ts, 6 sec) "
        "group by carNumber",
        "select rstream carNumber, speed, max(speed) as m from DriverCarInfo#ext_timed_batch(ts, 4 sec, 0L)",
    ]),
    "output_rate_limiting": ";\n".join([
        "select irstream carNumber, speed from DriverCarInfo#length(3) output every 4 events",
        "select carNumber, speed from DriverCarInfo#time(5 sec) output first every 7 sec",
        "select count(*) as n, sum(speed) as s from DriverCarInfo#length(3) output last every 6 events",
        "select carNumber, speed from DriverCarInfo#length(3) output last every 3 sec",
        "select carNumber, count(*) as n from DriverCarInfo#time(6 sec) group by carNumber "
        "output all every 4 events",
        "select carNumber, max(speed) as m from DriverCarInfo#length(4) group by carNumber "
        "having max(speed) > 10 output first every 2 events",
        "select carNumber, count(*) as n from DriverCarInfo#length(4) group by carNumber "
        "output last every 3 events",
        "select carNumber, speed, avg(speed) as a from DriverCarInfo#time(4 sec) output snapshot every 5 events",
        "select carNumber, count(*) as n from DriverCarInfo#length(3) group by carNumber "
        "output snapshot every 2 events order by carNumber",
    ]),
    "insert_into_chain": ";\n".join([
        "insert into Fast select carNumber, speed from DriverCarInfo#time(3 sec) where speed > 10 "
        "output last every 2 events",
        "insert into Sums select carNumber, sum(speed) as s from Fast#length(3) group by carNumber",
        "select irstream carNumber, s from Sums#unique(carNumber)",
        "select count(*) as n from Fast#time_batch(5 sec)",
    ]),
    # No data window: unbound aggregates (every model), output clauses, an insert-into chain.
    "no_window": ";\n".join([
        "select carNumber, count(*) as n, min(speed) as mn, median(speed) as md, "
        "count(distinct fuel) as d from DriverCarInfo group by carNumber having count(*) > 1",
        "select irstream count(*) as n, avg(speed) as a, max(fuel) as mx from DriverCarInfo(speed > 5)",
        "select carNumber, speed, sum(speed) as s from DriverCarInfo group by carNumber",
        "select carNumber, speed, stddev(speed) as sd from DriverCarInfo where fuel is not null",
        "select carNumber, count(*) as n from DriverCarInfo group by carNumber output last every 3 events",
        "select count(*) as n, sum(speed) as s from DriverCarInfo output snapshot every 4 events",
        "insert into Fast select carNumber, speed from DriverCarInfo(speed > 20)",
        "select carNumber, count(*) as n, max(speed) as mx from Fast group by carNumber",
    ]),
    # Variables are state: restored with their create-variable statement.
    "variables": ";\n".join([
        "create variable double lim = 20",
        "create variable long seen = 0",
        "create constant variable int k = 2",
        "on DriverCarInfo(fuel is not null) set lim = speed, seen = seen + k",
        "select carNumber, avg(speed) as a, lim, seen from DriverCarInfo#time_batch(10 sec) "
        "group by carNumber having avg(speed) > lim",
        "select carNumber, speed, seen from DriverCarInfo(speed > lim)",
    ]),
    "length_batch_models": ";\n".join([
        "select carNumber, count(*) as n, count(distinct speed) as d, median(speed) as md, "
        "stddev(speed) as sd, avedev(speed) as ad from DriverCarInfo#length_batch(4) group by carNumber",
        "select carNumber, speed from DriverCarInfo#length_batch(3)",
    ]),
}

EVENT_TIMES = st.lists(st.integers(0, 12_000), min_size=1, max_size=60)


def _events(gaps: list[int]) -> list[tuple[str, int, dict]]:
    out, t = [], 1_000
    for i, g in enumerate(gaps):
        t += g
        out.append((T, t, {"ts": t, "carNumber": "ABC"[(i * 7 + g) % 3], "speed": float((i * 13 + g) % 60),
                        "fuel": None if i % 4 == 0 else float(i % 5)}))
    return out


def _run(rules: str, events, cut: int | None = None, codec=pickle):
    """Outputs of ``events`` ((type, time, event) triples) through ``rules``; with ``cut``,
    the engine is snapshotted before event ``cut`` and replaced by a restored one."""
    engine = EPLEngine(ExternalClock(0))
    out: list = []

    def attach(eng):
        for i, s in enumerate(eng.compile(rules, name="r")):
            s.add_listener(lambda new, old, i=i, eng=eng: out.append((eng.current_time_ms, i, new, old)))
    attach(engine)
    for k, (type_, t, ev) in enumerate(events):
        if k == cut:
            snap = codec.loads(codec.dumps(engine.snapshot()))
            engine = EPLEngine(ExternalClock(0))
            attach(engine)
            assert set(engine.restore(snap)) == {s.name for s in engine.statements}
        if t > engine.current_time_ms:
            engine.advance_time(t)
        engine.send(type_, ev)
    engine.advance_time(engine.current_time_ms + 10 * 86_400_000)
    return out, engine


def _same(a, b):
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@pytest.mark.parametrize("case", sorted(RULES))
@settings(max_examples=30, deadline=None)
@given(gaps=EVENT_TIMES, cut_frac=st.floats(0, 1))
def test_restored_run_equals_uninterrupted_run(case, gaps, cut_frac):
    events = _events(gaps)
    cut = int(cut_frac * len(events))
    whole, e1 = _run(RULES[case], events)
    resumed, e2 = _run(RULES[case], events, cut)
    assert _same(whole, resumed)
    assert [(s.events_in, s.rows_out) for s in e1.statements] == \
        [(s.events_in, s.rows_out) for s in e2.statements]


@pytest.mark.parametrize("case", sorted(RULES))
def test_snapshot_survives_json(case):
    events = _events([700 * (i % 9) for i in range(50)])
    whole, _ = _run(RULES[case], events)
    for cut in (0, 7, 23, 49):
        resumed, _ = _run(RULES[case], events, cut, codec=json)
        assert _same(whole, resumed)


def _assert_plain(obj, path="snapshot"):
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return
    if isinstance(obj, (list, tuple)):
        for i, x in enumerate(obj):
            _assert_plain(x, f"{path}[{i}]")
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            _assert_plain(k, f"{path} key")
            _assert_plain(v, f"{path}[{k!r}]")
        return
    raise AssertionError(f"{path} is a {type(obj).__name__}, not plain data")


@pytest.mark.parametrize("case", sorted(RULES))
def test_snapshot_is_plain_data(case):
    _, engine = _run(RULES[case], _events([900] * 20))
    engine2 = EPLEngine(ExternalClock(0))
    engine2.compile(RULES[case], name="r")
    for _, t, ev in _events([900] * 20):
        engine2.advance_time(t)
        engine2.send(T, ev)
    _assert_plain(engine2.snapshot())


def test_statements_with_other_text_or_name_stay_fresh():
    engine = EPLEngine(ExternalClock(0))
    engine.compile("select count(*) as n from T#length_batch(3)", name="a")
    engine.compile("select count(*) as n from T#length_batch(3)", name="b")
    for _ in range(2):
        engine.send("T", {"x": 1})
    snap = engine.snapshot()
    fresh = EPLEngine(ExternalClock(0))
    a = fresh.compile("select count(*) as n from T#length_batch(3)", name="a")[0]
    b = fresh.compile("select count(*) as n  from T#length_batch(3)", name="b")[0]   # other text
    c = fresh.compile("select count(*) as n from T#length_batch(3)", name="c")[0]    # not in snapshot
    assert fresh.restore(snap) == ["a"]
    seen = {s.name: [] for s in (a, b, c)}
    for s in (a, b, c):
        s.add_listener(lambda new, old, s=s: seen[s.name].append(new))
    fresh.send("T", {"x": 1})
    assert seen == {"a": [[{"n": 3}]], "b": [], "c": []}
    assert a.events_in == 3 and b.events_in == 1


def test_restore_keeps_engine_time_and_pending_batch_end():
    engine = EPLEngine(ExternalClock(0))
    engine.compile("select count(*) as n from T#time_batch(10 sec)", name="a")
    engine.advance_time(5_000)
    engine.send("T", {"x": 1})
    snap = pickle.loads(pickle.dumps(engine.snapshot()))
    fresh = EPLEngine(ExternalClock(0))
    st_ = fresh.compile("select count(*) as n from T#time_batch(10 sec)", name="a")[0]
    fresh.restore(snap)
    assert fresh.current_time_ms == 5_000
    seen = []
    st_.add_listener(lambda new, old: seen.append((fresh.current_time_ms, new)))
    fresh.advance_time(40_000)
    assert seen == [(15_000, [{"n": 1}]), (25_000, [{"n": 0}])]


def test_removed_statement_is_left_out():
    engine = EPLEngine(ExternalClock(0))
    a = engine.compile("select count(*) as n from T#time_batch(10 sec)", name="a")[0]
    engine.send("T", {"x": 1})
    engine.remove(a)
    snap = engine.snapshot()
    assert snap["statements"] == {} and snap["schedules"] == []


def test_unknown_snapshot_is_rejected():
    with pytest.raises(ValueError, match="not an EPL engine snapshot"):
        EPLEngine(ExternalClock(0)).restore({"version": 99})


def test_operator_without_snapshot_support_is_named():
    engine = EPLEngine(ExternalClock(0))
    st_ = engine.compile("select count(*) as n from T#length_batch(3)", name="a")[0]
    st_._operator = object()
    with pytest.raises(EPLError, match="statement 'a' cannot be snapshotted"):
        engine.snapshot()


def test_unbound_aggregates_survive_restore():
    """No data window: the aggregates cover every event since the statement started,
    across a snapshot and restore (the restored engine did not see the first events)."""
    rule = "select carNumber, count(*) as n, max(speed) as mx from T group by carNumber"
    engine = EPLEngine(ExternalClock(0))
    engine.compile(rule, name="a")
    for car, speed in (("A", 10.0), ("A", 30.0), ("B", 5.0)):
        engine.send("T", {"carNumber": car, "speed": speed})
    snap = json.loads(json.dumps(engine.snapshot()))
    fresh = EPLEngine(ExternalClock(0))
    st_ = fresh.compile(rule, name="a")[0]
    assert fresh.restore(snap) == ["a"]
    seen = []
    st_.add_listener(lambda new, old: seen.append((new, old)))
    fresh.send("T", {"carNumber": "A", "speed": 20.0})
    assert seen == [([{"carNumber": "A", "n": 3, "mx": 30.0}], [])]
