"""Files: tail a file, drain a spooling directory (Flume-style collection; the source
position is part of the checkpoint when there is one), and append lines to a file
(exactly-once under checkpoints)."""

from .sink import FileSinkBolt
from .sources import SpoolDirSpout, TailSpout

__all__ = ["FileSinkBolt", "SpoolDirSpout", "TailSpout"]
