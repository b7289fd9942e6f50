"""Pattern and join state in EPLEngine.snapshot / restore: a run cut anywhere (pickled or
through JSON) and restored into a fresh engine gives exactly the outputs of the
uninterrupted run."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall.cep import EPLEngine, ExternalClock
from test_snapshot import _run, _same

RULES = {
    "patterns": ";\n".join([
        "select a.carNumber as car, a.speed as fast, b.speed as slow from pattern "
        "[every a=DriverCarInfo(speed > 100) -> b=DriverCarInfo(carNumber = a.carNumber, "
        "speed < 20) where timer:within(10 sec)]",
        "select a.v as av, b.v as bv, c.v as cv from pattern [every a=A -> (b=B and not c=C(k = a.k)) "
        "where timer:within(4 sec)]",
        "select a.v as av from pattern [every a=A -> (timer:interval(3 sec) and not b=B(k = a.k))]",
        "select * from pattern [every (a=A or b=B)]",
        "select a.v as av, b.v as bv from pattern [every (a=A and b=B(v > 2))]",
        "select a.v as av, b.v as bv from pattern [a=A -> every b=B(k = a.k)]",
        "select a.v as av, b.v as bv, c.v as cv from pattern [every (a=A -> b=B -> c=C(k = b.k))]",
    ]),
    "joins": ";\n".join([
        "select a.k as k, a.v as av, b.v as bv from A#length(3) as a, B#time(5 sec) as b where a.k = b.k",
        "select irstream count(*) as n, sum(b.v) as s from A#time(4 sec) as a, B#unique(k) as b "
        "where a.k = b.k",
        "select a.k as k, count(*) as n from A#length_batch(2) as a, B#keepall() as b "
        "where a.k = b.k group by a.k",
        "select a.v as av, b.v as bv from A as a unidirectional, B#time(3 sec) as b where a.k = b.k",
        "select a1.v as v1, a2.v as v2 from A#length(2) as a1, A#lastevent() as a2",
    ]),
}


def _events(draws: list[tuple[int, int, int, int]]) -> list[tuple[str, int, dict]]:
    out, t = [], 1_000
    for gap, kind, key, v in draws:
        t += gap
        if kind == 3:
            out.append(("DriverCarInfo", t, {"ts": t, "carNumber": "xyz"[key],
                                             "speed": float([5, 50, 120][v % 3])}))
        else:
            out.append(("ABC"[kind], t, {"ts": t, "k": "xyz"[key], "v": float(v)}))
    return out


DRAWS = st.lists(st.tuples(st.sampled_from([0, 300, 900, 2_500, 7_000]), st.integers(0, 3),
                           st.integers(0, 2), st.integers(0, 5)), min_size=1, max_size=50)


@pytest.mark.parametrize("case", sorted(RULES))
@settings(max_examples=40, deadline=None)
@given(draws=DRAWS, cut_frac=st.floats(0, 1), codec=st.sampled_from([pickle, json]))
def test_restored_run_equals_uninterrupted_run(case, draws, cut_frac, codec):
    events = _events(draws)
    cut = int(cut_frac * len(events))
    whole, e1 = _run(RULES[case], events)
    resumed, e2 = _run(RULES[case], events, cut, codec)
    assert _same(whole, resumed)
    assert [(s.events_in, s.rows_out) for s in e1.statements] == \
        [(s.events_in, s.rows_out) for s in e2.statements]


@pytest.mark.parametrize("case", sorted(RULES))
def test_cases_produce_output(case):
    draws = [(g, i % 4, (i * 5) % 3, (i * 7) % 6) for i, g in
             enumerate([300, 900, 0, 2_500, 300, 7_000, 900] * 6)]
    draws += [(300, 3, 0, 2), (300, 3, 0, 0)]  # car x speeding, then braking hard
    out, _ = _run(RULES[case], _events(draws))
    assert {i for _, i, _, _ in out} == set(range(len(RULES[case].split(";\n"))))


def test_snapshot_of_pattern_state_is_plain_data():
    engine = EPLEngine(ExternalClock(0))
    engine.compile(RULES["patterns"] + ";\n" + RULES["joins"], name="r")
    for type_, t, ev in _events([(300, i % 4, i % 3, i % 6) for i in range(30)]):
        engine.advance_time(t)
        engine.send(type_, ev)
    snap = engine.snapshot()
    assert json.loads(json.dumps(snap)) is not None  # JSON-able (no tuples needed back)
    pickle.dumps(snap)
