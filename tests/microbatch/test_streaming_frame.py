"""The streaming DataFrame API: windows, watermark, output modes, late records, plan checks."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from collections import defaultdict

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")

from squall.errors import SquallError  # noqa: E402
from squall.microbatch import (  # noqa: E402
    BatchSchemaError, CallbackSink, ListSink, ListSource, PlanError, StreamingDataFrame, StreamingQuery,
    functions as F, window)


def frame(rows):
    """A batch from (ts, car, v) tuples."""
    return pl.DataFrame(rows, schema={"ts": pl.Int64, "car": pl.String, "v": pl.Float64}, orient="row")


def windowed(batches, size=10_000, slide=None, delay=0, mode="append", aggs=None):
    sdf = StreamingDataFrame(ListSource([frame(b) for b in batches])).with_watermark("ts", delay)
    agg = sdf.group_by(window("ts", size, slide), "car").agg(*(aggs or [F.avg("v"), F.count()]))
    sink = ListSink()
    query = agg.write_stream(sink, output_mode=mode).run()
    return sink, query


# ---------------------------------------------------------------- append mode, watermark

def test_append_emits_a_window_once_when_the_watermark_passes_its_end():
    sink, _ = windowed([[(1_000, "a", 1.0), (9_999, "a", 3.0)],
                        [(10_000, "a", 5.0), (12_000, "b", 7.0)],
                        [(25_000, "a", 9.0)]])
    assert sink.batch_ids == [1, 2, 3]          # 3: end of input flushes [20 s, 30 s)
    assert [b.rows() for b in sink.batches] == [
        [(0, 10_000, "a", 2.0, 2)],
        [(10_000, 20_000, "a", 5.0, 1), (10_000, 20_000, "b", 7.0, 1)],
        [(20_000, 30_000, "a", 9.0, 1)],
    ]


def test_watermark_delay_holds_a_window_until_max_event_time_minus_delay_passes_its_end():
    sink, query = windowed([[(1_000, "a", 1.0)], [(14_999, "a", 2.0)], [(15_000, "a", 4.0)]], delay=5_000)
    # After batch 1 the watermark is 9,999: [0, 10 s) still open; batch 2 moves it to 10,000.
    assert sink.batch_ids[0] == 2
    assert sink.batches[0].rows() == [(0, 10_000, "a", 1.0, 1)]
    assert query.watermark_ms == float("inf")


def test_late_record_goes_to_the_late_output_and_leaves_the_emitted_window_alone():
    sink, query = windowed([[(1_000, "a", 1.0), (12_000, "a", 2.0)],
                            [(3_000, "a", 100.0), (11_000, "a", 4.0)]])
    assert sink.rows() == [(0, 10_000, "a", 1.0, 1), (10_000, 20_000, "a", 3.0, 2)]
    late = query.late.frame()
    assert late.select("ts", "car", "v", "window_start", "window_end").rows() == [(3_000, "a", 100.0, 0, 10_000)]
    assert query.late.batch_ids == [1]


def test_a_record_behind_the_watermark_in_a_still_open_window_counts():
    # Watermark 12,000 after batch 0; 11,000 is older than it, but [10 s, 20 s) is open.
    sink, query = windowed([[(12_000, "a", 2.0)], [(11_000, "a", 4.0)]])
    assert sink.rows() == [(10_000, 20_000, "a", 3.0, 2)]
    assert query.late.batches == []


def test_sliding_windows_hold_each_record_in_size_over_slide_windows():
    sink, _ = windowed([[(1_000, "a", 1.0), (6_000, "a", 3.0), (12_000, "a", 5.0)]], size=10_000, slide=5_000)
    assert sink.rows() == [(-5_000, 5_000, "a", 1.0, 1), (0, 10_000, "a", 2.0, 2), (5_000, 15_000, "a", 4.0, 2),
                           (10_000, 20_000, "a", 5.0, 1)]


def test_late_split_is_per_window_for_sliding_windows():
    # Watermark 16,000 after batch 0: a record at 12,000 misses [5 s, 15 s), which has
    # ended, and still counts in [10 s, 20 s), which has not.
    sink, query = windowed([[(16_000, "a", 1.0)], [(12_000, "a", 2.0)]], size=10_000, slide=5_000)
    assert query.late.frame().select("ts", "window_start").rows() == [(12_000, 5_000)]
    assert (10_000, 20_000, "a", 1.5, 2) in sink.rows()


def _oracle(records, size, slide, offset=0):
    """Per (window start, car): count, sum, min, max, by brute force over whole windows."""
    acc = defaultdict(list)
    for ts, car, v in records:
        start = (ts - offset) // slide * slide + offset
        while start + size > ts:
            acc[(start, car)].append(v)
            start -= slide
    return sorted((s, s + size, c, len(vs), sum(vs), min(vs), max(vs)) for (s, c), vs in acc.items())


@pytest.mark.parametrize("size,slide", [(10_000, 10_000), (10_000, 2_500), (7_000, 3_000)])
def test_in_order_stream_matches_a_brute_force_oracle_for_any_batch_split(size, slide):
    rnd = random.Random(size + slide)
    ts, records = 0, []
    for _ in range(600):
        ts += rnd.randrange(0, 400)
        records.append((ts, rnd.choice("abc"), float(rnd.randrange(100))))
    expected = _oracle(records, size, slide)
    aggs = [F.count(), F.sum("v"), F.min("v"), F.max("v")]
    for cuts in ([], [1, 2, 300], sorted(rnd.sample(range(1, 600), 40))):
        bounds = [0, *cuts, len(records)]
        batches = [records[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
        sink, query = windowed(batches, size, slide, aggs=aggs)
        assert sorted(sink.rows()) == expected
        assert query.late.batches == []


# ---------------------------------------------------------------- update mode

def test_update_mode_emits_the_changed_windows_with_running_values_and_drops_closed_state():
    sink, query = windowed([[(1_000, "a", 1.0), (2_000, "b", 2.0)],
                            [(3_000, "a", 3.0)],
                            [(21_000, "a", 5.0)],
                            [(4_000, "a", 50.0)]], mode="update")
    assert [b.rows() for b in sink.batches] == [
        [(0, 10_000, "a", 1.0, 1), (0, 10_000, "b", 2.0, 1)],
        [(0, 10_000, "a", 2.0, 2)],
        [(20_000, 30_000, "a", 5.0, 1)],
    ]
    assert query.late.frame().get_column("ts").to_list() == [4_000]
    assert query.state_rows == 0        # finished: nothing held


def test_update_mode_without_watermark_keeps_every_window():
    src = ListSource([frame([(1_000, "a", 1.0)]), frame([(50_000, "a", 2.0)]), frame([(2_000, "a", 3.0)])])
    sink = ListSink()
    query = (StreamingDataFrame(src).group_by(window("ts", 10_000), "car").agg(F.sum("v"))
             .write_stream(sink, output_mode="update"))
    for batch in src.batches():
        query.process(batch)
    assert sink.batches[-1].rows() == [(0, 10_000, "a", 4.0)]
    assert query.state_rows == 2


# ---------------------------------------------------------------- stateless operators, sinks, sources

def test_stateless_operators_run_before_the_aggregate_and_filter_after_it_is_having():
    batch = [(1_000, "a", 10.0), (2_000, "a", 90.0), (3_000, "b", 30.0), (4_000, "c", 100.0)]
    got = []
    query = (StreamingDataFrame(ListSource([frame(batch)]))
             .filter(pl.col("car") != "c")
             .with_columns((pl.col("v") * 2).alias("v2"))
             .select("ts", "car", "v2")
             .with_watermark("ts", 0)
             .group_by(window("ts", 10_000), "car").agg(F.avg("v2").alias("avg_v2"))
             .filter(pl.col("avg_v2") > 80.0)
             .write_stream(lambda b, i: got.append((i, b.rows()))))
    query.run()
    assert got == [(1, [(0, 10_000, "a", 100.0)])]


def test_without_aggregation_each_transformed_batch_goes_to_the_sink():
    sink = CallbackSink(lambda b, i: seen.append((i, b.get_column("v").to_list())))
    seen = []
    src = ListSource([frame([(1, "a", 1.0), (2, "a", 2.0)]), frame([(3, "a", 3.0)]), frame([(4, "a", 4.0)])])
    StreamingDataFrame(src).filter(pl.col("v") != 3.0).write_stream(sink).run()
    assert seen == [(0, [1.0, 2.0]), (2, [4.0])]


def test_arrow_tables_are_batches_too():
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'squall[microbatch]')")
    table = pa.table({"ts": pa.array([1_000, 11_000], pa.int64()), "car": ["a", "a"], "v": [2.0, 4.0]})
    sink = ListSink()
    (StreamingDataFrame(ListSource([table])).with_watermark("ts", 0)
     .group_by(window("ts", 10_000), "car").agg(F.max("v")).write_stream(sink).run())
    assert sink.rows() == [(0, 10_000, "a", 2.0), (10_000, 20_000, "a", 4.0)]


def test_avg_and_counts_skip_nulls_as_sql():
    b = pl.DataFrame({"ts": [1, 2, 3], "car": ["a", "a", "a"], "v": [None, 2.0, 4.0]})
    sink = ListSink()
    (StreamingDataFrame(ListSource([b])).with_watermark("ts", 0).group_by(window("ts", 10), "car")
     .agg(F.avg("v"), F.count("v"), F.count()).write_stream(sink).run())
    assert sink.rows() == [(0, 10, "a", 3.0, 2, 3)]


def test_the_plan_is_frozen_and_survives_pickling():
    sdf = (StreamingDataFrame(ListSource([])).with_watermark("ts", 0)
           .group_by(window("ts", 10_000), "car").agg(F.avg("v")).filter(pl.col("avg(v)") > 2.0))
    plan = pickle.loads(pickle.dumps(sdf.plan()))
    sink = ListSink()
    StreamingQuery(plan, ListSource([frame([(1_000, "a", 1.0), (2_000, "b", 3.0)])]), sink).run()
    assert sink.rows() == [(0, 10_000, "b", 3.0)]
    with pytest.raises(AttributeError):
        plan.output_mode = "update"


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("build,words", [
    (lambda s: s.group_by(window("ts", 10), "car").agg(F.count()).write_stream(ListSink()), "with_watermark('ts'"),
    (lambda s: s.with_watermark("other", 0).group_by(window("ts", 10)).agg(F.count()).write_stream(ListSink()),
     "with_watermark('ts'"),
    (lambda s: s.group_by(window("ts", 10)).agg(F.count()).with_watermark("ts", 0), "before group_by"),
    (lambda s: s.with_watermark("ts", 0).group_by(window("ts", 10), "car").agg(F.avg("v"), F.sum("v").alias("avg(v)"))
     .write_stream(ListSink()), "collide"),
    (lambda s: s.with_watermark("ts", 0).group_by(window("ts", 10)).agg(F.count()).write_stream(ListSink(), "total"),
     "output mode"),
    (lambda s: s.select("ts").write_stream(ListSink(), "complete"), "complete mode needs an aggregation"),
    (lambda s: s.group_by(42), "window(column"),
    (lambda s: s.with_watermark("ts", 0).group_by(window("ts", 10)).agg(pl.col("v").mean()), "agg takes"),
    (lambda s: window("ts", 10, 20), "slide"),
    (lambda s: window("ts", 0), "positive"),
    (lambda s: s.with_watermark("ts", -1), ">= 0"),
    (lambda s: s.write_stream(42), "sink must be"),
])
def test_inconsistent_queries_fail_when_built_and_say_how_to_fix(build, words):
    with pytest.raises(PlanError) as info:
        build(StreamingDataFrame(ListSource([])))
    assert words in str(info.value)
    assert isinstance(info.value, (SquallError, ValueError))


def test_a_non_integer_event_time_column_is_named_in_the_error():
    b = pl.DataFrame({"ts": ["1970-01-01"], "car": ["a"], "v": [1.0]})
    query = (StreamingDataFrame(ListSource([b])).with_watermark("v", 0)
             .group_by(window("ts", 10)).agg(F.count()).write_stream(ListSink(), output_mode="update"))
    with pytest.raises(BatchSchemaError) as info:
        query.run()
    assert info.value.column == "ts" and "integer epoch ms" in str(info.value)


def test_without_polars_the_import_names_the_extra():
    code = ("import sys; sys.modules['polars'] = None\n"
            "try:\n    import squall.microbatch\n"
            "except ImportError as exc:\n    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("MissingExtraError") and "squall[microbatch]" in out


def test_the_public_surface_is_what_all_says():
    import squall.microbatch as mb
    assert sorted(mb.__all__) == sorted(set(mb.__all__))
    assert all(hasattr(mb, name) for name in mb.__all__)
    assert issubclass(mb.MicroBatchError, SquallError) and issubclass(PlanError, ValueError)
