"""Micro-batch mode: a streaming DataFrame API over columnar batches (extra ``microbatch``).

The per-record work runs in polars kernels, once per batch; Squall keeps only the
watermark and the window state (partial aggregates per window and key). A query is a
frozen :class:`QueryPlan`, run now by a local driver (:class:`StreamingQuery`).

Needs ``pip install 'squall[microbatch]'`` (polars, pyarrow).
"""

from __future__ import annotations

from . import functions
from .engine import StreamingQuery
from .errors import BatchError, BatchSchemaError, MicroBatchError, PlanError
from .frame import GroupedStream, StreamingDataFrame
from .plan import Agg, QueryPlan, Window, window
from .sinks import CallbackSink, ListSink, Sink
from .sources import ListSource, Source

__all__ = ["StreamingDataFrame", "GroupedStream", "StreamingQuery", "QueryPlan", "Window", "window", "Agg",
           "functions", "Source", "ListSource", "Sink", "CallbackSink", "ListSink", "MicroBatchError",
           "PlanError", "BatchError", "BatchSchemaError"]
