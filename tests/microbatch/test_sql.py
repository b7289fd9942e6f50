"""SQL over a stream: Flink's TUMBLE/HOP and Spark's window() against a pure-Python oracle on
the sample trips; what the compiler refuses; the ``squall sql`` command."""

from __future__ import annotations

import json
import socket
import threading
from collections import defaultdict
from importlib.metadata import EntryPoint

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")
pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install 'squall[microbatch]')")

from click.testing import CliRunner
from reference_data import SAMPLE
from squall_smartcar.microbatch import ObdReplaySource
from squall_smartcar.obd import read_fleet
from squall_smartcar.record import date_to_ms, parse_line

from squall.errors import SquallError
from squall.microbatch import ListSink, ListSource, PlanError
from squall.microbatch import cli as sql_cli
from squall.microbatch.plan import Filter, Select, Watermark, WindowAggregate
from squall.microbatch.sql import (
    CsvSource,
    JsonLinesSource,
    SqlError,
    compile_sql,
    parse_duration_ms,
    sql,
)

START_MS = 1704067200000           # 2024-01-01 00:00:00 UTC, a multiple of 30 s


@pytest.fixture(scope="module")
def trips():
    """The sample trips as (event time ms, car, speed), read by the pure-Python reader."""
    out = []
    for r in read_fleet(SAMPLE, START_MS):
        if r.error is None:
            x = parse_line(r.line)
            out.append((date_to_ms(x.date), x.car_number, x.speed))
    assert len(out) > 3_000
    return out


def oracle(records, size_ms, slide_ms, keep=lambda ts, car, speed: True):
    """Per (window start, car): count, avg, max speed, over every window holding each record."""
    acc = defaultdict(list)
    for ts, car, speed in records:
        if not keep(ts, car, speed):
            continue
        start = ts // slide_ms * slide_ms
        while start + size_ms > ts:
            acc[(start, car)].append(speed)
            start -= slide_ms
    return {(s, c): (len(v), sum(v) / len(v), max(v)) for (s, c), v in acc.items()}


def run(query, source, mode="append", delay=0):
    sink = ListSink()
    running = sql(query, {"obd": source}, watermark_delay=delay).write_stream(sink, output_mode=mode).run()
    return sink.frame(), running


def as_dict(frame, start="ws"):
    return {(r[start], r["car"]): (r["n"], r["a"], r["m"]) for r in frame.iter_rows(named=True)}


def assert_close(got, want):
    assert got.keys() == want.keys()
    for k, (n, a, m) in want.items():
        gn, ga, gm = got[k]
        assert (gn, gm) == (n, m), k
        assert ga == pytest.approx(a, rel=1e-12), k


# ---------------------------------------------------------------- windows against the oracle

@pytest.mark.parametrize("batch_ms", [1_000, 60_000, 3_600_000])
def test_flink_tumble_counts_equal_the_oracle_on_the_sample_trips(trips, batch_ms):
    frame, running = run(
        "SELECT car_number AS car, TUMBLE_START(event_time_ms, INTERVAL '30' SECOND) AS ws, "
        "TUMBLE_END(event_time_ms, INTERVAL '30' SECOND) AS we, COUNT(*) AS n, AVG(speed) AS a, MAX(speed) AS m "
        "FROM obd GROUP BY TUMBLE(event_time_ms, INTERVAL '30' SECOND), car_number",
        ObdReplaySource(SAMPLE, START_MS, batch_ms=batch_ms))
    assert frame.columns == ["car", "ws", "we", "n", "a", "m"]
    assert (frame["we"] - frame["ws"]).unique().to_list() == [30_000]
    assert_close(as_dict(frame), oracle(trips, 30_000, 30_000))
    assert running.late.batches == []


def test_flink_hop_with_where_and_having_equal_the_oracle(trips):
    want = {k: v for k, v in oracle(trips, 60_000, 20_000, keep=lambda ts, car, sp: sp > 10).items() if v[0] >= 30}
    frame, _ = run(
        "SELECT HOP_START(event_time_ms, INTERVAL '20' SECOND, INTERVAL '1' MINUTE) AS ws, car_number AS car, "
        "COUNT(speed) AS n, AVG(speed) AS a, MAX(speed) AS m FROM obd WHERE speed > 10 "
        "GROUP BY HOP(event_time_ms, INTERVAL '20' SECOND, INTERVAL '1' MINUTE), car_number HAVING COUNT(*) >= 30",
        ObdReplaySource(SAMPLE, START_MS, batch_ms=45_000))
    assert want and len(want) < len(oracle(trips, 60_000, 20_000))       # HAVING removed some
    assert_close(as_dict(frame), want)


