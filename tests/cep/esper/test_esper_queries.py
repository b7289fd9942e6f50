"""Differential tests for fire-and-forget queries: ``squall epl query`` against real
Esper 8.9's ``EPFireAndForgetService.executeQuery``.

Both sides deploy the same rules, take the same events (external time from ``ts``, no
jump after the last event) and then run the same queries in order; the rows of each
query must match. Esper runs in ``EsperQueryRunner.java`` (compiled with
``EsperRunner.java`` into the jar cache, one JVM per test module), which makes named
windows and tables public so queries compiled after the rules can name them.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from squall.cep.query_cli import query as query_command
from tests.cep.esper.conftest import ESPER, _tool
from tests.cep.esper.oracle import EsperRejectedError, SquallRejectedError
from tests.cep.esper.test_esper_differential import PROPS, T, _same_row, ev
from tests.cep.esper.test_esper_named_windows import EVENTS, QTYPE, q

_HERE = Path(__file__).parent
_SOURCES = [_HERE / "EsperRunner.java", _HERE / "EsperQueryRunner.java"]


class _QueryOracle:
    def __init__(self) -> None:
        from tests.services.maven import jar_cache, resolve_jars

        java, javac = _tool("java"), _tool("javac")
        cp = ":".join(str(p) for p in resolve_jars(ESPER))
        digest = hashlib.sha1(b"".join(p.read_bytes() for p in _SOURCES)).hexdigest()[:16]
        classes = jar_cache() / f"esper-query-runner-{digest}"
        if not (classes / ".complete").exists():
            classes.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run([javac, "-nowarn", "-d", str(classes), "-cp", cp, *map(str, _SOURCES)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"javac failed:\n{proc.stdout}{proc.stderr}")
            (classes / ".complete").touch()
        self._proc = subprocess.Popen(
            [java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", f"{classes}:{cp}",
             "EsperQueryRunner"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        self._stderr: list[str] = []
        threading.Thread(target=lambda: self._stderr.extend(self._proc.stderr), daemon=True).start()

    def run(self, rules, events, queries):
        req = {"rules": rules, "type": T, "timeField": "ts", "props": PROPS, "events": events,
               "types": QTYPE, "typeField": "type", "queries": queries}
        self._proc.stdin.write(json.dumps(req) + "\n")
        self._proc.stdin.flush()
        rows = []
        while True:
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError("EsperQueryRunner exited:\n" + "".join(self._stderr[-50:]))
            obj = json.loads(line)
            if obj.get("done") is True and "row" not in obj:
                if obj["error"]:
                    raise EsperRejectedError(f"Esper rejected the case: {obj['error']}")
                return rows
            rows.append(obj)

    def close(self) -> None:
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()


@pytest.fixture(scope="module")
def esper_query():
    try:
        oracle = _QueryOracle()
    except RuntimeError as exc:
        pytest.skip(f"Esper oracle unavailable: {exc}")
    yield oracle.run
    oracle.close()


def squall_query(rules, events, queries, at=None):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rule = Path(tmp) / "rule.epl"
        rule.write_text(rules, encoding="utf-8")
        result = CliRunner().invoke(
            query_command, [str(rule), "-", *queries, "--type", T, "--time-field", "ts",
                            "--type-field", "type", "--types", json.dumps(PROPS)]
            + (["--at", str(at)] if at is not None else []),
            input="".join(json.dumps(e) + "\n" for e in events))
    if result.exit_code != 0:
        raise SquallRejectedError(f"squall epl query failed ({result.exit_code}): {result.output}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def check(esper_query, rules, events, queries, unordered=False):
    esper = esper_query(rules, events, queries)
    squall = squall_query(rules, events, queries)
    key = (lambda r: (r["query"], json.dumps(r["row"], sort_keys=True))) if unordered \
        else (lambda r: r["query"])
    e, s = sorted(esper, key=key), sorted(squall, key=key)
    same = len(e) == len(s) and all(
        _same_row({"time": 0, "statement": a["query"], "kind": "q", "row": a["row"]},
                  {"time": 0, "statement": b["query"], "kind": "q", "row": b["row"]})
        for a, b in zip(e, s))
    assert same, f"Esper: {e}\nSquall: {s}"
    return esper


WINDOW = ("create window W#length(4) as select carNumber, speed from DriverCarInfo; "
          "insert into W select carNumber, speed from DriverCarInfo; ")


def test_select_from_a_window_with_where_order_by_and_limit(esper_query):
    rows = check(esper_query, WINDOW, EVENTS, [
        "select * from W",
        "select carNumber, speed * 2 as s from W where speed > 50 order by s desc",
        "select carNumber from W as w where w.speed < 100 order by carNumber limit 2"])
    assert [r["row"]["carNumber"] for r in rows if r["query"] == 2] == ["B", "C"]


def test_aggregates_over_a_window(esper_query):
    check(esper_query, WINDOW, EVENTS, [
        "select count(*) as n, sum(speed) as s, avg(speed) as a from W",
        "select count(*) as n from W where speed > 1000",
        "select carNumber, count(*) as n, max(speed) as top from W group by carNumber"],
        unordered=True)


def test_delete_then_select_sees_the_rest(esper_query):
    rows = check(esper_query, WINDOW, EVENTS, [
        "delete from W where carNumber = 'A'", "select * from W", "select count(*) as n from W"])
    assert [r["row"] for r in rows if r["query"] == 2] == [{"n": 3}]


def test_update_moves_the_row_to_the_end_of_the_window(esper_query):
    # Esper updates as remove-old, insert-new: B's new row is listed (and evicted) last
    rows = check(esper_query, WINDOW, EVENTS, [
        "update W set speed = speed + 1 where carNumber = 'B'", "select * from W"])
    assert [r["row"]["carNumber"] for r in rows if r["query"] == 1] == ["C", "A", "D", "B"]


def test_update_of_a_table_returns_nothing(esper_query):
    check(esper_query, "create table P (k string primary key, v double); "
                       "on Q merge P where P.k = Q.k when not matched then insert select k, v",
          EVENTS, ["update P set v = v * 2 where k = 'A'", "select * from P"], unordered=True)


def test_select_from_a_table_and_delete_a_row(esper_query):
    rules = ("create table T (carNumber string primary key, total sum(double), cnt count(*)); "
             "into table T select sum(speed) as total, count(*) as cnt from DriverCarInfo group by carNumber")
    check(esper_query, rules, EVENTS, [
        "select * from T", "select carNumber, total from T where cnt > 1",
        "delete from T where carNumber = 'B'", "select carNumber, cnt from T"], unordered=True)


def test_time_window_holds_what_has_not_expired_at_the_last_event(esper_query):
    check(esper_query, "create window W#time(3 sec) as DriverCarInfo; insert into W select * from DriverCarInfo",
          [ev(1_000, "A", 90), ev(2_000, "B", 50), ev(4_500, "C", 70), q(5_000, "Z")],
          ["select carNumber from W"])


def test_at_advances_time_before_the_queries():
    rows = squall_query("create window W#time(3 sec) as DriverCarInfo; "
                        "insert into W select * from DriverCarInfo",
                        [ev(1_000, "A", 90), ev(2_000, "B", 50)], ["select carNumber from W"], at=4_500)
    assert [r["row"] for r in rows] == [{"carNumber": "B"}]


def test_a_query_over_an_unknown_window_exits_2():
    with pytest.raises(SquallRejectedError, match="query 0: .*'X' does not exist"):
        squall_query(WINDOW, EVENTS, ["select * from X"])


def test_batch_window_query_reads_the_batch_being_collected(esper_query):
    # Esper's fire-and-forget select iterates a batch window's current batch, with or
    # without a condition (the batch posted last is not searched).
    rows = check(esper_query, "create window W#length_batch(2) as select carNumber from DriverCarInfo; "
                              "insert into W select carNumber from DriverCarInfo",
                 EVENTS[:-2], ["select * from W", "select * from W where carNumber != 'X'"])
    assert [r["row"]["carNumber"] for r in rows] == ["B", "B"]
