"""The streaming DataFrame API: complete output mode, key-only group_by, stream-static joins."""

from __future__ import annotations

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")

from squall.microbatch import (  # noqa: E402
    ListSink,
    ListSource,
    PlanError,
    StreamingDataFrame,
    window,
)
from squall.microbatch import functions as F  # noqa: E402


def batches():
    return ListSource([pl.DataFrame({"ts": [1_000, 2_000], "car": ["a", "b"], "v": [1.0, 3.0]}),
                       pl.DataFrame({"ts": [12_000], "car": ["a"], "v": [5.0]}),
                       pl.DataFrame({"ts": [13_000], "car": ["b"], "v": [7.0]})])


def per_batch(sink):
    return [sorted(b.rows()) for b in sink.batches]


def test_complete_mode_writes_the_whole_result_after_every_batch_and_keeps_closed_windows():
    sink = ListSink()
    (StreamingDataFrame(batches()).with_watermark("ts", 0)
     .group_by(window("ts", 10_000), "car").agg(F.count().alias("n"), F.sum("v").alias("s"))
     .write_stream(sink, output_mode="complete").run())
    assert per_batch(sink) == [
        [(0, 10_000, "a", 1, 1.0), (0, 10_000, "b", 1, 3.0)],
        # window [0, 10 s) is closed by the watermark (12 s) and still written: complete mode
        [(0, 10_000, "a", 1, 1.0), (0, 10_000, "b", 1, 3.0), (10_000, 20_000, "a", 1, 5.0)],
        [(0, 10_000, "a", 1, 1.0), (0, 10_000, "b", 1, 3.0), (10_000, 20_000, "a", 1, 5.0),
         (10_000, 20_000, "b", 1, 7.0)]]


def test_group_by_keys_alone_counts_over_the_whole_stream():
    words = ListSource([pl.DataFrame({"line": ["the cow", "the  moon"]}), pl.DataFrame({"line": ["the end"]})])
    q = (StreamingDataFrame(words).select(pl.col("line").str.split(" ").explode().alias("word"))
         .filter(pl.col("word") != "").group_by("word").agg(F.count().alias("n")))
    append, update = ListSink(), ListSink()
    q.write_stream(append).run()
    assert sorted(append.rows()) == [("cow", 1), ("end", 1), ("moon", 1), ("the", 3)]
    assert len(append.batches) == 1          # append: once, at the end of input
    (StreamingDataFrame(ListSource([pl.DataFrame({"line": ["the cow", "the  moon"]}),
                                    pl.DataFrame({"line": ["the end"]})]))
     .select(pl.col("line").str.split(" ").explode().alias("word")).filter(pl.col("word") != "")
     .group_by("word").agg(F.count().alias("n")).write_stream(update, output_mode="update").run())
    assert per_batch(update) == [[("cow", 1), ("moon", 1), ("the", 2)], [("end", 1), ("the", 3)]]


def test_key_only_group_by_refuses_a_watermark():
    with pytest.raises(PlanError, match="no watermark"):
        StreamingDataFrame(batches()).with_watermark("ts", 0).group_by("car")


def test_stream_static_join_enriches_each_batch():
    owners = pl.DataFrame({"car": ["a", "c"], "owner": ["ann", "cy"]})
    inner, left = ListSink(), ListSink()
    StreamingDataFrame(batches()).join(owners, on="car").select("ts", "owner").write_stream(inner).run()
    assert inner.rows() == [(1_000, "ann"), (12_000, "ann")]
    StreamingDataFrame(batches()).join(owners, on="car", how="left").select("car", "owner") \
        .write_stream(left).run()
    assert left.rows() == [("a", "ann"), ("b", None), ("a", "ann"), ("b", None)]
    with pytest.raises(PlanError, match="lacks key"):
        StreamingDataFrame(batches()).join(owners, on="v")


def test_windowed_stream_stream_join_pairs_each_match_once_and_keeps_late_records():
    from squall.microbatch.stream_join import StreamJoinSource

    clicks = ListSource([pl.DataFrame({"t": [1_000, 2_000], "ad": ["x", "y"], "user": ["u1", "u2"]}),
                         pl.DataFrame({"t": [11_000], "ad": ["x"], "user": ["u3"]}),
                         pl.DataFrame({"t": [3_000, 25_000], "ad": ["x", "x"], "user": ["late", "u4"]})])
    views = ListSource([pl.DataFrame({"t": [500, 12_000], "ad": ["x", "x"], "page": ["p1", "p2"]}),
                        pl.DataFrame({"t": [1_500, 21_000], "ad": ["y", "x"], "page": ["p3", "p4"]}),
                        pl.DataFrame({"t": [26_000], "ad": ["x"], "page": ["p5"]})])
    left = StreamingDataFrame(clicks).with_watermark("t", 0)
    right = StreamingDataFrame(views).with_watermark("t", 0)
    joined = left.join(right, on="ad", window=10_000)
    assert isinstance(joined.source, StreamJoinSource)
    sink = ListSink()
    joined.write_stream(sink).run()
    assert sorted(sink.rows()) == [
        (0, 10_000, "x", 1_000, "u1", 500, "p1"),
        (10_000, 20_000, "x", 11_000, "u3", 12_000, "p2"),
        (20_000, 30_000, "x", 25_000, "u4", 21_000, "p4"),
        (20_000, 30_000, "x", 25_000, "u4", 26_000, "p5")]
    assert sink.frame().columns == ["window_start", "window_end", "ad", "t", "user", "t_right", "page"]
    # Window [0, 10 s) closed when both sides had passed 11 s: view p3 (1.5 s, whose click
    # u2 had come) and click "late" (3 s) came after that, so they are late, not joined.
    late = joined.source.late.batches
    assert [(b.get_column("side").to_list(), b.get_column("t").to_list()) for b in late] == [
        (["right"], [1_500]), (["left"], [3_000])]


def test_stream_stream_join_needs_a_window_and_watermarks():
    a = StreamingDataFrame(batches()).with_watermark("ts", 0)
    with pytest.raises(PlanError, match="window="):
        a.join(StreamingDataFrame(batches()).with_watermark("ts", 0), on="car")
    joined = a.join(StreamingDataFrame(batches()), on="car", window=1_000)
    with pytest.raises(PlanError, match="with_watermark"):
        joined.write_stream(ListSink()).run()