def test_spark_window_with_slide_equals_the_oracle_and_names_window_start(trips):
    frame, _ = run(
        "SELECT window.start, o.car_number AS car, count(*) AS n, avg(o.speed) AS a, max(speed) AS m "
        "FROM obd AS o GROUP BY window(event_time_ms, '30 seconds', '10 seconds'), o.car_number",
        ObdReplaySource(SAMPLE, START_MS, batch_ms=60_000))
    assert frame.columns[0] == "window_start"
    assert_close(as_dict(frame, "window_start"), oracle(trips, 30_000, 10_000))


def test_flink_window_table_functions_equal_the_oracle(trips):
    frame, _ = run(
        "SELECT window_start AS ws, window_end, window_time, car_number AS car, COUNT(*) AS n, AVG(speed) AS a, "
        "MAX(speed) AS m FROM TABLE(TUMBLE(TABLE obd, DESCRIPTOR(event_time_ms), INTERVAL '30' SECONDS)) "
        "GROUP BY window_start, window_end, car_number",
        ObdReplaySource(SAMPLE, START_MS, batch_ms=60_000))
    assert (frame["window_end"] - frame["ws"]).unique().to_list() == [30_000]
    assert (frame["window_end"] - frame["window_time"]).unique().to_list() == [1]
    assert_close(as_dict(frame), oracle(trips, 30_000, 30_000))
    frame, _ = run(
        "SELECT window_start AS ws, car_number AS car, COUNT(*) AS n, AVG(speed) AS a, MAX(speed) AS m "
        "FROM TABLE(HOP(TABLE obd, DESCRIPTOR(event_time_ms), INTERVAL '10' SECOND, INTERVAL '30' SECOND)) "
        "GROUP BY window_start, window_end, car_number",
        ObdReplaySource(SAMPLE, START_MS, batch_ms=60_000))
    assert_close(as_dict(frame), oracle(trips, 30_000, 10_000))


def test_the_speeding_rule_in_sql_equals_the_oracle(trips):
    want = {k: v for k, v in oracle(trips, 30_000, 30_000).items() if v[1] > 80}
    frame, _ = run(
        "SELECT car_number AS car, TUMBLE_START(event_time_ms, INTERVAL '30' SECOND) AS ws, COUNT(*) AS n, "
        "AVG(speed) AS a, MAX(speed) AS m FROM obd "
        "GROUP BY TUMBLE(event_time_ms, INTERVAL '30' SECOND), car_number HAVING AVG(speed) > 80",
        ObdReplaySource(SAMPLE, START_MS, batch_ms=60_000))
    assert want
    assert_close(as_dict(frame), want)


# ---------------------------------------------------------------- semantics on small input

def batch(rows):
    return pl.DataFrame(rows, schema={"ts": pl.Int64, "car": pl.String, "v": pl.Float64}, orient="row")


def small(query, batches, mode="append", delay=0):
    sink = ListSink()
    running = sql(query, {"t": ListSource([batch(b) for b in batches])}, watermark_delay=delay) \
        .write_stream(sink, output_mode=mode).run()
    return sink, running


def test_compiles_to_the_plan_operators_in_order():
    compiled = compile_sql("SELECT car, COUNT(*) FROM t WHERE v > 1 GROUP BY TUMBLE(ts, INTERVAL '10' SECOND), car "
                           "HAVING COUNT(*) > 2", watermark_delay=5_000)
    kinds = [type(op) for op in compiled.operators]
    assert kinds[0] is Filter and kinds[-2:] == [Filter, Select]
    agg = next(op for op in compiled.operators if isinstance(op, WindowAggregate))
    assert (agg.window.column, agg.window.size_ms, agg.window.slide_ms, agg.keys) == ("ts", 10_000, 10_000, ("car",))
    assert next(op for op in compiled.operators if isinstance(op, Watermark)) == Watermark("ts", 5_000)
    assert compiled.table == "t" and compiled.columns == ("car", "count(1)") and compiled.windowed


