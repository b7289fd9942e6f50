"""Position files: where a file source has read up to, saved atomically.

A source only saves offsets up to which every line was acked, so a restart resumes at
the first line not yet delivered: nothing is lost, and after a graceful stop nothing is
repeated. After a crash, lines acked since the last save are read again
(at-least-once), as Flume's TAILDIR and spooling-directory sources document.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import PositionFileError, UnsafePathError
from squall.fileio import replace_atomically

from .paths import open_regular

__all__ = ["PositionFile", "AckedOffsets"]

# A position document names one file and a few offsets; anything far larger is not one.
MAX_POSITION_FILE_BYTES = 1 << 20


class PositionFile:
    """A small JSON document, replaced atomically under a unique temporary name.

    The file may sit in a directory others write to (a spooling directory): it is
    read only when it is a regular file (a symbolic link or FIFO planted under its
    name is refused), and saved through :func:`~squall.fileio.replace_atomically`, so a link
    planted under its name or a temporary name is never written through.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        """The saved document, or ``{}`` when there is none yet.

        Raises:
            PositionFileError: the file is a symbolic link or not a regular file, is
                larger than 1 MiB, or is not a JSON object (the message names the file).
        """
        try:
            with open_regular(self.path) as fh:
                raw = fh.read(MAX_POSITION_FILE_BYTES + 1)
        except FileNotFoundError:
            return {}
        except UnsafePathError as exc:
            raise PositionFileError(self.path, f"{exc.reason}; remove it or choose another "
                                               f"position_file") from None
        if len(raw) > MAX_POSITION_FILE_BYTES:
            raise PositionFileError(self.path, f"larger than {MAX_POSITION_FILE_BYTES} bytes, so not "
                                               f"a position file; remove it")
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PositionFileError(self.path, f"not valid JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise PositionFileError(self.path, "must hold a JSON object")
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        """Replace the file with ``doc`` (atomic, fsynced)."""
        replace_atomically(self.path, json.dumps(doc).encode("utf-8"))


class AckedOffsets:
    """Tracks the lines of one file in flight; ``committed`` is the end offset of the
    longest prefix of lines that are all acked.

    Lines are registered in file order by their end offset; acks may come in any order.

    >>> a = AckedOffsets(0)
    >>> for end in (10, 20, 30): a.emitted(end)
    >>> a.acked(20); a.committed
    0
    >>> a.acked(10); a.committed
    20
    """

    __slots__ = ("committed", "_order", "_done")

    def __init__(self, committed: int) -> None:
        self.committed = committed
        self._order: list[int] = []   # end offsets in emission order, not yet committed
        self._done: set[int] = set()

    def emitted(self, end: int) -> None:
        self._order.append(end)

    def acked(self, end: int) -> None:
        self._done.add(end)
        order, done = self._order, self._done
        i = 0
        while i < len(order) and order[i] in done:
            done.discard(order[i])
            i += 1
        if i:
            self.committed = order[i - 1]
            del order[:i]

    @property
    def in_flight(self) -> int:
        return len(self._order)

    def snapshot(self) -> tuple[int, list[int], list[int]]:
        """Plain data to checkpoint: ``(committed, in-flight end offsets in emission
        order, end offsets among them already acked)``; :meth:`restore` takes it back.

        >>> a = AckedOffsets(0)
        >>> for end in (10, 20, 30): a.emitted(end)
        >>> a.acked(20); a.snapshot()
        (0, [10, 20, 30], [20])
        >>> b = AckedOffsets.restore(a.snapshot()); b.acked(10); b.committed
        20
        """
        return self.committed, list(self._order), sorted(self._done)

    @classmethod
    def restore(cls, snapshot: tuple[int, list[int], list[int]]) -> AckedOffsets:
        """Inverse of :meth:`snapshot`.

        Raises:
            ValueError: ``snapshot`` is not ``(offset, [offsets], [offsets])`` of ints >= 0.
        """
        try:
            committed, order, done = snapshot
            ok = _offset(committed) and all(map(_offset, order)) and all(map(_offset, done))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"not an acked-offsets snapshot: {snapshot!r}")
        acked = cls(committed)
        acked._order = list(order)
        acked._done = set(done)
        return acked


def _offset(value: object) -> bool:
    """Whether ``value`` is a byte offset (an int >= 0, not a bool)."""
    return type(value) is int and value >= 0
