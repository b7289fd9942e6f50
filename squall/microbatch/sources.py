"""Sources of a streaming query: iterables of columnar batches.

A source's :meth:`Source.batches` yields polars ``DataFrame`` batches (one micro-batch
each), in order; the local driver pulls them one at a time, so a source may be
unbounded. Arrow tables are accepted and converted without copying where Arrow allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..extras import require

pl = require("polars", "microbatch")

__all__ = ["Source", "ListSource", "as_frame"]


def as_frame(batch: Any) -> Any:
    """A polars ``DataFrame`` for a polars ``DataFrame`` or a ``pyarrow.Table``/``RecordBatch``.

    Raises:
        TypeError: anything else.
    """
    if isinstance(batch, pl.DataFrame):
        return batch
    pa = require("pyarrow", "microbatch", "Arrow batches in the micro-batch mode")
    if isinstance(batch, (pa.Table, pa.RecordBatch)):
        return pl.from_arrow(batch)
    raise TypeError(f"a batch must be a polars DataFrame or a pyarrow Table/RecordBatch, got {type(batch).__name__}")


class Source:
    """Base of the sources: :meth:`batches` yields ``DataFrame`` batches."""

    def batches(self) -> Iterator[Any]:
        raise NotImplementedError


class ListSource(Source):
    """The given batches (polars DataFrames or Arrow tables), in order; for tests.

    >>> [len(b) for b in ListSource([pl.DataFrame({"a": [1, 2]}), pl.DataFrame({"a": [3]})]).batches()]
    [2, 1]
    """

    def __init__(self, batches: Iterable[Any]) -> None:
        self._batches = list(batches)

    def batches(self) -> Iterator[Any]:
        for b in self._batches:
            yield as_frame(b)