def test_watermark_delay_admits_a_late_record_and_without_it_the_record_is_late():
    batches = [[(1_000, "a", 1.0), (12_000, "a", 2.0)], [(3_000, "a", 5.0)]]
    q = "SELECT TUMBLE_START(ts, INTERVAL '10' SECOND) AS ws, SUM(v) AS s FROM t GROUP BY TUMBLE(ts, INTERVAL '10' SECOND)"
    sink, running = small(q, batches)
    assert sink.rows() == [(0, 1.0), (10_000, 2.0)]
    assert running.late.frame().select("ts", "window_start").rows() == [(3_000, 0)]
    sink, running = small(q, batches, delay=5_000)
    assert sink.rows() == [(0, 6.0), (10_000, 2.0)]
    assert running.late.batches == []


def test_rowtime_window_struct_expressions_over_aggregates_and_grouped_expressions():
    sink, _ = small("SELECT window, UPPER(car) AS c, SUM(v) / COUNT(*) AS mean, MIN(v * 2) AS low FROM t "
                    "GROUP BY window(ts, '10 seconds'), UPPER(car)",
                    [[(1_000, "a", 1.0), (2_000, "A", 3.0), (3_000, "b", 4.0)]])
    assert sink.frame().columns == ["window_start", "window_end", "c", "mean", "low"]
    assert sorted(sink.rows()) == [(0, 10_000, "A", 2.0, 2.0), (0, 10_000, "B", 4.0, 8.0)]
    sink, _ = small("SELECT TUMBLE_ROWTIME(ts, INTERVAL '10' SECOND) AS rt, COUNT(v) FROM t "
                    "GROUP BY TUMBLE(ts, INTERVAL '10' SECOND)", [[(1_000, "a", 1.0), (2_000, "a", None)]])
    assert sink.frame().columns == ["rt", "count(v)"]
    assert sink.rows() == [(9_999, 1)]


def test_a_tumble_table_function_offset_shifts_the_windows():
    sink, _ = small("SELECT window_start, SUM(v) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND, "
                    "INTERVAL '5' SECOND)) GROUP BY window_start, window_end",
                    [[(1_000, "a", 1.0), (6_000, "a", 2.0), (14_000, "a", 4.0)]])
    assert sink.rows() == [(-5_000, 1.0), (5_000, 6.0)]


def test_having_may_name_a_select_alias():
    sink, _ = small("SELECT car, AVG(v) AS av FROM t GROUP BY TUMBLE(ts, INTERVAL '10' SECOND), car HAVING av > 2",
                    [[(1_000, "a", 1.0), (2_000, "b", 3.0), (3_000, "b", 5.0)]])
    assert sink.rows() == [("b", 4.0)]


def test_group_by_without_window_update_mode_gives_running_counts_append_gives_final_ones():
    batches = [[(1, "a", 1.0), (2, "b", 1.0)], [(3, "a", 1.0)], [(4, "c", 1.0)]]
    q = "SELECT car, COUNT(*) AS n FROM t GROUP BY car"
    sink, _ = small(q, batches, mode="update")
    assert [sorted(b.rows()) for b in sink.batches] == [[("a", 1), ("b", 1)], [("a", 2)], [("c", 1)]]
    sink, _ = small(q, batches, mode="append")
    assert sink.batch_ids == [3] and sorted(sink.rows()) == [("a", 2), ("b", 1), ("c", 1)]
    sink, _ = small("SELECT COUNT(*) AS n, MAX(v) AS top FROM t", [[(1, "a", 1.0)], [(2, "b", 7.0)]])
    assert sink.rows() == [(2, 7.0)]


def test_projection_and_where_without_aggregates_run_per_batch():
    sink, _ = small("SELECT car, v * 10 AS w FROM t WHERE car IN ('a', 'c') AND v BETWEEN 1 AND 5",
                    [[(1, "a", 1.0), (2, "b", 2.0)], [(3, "c", 9.0), (4, "c", 5.0)]])
    assert [b.rows() for b in sink.batches] == [[("a", 10.0)], [("c", 50.0)]]
    sink, _ = small("SELECT * FROM t WHERE v > 1", [[(1, "a", 1.0), (2, "b", 2.0)]])
    assert sink.rows() == [(2, "b", 2.0)]


