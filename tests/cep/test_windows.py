"""Data windows, stream selectors and aggregates of squall.cep (unit level; the Esper
differential tests are in tests/cep/esper/test_esper_windows.py)."""

from __future__ import annotations

import json
import pickle

import pytest
from click.testing import CliRunner

from squall.cep import EPLCompileError, EPLEngine, ExternalClock
from squall.cep.aggregates import build_aggs
from squall.cep.resultset import Pipeline
from squall.cep.operators import _TimeBatch


def _engine(rule: str):
    engine = EPLEngine(ExternalClock(0))
    st = engine.compile(rule, name="r")[0]
    seen: list = []
    st.add_listener(lambda new, old: seen.append((engine.current_time_ms, new, old)))
    return engine, st, seen


def _feed(engine, events):
    for t, e in events:
        if t > engine.current_time_ms:
            engine.advance_time(t)
        engine.send("T", e)


# ------------------------------------------------------------------ windows

def test_length_window_posts_new_and_evicted_old():
    engine, _, seen = _engine("select irstream x from T#length(2)")
    _feed(engine, [(0, {"x": 1}), (0, {"x": 2}), (0, {"x": 3})])
    assert [(n, o) for _, n, o in seen] == [([{"x": 1}], []), ([{"x": 2}], []), ([{"x": 3}], [{"x": 1}])]


def test_time_window_expires_at_arrival_plus_period():
    engine, _, seen = _engine("select irstream x from T#time(1 sec)")
    _feed(engine, [(0, {"x": 1}), (500, {"x": 2})])
    engine.advance_time(5_000)
    assert [(t, n, o) for t, n, o in seen] == [
        (0, [{"x": 1}], []), (500, [{"x": 2}], []), (1_000, [], [{"x": 1}]), (1_500, [], [{"x": 2}])]


def test_rstream_delivers_the_remove_stream_as_new_rows():
    engine, _, seen = _engine("select rstream x from T#length(1)")
    _feed(engine, [(0, {"x": 1}), (0, {"x": 2})])
    assert seen == [(0, [{"x": 1}], [])]


def test_send_many_on_a_sliding_window_is_one_post_per_event():
    a, _, seen_a = _engine("select irstream count(*) as n from T#length(2)")
    a.send_many("T", [{"x": i} for i in range(4)])
    b, _, seen_b = _engine("select irstream count(*) as n from T#length(2)")
    for i in range(4):
        b.send("T", {"x": i})
    assert seen_a == seen_b and len(seen_a) == 4


def test_unique_intersected_with_length_removes_from_both():
    engine, _, seen = _engine("select irstream k, v from T#unique(k)#length(2)")
    _feed(engine, [(0, {"k": "a", "v": 1}), (0, {"k": "b", "v": 2}), (0, {"k": "a", "v": 3}),
                   (0, {"k": "c", "v": 4})])
    # a3 replaces a1 (unique); c4 pushes b2 out of the length window; nothing else leaves
    assert [(n, o) for _, n, o in seen][2:] == [
        ([{"k": "a", "v": 3}], [{"k": "a", "v": 1}]), ([{"k": "c", "v": 4}], [{"k": "b", "v": 2}])]


def test_firstevent_keeps_the_first_event_only():
    engine, _, seen = _engine("select irstream x from T#firstevent()")
    _feed(engine, [(0, {"x": 1}), (0, {"x": 2})])
    assert seen == [(0, [{"x": 1}], [])]


def test_groupwin_keeps_a_window_per_key():
    engine, _, seen = _engine("select irstream k, v from T#groupwin(k)#length(1)")
    _feed(engine, [(0, {"k": "a", "v": 1}), (0, {"k": "b", "v": 2}), (0, {"k": "a", "v": 3})])
    assert [o for _, _, o in seen] == [[], [], [{"k": "a", "v": 1}]]


