"""The smart-car micro-batch run for the crash test, slowed down (a pause per stored
batch, one line per batch in DIR/progress) so it can be killed mid-run.
Usage: ``python smartcar_crash_job.py REPLAY_DIR DIR``; prints the run's summary."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import squall_smartcar.microbatch as mb

from squall.state import RocksDBStateBackend

_store = mb._store_records


def slow_store(sink, frame, txid):
    _store(sink, frame, txid)
    with open(Path(sys.argv[2]) / "progress", "a") as fh:
        fh.write(f"{txid}\n")
    time.sleep(0.02)


def main(replay: str, directory: str) -> None:
    mb._store_records = slow_store
    d = Path(directory)
    run = mb.run_microbatch(replay, d, d / "detections.jsonl", start_ms=1704067200000, batch_ms=7_000,
                            checkpoint_ms=30, state_backend=RocksDBStateBackend(d / "state"))
    print("\n".join(run.summary_lines()))
    sys.exit(0 if run.completed and run.no_loss else 1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