@pytest.mark.parametrize("query,words", [
    ("SELECT car, v FROM t GROUP BY car", "column 'v' must appear in GROUP BY"),
    ("SELECT car FROM t ORDER BY car", "ORDER BY"),
    ("SELECT car FROM t LIMIT 3", "LIMIT"),
    ("SELECT DISTINCT car FROM t", "DISTINCT"),
    ("SELECT t.car FROM t JOIN u ON t.car = u.car", "JOIN"),
    ("SELECT * FROM (SELECT car FROM t)", "subqueries"),
    ("SELECT car FROM t WHERE v > (SELECT 1)", "subqueries"),
    ("SELECT COUNT(DISTINCT car) FROM t", "DISTINCT aggregates"),
    ("SELECT STDDEV(v) FROM t", "unsupported aggregate"),
    ("SELECT car, SUM(v) OVER (PARTITION BY car) FROM t", "OVER windows"),
    ("SELECT COUNT(*) FROM t GROUP BY SESSION(ts, INTERVAL '5' SECOND)", "SESSION"),
    ("SELECT COUNT(*) FROM t GROUP BY TUMBLE(ts, INTERVAL '5' SECOND), TUMBLE(ts, INTERVAL '6' SECOND)",
     "one group window"),
    ("SELECT TUMBLE_START(ts, INTERVAL '5' SECOND) FROM t GROUP BY TUMBLE(ts, INTERVAL '10' SECOND)",
     "does not match the GROUP BY window"),
    ("SELECT TUMBLE_END(ts, INTERVAL '5' SECOND) FROM t", "needs a GROUP BY with a group window"),
    ("SELECT COUNT(*) FROM t GROUP BY window(ts, '3 parsecs')", "unknown unit 'parsecs'"),
    ("SELECT COUNT(*) FROM t GROUP BY HOP(ts, INTERVAL '20' SECOND, INTERVAL '10' SECOND)", "slide"),
    ("SELECT car FROM t WHERE COUNT(*) > 1", "aggregates belong in HAVING"),
    ("SELECT car FROM t HAVING v > 1", "HAVING needs GROUP BY"),
    ("SELECT x.car FROM t", "unknown table 'x'"),
    ("SELECT car FROM nope", "no such source"),
    ("SELECT car, car FROM t", "appear twice"),
    ("SELECT * FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECONDS))", "needs GROUP BY window_start"),
    ("SELECT COUNT(*) FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECONDS)) GROUP BY window_start",
     "both"),
    (("SELECT COUNT(*) FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '9' SECOND)) "
      "GROUP BY window_start, window_end"), "only the TUMBLE and HOP"),
    (("SELECT COUNT(*) FROM TABLE(TUMBLE(DATA => TABLE t, TIMECOL => DESCRIPTOR(ts), SIZE => INTERVAL '1' SECOND)) "
      "GROUP BY window_start, window_end"), "positional arguments"),
])
def test_refused_queries_name_the_clause(query, words):
    with pytest.raises(SqlError, match=words) as info:
        sql(query, {"t": ListSource([])})
    assert isinstance(info.value, PlanError) and isinstance(info.value, SquallError)
    assert info.value.query == query


TEXT = ["to be or not to be", "", "that is the question", "to be"]


@pytest.mark.parametrize("query", [
    ("SELECT word, COUNT(*) AS n FROM lines CROSS JOIN UNNEST(SPLIT(line, ' ')) AS t(word) "
     "WHERE word <> '' GROUP BY word"),
    ("SELECT t.word, count(*) AS n FROM lines LATERAL VIEW explode(split(line, ' ')) t AS word "
     "WHERE t.word != '' GROUP BY t.word"),
])
def test_word_count_in_sql_flink_unnest_and_spark_lateral_view(query):
    from collections import Counter
    batches = [pl.DataFrame({"line": TEXT[:2]}), pl.DataFrame({"line": [None, *TEXT[2:]]}, schema={"line": pl.String})]
    sink = ListSink()
    sql(query, {"lines": ListSource(batches)}).write_stream(sink).run()
    assert sorted(sink.rows()) == sorted(Counter(" ".join(TEXT).split()).items())


