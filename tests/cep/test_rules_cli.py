"""``squall rules apply`` / ``squall rules list``, and a rule change in a running topology."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from click.testing import CliRunner

from squall import Spout, TopologyBuilder
from squall.cep.bolt import CepBolt
from squall.cli import main
from squall.runtime import LocalCluster
from squall.testing import ListSink

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000
RULE_V1 = ("SELECT car, avg(speed) AS avgSpeed FROM Car#time_batch(10 sec) GROUP BY car HAVING avg(speed) > 80;\n"
           "@Name('total') SELECT count(*) AS n FROM Car#time_batch(10 sec)\n")
RULE_V2 = RULE_V1.replace("> 80", "> 50")
RULE_V3 = RULE_V2.replace("> 50", "> 95").replace("#time_batch", "#time_bath", 1)
# compiles, but selects other columns than the 'default' stream was declared with
RULE_V4 = RULE_V2.replace("> 50", "> 95").replace("AS avgSpeed", "AS mean", 1)

_gates: dict[str, list[threading.Event]] = {}


class GatedSpout(Spout):
    """Emits its phases in order; phase i waits until the test sets gate i."""

    def __init__(self, phases, fields, name):
        self.phases = [list(p) for p in phases]
        self.fields = fields
        self.name = name

    def declare_output_fields(self, declarer):
        declarer.declare(self.fields)

    def open(self, config, context, collector):
        self.collector = collector
        self.todo = [(p, i) for p, rows in enumerate(self.phases) for i in range(len(rows))]
        self.pending = set()

    def next_tuple(self):
        if self.todo and _gates[self.name][self.todo[0][0]].is_set():
            p, i = mid = self.todo.pop(0)
            self.pending.add(mid)
            self.collector.emit(self.phases[p][i], message_id=mid)

    def ack(self, msg_id):
        self.pending.discard(msg_id)

    def fail(self, msg_id):
        self.todo.insert(0, msg_id)

    def emitted_all(self):
        return not self.todo

    def exhausted(self):
        return not self.todo and not self.pending


def squall_cli(*args):
    """``squall ...`` in a subprocess (a separate process, as a user would run it)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "squall", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


