"""CepBolt: EPL statements inside a topology, on event time."""

import pytest

from squall import TopologyBuilder
from squall.cep import EPLSyntaxError
from squall.cep.bolt import CepBolt
from squall.runtime import run_topology
from squall.testing import ListSink, ListSpout

RULE = ("SELECT car, avg(speed) AS avgSpeed, count(*) AS n FROM Car#time_batch(10 sec) "
        "GROUP BY car HAVING avg(speed) > 80")
T0 = 1_700_000_000_000


def run(rows, rule=RULE):
    ListSink.reset("cep-out")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(rows, ["ts", "car_number", "speed"]))
    b.set_bolt("cep", CepBolt(rule, "Car", {"car_number": "car"}, time_field="ts")).global_grouping("src")
    b.set_bolt("out", ListSink("cep-out")).shuffle_grouping("cep")
    result = run_topology(b.build(), timeout_s=10)
    assert result.completed
    return ListSink.values("cep-out"), result


def test_batches_on_event_time_with_window_bounds_and_last_batch_at_end_of_input():
    rows = [
        [T0, "a", 90.0], [T0 + 1000, "b", 50.0], [T0 + 9999, "a", 80.0],   # batch 1: a avg 85
        [T0 + 10_000, "a", 70.0], [T0 + 12_000, "b", 100.0],               # batch 2: b 100
        [T0 + 25_000, "b", 81.0],                                          # batch 3, fired at end
    ]
    out, result = run(rows)
    assert out == [
        ["a", 85.0, 2, T0, T0 + 10_000],
        ["b", 100.0, 1, T0 + 10_000, T0 + 20_000],
        ["b", 81.0, 1, T0 + 20_000, T0 + 30_000],
    ]
    assert result.stats["cep"].acked == len(rows)


def test_a_changed_threshold_changes_detections():
    rows = [[T0, "a", 90.0], [T0 + 1000, "b", 95.0], [T0 + 11_000, "a", 1.0]]
    assert [r[0] for r in run(rows)[0]] == ["a", "b"]
    assert [r[0] for r in run(rows, RULE.replace("> 80", "> 92"))[0]] == ["b"]


def test_a_rule_file_opening_with_a_variable_keeps_its_rule_on_the_default_stream():
    rule = "create variable double speedLimit = 92;\n" + RULE.replace("> 80", "> speedLimit")
    assert CepBolt(rule, "Car", time_field="ts")._streams[1] == ("default", ("car", "avgSpeed", "n"))
    rows = [[T0, "a", 90.0], [T0 + 1000, "b", 95.0], [T0 + 11_000, "a", 1.0]]
    assert [r[0] for r in run(rows, rule)[0]] == ["b"]


def test_output_fields_follow_the_select_list_and_a_bad_rule_fails_the_build():
    bolt = CepBolt(RULE, "Car", time_field="ts")
    assert bolt._streams == [("default", ("car", "avgSpeed", "n"))]
    with pytest.raises(EPLSyntaxError):
        CepBolt("SELECT FROM", "Car", time_field="ts")


def test_dedupe_drops_replayed_events_so_averages_do_not_change():
    ListSink.reset("cep-out")
    rows = [[T0, "a", 90.0, "k1"], [T0 + 1000, "a", 70.0, "k2"], [T0 + 1000, "a", 70.0, "k2"],
            [T0 + 2000, "a", 100.0, "k3"]]
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(rows, ["ts", "car_number", "speed", "key"]))
    b.set_bolt("cep", CepBolt(RULE, "Car", {"car_number": "car"}, time_field="ts",
                              dedupe_field="key")).global_grouping("src")
    b.set_bolt("out", ListSink("cep-out")).shuffle_grouping("cep")
    assert run_topology(b.build(), timeout_s=10).completed
    # k2 counted once: avg(90, 70, 100) = 86.67 over 3 events, not 82.5 over 4.
    [[car, avg, n, _, _]] = ListSink.values("cep-out")
    assert (car, n) == ("a", 3) and avg == pytest.approx(260 / 3)


def test_an_event_whose_pattern_match_times_out_is_reported_and_the_stream_goes_on():
    ListSink.reset("cep-out")
    rows = [[T0, "ab", "a."], [T0 + 1, "a" * 60 + "b", "(a|aa)+$"], [T0 + 2, "cd", "c."]]
    b = TopologyBuilder()
    b.set_spout("src", ListSpout(rows, ["ts", "s", "p"]))
    b.set_bolt("cep", CepBolt("select s, s regexp p as m from T#lastevent()", "T", time_field="ts",
                              name="pat")).global_grouping("src")
    b.set_bolt("out", ListSink("cep-out")).shuffle_grouping("cep")
    result = run_topology(b.build(), timeout_s=30)
    assert result.completed and result.stats["cep"].acked == 3
    assert [r[:2] for r in ListSink.values("cep-out")] == [["ab", True], ["a" * 60 + "b", None], ["cd", True]]
    [error] = result.errors()
    assert "EPLEvaluationError" in error and "statement 'pat'" in error and "took longer" in error


def test_plugin_functions_travel_as_import_paths():
    rule = "SELECT car, floor(speed) AS f, spread(speed) AS sp FROM Car#length(2) GROUP BY car"
    ListSink.reset("cep-out")
    b = TopologyBuilder()
    b.set_spout("src", ListSpout([[T0, "a", 90.5], [T0 + 1000, "a", 70.25]], ["ts", "car_number", "speed"]))
    b.set_bolt("cep", CepBolt(rule, "Car", {"car_number": "car"}, time_field="ts",
                              functions={"floor": "math:floor"},
                              aggregations={"spread": "tests.cep.test_epl_plugins:Spread"})).global_grouping("src")
    b.set_bolt("out", ListSink("cep-out")).shuffle_grouping("cep")
    assert run_topology(b.build(), timeout_s=10).completed
    assert [r[:3] for r in ListSink.values("cep-out")] == [["a", 90, 0.0], ["a", 70, 20.25]]
    with pytest.raises(ValueError, match="cannot import 'math:nope'"):
        CepBolt(rule, "Car", time_field="ts", functions={"floor": "math:nope"})
