"""Live rules: RuleSet diffing and swapping on an engine; CepBolt watching a rules dir."""

import json

import pytest

from squall import TopologyBuilder
from squall.cep import EPLCompileError, EPLEngine, EPLSyntaxError, ExternalClock
from squall.cep.bolt import DYNAMIC_STREAM, CepBolt
from squall.cep.rules import RuleSet, RulesDir
from squall.runtime import run_topology
from squall.testing import ListSink, ListSpout

TOTAL = "@Name('total') select count(*) as n, sum(speed) as s from Car#time_batch(10 sec)"
FAST = "@Name('fast') select car, avg(speed) as a from Car#time_batch(10 sec) group by car having avg(speed) > {}"


def engine_with(text):
    engine = EPLEngine(ExternalClock(0))
    out = []
    report = RuleSet.parse(text).apply(engine, on_start=lambda st: st.add_listener(
        lambda new, old, name=st.name: out.extend((engine.current_time_ms, name, r) for r in new)))
    assert report.ok, report
    return engine, out, report


def send(engine, t, car, speed):
    engine.advance_time(t)
    engine.send("Car", {"car": car, "speed": speed})


def listen(out, engine):
    def on_start(st):
        st.add_listener(lambda new, old, name=st.name: out.extend((engine.current_time_ms, name, r) for r in new))
    return on_start


def test_names_come_from_name_annotations_else_from_the_position():
    rs = RuleSet.parse("select a from T#length_batch(1);\n@Name('x') select b from T#length_batch(1);\n"
                       "-- a comment; with a semicolon\nselect c from T#length_batch(1) where c = ';'", prefix="r")
    assert rs.names == ["r", "x", "r#2"]
    assert rs.statements[2].text == "select c from T#length_batch(1) where c = ';'"
    assert (rs.statements[1].line, rs.statements[1].column) == (2, 1)
    assert rs.complete and all(s.error is None for s in rs.statements)


def test_engine_compile_names_statements_by_annotation():
    engine = EPLEngine(ExternalClock(0))
    sts = engine.compile("@Name('a') select x from T#length_batch(1); select y from T#length_batch(1)", name="p")
    assert [s.name for s in sts] == ["a", "p#1"]
    with pytest.raises(EPLCompileError, match="Two statements are named 'a'"):
        engine.compile("@Name('a') select x from T#length_batch(1); @name(\"a\") select y from T#length_batch(1)")
    with pytest.raises(EPLCompileError, match=r"Unsupported annotation '@Priority' \(supported"):
        engine.compile("@Priority(1) select x from T#length_batch(1)")


def test_swapping_a_changed_statement_keeps_the_unchanged_ones_window_state():
    engine, out, _ = engine_with(f"{TOTAL};\n{FAST.format(80)}")
    send(engine, 0, "a", 90.0)
    send(engine, 1000, "b", 60.0)
    report = RuleSet.parse(f"{TOTAL};\n{FAST.format(50)}").apply(engine, on_start=listen(out, engine))
    assert [(r.name, r.action) for r in report.results] == [("total", "unchanged"), ("fast", "changed")]
    send(engine, 2000, "c", 55.0)
    engine.advance_time(20_000)
    # 'total' kept its batch: the two events before the swap count.
    assert (10_000, "total", {"n": 3, "s": 205.0}) in out
    # 'fast' restarted empty (its batch starts at its first event, 2000): only c, at the new threshold.
    assert [r for r in out if r[1] == "fast"] == [(12_000, "fast", {"car": "c", "a": 55.0})]


def test_a_statement_that_does_not_compile_is_rejected_and_the_old_version_keeps_running():
    engine, out, _ = engine_with(f"{TOTAL};\n{FAST.format(80)}")
    send(engine, 0, "a", 90.0)
    bad = f"{TOTAL};\n@Name('fast') select car, avg(speed) as a from Car#time_bath(10 sec) group by car"
    report = RuleSet.parse(bad).apply(engine, on_start=listen(out, engine))
    [rej] = report.rejected
    assert (rej.name, rej.kept, rej.line, rej.column) == ("fast", True, 2, 52)
    assert "Unknown or unsupported view 'time_bath'" in rej.error
    send(engine, 1000, "b", 85.0)
    engine.advance_time(10_000)
    # The old 'fast' (threshold 80) never stopped: its batch holds a (before) and b (after).
    assert sorted(r[2]["car"] for r in out if r[1] == "fast") == ["a", "b"]
    assert [s.text for s in engine.statements if s.name == "fast"] == [FAST.format(80)]