def test_ext_timed_batch_uses_event_timestamps_not_engine_time():
    engine, _, seen = _engine("select count(*) as n from T#ext_timed_batch(ts, 10 sec)")
    engine.send_many("T", [{"ts": 1_000}, {"ts": 5_000}, {"ts": 11_000}, {"ts": 30_000}])
    assert [n for _, n, _ in seen] == [[{"n": 2}], [{"n": 1}]]


# ------------------------------------------------------------------ batch intersections

def test_batch_in_an_intersection_posts_only_what_the_other_windows_still_hold():
    engine, _, seen = _engine("select irstream v from T#time_batch(10 sec)#length(2)")
    _feed(engine, [(1_000, {"v": 1}), (2_000, {"v": 2}), (5_000, {"v": 3}), (12_000, {"v": 4})])
    engine.advance_time(21_000)
    # 1 was pushed out of the length window before the batch ended: never posted, and
    # its eviction posts nothing either
    assert [(t, n, o) for t, n, o in seen] == [
        (11_000, [{"v": 2}, {"v": 3}], []), (21_000, [{"v": 4}], [{"v": 2}, {"v": 3}])]


def test_posted_batch_leaves_the_other_windows():
    engine, _, seen = _engine("select irstream v from T#time_batch(1 sec)#firstevent")
    _feed(engine, [(0, {"v": 1}), (10, {"v": 2}), (1_500, {"v": 3}), (1_600, {"v": 4})])
    engine.advance_time(2_000)
    # firstevent refuses 2; once 1 is posted it leaves firstevent, which then takes 3
    assert [(t, n, o) for t, n, o in seen] == [
        (1_000, [{"v": 1}], []), (2_000, [{"v": 3}], [{"v": 1}])]


def test_expiry_of_another_window_takes_the_event_out_of_the_batch():
    engine, _, seen = _engine("select count(*) as n from T#time_batch(10 sec)#time(3 sec)")
    _feed(engine, [(1_000, {"v": 1}), (8_000, {"v": 2})])
    engine.advance_time(30_000)
    # 1 expired at 4000, so only 2 is in the batch
    assert [(t, n) for t, n, _ in seen] == [(11_000, [{"n": 1}]), (21_000, [{"n": 0}])]


# ------------------------------------------------------------------ time_batch reference and flags

def test_time_batch_reference_point_aligns_batch_ends():
    engine, _, seen = _engine("select count(*) as n from T#time_batch(10 sec, 2500L)")
    _feed(engine, [(1_000, {}), (2_000, {}), (3_000, {})])
    engine.advance_time(30_000)
    assert [(t, n) for t, n, _ in seen] == [(2_500, [{"n": 2}]), (12_500, [{"n": 1}]),
                                            (22_500, [{"n": 0}])]


def test_time_batch_force_update_posts_empty_batches_forever():
    engine, _, seen = _engine("select count(*) as n from T#time_batch(1 sec, 'FORCE_UPDATE')")
    _feed(engine, [(500, {})])
    engine.advance_time(5_500)
    assert [(t, n) for t, n, _ in seen] == [(1_500, [{"n": 1}])] + [(t, [{"n": 0}]) for t in
                                                                     (2_500, 3_500, 4_500, 5_500)]


def test_time_batch_start_eager_starts_at_statement_start_and_ignores_the_reference():
    engine = EPLEngine(ExternalClock(700))
    st = engine.compile("select count(*) as n from T#time_batch(1 sec, 0L, 'start_eager')")[0]
    seen: list = []
    st.add_listener(lambda new, old: seen.append((engine.current_time_ms, new)))
    engine.advance_time(2_700)
    engine.send("T", {})
    engine.advance_time(3_700)
    assert seen == [(1_700, [{"n": 0}]), (2_700, [{"n": 0}]), (3_700, [{"n": 1}])]


def test_referenced_time_batch_runs_in_the_pipeline():
    for rule in ("select a from T#time_batch(1 sec, 0L)", "select a from T#time_batch(1 sec, 'force_update')"):
        assert isinstance(_engine(rule)[1]._operator, Pipeline)


