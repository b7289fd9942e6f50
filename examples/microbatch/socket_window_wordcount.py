"""Flink's SocketWindowWordCount in Squall's micro-batch mode (DStream API).

Words from lines read over TCP, counted per 5-second processing-time tumbling window,
printed as ``word : count`` at the end of each window. As in Flink's lab, start a text
server first, then the job, then type lines into the server::

    nc -lk 9000                                                          # terminal 1
    python examples/microbatch/socket_window_wordcount.py --port 9000    # terminal 2

The job ends when the server closes the connection (``--max-retries N`` reconnects).

The per-record work runs in polars: the lines of a batch are split and exploded by one
expression, counted by one group-by; the window sums the per-batch counts. Python runs
once per batch (one per second) and once per printed line.

Where it differs from Flink's example: a line is split at runs of white space and empty
words are dropped (Flink splits at each single white-space character and counts the
empty strings between two spaces); windows start when the job connects, not on
multiples of 5 s since the epoch; a window's counts come in order of first appearance.

Semantics: Flink's ``SocketWindowWordCount`` (flink-examples-streaming:
``socketTextStream`` -> ``flatMap`` -> ``keyBy(word)`` ->
``window(TumblingProcessingTimeWindows.of(5 s))`` -> ``reduce`` -> ``print``), written
with Spark Streaming's ``reduceByKeyAndWindow``.
"""

from __future__ import annotations

import argparse
import operator
from collections.abc import Callable
from typing import Any

import polars as pl

from squall.microbatch.dstream import DStream, StreamingContext


def word_counts(lines: DStream, window_s: float) -> DStream:
    """Per tumbling window of ``window_s`` seconds, ``(word, count)`` pairs of the ``line`` column."""
    # The runs of non-blank characters: no empty word to filter out afterwards.
    words = lines.flat_map(pl.col("line").str.extract_all(r"\S+"))
    return (words.map(key=pl.col("value"), value=pl.lit(1, pl.Int64))
            .reduce_by_key_and_window(operator.add, window_s=window_s, slide_s=window_s))


def run(host: str, port: int, *, window_s: float = 5.0, batch_interval_s: float = 1.0,
        emit: Callable[[str], Any] = print, **socket_options: Any) -> None:
    """Connect to ``host:port`` and print ``word : count`` lines for each window until the server closes.

    Args:
        host, port: the text server (``nc -lk 9000``).
        window_s: the tumbling window, seconds (a multiple of ``batch_interval_s``).
        batch_interval_s: the micro-batch interval, seconds.
        emit: receives each output line (default ``print``).
        socket_options: passed to :class:`~squall.microbatch.socket_source.SocketSource`
            (``max_retries``, ``delimiter``, ...).

    Raises:
        squall.microbatch.dstream.DStreamError: the run failed; its message names the
            cause, e.g. the source's ``SocketSourceError`` when nothing listens at
            ``host:port`` (and no retry is left).
    """
    ssc = StreamingContext(batch_interval_s=batch_interval_s)
    counts = word_counts(ssc.socket_text_stream(host, port, **socket_options), window_s)
    counts.foreach_batch(lambda batch, _: [emit(f"{word} : {count}") for word, count in batch.iter_rows()])
    ssc.run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Flink's SocketWindowWordCount on Squall's micro-batch mode.")
    parser.add_argument("--hostname", default="localhost", help="the text server's host (default localhost)")
    parser.add_argument("--port", type=int, required=True, help="the text server's port (nc -lk PORT)")
    parser.add_argument("--window-s", type=float, default=5.0, help="tumbling window, seconds (default 5)")
    parser.add_argument("--batch-interval-s", type=float, default=1.0, help="micro-batch interval (default 1 s)")
    parser.add_argument("--max-retries", type=int, default=0,
                        help="reconnections after the server closes (-1: forever; default 0, as Flink's)")
    args = parser.parse_args(argv)
    run(args.hostname, args.port, window_s=args.window_s, batch_interval_s=args.batch_interval_s,
        max_retries=args.max_retries)


if __name__ == "__main__":
    main()
