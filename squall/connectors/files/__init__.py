"""File sources: tail a file, drain a spooling directory (Flume-style collection)."""

from .sources import SpoolDirSpout, TailSpout

__all__ = ["SpoolDirSpout", "TailSpout"]