@pytest.mark.parametrize("rule", [
    "select irstream v, count(*) as n from T#time_batch(3 sec)#length(2)",
    "select irstream v from T#length(5)#length_batch(3)#time(2 sec)",
    "select irstream count(*) as n from T#groupwin(k)#time_batch(2 sec, 500L)#firstevent",
    "select count(*) as n from T#time_batch(2 sec, 0L, 'force_update, start_eager')",
])
def test_batch_intersections_and_referenced_batches_survive_snapshot_and_restore(rule):
    events = [(t, {"k": "ab"[i % 2], "v": i}) for i, t in enumerate(
        [100, 900, 1_000, 2_500, 2_600, 4_000, 7_100, 7_200, 7_300, 12_000, 12_500])]

    def run(cut):
        engine = EPLEngine(ExternalClock(0))
        out: list = []

        def attach(eng):
            eng.compile(rule, name="r")[0].add_listener(
                lambda new, old: out.append((eng.current_time_ms, new, old)))
        attach(engine)
        for k, (t, e) in enumerate(events):
            if k == cut:
                snap = pickle.loads(pickle.dumps(engine.snapshot()))
                engine = EPLEngine(ExternalClock(0))
                attach(engine)
                engine.restore(snap)
            if t > engine.current_time_ms:
                engine.advance_time(t)
            engine.send("T", e)
        engine.advance_time(30_000)
        return out

    whole = run(None)
    assert whole
    for cut in range(1, len(events)):
        assert run(cut) == whole, cut


# ------------------------------------------------------------------ no data window

def test_stream_without_window_posts_no_remove_stream_and_aggregates_unbound():
    engine, _, seen = _engine("select irstream x, count(*) as n, min(x) as mn from T(x > 0)")
    _feed(engine, [(0, {"x": 3}), (0, {"x": -1}), (1_000, {"x": 1}), (900_000, {"x": 5})])
    engine.advance_time(10 * 86_400_000)
    assert [(n, o) for _, n, o in seen] == [
        ([{"x": 3, "n": 1, "mn": 3}], []), ([{"x": 1, "n": 2, "mn": 1}], []),
        ([{"x": 5, "n": 3, "mn": 1}], [])]


def test_stream_without_window_keeps_no_events():
    engine, _, _ = _engine("select x from T")
    _feed(engine, [(0, {"x": i}) for i in range(5)])
    snap = engine.snapshot()["statements"]["r"]
    assert snap["events"] == [] and snap["operator"]["windows"] is None


def test_operator_choice_keeps_the_fused_batch_path_for_the_smart_car_rule():
    _, st, _ = _engine("select carNumber, avg(speed) from T#time_batch(30 sec) group by carNumber "
                       "having avg(speed) > 80")
    assert isinstance(st._operator, _TimeBatch)
    for rule in ("select irstream a from T#time_batch(1 sec)", "select a from T#length(2)",
                 "select a from T#groupwin(a)#time_batch(1 sec)"):
        assert isinstance(_engine(rule)[1]._operator, Pipeline)


def test_cli_prints_remove_rows(tmp_path):
    from squall.cli import main
    rule = tmp_path / "r.epl"
    rule.write_text("select irstream x from T#length(1)")
    result = CliRunner().invoke(main, ["epl", "run", str(rule), "-", "--type", "T", "--time-field", "ts"],
                                input='{"ts": 5, "x": 1}\n{"ts": 6, "x": 2}\n')
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"time": 5, "statement": 0, "kind": "insert", "row": {"x": 1}},
        {"time": 6, "statement": 0, "kind": "insert", "row": {"x": 2}},
        {"time": 6, "statement": 0, "kind": "remove", "row": {"x": 1}},
    ]


# ------------------------------------------------------------------ view errors

