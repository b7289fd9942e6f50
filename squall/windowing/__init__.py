"""Windowed bolts: sliding and tumbling windows by count or duration, on event or
processing time, with watermarks, lag and a late-tuple stream; and Spark-style
incremental ``reduce_by_key_and_window``.

Semantics: Storm docs: Windowing Support in Core Storm; Spark Streaming programming
guide, "Window Operations" (``reduceByKeyAndWindow`` with an inverse function).
"""

from .bolt import LATE_TUPLE_FIELD, WindowedBolt, WindowedBoltExecutor, WindowedOutputCollector, windowed
from .errors import TimestampError, WindowConfigError, WindowError
from .manager import WindowManager
from .reduce import ReduceByKeyAndWindowBolt, reduce_by_key_and_window
from .spec import Count, Duration, WindowSpec, sliding, tumbling
from .window import TupleWindow

__all__ = [
    "WindowedBolt", "WindowedBoltExecutor", "WindowedOutputCollector", "windowed", "LATE_TUPLE_FIELD",
    "WindowSpec", "Count", "Duration", "sliding", "tumbling", "TupleWindow", "WindowManager",
    "reduce_by_key_and_window", "ReduceByKeyAndWindowBolt",
    "WindowError", "WindowConfigError", "TimestampError",
]
