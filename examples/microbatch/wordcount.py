"""WordCount in micro-batch mode, in every API: SQL, the streaming DataFrame, Trident, DStreams.

    python examples/microbatch/wordcount.py words.txt --api sql
    python examples/microbatch/wordcount.py words.txt --api dataframe
    python examples/microbatch/wordcount.py words.txt --api trident
    python examples/microbatch/wordcount.py words.txt --api dstream
    squall sql "SELECT word, COUNT(*) AS n FROM lines CROSS JOIN UNNEST(SPLIT(line, ' ')) AS t(word)
                WHERE word <> '' GROUP BY word" --source words.txt

Words are the pieces of a line between single spaces, empty ones left out. In every
API the splitting and counting run in polars, once per batch of lines; the counts are
kept per word across batches and printed at the end of the file, most frequent first
(ties by word).

Semantics: Storm's WordCountTopology / Spark's NetworkWordCount, as a query over a
finite stream (SQL: a GROUP BY without a window emits its rows at the end of input).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

from squall.microbatch import Count, ListSink, MemoryMapState, Split, StreamingDataFrame, TridentTopology
from squall.microbatch import functions as F
from squall.microbatch.dstream import StreamingContext
from squall.microbatch.sources import Source
from squall.microbatch.sql import TextFileSource, sql

SQL = ("SELECT word, COUNT(*) AS n FROM lines CROSS JOIN UNNEST(SPLIT(line, ' ')) AS t(word) "
       "WHERE word <> '' GROUP BY word")
"""Flink SQL's spelling; Spark's is ``... FROM lines LATERAL VIEW explode(split(line, ' ')) t AS word ...``."""


def count_sql(source: Source) -> dict[str, int]:
    """Word -> count over every batch of ``source`` (column ``line``), by :data:`SQL`."""
    sink = ListSink()
    sql(SQL, {"lines": source}).write_stream(sink, output_mode="append").run()
    return dict(sink.rows())


def count_dataframe(source: Source) -> dict[str, int]:
    """Word -> count over every batch of ``source`` (column ``line``), by the streaming DataFrame API
    (a group_by on the key alone: its rows come at the end of input in append mode)."""
    sink = ListSink()
    (StreamingDataFrame(source)
     .select(pl.col("line").str.split(" ").explode().alias("word"))
     .filter(pl.col("word") != "")
     .group_by("word").agg(F.count().alias("n"))
     .write_stream(sink).run())
    return dict(sink.rows())


def count_trident(source: Source) -> dict[str, int]:
    """Word -> count over every batch of ``source`` (column ``line``), by Trident (storm-starter's
    TridentWordCount: split, group by word, a persistent count), run on the local runtime."""
    topo = TridentTopology()
    counts: dict[str, int] = {}
    (topo.new_stream("lines", source, fields=["line"])
     .each(["line"], Split(), ["word"])
     .group_by(["word"])
     .persistent_aggregate(MemoryMapState(), Count(), ["count"])
     .new_values_stream()
     .peek(lambda batch: counts.update(batch.rows())))
    topo.run()
    return counts


def count_dstream(source: Source) -> dict[str, int]:
    """Word -> count over every batch of ``source`` (column ``line``), by DStream operations."""
    ssc = StreamingContext(batch_interval_s=1)
    counts = (ssc.source(source)
              .flat_map(pl.col("line").str.split(" "))
              .filter(pl.col("value") != "")
              .map(key=pl.col("value"), value=pl.lit(1, pl.Int64))
              .update_state_by_key("sum"))
    states: list[pl.DataFrame] = []          # update_state_by_key gives every word's count per batch
    counts.foreach_batch(lambda batch, _: states.append(batch))
    ssc.run()
    return dict(states[-1].rows()) if states else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="WordCount in Squall's micro-batch mode.")
    parser.add_argument("path", type=Path, help="a text file")
    parser.add_argument("--api", choices=["sql", "dataframe", "trident", "dstream"], default="sql")
    parser.add_argument("--batch-lines", type=int, default=65_536, help="lines per micro-batch")
    args = parser.parse_args(argv)
    count = {"sql": count_sql, "dataframe": count_dataframe, "trident": count_trident,
             "dstream": count_dstream}[args.api]
    counts = count(TextFileSource(args.path, batch_lines=args.batch_lines))
    for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{word} {n}")


if __name__ == "__main__":
    main()