def wait_for(cond, what, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def rows(stream):
    return [v for _, s, v in ListSink.received("rules-e2e") if s == stream]


def test_apply_without_a_running_topology_installs_the_file(tmp_path):
    rule = tmp_path / "r.epl"
    rule.write_text(RULE_V1)
    result = CliRunner().invoke(main, ["rules", "apply", str(rule), "--rules-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "no running topology watches this directory" in result.output
    assert (tmp_path / "d" / "rules.epl").read_text() == RULE_V1


def refused(tmp_path, text):
    rule = tmp_path / "r.epl"
    rule.write_text(text)
    result = CliRunner().invoke(main, ["rules", "apply", str(rule), "--rules-dir", str(tmp_path / "d")])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"squall: error: {rule}") and "; not installed" in line
    assert not (tmp_path / "d").exists()
    return line


def test_apply_refuses_a_file_that_does_not_parse_with_its_line_and_column(tmp_path):
    line = refused(tmp_path, "select from")
    assert ":1:8: statement 'rule': Incorrect syntax near 'from' at line 1, column 8" in line


def test_apply_refuses_a_file_that_does_not_compile_with_its_line_and_column(tmp_path):
    line = refused(tmp_path, RULE_V1 + ";\n\n@Name('x') select a from Car#nope(3);\nselect b from Car#length")
    assert ":5:30: statement 'x': Unknown or unsupported view 'nope'" in line
    assert "(and 1 more statement(s) that do not compile)" in line


def test_apply_refuses_a_file_without_statements(tmp_path):
    assert "holds no statement" in refused(tmp_path, "-- nothing here\n")


def test_list_of_a_dir_nobody_watches():
    result = CliRunner().invoke(main, ["rules", "list", "--rules-dir", "/nonexistent/rules"])
    assert result.exit_code == 2 and "rules dir not found" in result.stderr


def test_a_changed_rule_applied_with_the_cli_changes_outputs_of_the_running_topology(tmp_path):
    rules_dir = tmp_path / "rules"
    _gates["e2e"] = [threading.Event() for _ in range(3)]
    phases = [
        [[T0, "a", 90.0], [T0 + 1000, "b", 60.0], [T0 + 10_000, "c", 70.0]],   # batch 1: a (> 80)
        [[T0 + 12_000, "d", 55.0], [T0 + 25_000, "e", 100.0]],
        [[T0 + 30_000, "f", 60.0]],
    ]
    ListSink.reset("rules-e2e")
    b = TopologyBuilder()
    b.set_spout("src", GatedSpout(phases, ["ts", "car", "speed"], "e2e"))
    b.set_bolt("cep", CepBolt(RULE_V1, "Car", time_field="ts", rules_dir=rules_dir)).global_grouping("src")
    b.set_bolt("out", ListSink("rules-e2e")).shuffle_grouping("cep").shuffle_grouping("cep", "total")
    with LocalCluster() as cluster:
        handle = cluster.submit_topology("rules-e2e", {}, b.build(), until_complete=True)
        try:
            _gates["e2e"][0].set()
            wait_for(lambda: rows("default"), "batch 1")
            assert rows("default") == [["a", 90.0, T0, T0 + 10_000]]

            (tmp_path / "v2.epl").write_text(RULE_V2)
            result = squall_cli("rules", "apply", str(tmp_path / "v2.epl"), "--rules-dir", str(rules_dir))
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.splitlines() == ["rule: changed, accepted", "total: unchanged, accepted"]

            _gates["e2e"][1].set()
            wait_for(lambda: len(rows("default")) == 2 and len(rows("total")) == 2, "batch 2")
            # The new threshold (50) without a restart; its window restarted at the swap, so
            # its batch starts at d, the first event after it.
            assert rows("default")[1] == ["d", 55.0, T0 + 12_000, T0 + 22_000]
            # 'total' kept its state across the swap: c (before) and d (after) in one batch.
            assert rows("total") == [[2, T0, T0 + 10_000], [2, T0 + 10_000, T0 + 20_000]]

            # A file that does not compile is refused before it reaches the running bolt.
            (tmp_path / "v3.epl").write_text(RULE_V3)
            result = squall_cli("rules", "apply", str(tmp_path / "v3.epl"), "--rules-dir", str(rules_dir))
            assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
            [line] = result.stderr.splitlines()
            assert line.startswith(f"squall: error: {tmp_path / 'v3.epl'}:1:45: statement 'rule': "
                                   "Unknown or unsupported view 'time_bath'")
            assert line.endswith("(line 1, column 45); not installed")
            assert (rules_dir / "rules.epl").read_text() == RULE_V2

            # One that compiles but that the running bolt cannot take: rejected there.
            (tmp_path / "v4.epl").write_text(RULE_V4)
            result = squall_cli("rules", "apply", str(tmp_path / "v4.epl"), "--rules-dir", str(rules_dir))
            assert result.returncode == 1, result.stdout + result.stderr
            rejected, unchanged = result.stdout.splitlines()
            assert rejected.startswith("rule: rejected (the running version goes on): statement 'rule' "
                                       "now selects (car, mean)")
            assert rejected.endswith("(line 1, column 1)") and unchanged == "total: unchanged, accepted"

            def listed():
                out = CliRunner().invoke(main, ["rules", "list", "--rules-dir", str(rules_dir), "--json"]).output
                [status] = [json.loads(line) for line in out.splitlines()]
                return {s["name"]: (s["events_in"], s["rows_out"]) for s in status["statements"]}
            wait_for(lambda: listed() == {"total": (5, 2), "rule": (2, 1)}, "status counters")
            table = CliRunner().invoke(main, ["rules", "list", "--rules-dir", str(rules_dir)])
            assert table.exit_code == 0, table.output
            lines = table.stdout.splitlines()
            assert lines[0].split() == ["STATEMENT", "STREAM", "EVENTS", "IN", "ROWS", "OUT", "STATUS", "TEXT"]
            assert lines[1].split()[:5] == ["total", "total", "5", "2", "running"]
            assert lines[2].split()[:7] == ["rule", "default", "2", "1", "running;", "new", "version"]
            assert any(line.startswith("rejected: rule: statement 'rule' now selects") for line in lines)
            assert "cep[0] running" in table.stderr

            _gates["e2e"][2].set()
            assert handle.wait(15)
        finally:
            for g in _gates["e2e"]:
                g.set()
    # v3 was refused and v4 rejected: v2 (> 50) still ran, so f (60) is a detection.
    assert rows("default")[2:] == [["e", 100.0, T0 + 22_000, T0 + 32_000], ["f", 60.0, T0 + 22_000, T0 + 32_000]]
    # The topology has stopped: its statements are listed as stopped, with their last counters.
    table = CliRunner().invoke(main, ["rules", "list", "--rules-dir", str(rules_dir)])
    lines = table.stdout.splitlines()
    assert lines[1].split()[:5] == ["total", "total", "6", "5", "stopped"]
    assert lines[2].split()[:5] == ["rule", "default", "3", "3", "stopped;"]
    assert "cep[0] stopped" in table.stderr
    result = squall_cli("rules", "apply", str(tmp_path / "v2.epl"), "--rules-dir", str(rules_dir))
    assert result.returncode == 0 and "no running topology watches this directory" in result.stdout


def _status(tmp_path, **fields):
    from squall.cep.rules import RulesDir, process_started
    status = {"component": "cep", "task": 0, "pid": os.getpid(), "pid_started": process_started(),
              "running": True, "heartbeat_s": 5.0, "updated_ms": int(time.time() * 1000),
              "version": None, "results": [],
              "statements": [{"name": "speeding", "text": "select 1 from T#length(1)", "stream": "default",
                              "events_in": 7, "rows_out": 2, "last_error": None}]}
    status.update(fields)
    RulesDir(tmp_path).write_status("cep-0", status)
    return CliRunner().invoke(main, ["rules", "list", "--rules-dir", str(tmp_path)])


def _listed_state(result):
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[1].split()[4]


def test_list_marks_a_live_task_running(tmp_path):
    assert _listed_state(_status(tmp_path)) == "running"


def test_list_marks_a_task_that_closed_stopped(tmp_path):
    assert _listed_state(_status(tmp_path, running=False)) == "stopped"


def test_list_marks_a_task_whose_process_is_gone_stopped(tmp_path):
    # killed without cleanup: its status still says running
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert _listed_state(_status(tmp_path, pid=child.pid, pid_started=None)) == "stopped"


def test_list_marks_a_task_whose_pid_was_reused_stopped(tmp_path):
    # our own pid, but another process's start time: the pid now belongs to someone else
    from squall.cep.rules import process_started
    result = _status(tmp_path, pid_started=process_started() - 3600)
    assert _listed_state(result) == "stopped"
    assert "cep[0] stopped" in result.stderr


def test_list_marks_a_task_without_heartbeat_not_responding(tmp_path):
    result = _status(tmp_path, updated_ms=int(time.time() * 1000) - 16_000)
    assert result.stdout.splitlines()[1].split()[4:6] == ["not", "responding"]
    line = CliRunner().invoke(main, ["rules", "list", "--rules-dir", str(tmp_path), "--json"]).stdout
    assert json.loads(line)["state"] == "not responding"


def test_the_bolt_rewrites_its_status_as_a_heartbeat(tmp_path, monkeypatch):
    import squall.cep.bolt as bolt_module
    from squall.cep.rules import RulesDir, task_state

    class Context:
        component_id, task_index = "cep", 0

    class Collector:
        def emit(self, values, stream="default"):
            pass

        def report_error(self, error):
            raise error

    monkeypatch.setattr(bolt_module, "_STATUS_EVERY_S", 0.0)
    monkeypatch.setattr(bolt_module, "HEARTBEAT_S", 0.0)
    bolt = CepBolt("select count(*) as n from Car#length(2)", "Car", time_field="ts", rules_dir=tmp_path)
    bolt.prepare({}, Context(), Collector())
    path = RulesDir(tmp_path).status_path("cep-0")
    path.write_text(path.read_text().replace('"running": true', '"running": false'))
    bolt.poll()       # nothing changed but the heartbeat is due: the status is rewritten
    [status] = RulesDir(tmp_path).statuses()
    assert status["running"] is True
    assert task_state(status, now_ms=status["updated_ms"]) == "running"
    bolt.cleanup()
    [status] = RulesDir(tmp_path).statuses()
    assert task_state(status) == "stopped"


def test_apply_and_set_name_the_live_tasks_that_did_not_apply_in_time(tmp_path):
    # A live task (this process, fresh heartbeat) that never picks anything up.
    (tmp_path / "v.epl").write_text("create variable int speedLimit = 80;\nselect 1 from T#length(1)\n")
    _status(tmp_path, statements=[{"name": "v", "text": "create variable int speedLimit = 80", "stream": "v",
                                   "events_in": 0, "rows_out": 0, "last_error": None}])
    for args in (["apply", str(tmp_path / "v.epl")], ["set", "speedLimit", "90"]):
        result = CliRunner().invoke(main, ["rules", *args, "--rules-dir", str(tmp_path), "--timeout", "0.2"])
        assert result.exit_code == 2, result.output
        assert "cep[0] did not apply it within 0.2 s" in result.stderr, result.stderr
