"""squall epl run: JSON-lines events through a rule file, one JSON line per output row."""

import json

from click.testing import CliRunner

from squall.cli import main

RULE = """SELECT car, avg(speed) AS avgSpeed FROM Car#time_batch(30 sec) GROUP BY car HAVING avg(speed) > 80;
SELECT count(*) AS n FROM Car#time_batch(30 sec)"""


def run(tmp_path, lines):
    rule = tmp_path / "r.epl"
    rule.write_text(RULE)
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(lines) + "\n")
    return CliRunner().invoke(main, ["epl", "run", str(rule), str(events), "--type", "Car", "--time-field", "ts"])


def test_outputs_carry_engine_time_statement_index_and_row(tmp_path):
    result = run(tmp_path, [json.dumps(e) for e in (
        {"ts": 1000, "car": "a", "speed": 90}, {"ts": 2000, "car": "b", "speed": 50},
        {"ts": 31500, "car": "a", "speed": 85})])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows == [
        {"time": 31000, "statement": 0, "kind": "insert", "row": {"car": "a", "avgSpeed": 90.0}},
        {"time": 31000, "statement": 1, "kind": "insert", "row": {"n": 2}},
        {"time": 61000, "statement": 0, "kind": "insert", "row": {"car": "a", "avgSpeed": 85.0}},
        {"time": 61000, "statement": 1, "kind": "insert", "row": {"n": 1}},
        {"time": 91000, "statement": 1, "kind": "insert", "row": {"n": 0}},
    ]


def test_bad_lines_are_reported_with_their_number_and_skipped(tmp_path):
    result = run(tmp_path, ['{"ts": 1000, "car": "a", "speed": 90}', "not json", '{"car": "x"}'])
    assert result.exit_code == 1
    assert "line 2 skipped" in result.stderr and "line 3 skipped" in result.stderr
    assert json.loads(result.stdout.splitlines()[0])["row"] == {"car": "a", "avgSpeed": 90.0}


def test_squall_epl_query_is_a_command_of_squall_epl(tmp_path):
    rule = tmp_path / "w.epl"
    rule.write_text("create window W#keepall as select car, speed from Car;\n"
                    "insert into W select car, speed from Car")
    events = tmp_path / "e.jsonl"
    events.write_text('{"ts": 1000, "car": "a", "speed": 90}\n{"ts": 2000, "car": "b", "speed": 50}\n')
    result = CliRunner().invoke(main, ["epl", "query", str(rule), str(events),
                                       "select car from W where speed > 60", "--type", "Car",
                                       "--time-field", "ts", "--types",
                                       '{"ts": "long", "car": "string", "speed": "double"}'])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"query": 0, "row": {"car": "a"}}]


def test_epl_run_and_query_share_the_types_option_errors(tmp_path):
    rule = tmp_path / "w.epl"
    rule.write_text("create window W#keepall as select car from Car")
    events = tmp_path / "e.jsonl"
    events.write_text("")
    for command in (["run", str(rule), str(events)], ["query", str(rule), str(events), "select * from W"]):
        result = CliRunner().invoke(main, ["epl", *command, "--type", "Car", "--time-field", "ts",
                                           "--types", '{"car": "text"}'])
        assert result.exit_code == 2
        assert "property 'car' has unknown type 'text'" in result.output
