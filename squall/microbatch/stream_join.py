"""The windowed stream-stream join: two streaming DataFrames joined per key and event-time window.

Both sides are stateless queries (selections, filters, columns) with a watermark on
their event-time column. Each record falls in one tumbling window of its own time
column; a left and a right record join when their keys are equal and their windows
the same. The driver pulls one batch from each side in turn and, per batch, joins
its records with the other side's buffered records (so each pair is emitted once,
when the later of the two arrives), then buffers them. The join's watermark is the
smaller of the two sides' (largest event time seen minus the side's delay): buffered
records of windows that end at or before it are dropped, and a record that arrives
for such a window is late (kept in :attr:`StreamJoinSource.late`, never dropped
silently).

The joined stream is a :class:`~squall.microbatch.sources.Source`, so a query goes on
from it (``StreamingDataFrame(source)``, what ``join`` returns).

Semantics: Spark Structured Streaming programming guide, "Stream-stream Joins" (inner
joins with watermarks on both sides, the minimum of the watermarks as the global
watermark); the join condition here is key equality plus the same event-time window,
Spark's window-equality form.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..extras import require
from .engine import run_chain
from .errors import PlanError
from .plan import Watermark, WindowAggregate
from .sinks import ListSink
from .sources import Source, as_frame

pl = require("polars", "microbatch")

__all__ = ["StreamJoinSource"]

_WS = "__join_window"


class _Side:
    def __init__(self, frame: Any, what: str) -> None:
        marks = [op for op in frame.operators if isinstance(op, Watermark)]
        if len(marks) != 1:
            raise PlanError(f"stream-stream join: the {what} stream needs with_watermark(time column, delay) "
                            f"(its buffered records are dropped once the watermark passes their window)")
        if any(isinstance(op, WindowAggregate) for op in frame.operators):
            raise PlanError(f"stream-stream join: the {what} stream aggregates; join the streams first, then "
                            f"group_by the joined stream")
        self.source = frame.source
        self.ops = tuple(op for op in frame.operators if not isinstance(op, Watermark))
        self.column, self.delay_ms = marks[0].column, marks[0].delay_ms
        self.buffer: Any = None
        self.watermark_ms: float | None = None


class StreamJoinSource(Source):
    """Batches of joined rows: ``window_start``, ``window_end``, the keys, the left stream's
    other columns, then the right's (a name both have gets ``_right`` on the right's).

    Args:
        left, right: :class:`~squall.microbatch.frame.StreamingDataFrame` queries, each with
            a watermark on its event-time column (integer epoch ms).
        on: the key columns (in both).
        size_ms: the tumbling window's length; ``offset_ms``: its start from the epoch.

    Attributes:
        late: records that came for a window the join's watermark had passed, with
            ``side`` (``"left"``/``"right"``) and the window's start.

    Raises:
        PlanError: a side without exactly one watermark, or with an aggregation.
    """

    def __init__(self, left: Any, right: Any, on: tuple[str, ...], size_ms: int, offset_ms: int = 0) -> None:
        if size_ms <= 0:
            raise PlanError(f"stream-stream join: the window must be positive, got {size_ms} ms")
        if not on:
            raise PlanError("stream-stream join: name the key column(s) with on=")
        self.left, self.right, self.on = left, right, tuple(on)
        self.size_ms, self.offset_ms = size_ms, offset_ms
        self.late = ListSink()

    def batches(self) -> Iterator[Any]:
        sides = [_Side(self.left, "left"), _Side(self.right, "right")]
        its = [iter(s.source.batches()) for s in sides]
        live = [True, True]
        keys, size, off = list(self.on), self.size_ms, self.offset_ms
        watermark: float | None = None
        bid = 0
        while any(live):
            for i, side in enumerate(sides):
                if not live[i]:
                    continue
                batch = next(its[i], None)
                if batch is None:
                    live[i] = False
                    continue
                bid += 1
                frame = run_chain(as_frame(batch), side.ops, bid)
                if not frame.height:
                    continue
                ts = pl.col(side.column)
                frame = frame.with_columns((((ts - off) // size) * size + off).alias(_WS))
                if watermark is not None:
                    closed = pl.col(_WS) + size <= watermark
                    late = frame.filter(closed)
                    if late.height:
                        self.late.write(late.with_columns(pl.lit("left" if i == 0 else "right").alias("side")), bid)
                    frame = frame.filter(~closed)
                other = sides[1 - i].buffer
                if other is not None and frame.height:
                    left, right = (frame, other) if i == 0 else (other, frame)
                    joined = left.join(right, on=[_WS, *keys], how="inner", suffix="_right", maintain_order="left")
                    if joined.height:
                        rest = [c for c in joined.columns if c != _WS and c not in keys]
                        yield joined.select(pl.col(_WS).alias("window_start"),
                                            (pl.col(_WS) + size).alias("window_end"), *keys, *rest)
                side.buffer = frame if side.buffer is None else pl.concat([side.buffer, frame], how="vertical_relaxed")
                newest = frame.get_column(side.column).max()
                if newest is not None:
                    mark = newest - side.delay_ms
                    if side.watermark_ms is None or mark > side.watermark_ms:
                        side.watermark_ms = mark
                if all(s.watermark_ms is not None for s in sides):
                    watermark = min(s.watermark_ms for s in sides)
                    for s in sides:
                        if s.buffer is not None:
                            s.buffer = s.buffer.filter(pl.col(_WS) + size > watermark)
