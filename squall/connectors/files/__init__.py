"""Files: tail a file, drain a spooling directory (Flume-style collection; the source
position is part of the checkpoint when there is one), and append lines to a file
(exactly-once under checkpoints). Names from position files and checkpoints stay in
their directory (:mod:`.paths`)."""

from .errors import FileConnectorError, PositionFileError, UnsafePathError
from .sink import FileSinkBolt
from .sources import SpoolDirSpout, TailSpout

__all__ = ["FileSinkBolt", "SpoolDirSpout", "TailSpout", "FileConnectorError", "PositionFileError",
           "UnsafePathError"]
