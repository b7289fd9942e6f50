"""Writing a small file so that readers and crashes see the old content or the new, never half.

Position files, rule files and status files are replaced this way; one place, so the
guarantees (no link followed, durable rename) hold for each of them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["replace_atomically"]


def replace_atomically(path: Path, data: bytes) -> None:
    """Make ``path`` hold ``data``, atomically and durably.

    The data goes to a new temporary file in the same directory, created with a
    unique name by ``mkstemp`` (``O_CREAT | O_EXCL``: never an existing file or a link
    planted there), fsynced, then renamed over ``path`` (a link at ``path`` is
    replaced, its target untouched); the directory is fsynced so the rename survives
    a crash. The temporary name starts with a dot, so spooling sources skip it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
