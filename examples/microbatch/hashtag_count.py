"""Spark Streaming's windowed hashtag count: the top hashtags of the last 300 s, every second.

    nc -lk 9999                                                    # terminal 1: type tweets
    python examples/microbatch/hashtag_count.py --port 9999        # terminal 2
    python examples/microbatch/hashtag_count.py --file tweets.txt --lines-per-batch 100

Batch interval 1 s, window 300 s, slide 1 s, as Spark's programming guide's example:
``reduce_by_key_and_window(operator.add, operator.sub, 300, 1)`` is incremental, so each
second costs the hashtags that entered and left the window, not the 300 batches it
spans. Hashtags whose count went back to 0 are dropped (Spark's ``filterFunc``). With
``--file``, each ``--lines-per-batch`` lines stand for one second of input.

The per-record work runs in polars: one regular expression extracts a batch's
hashtags, one group-by counts them; the window adds and subtracts per-batch counts.

Semantics: Spark Streaming programming guide, "Window Operations"
(``reduceByKeyAndWindow(func, invFunc, windowLength, slideInterval)``) and its
TwitterPopularTags example (hashtags are words starting with ``#``).
"""

from __future__ import annotations

import argparse
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from squall.microbatch.dstream import DStream, StreamingContext
from squall.microbatch.sql import TextFileSource


def hashtag_counts(lines: DStream, window_s: float = 300, slide_s: float = 1, incremental: bool = True) -> DStream:
    """Per slide, ``(hashtag, count)`` over the last ``window_s`` seconds of ``lines`` (column ``line``)."""
    tags = lines.flat_map(pl.col("line").str.extract_all(r"#\w+")).map(key=pl.col("value"),
                                                                        value=pl.lit(1, pl.Int64))
    if incremental:
        return tags.reduce_by_key_and_window(operator.add, operator.sub, window_s, slide_s,
                                             filter_fn=pl.col("value") > 0)
    return tags.reduce_by_key_and_window(operator.add, window_s=window_s, slide_s=slide_s)


def top(counts: Any, n: int = 10) -> list[tuple[str, int]]:
    """The ``n`` largest counts of a batch, ties by hashtag."""
    return counts.sort(["value", "key"], descending=[True, False]).head(n).rows()


def main(argv: list[str] | None = None, emit: Callable[[str], Any] = print) -> None:
    parser = argparse.ArgumentParser(description="Spark's windowed hashtag count on Squall's micro-batch mode.")
    parser.add_argument("--hostname", default="localhost")
    parser.add_argument("--port", type=int, help="read lines from this text server (nc -lk PORT)")
    parser.add_argument("--file", type=Path, help="or replay this text file")
    parser.add_argument("--lines-per-batch", type=int, default=100, help="with --file: lines per 1 s batch")
    parser.add_argument("--window-s", type=float, default=300)
    parser.add_argument("--slide-s", type=float, default=1)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    if (args.port is None) == (args.file is None):
        parser.error("give --port or --file")
    ssc = StreamingContext(batch_interval_s=1)
    lines = (ssc.socket_text_stream(args.hostname, args.port) if args.port is not None
             else ssc.source(TextFileSource(args.file, batch_lines=args.lines_per_batch)))
    counts = hashtag_counts(lines, args.window_s, args.slide_s)
    counts.foreach_batch(lambda batch, batch_id: emit(
        f"{batch_id + 1} s: " + ", ".join(f"{tag} {n}" for tag, n in top(batch, args.top))))
    ssc.run()


if __name__ == "__main__":
    main()
