"""Micro-batch mode: a streaming DataFrame API over columnar batches (extra ``microbatch``).

The per-record work runs in polars kernels, once per batch; Squall keeps only the
watermark and the window state (partial aggregates per window and key). A query is a
frozen :class:`QueryPlan`, run now by a local driver (:class:`StreamingQuery`).
Trident (:class:`TridentTopology`, compiled to a topology of the runtime) and Spark
Streaming's DStreams (:class:`StreamingContext`) are the other two APIs.

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

# Trident, DStream and the socket source: re-exported here. The ``sql`` submodule is not
# shadowed (``from squall.microbatch import sql`` gives the module; its function is
# ``squall.microbatch.sql.sql``).
from .dstream import StreamingContext
from .socket_source import SocketSource
from .trident import (Avg, Combiner, Count, KeyValueMapState, Max, MemoryMapState, Min, Split, StateType, Sum,
                      TridentTopology, batch_function)

__all__ = ["StreamingDataFrame", "GroupedStream", "StreamingQuery", "QueryPlan", "Window", "window", "Agg",
           "functions", "Source", "ListSource", "Sink", "CallbackSink", "ListSink", "MicroBatchError",
           "PlanError", "BatchError", "BatchSchemaError", "TridentTopology", "Split", "batch_function", "Count",
           "Sum", "Min", "Max", "Avg", "Combiner", "MemoryMapState", "KeyValueMapState", "StateType",
           "StreamingContext", "SocketSource"]