def test_a_syntax_error_rejects_only_its_statement_at_its_place_in_the_file():
    engine, out, _ = engine_with(f"{TOTAL};\n{FAST.format(80)};\n@Name('keep') select car from Car#length_batch(1)")
    text = f"{TOTAL.replace('count(*)', 'count(*) as c, 1')};\n@Name('fast') select car from Car#time_batch(10 sec) havin x"
    report = RuleSet.parse(text).apply(engine, on_start=listen(out, engine))
    results = {r.name: r for r in report.results}
    assert results["total"].action == "changed"
    assert results["fast"].action == "rejected" and results["fast"].kept
    assert (results["fast"].line, results["fast"].column) == (2, 60)
    assert isinstance(results["fast"].exception, EPLSyntaxError)
    # A part of the file did not parse, so statements it does not name are not removed.
    assert "keep" not in results and "keep" in [s.name for s in engine.statements]


def test_new_statements_start_and_missing_ones_stop():
    engine, out, _ = engine_with(f"{TOTAL};\n{FAST.format(80)}")
    report = RuleSet.parse("@Name('each') select car from Car#length_batch(1)").apply(
        engine, on_start=listen(out, engine))
    assert sorted((r.name, r.action) for r in report.results) == [
        ("each", "added"), ("fast", "removed"), ("total", "removed")]
    send(engine, 0, "a", 90.0)
    engine.advance_time(60_000)
    assert out == [(0, "each", {"car": "a"})]


def test_two_statements_with_one_name_are_rejected():
    engine = EPLEngine(ExternalClock(0))
    report = RuleSet.parse(f"{TOTAL}; {TOTAL.replace('sum', 'max')}").apply(engine)
    assert [(r.name, r.action) for r in report.results] == [("total", "added"), ("total", "rejected")]
    assert "Two statements are named 'total'" in report.results[1].error


# -- CepBolt with a rules dir --------------------------------------------------------------

RULE = "SELECT car, avg(speed) AS avgSpeed FROM Car#time_batch(10 sec) GROUP BY car HAVING avg(speed) > 80"
T0 = 1_700_000_000_000


def run_bolt(rows, rules_dir, rule=RULE):
    ListSink.reset("rules-out")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(rows, ["ts", "car", "speed"]))
    b.set_bolt("cep", CepBolt(rule, "Car", time_field="ts", rules_dir=rules_dir)).global_grouping("src")
    b.set_bolt("out", ListSink("rules-out")).shuffle_grouping("cep").shuffle_grouping("cep", DYNAMIC_STREAM)
    result = run_topology(b.build(), timeout_s=10)
    assert result.completed
    return ListSink.received("rules-out")


def test_the_bolt_loads_the_dirs_rules_at_start_keeps_streams_and_sends_new_statements_on_the_dynamic_stream(tmp_path):
    rd = RulesDir(tmp_path)
    rd.install(RULE.replace("avgSpeed", "avgSpeed, count(*) AS n") + ";\n"
               "@Name('slow') SELECT car, speed FROM Car#length_batch(1) WHERE speed < 10")
    got = run_bolt([[T0, "a", 90.0], [T0 + 1000, "b", 5.0]], tmp_path)
    assert sorted((stream, values) for _, stream, values in got) == [
        ("default", ["a", 90.0, T0, T0 + 10_000]),    # the initial rule goes on: columns are fixed
        (DYNAMIC_STREAM, ["slow", {"car": "b", "speed": 5.0}, None, None]),
    ]
    [status] = rd.statuses()
    assert status["running"] is False and status["component"] == "cep"
    results = {r["name"]: r for r in status["results"]}
    assert results["slow"]["action"] == "added"
    assert results["rule"]["action"] == "rejected" and results["rule"]["kept"]
    assert "its output stream 'default' was declared with (car, avgSpeed)" in results["rule"]["error"]
    counts = {s["name"]: (s["events_in"], s["rows_out"], s["stream"]) for s in status["statements"]}
    assert counts == {"rule": (2, 1, "default"), "slow": (2, 1, DYNAMIC_STREAM)}


def test_a_bolt_without_rules_dir_declares_no_dynamic_stream():
    bolt = CepBolt(RULE, "Car", time_field="ts")
    assert bolt._streams == [("default", ("car", "avgSpeed"))]
    assert json.dumps(bolt.rules_dir) == "null"


def test_pattern_statements_are_swapped_and_removed_like_the_others():
    engine = EPLEngine(ExternalClock(0))
    out = []
    v1 = "@Name('p') select a.k as k from pattern [every a=A(v > 1) -> B(k = a.k)]"
    RuleSet.parse(v1).apply(engine, on_start=listen(out, engine))
    report = RuleSet.parse(v1.replace("v > 1", "v > 10")).apply(engine, on_start=listen(out, engine))
    assert [(r.name, r.action) for r in report.results] == [("p", "changed")]
    for t, ev in [("A", {"k": 1, "v": 5}), ("B", {"k": 1}), ("A", {"k": 2, "v": 50}), ("B", {"k": 2})]:
        engine.send(t, ev)
    assert out == [(0, "p", {"k": 2})]     # only the new filter matched
    RuleSet.parse("").apply(engine)
    assert engine.statements == []
    engine.send("A", {"k": 3, "v": 50})
    engine.send("B", {"k": 3})
    assert out == [(0, "p", {"k": 2})]
