"""storm-starter's TridentWordCount on Squall's Trident: sentences -> words -> a persistent count.

    python examples/microbatch/trident_wordcount.py words.txt
    python examples/microbatch/trident_wordcount.py words.txt --state state/ --store data/

The topology is Storm's: ``new_stream`` of sentences, ``each(Split())`` into words,
``group_by(word).persistent_aggregate(state, Count())``; its new values stream gives
each batch's updated counts. Each batch (``--batch-lines`` lines) is split and counted
by polars kernels, once per batch.

With ``--store DIR`` the counts live in the embedded key-value store (opaque
transactional state, kept across runs); with ``--state DIR`` the spout's txid and
position are checkpointed in a RocksDB state backend too, so a run killed with
``kill -9`` and started again counts every line once.

Semantics: Storm "Trident tutorial" (TridentWordCount), "Trident State".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from squall.microbatch import (
    Count,
    KeyValueMapState,
    MemoryMapState,
    Split,
    TridentTopology,
)
from squall.microbatch.sql import TextFileSource


def build(lines: TextFileSource, store: Path | None) -> tuple[TridentTopology, dict]:
    """The topology, and the dict its new values stream fills (word -> count)."""
    topo = TridentTopology(name="wordcount")
    if store is not None:
        from squall.store import EmbeddedKeyValueStore
        state = KeyValueMapState(EmbeddedKeyValueStore(store), "wordcount")
    else:
        state = MemoryMapState()
    counts: dict[str, int] = {}
    (topo.new_stream("lines", lines, fields=["line"])
     .each(["line"], Split(), ["word"])
     .group_by(["word"])
     .persistent_aggregate(state, Count(), ["count"])
     .new_values_stream()
     .peek(lambda batch: counts.update(batch.rows())))
    return topo, counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="TridentWordCount in Squall's micro-batch mode.")
    parser.add_argument("path", type=Path, help="a text file (one sentence per line)")
    parser.add_argument("--batch-lines", type=int, default=65_536, help="lines per batch")
    parser.add_argument("--store", type=Path, help="keep the counts in the embedded key-value store here")
    parser.add_argument("--state", type=Path, help="checkpoint in a RocksDB state backend here")
    args = parser.parse_args(argv)
    topo, counts = build(TextFileSource(args.path, batch_lines=args.batch_lines), args.store)
    backend = None
    if args.state is not None:
        from squall.state import RocksDBStateBackend
        backend = RocksDBStateBackend(args.state)
    topo.run(state_backend=backend)
    for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{word} {n}")


if __name__ == "__main__":
    main()
