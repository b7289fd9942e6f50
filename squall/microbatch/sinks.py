"""Sinks of a streaming query: where each output batch goes.

A sink is called once per non-empty output batch with the batch (a polars
``DataFrame``) and the id of the micro-batch that produced it, as Spark's
``foreachBatch``. The driver calls it on its own thread, in batch-id order.

Semantics: Spark Structured Streaming programming guide, "Using Foreach and ForeachBatch".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..extras import require

pl = require("polars", "microbatch")

__all__ = ["Sink", "CallbackSink", "ListSink"]


class Sink:
    """Base of the sinks: ``write(batch, batch_id)`` for each non-empty output batch."""

    def write(self, batch: Any, batch_id: int) -> None:
        raise NotImplementedError


class CallbackSink(Sink):
    """Calls ``fn(batch, batch_id)`` for each output batch."""

    def __init__(self, fn: Callable[[Any, int], None]) -> None:
        self.fn = fn

    def write(self, batch: Any, batch_id: int) -> None:
        self.fn(batch, batch_id)


class ListSink(Sink):
    """Keeps every output batch, for tests and small jobs.

    >>> sink = ListSink()
    >>> sink.write(pl.DataFrame({"a": [1]}), 0); sink.write(pl.DataFrame({"a": [2]}), 3)
    >>> sink.frame()["a"].to_list(), sink.batch_ids
    ([1, 2], [0, 3])
    """

    def __init__(self) -> None:
        self.batches: list[Any] = []
        self.batch_ids: list[int] = []

    def write(self, batch: Any, batch_id: int) -> None:
        self.batches.append(batch)
        self.batch_ids.append(batch_id)

    def frame(self) -> Any:
        """All batches as one ``DataFrame`` (empty without columns when none came)."""
        return pl.concat(self.batches, how="vertical") if self.batches else pl.DataFrame()

    def rows(self) -> list[tuple]:
        """All output rows as tuples, in arrival order."""
        return self.frame().rows()