def test_windowed_word_count_with_a_table_function_and_unnest():
    batches = [pl.DataFrame({"ts": [1_000, 4_000, 6_000], "line": ["a b", "b", "b c"]})]
    sink = ListSink()
    sql("SELECT window_start, word, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE lines, DESCRIPTOR(ts), INTERVAL '5' SECOND)) "
        "CROSS JOIN UNNEST(SPLIT(line, ' ')) AS t(word) GROUP BY window_start, window_end, word",
        {"lines": ListSource(batches)}).write_stream(sink).run()
    assert sink.rows() == [(0, "a", 1), (0, "b", 2), (5_000, "b", 1), (5_000, "c", 1)]


def test_unnest_repeats_the_records_columns_and_a_null_list_gives_no_row():
    batch_ = pl.DataFrame({"ts": [1, 2, 3], "line": ["a b", None, "c"]})
    sink = ListSink()
    sql("SELECT ts, w FROM lines, UNNEST(SPLIT(line, ' ')) AS t(w)", {"lines": ListSource([batch_])}) \
        .write_stream(sink).run()
    assert sink.rows() == [(1, "a"), (1, "b"), (3, "c")]
    for query, words in (("SELECT w FROM lines CROSS JOIN UNNEST(SPLIT(line, '\\s+')) AS t(w)", "regular expression"),
                         ("SELECT w FROM lines CROSS JOIN UNNEST(SPLIT(line, ' ')) AS t", "name the unnested column")):
        with pytest.raises(SqlError, match=words):
            sql(query, {"lines": ListSource([])})


def test_a_parse_error_gives_line_and_column():
    with pytest.raises(SqlError, match=r"does not parse at line 2, column \d+"):
        sql("SELECT car\nFROM WHERE", {"t": ListSource([])})


def test_durations():
    assert parse_duration_ms("1 hour 30 minutes") == 5_400_000
    assert parse_duration_ms("500 milliseconds") == 500
    for bad in ("", "30", "thirty seconds", "5 s x"):
        with pytest.raises(ValueError):
            parse_duration_ms(bad)


