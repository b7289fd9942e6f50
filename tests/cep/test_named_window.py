"""Named windows, on-statements and fire-and-forget queries through EPLEngine (the
differential tests against Esper are in tests/cep/esper/test_esper_named_windows.py and
test_esper_queries.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from squall.cep import EPLEngine, ExternalClock
from squall.cep.errors import EPLCompileError, EPLSyntaxError
from squall.cep.protocol import Operator
from squall.cep.query_cli import query as query_command

WINDOW = ("create window W#length(3) as select carNumber, speed from Car; "
          "insert into W select carNumber, speed from Car")


def engine_with(text: str) -> tuple[EPLEngine, list]:
    engine = EPLEngine(ExternalClock(0))
    out = []
    for i, st in enumerate(engine.compile(text)):
        st.add_listener(lambda new, old, i=i: out.append((engine.current_time_ms, i, new, old)))
    return engine, out


def feed(engine: EPLEngine, events) -> None:
    for ts, type_name, ev in events:
        engine.advance_time(ts)
        engine.send(type_name, ev)


CARS = [(1_000, "Car", {"carNumber": "A", "speed": 90.0}), (2_000, "Car", {"carNumber": "B", "speed": 50.0}),
        (3_000, "Car", {"carNumber": "C", "speed": 70.0}), (4_000, "Car", {"carNumber": "A", "speed": 100.0})]


def test_window_outputs_entering_and_leaving_rows_and_consumers_follow_it():
    engine, out = engine_with(WINDOW + "; select count(*) as n, sum(speed) as s from W")
    feed(engine, CARS)
    window_rows = [(t, new, old) for t, i, new, old in out if i == 0]
    assert window_rows[-1] == (4_000, [{"carNumber": "A", "speed": 100.0}],
                               [{"carNumber": "A", "speed": 90.0}])
    assert [new for t, i, new, old in out if i == 2][-1] == [{"n": 3, "s": 220.0}]
    assert engine.named_windows == {"W": [{"carNumber": "B", "speed": 50.0},
                                          {"carNumber": "C", "speed": 70.0},
                                          {"carNumber": "A", "speed": 100.0}]}


def test_window_rows_are_copies_projected_onto_its_columns():
    engine, _ = engine_with(WINDOW)
    sent = {"carNumber": "A", "speed": 1.0, "extra": True}
    engine.send("Car", sent)
    engine.execute_query("update W set speed = 2.0")
    assert sent == {"carNumber": "A", "speed": 1.0, "extra": True}
    assert engine.named_windows["W"] == [{"carNumber": "A", "speed": 2.0}]


@pytest.mark.parametrize("text, message", [
    ("create window W as Car", "needs a data window"),
    ("create window W#keepall as Car; create window W#keepall as Car", "already been created"),
    ("create window W#keepall as (a strin)", "Unknown type 'strin'"),
    ("create window W#keepall as select speed * 2 from Car", "names the columns"),
    ("create window W#keepall as Car; select * from W#length(2)", "take no data window"),
    ("on Q delete from Nowhere", "'Nowhere' does not exist"),
    ("create window W#keepall as Car; on Q delete from W where speed = k", "must be qualified"),
    ("create window W#keepall as Car; on Q#length(2) delete from W", "takes no data window"),
])
def test_compile_errors_name_the_problem_with_a_position(text, message):
    with pytest.raises(EPLCompileError, match=message) as info:
        EPLEngine(ExternalClock(0)).compile(text)
    assert info.value.line == 1 and info.value.column is not None


def test_declared_columns_resolve_unqualified_names_and_report_ambiguity():
    engine = EPLEngine(ExternalClock(0))
    engine.define_event_type("Car", {"carNumber": str, "speed": float})
    engine.define_event_type("Q", {"carNumber": str, "v": float})
    engine.compile("create window W#keepall as Car")
    engine.compile("on Q delete from W where speed > v")          # speed: W, v: Q
    with pytest.raises(EPLCompileError, match="'carNumber' is ambiguous"):
        engine.compile("on Q delete from W where carNumber = 'A'")


def test_on_select_delete_update_and_merge():
    engine, out = engine_with(WINDOW + "; on Q select count(*) as n from W where carNumber = Q.k; "
                              "on U update W set speed = speed + U.v where carNumber = U.k; "
                              "on M merge W where carNumber = M.k when matched then delete "
                              "when not matched then insert select M.k as carNumber, M.v as speed; "
                              "on D delete from W where speed < D.v")
    feed(engine, CARS[:3] + [(5_000, "Q", {"k": "A"}), (6_000, "U", {"k": "B", "v": 5.0}),
                             (7_000, "M", {"k": "C", "v": 1.0}), (8_000, "M", {"k": "Z", "v": 1.0}),
                             (9_000, "D", {"v": 60.0})])
    by_statement = {i: [(t, new, old) for t, j, new, old in out if j == i] for i in range(2, 6)}
    assert by_statement[2] == [(5_000, [{"n": 1}], [])]
    assert by_statement[3] == [(6_000, [{"carNumber": "B", "speed": 55.0}], [{"carNumber": "B", "speed": 50.0}])]
    assert by_statement[4] == [(7_000, [], [{"carNumber": "C", "speed": 70.0}]),
                               (8_000, [{"carNumber": "Z", "speed": 1.0}], [])]
    assert by_statement[5] == [(9_000, [{"carNumber": "B", "speed": 55.0}, {"carNumber": "Z", "speed": 1.0}], [])]
    assert engine.named_windows["W"] == [{"carNumber": "A", "speed": 90.0}]


def test_execute_query_selects_groups_deletes_and_updates():
    engine, out = engine_with(WINDOW.replace("length(3)", "keepall"))
    feed(engine, CARS)
    assert engine.execute_query("select carNumber, sum(speed) as s from W group by carNumber "
                                "order by s desc") == [{"carNumber": "A", "s": 190.0},
                                                       {"carNumber": "C", "s": 70.0},
                                                       {"carNumber": "B", "s": 50.0}]
    assert engine.execute_query("select count(*) as n from W where speed > 500") == [{"n": 0}]
    assert engine.execute_query("delete from W as w where w.carNumber = 'A'") == [
        {"carNumber": "A", "speed": 90.0}, {"carNumber": "A", "speed": 100.0}]
    # the window posts what the query deleted
    assert out[-1][1:] == (0, [], [{"carNumber": "A", "speed": 90.0}, {"carNumber": "A", "speed": 100.0}])
    assert engine.execute_query("update W set speed = speed * 2 where carNumber = 'B'") == [
        {"carNumber": "B", "speed": 100.0}]
    assert engine.execute_query("select * from W") == [{"carNumber": "C", "speed": 70.0},
                                                       {"carNumber": "B", "speed": 100.0}]


@pytest.mark.parametrize("text, error", [
    ("select * from X", EPLCompileError),
    ("select * from W, W as b", EPLCompileError),
    ("select * from W; select * from W", EPLCompileError),
    ("select * from W#length(2)", EPLCompileError),
    ("selec * from W", EPLSyntaxError),
])
def test_execute_query_refuses_what_it_cannot_run(text, error):
    engine, _ = engine_with(WINDOW)
    with pytest.raises(error):
        engine.execute_query(text)


def test_every_new_statement_kind_declares_the_operator_protocol():
    engine = EPLEngine(ExternalClock(0))
    sts = engine.compile(WINDOW + "; select * from W; on Q delete from W where W.speed > Q.v; "
                         "create table T (k string primary key, n count(*)); "
                         "into table T select count(*) as n from Car group by carNumber; "
                         "select T[k].n from Q")
    kinds = [type(st._operator).__name__ for st in sts]
    assert kinds == ["CreateWindowOperator", "Pipeline", "ConsumerOperator", "OnActionOperator",
                     "CreateTableOperator", "IntoTableOperator", "TableAccessOperator"]
    assert all(Operator in type(st._operator).__mro__ for st in sts)


def test_snapshot_and_restore_continue_a_window_as_an_uninterrupted_run():
    text = ("create window W#time(3 sec) as select carNumber, speed from Car; "
            "insert into W select carNumber, speed from Car; select irstream carNumber, speed from W; "
            "select count(*) as n from W; on Q delete from W where carNumber = Q.k")
    events = CARS + [(4_500, "Q", {"k": "C"}), (5_000, "Car", {"carNumber": "D", "speed": 10.0}),
                     (9_000, "Car", {"carNumber": "E", "speed": 20.0})]
    whole, whole_out = engine_with(text)
    feed(whole, events)
    whole.advance_time(20_000)
    for cut in range(len(events)):
        first, first_out = engine_with(text)
        feed(first, events[:cut])
        snap = json.loads(json.dumps(first.snapshot()))
        second, second_out = engine_with(text)
        second.restore(snap)
        feed(second, events[cut:])
        second.advance_time(20_000)
        assert first_out + second_out == whole_out, cut


def test_a_window_keeps_its_rows_when_the_statements_around_it_change():
    engine = EPLEngine(ExternalClock(0))
    engine.compile("create window W#keepall as select carNumber from Car", name="w")
    filler = engine.compile("insert into W select carNumber from Car", name="fill")[0]
    engine.send("Car", {"carNumber": "A"})
    engine.remove(filler)
    engine.compile("insert into W select carNumber from Car(carNumber != 'B')", name="fill")
    engine.send("Car", {"carNumber": "B"})
    engine.send("Car", {"carNumber": "C"})
    assert engine.execute_query("select * from W") == [{"carNumber": "A"}, {"carNumber": "C"}]


def test_removing_the_create_window_statement_takes_the_window_away():
    engine = EPLEngine(ExternalClock(0))
    window = engine.compile("create window W#keepall as select carNumber from Car")[0]
    engine.remove(window)
    with pytest.raises(EPLCompileError, match="'W' does not exist"):
        engine.execute_query("select * from W")


def test_squall_epl_query_prints_each_querys_rows(tmp_path):
    rule = tmp_path / "rule.epl"
    rule.write_text(WINDOW, encoding="utf-8")
    events = "".join(json.dumps({"ts": t, **e}) + "\n" for t, _type, e in CARS)
    result = CliRunner().invoke(query_command, [str(rule), "-", "select count(*) as n from W",
                                                "delete from W where carNumber = 'A'", "select * from W",
                                                "--type", "Car", "--time-field", "ts"], input=events)
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"query": 0, "row": {"n": 3}}, {"query": 1, "row": {"carNumber": "A", "speed": 100.0}},
        {"query": 2, "row": {"carNumber": "B", "speed": 50.0}},
        {"query": 2, "row": {"carNumber": "C", "speed": 70.0}}]


def test_live_rule_update_keeps_window_and_table_rows():
    from squall.cep.rules import RuleSet

    engine = EPLEngine(ExternalClock(0))
    first = ("@Name('w') create window W#keepall as select carNumber from Car;\n"
             "@Name('fill') insert into W select carNumber from Car;\n"
             "@Name('t') create table T (carNumber string primary key, n count(*));\n"
             "@Name('count') into table T select count(*) as n from Car group by carNumber;\n"
             "@Name('read') select count(*) as n from W")
    assert RuleSet.parse(first).apply(engine).ok
    engine.send("Car", {"carNumber": "A"})
    report = RuleSet.parse(first.replace("select count(*) as n from W", "select carNumber from W")
                           .replace("from Car;\n@Name('t')", "from Car(carNumber != 'B');\n@Name('t')")
                           ).apply(engine)
    assert {r.name: r.action for r in report.results} == {
        "w": "unchanged", "fill": "changed", "t": "unchanged", "count": "unchanged", "read": "changed"}
    engine.send("Car", {"carNumber": "B"})
    engine.send("Car", {"carNumber": "C"})
    assert engine.execute_query("select * from W") == [{"carNumber": "A"}, {"carNumber": "C"}]
    assert engine.tables["T"] == [{"carNumber": "A", "n": 1}, {"carNumber": "B", "n": 1},
                                  {"carNumber": "C", "n": 1}]
