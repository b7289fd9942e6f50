"""A DStream job for the crash test: windows and states by key over 120 batches, checkpointed
to RocksDB, slowly enough to be killed in the middle. Usage: ``python dstream_crash_job.py DIR``;
appends each output batch as a JSON line ``[operation, batch_id, rows]`` to DIR/out.jsonl
(outputs are at least once: a batch replayed after the crash writes its line again) and
prints the checkpoint it resumed from."""

from __future__ import annotations

import json
import operator
import sys
import time
from pathlib import Path

import polars as pl

from squall.config import CHECKPOINT_INTERVAL_MS
from squall.microbatch import ListSource
from squall.microbatch.dstream import StreamingContext
from squall.state import RocksDBStateBackend

BATCHES = 120


def batches() -> list:
    return [pl.DataFrame({"key": [f"k{i % 5}", f"k{i % 3}", "all"], "value": [i, 1, 2]}) for i in range(BATCHES)]


def capped_sum(new_values, state):
    total = (state or 0) + sum(new_values)
    return None if total > 500 else total        # over 500: the key is forgotten and starts again


def graph(ssc: StreamingContext, write) -> None:
    pairs = ssc.source(ListSource(batches()))
    outputs = {"window": pairs.reduce_by_key_and_window(operator.add, operator.sub, window_s=5, slide_s=2),
               "sums": pairs.update_state_by_key("sum"),
               "capped": pairs.update_state_by_key(capped_sum),
               "counts": pairs.count_by_window(4, 1)}
    for name, stream in outputs.items():
        stream.foreach_batch(lambda batch, batch_id, name=name: write(name, batch_id, sorted(batch.rows())))


def main(directory: str) -> None:
    out = Path(directory) / "out.jsonl"

    def write(name, batch_id, rows):
        if name == "window":
            time.sleep(0.01)              # slow enough to be killed mid-run
        with open(out, "a") as fh:
            fh.write(json.dumps([name, batch_id, rows]) + "\n")

    ssc = StreamingContext(batch_interval_s=1)
    graph(ssc, write)
    result = ssc.run(conf={CHECKPOINT_INTERVAL_MS: 50}, state_backend=RocksDBStateBackend(Path(directory) / "state"))
    print(f"completed={result.completed} recovered={result.checkpoints.recovered_txid}")


if __name__ == "__main__":
    main(sys.argv[1])