@pytest.mark.parametrize("views,fragment,column", [
    ("#foo(1)", "view name 'foo' is not a known view name", 4),
    (".win:unique(a)", "View name 'win:unique' is not a known view name", 4),
    ("#length(0)", "Length view requires a positive integer for size but received 0", 4),
    ("#length(1.5)", "requires a single integer-type parameter", 4),
    ("#time('x')", "Time view requires a time period", 4),
    ("#time(0 sec)", "at least 1 msec", 4),
    ("#ext_timed(10 sec)", "timestamp expression and a time period", 4),
    ("#ext_timed_batch(ts, 1 sec, 'x')", "long-typed reference point", 4),
    ("#unique()", "one or more expressions", 4),
    ("#keepall(3)", "takes no parameters", 4),
    ("#groupwin(a)", "requires one or more child views", 4),
    ("#length(2)#groupwin(a)#length(1)", "must occur in the first position", 14),
    ("#length_batch(2)#time_batch(1 sec)", "multiple batch data windows", 20),
    ("#length(2)#ext_timed_batch(ts, 2 sec)", "externally-timed batch window .* is not supported", 14),
    ("#time_batch(1 sec, 1.5)", "Long-typed reference point", 4),
    ("#time_batch(1 sec, 0L, 'eager')", "invalid keyword 'eager'", 4),
    ("#time_batch(1 sec, 0L, 5L)", "optional reference point and optional flags", 4),
])
def test_bad_views_are_compile_errors_with_position(views, fragment, column):
    with pytest.raises(EPLCompileError, match=fragment) as info:
        EPLEngine(ExternalClock(0)).compile(f"select a from\n T{views}")
    assert (info.value.line, info.value.column) == (2, column)


def test_unknown_property_in_a_view_parameter_of_a_declared_type():
    engine = EPLEngine(ExternalClock(0))
    engine.define_event_type("T", {"a": int})
    with pytest.raises(EPLCompileError, match="property named 'b' is not valid"):
        engine.compile("select a from T#unique(b)")


# ------------------------------------------------------------------ aggregates

def _spec(func, distinct=False, retract=True):
    return build_aggs([(func, distinct, None, "v", False)], retract)


@pytest.mark.parametrize("func,values,left,expected", [
    ("min", [3, 1, 1, 2], [1], 1),
    ("min", [3, 1, 1, 2], [1, 1], 2),
    ("max", [3, 5, 5], [5, 5], 3),
    ("median", [1, 2, 3, 4], [], 2.5),
    ("median", [1, 2, 3, 4], [4], 2.0),
    ("stddev", [2, 4, 4, 4, 5, 5, 7, 9], [], 2.138089935299395),
    ("stddev", [2, 4], [2], None),
    ("avedev", [1, 2, 3, 6], [], 1.5),
    ("avedev", [1, 2, 3, 6], [1, 2, 3, 6], None),
    ("sum", [1, 2], [1, 2], None),
    ("avg", [1, 2, 6], [6], 1.5),
    ("count", [1, None, 2], [], 2),
])
def test_aggregates_enter_and_leave(func, values, left, expected):
    spec = _spec(func)
    acc = spec.new_acc(None)
    for v in values:
        spec.update(acc, {"v": v})
    for v in left:
        spec.leave(acc, {"v": v})
    got = spec.values(acc)[0]
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_distinct_counts_values_until_their_last_copy_leaves():
    spec = _spec("count", distinct=True)
    acc = spec.new_acc(None)
    for v in (1, 1, 2):
        spec.update(acc, {"v": v})
    spec.leave(acc, {"v": 1})
    assert spec.values(acc) == [2]
    spec.leave(acc, {"v": 1})
    assert spec.values(acc) == [1]


def test_accumulator_dump_and_load_round_trip():
    spec = build_aggs([("median", False, None, "v", False), ("count", True, None, "v", False),
                       ("stddev", False, None, "v", False)], True)
    acc = spec.new_acc({"v": 0})
    for v in (3, 1, 3, 8):
        spec.update(acc, {"v": v})
    again = spec.load(acc[0], json.loads(json.dumps(spec.dump(acc))))
    assert spec.values(again) == spec.values(acc)
    spec.leave(again, {"v": 3})
    spec.leave(acc, {"v": 3})
    assert spec.values(again) == spec.values(acc)
