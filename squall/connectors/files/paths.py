"""Confined file access for the file connectors: names that come from data stay in
their directory, regular files only, no symbolic link followed, and files replaced
atomically under unique temporary names.

A spooling directory is writable by whoever drops files into it, and position files
and checkpoints are data that may have been edited: every name they give is checked
here before a file is opened, renamed or deleted.

Semantics: Flume "Spooling Directory Source" (files are dropped into one directory);
``open(2)`` ``O_NOFOLLOW``, ``mkstemp(3)`` (``O_CREAT | O_EXCL``), ``rename(2)``
(atomic, and it replaces a link at the destination, never its target).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import UnsafePathError

__all__ = ["entry", "open_regular", "is_regular"]

_NOFOLLOW_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def entry(directory: str | os.PathLike[str], name: object) -> Path:
    """``directory / name`` when ``name`` is a plain entry name of ``directory``.

    Raises:
        UnsafePathError: ``name`` is not a non-empty str, is ``.`` or ``..``, or holds a
            path separator or a NUL (so it is absolute or reaches another directory).

    >>> entry("/spool", "a.log")
    PosixPath('/spool/a.log')
    >>> entry("/spool", "../etc/passwd")
    Traceback (most recent call last):
    ...
    squall.connectors.files.errors.UnsafePathError: refusing '../etc/passwd' (must be a regular file directly in /spool): a file name from data must not contain '/'
    """
    d = os.fspath(directory)
    if not isinstance(name, str) or not name:
        raise UnsafePathError(name, d, "a file name must be a non-empty string")
    if name in (".", ".."):
        raise UnsafePathError(name, d, "'.' and '..' are not file names")
    for sep in {"/", os.sep, os.altsep or "/", "\0"}:
        if sep in name:
            raise UnsafePathError(name, d, f"a file name from data must not contain {sep!r}")
    return Path(d) / name


def is_regular(path: Path) -> bool:
    """Whether ``path`` itself (not what a link points at) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def open_regular(path: Path, follow: bool = False) -> BinaryIO:
    """Open ``path`` for binary reading when it is a regular file.

    Args:
        follow: follow a symbolic link at ``path`` (only for paths the user configured,
            never for names from data).

    Non-blocking open, so a FIFO planted under the name cannot stall the caller;
    with ``follow=False`` a link is refused by the kernel (``O_NOFOLLOW``), with no
    window between a check and the open.

    Raises:
        UnsafePathError: ``path`` is a symbolic link (``follow=False``) or not a regular file.
        FileNotFoundError: nothing is there.
    """
    flags = _NOFOLLOW_READ if not follow else _NOFOLLOW_READ & ~os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not isinstance(exc, FileNotFoundError) and os.path.islink(path):
            raise UnsafePathError(str(path), str(path.parent), "it is a symbolic link") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafePathError(str(path), str(path.parent), "it is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
