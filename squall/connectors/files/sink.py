"""``FileSinkBolt``: appends one line per tuple to a file, exactly-once under checkpoints.

Without checkpoints, or with ``squall.checkpoint.mode = at-least-once``, lines are
written and flushed per drained batch (a replayed tuple is written again).

With a state backend and exactly-once mode the sink is transactional, as Flink's
two-phase-commit sinks: lines received since the last checkpoint are buffered;
``pre_prepare`` stores them in the task's state together with the file length they
start at, and ``checkpoint_complete`` publishes them: truncate the file to that length,
append, fsync. Publishing is idempotent, so recovery simply publishes the restored
checkpoint's lines again: a crash before, during or after a publish leaves each line
in the file exactly once. Lines become visible at checkpoint completion (latency =
the checkpoint interval).

Only this sink may write the file while it runs (other writers' data after the
recorded length would be truncated).

Semantics: Flink "Fault Tolerance Guarantees of Data Sources and Sinks"
(``TwoPhaseCommitSinkFunction``: pre-commit on the barrier, commit on
``notifyCheckpointComplete``).
"""

from __future__ import annotations

import os
from pathlib import Path

from squall.component import Bolt, Stateful
from squall.config import CHECKPOINT_MODE, EXACTLY_ONCE
from squall.tuple import Tuple, is_tick

__all__ = ["FileSinkBolt"]

_TXN = "txn"


class FileSinkBolt(Stateful, Bolt):
    """Appends ``format(tuple)`` (a line without its newline, or None to skip) to ``path``.

    Args:
        path: the file (created with its parent directories).

    Subclasses override :meth:`format`; those that keep their own state between tuples
    save it with :meth:`save_extra` / :meth:`restore_extra`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)

    def format(self, tup: Tuple) -> str | None:
        return "\t".join(map(str, tup.values))

    def save_extra(self) -> object:
        """State of the subclass to checkpoint with the lines (plain data)."""
        return None

    def restore_extra(self, extra: object) -> None:
        """Restore what :meth:`save_extra` returned (None on a first run)."""

    def prepare(self, config, context, collector):
        self.collector = collector
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")
        self._exactly_once = config.get(CHECKPOINT_MODE) == EXACTLY_ONCE
        self._transactional = False      # until init_state: no checkpoints, write through
        self._buffer: list[str] = []     # lines since the last pre_prepare
        self._unpublished: list[str] = []  # lines staged in checkpoints not yet published
        self._committed = 0

    def process(self, tup):
        self.process_batch([tup])

    def process_batch(self, tuples):
        fmt = self.format
        lines = []
        for t in tuples:
            if not is_tick(t):
                line = fmt(t)
                if line is not None:
                    lines.append(line)
        if lines:
            if self._transactional:
                self._buffer.extend(lines)
            else:
                self._fh.write(("\n".join(lines) + "\n").encode("utf-8"))
                self._fh.flush()
        ack = self.collector.ack
        for t in tuples:
            ack(t)

    # -- checkpoints

    def init_state(self, state):
        self.state = state
        self._transactional = self._exactly_once
        self._buffer = []
        if not self._transactional:
            return
        txn = state.get(_TXN)
        if txn is None:
            self._committed = os.fstat(self._fh.fileno()).st_size
            self._unpublished = []
            self.restore_extra(None)
            return
        base, lines, extra = txn
        self._committed, self._unpublished = base, list(lines)
        self.restore_extra(extra)
        self._publish()

    def pre_prepare(self, txid):
        if not self._transactional:
            return
        self._unpublished.extend(self._buffer)
        self._buffer = []
        self.state.put(_TXN, (self._committed, self._unpublished, self.save_extra()))

    def checkpoint_complete(self, txid):
        if self._transactional:
            self._publish()

    def _publish(self) -> None:
        fh = self._fh
        fh.truncate(self._committed)     # drop a partial or earlier publish of these lines
        if self._unpublished:
            fh.write(("\n".join(self._unpublished) + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
        self._committed = os.fstat(fh.fileno()).st_size
        self._unpublished = []

    def cleanup(self):
        self._fh.close()
