"""The streaming DataFrame API: complete output mode, key-only group_by, stream-static joins."""

from __future__ import annotations

import pytest

pl = pytest.importorskip("polars", reason="polars is not installed (pip install 'squall[microbatch]')")

from squall.microbatch import ListSink, ListSource, PlanError, StreamingDataFrame, window  # noqa: E402
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
