"""A Trident job for the crash test: counts words of 120 batches into a memory state
(checkpointed with the task) and an embedded key-value state, slowly enough to be
killed in the middle. Usage: ``python trident_crash_job.py DIR``; appends one line per
processed batch to DIR/progress and, at the end, the memory state's counts as JSON
to DIR/memory.json; prints the checkpoint it resumed from."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

from squall.config import CHECKPOINT_INTERVAL_MS
from squall.microbatch import ListSource
from squall.microbatch.trident import (
    Count,
    KeyValueMapState,
    MemoryMapState,
    Split,
    TridentTopology,
)
from squall.state import RocksDBStateBackend
from squall.store import EmbeddedKeyValueStore

BATCHES = 120


def batches():
    return [pl.DataFrame({"sentence": [f"the w{i % 7}", "the cow"]}) for i in range(BATCHES)]


def main(directory: str) -> None:
    d = Path(directory)
    progress = d / "progress"
    last_values: dict[str, int] = {}

    def slow(batch):
        time.sleep(0.02)
        with open(progress, "a") as fh:
            fh.write(f"{batch.height}\n")

    def remember(batch):
        last_values.update(dict(batch.rows()))

    topo = TridentTopology()
    words = (topo.new_stream("sentences", ListSource(batches()), fields=["sentence"])
             .peek(slow).each(["sentence"], Split(), ["word"]))
    memory = words.group_by(["word"]).persistent_aggregate(MemoryMapState(), Count(), ["count"])
    memory.new_values_stream().peek(remember)
    words.group_by(["word"]).persistent_aggregate(
        KeyValueMapState(EmbeddedKeyValueStore(d / "kv"), "words"), Count(), ["count"])
    # One task per component: `remember` fills this process's dict only with no copies
    # of the bolt elsewhere, and runs in this process.
    result = topo.run({CHECKPOINT_INTERVAL_MS: 50}, state_backend=RocksDBStateBackend(d / "state"))
    # The values of every key this run updated; the test merges them over the runs.
    prior = json.loads((d / "memory.json").read_text()) if (d / "memory.json").exists() else {}
    (d / "memory.json").write_text(json.dumps({**prior, **last_values}))
    print(f"completed={result.completed} recovered={result.checkpoints.recovered_txid}")


if __name__ == "__main__":
    main(sys.argv[1])