def test_file_sources_batch_rows_and_datetimes_become_epoch_ms(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("ts,car,v\n2024-01-01 00:00:01,a,1\n2024-01-01 00:00:29,a,3\n2024-01-01 00:00:31,b,5\n")
    assert [b.height for b in CsvSource(path, batch_rows=2).batches()] == [2, 1]
    sink = ListSink()
    sql("SELECT car, TUMBLE_START(ts, INTERVAL '30' SECOND) AS ws, AVG(v) AS a FROM t "
        "GROUP BY TUMBLE(ts, INTERVAL '30' SECOND), car", {"t": CsvSource(path, batch_rows=1)}).write_stream(sink).run()
    assert sink.rows() == [("a", START_MS, 2.0), ("b", START_MS + 30_000, 5.0)]
    jl = tmp_path / "t.jsonl"
    jl.write_text('{"ts": 1000, "car": "a"}\n{"ts": 2000, "car": "b"}\n{"ts": 3000, "car": "a"}\n')
    assert pl.concat(list(JsonLinesSource(jl, batch_rows=2).batches())).rows() == [(1000, "a"), (2000, "b"),
                                                                                    (3000, "a")]


# ---------------------------------------------------------------- squall sql

QUERY = ("SELECT car_number AS car, TUMBLE_START(event_time_ms, INTERVAL '30' SECOND) AS ws, COUNT(*) AS n, "
         "AVG(speed) AS a, MAX(speed) AS m FROM obd GROUP BY TUMBLE(event_time_ms, INTERVAL '30' SECOND), car_number")


def test_cli_with_the_obd_plug_in_source_prints_the_oracles_windows(trips, monkeypatch):
    ep = EntryPoint("obd", "squall_smartcar.microbatch:ObdReplaySource", sql_cli.SOURCE_ENTRY_POINT_GROUP)
    monkeypatch.setattr(sql_cli, "entry_points", lambda group: [ep] if group == ep.group else [])
    result = CliRunner().invoke(sql_cli.sql, [QUERY, "--source", f"obd=obd:{SAMPLE}?start_ms={START_MS}&batch_ms=60000"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    got = {(r["ws"], r["car"]): (r["n"], r["a"], r["m"]) for r in rows}
    assert_close(got, oracle(trips, 30_000, 30_000))


def test_cli_csv_source_csv_output_and_update_mode(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("ts,car,v\n1,a,1\n2,b,1\n3,a,1\n")
    result = CliRunner().invoke(sql_cli.sql, ["SELECT car, COUNT(*) AS n FROM events GROUP BY car", "--source",
                                              str(path), "--format", "csv", "--output-mode", "update",
                                              "--batch-rows", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["car,n", "a,1", "b,1", "a,2"]


def test_cli_reports_late_records_and_writes_them_with_late(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"ts": 1000, "v": 1}\n{"ts": 12000, "v": 2}\n{"ts": 3000, "v": 4}\n')
    q = "SELECT TUMBLE_START(ts, INTERVAL '10' SECOND) AS ws, SUM(v) AS s FROM e GROUP BY TUMBLE(ts, INTERVAL '10' SECOND)"
    result = CliRunner().invoke(sql_cli.sql, [q, "--source", f"jsonl:{path}", "--batch-rows", "2"])
    assert result.exit_code == 0
    assert [json.loads(line) for line in result.stdout.splitlines()] == [{"ws": 0, "s": 1}, {"ws": 10000, "s": 2}]
    assert "1 late window assignments" in result.stderr
    late = tmp_path / "late.jsonl"
    result = CliRunner().invoke(sql_cli.sql, [q, "--source", f"jsonl:{path}", "--batch-rows", "2", "--late", str(late)])
    assert json.loads(late.read_text()) == {"ts": 3000, "v": 4, "window_start": 0, "window_end": 10000}
    result = CliRunner().invoke(sql_cli.sql, [q, "--source", f"jsonl:{path}", "--batch-rows", "2",
                                              "--watermark-delay-ms", "10000"])
    assert [json.loads(line)["s"] for line in result.stdout.splitlines()] == [5, 2]


def test_cli_over_a_socket_source():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def feed():
        conn, _ = server.accept()
        conn.sendall(b"apple\nbanana\navocado\ncherry\n")
        conn.close()
    t = threading.Thread(target=feed)
    t.start()
    try:
        result = CliRunner().invoke(sql_cli.sql, ["SELECT UPPER(line) AS fruit FROM lines WHERE line LIKE 'a%'",
                                                  "--source", f"socket:127.0.0.1:{port}", "--batch-interval", "60"])
    finally:
        t.join()
        server.close()
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["fruit"] for line in result.stdout.splitlines()] == ["APPLE", "AVOCADO"]


@pytest.mark.parametrize("args,words", [
    (["SELECT car FROM t ORDER BY car", "--source", "t=csv:x.csv"], "ORDER BY"),
    (["SELECT car FROM t", "--source", "t=nope:x"], "unknown kind 'nope'"),
    (["SELECT car FROM t", "--source", "t=csv:x.csv", "--source", "jsonl:y.jsonl"], "name each one"),
    (["SELECT car FROM t", "--source", "t=socket:localhost"], "socket:HOST:PORT"),
    (["SELECT car FROM t", "--source", "t=csv:x.csv?bogus=1"], "bogus"),
    (["SELECT car FROM t", "--source", "t=csv:/no/such/file.csv"], "no file"),
    (["SELECT car FROM t", "--source", "u=csv:x.csv"], "no such source"),
])
def test_cli_errors_are_one_line_and_exit_code_2(args, words):
    result = CliRunner().invoke(sql_cli.sql, args)
    assert result.exit_code == 2
    assert words in result.stderr and result.stderr.startswith("squall: error:")


def test_wordcount_example_sql_and_dstream_agree_with_a_counter(tmp_path):
    import importlib.util
    from collections import Counter
    from pathlib import Path

    from squall.microbatch.sql import TextFileSource
    path = Path(__file__).resolve().parents[2] / "examples" / "microbatch" / "wordcount.py"
    spec = importlib.util.spec_from_file_location("wordcount", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    text = tmp_path / "words.txt"
    text.write_text("to be  or not\r\nto be\n\nthat is the question\nto")
    want = Counter(w for line in text.read_text().splitlines() for w in line.split(" ") if w)
    for count in (example.count_sql, example.count_dstream):
        assert count(TextFileSource(text, batch_lines=2)) == want
    assert [len(b) for b in TextFileSource(text, batch_lines=2).batches()] == [2, 2, 1]
