"""Errors raised by the file connectors (``squall.connectors.files``)."""

from __future__ import annotations

from squall.errors import SquallError

__all__ = ["FileConnectorError", "UnsafePathError", "PositionFileError"]


class FileConnectorError(SquallError):
    """Root of the errors raised by the file sources and sink."""


class UnsafePathError(FileConnectorError, ValueError):
    """A path taken from data (a position file, a checkpoint, a directory listing) would
    leave the directory it must stay in, or is not a regular file: an absolute path, a
    name with a separator, ``..``, a symbolic link, a FIFO or device.

    The sources report it (a warning, and ``refused`` on the source) and skip that
    entry; nothing outside the directory is read, renamed or deleted.

    Attributes:
        name: the offending name or path, as found.
        directory: the directory it must stay in.
        reason: what is wrong with it.
    """

    def __init__(self, name, directory: str, reason: str) -> None:
        super().__init__(f"refusing {name!r} (must be a regular file directly in {directory}): {reason}")
        self.name = name
        self.directory = directory
        self.reason = reason


class PositionFileError(FileConnectorError, ValueError):
    """The position file cannot be used: not a regular file (a symbolic link, a FIFO),
    too large, or not a JSON object. Remove it (the source then starts from scratch)
    or point ``position_file`` elsewhere.

    Attributes:
        path: the position file.
    """

    def __init__(self, path, message: str) -> None:
        super().__init__(f"position file {path}: {message}")
        self.path = str(path)
